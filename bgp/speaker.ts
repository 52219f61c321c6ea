/**
 * BgpSpeaker: owns the peers, the RIB and the export policy.
 *
 *   net.Server (listen) ─► Peer ─► Connection(s) ─► BgpFsm
 *                           │ UPDATE            ▲ UPDATEs out (Adj-RIB-Out diff)
 *                           ▼                   │
 *                          Rib (Adj-RIB-In → Loc-RIB) ─► 'routesChanged'
 *
 * Export policy: originated prefixes always; routes learned from other peers
 * only with `transit: true`. eBGP: AS_PATH prepended with our ASN, NEXT_HOP =
 * our address on that session, MED only for our own routes, LOCAL_PREF never.
 * iBGP: learned iBGP routes are not reflected (RFC 4271 §9.2.1).
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { pino } from 'pino';
import {
  Afi,
  BGP_PORT,
  CeaseSubcode,
  DEFAULT_IDLE_HOLD_TIME,
  DEFAULT_MAX_PREFIXES,
  Origin,
  RouteRefreshSubtype,
  Safi,
} from './constants.js';
import { encodeAttributes, formatAsPath, type AttributeContext, type PathAttributes } from './attributes.js';
import { exportAttributes } from './export.js';
import { systemClock, type Clock } from './clock.js';
import { BgpState, ceaseError, collisionKeeps, type FsmLogger, type NegotiatedSession, type TransitionReason } from './fsm.js';
import type { OpenMessage } from './open.js';
import { Rib, type BestPathChange, type BestPathReason, type RibRoute } from './rib.js';
import { encodeRouteRefresh } from './route-refresh.js';
import { Connection, stripV4Mapped } from './session.js';
import { announcedPrefixes, END_OF_RIB_IPV4, isEndOfRib, packUpdates, withdrawnPrefixes, type UpdateMessage } from './update.js';
import { canonicalPrefix, type Ipv4Prefix } from './wire.js';

export interface SpeakerOptions {
  localAsn: number;
  routerId: string;
  /** Accept incoming sessions here; omit for active-only operation. */
  listen?: { address: string; port?: number };
  /** Advertise routes learned from one peer to the others (default false). */
  transit?: boolean;
  clock?: Clock;
  logger?: FsmLogger;
  /** Seconds; RFC 4271 default 120. */
  connectRetryTime?: number;
  /** Seconds in Idle before automatic restart (default 5). */
  idleHoldTime?: number;
  /** Jitter ConnectRetry/IdleHold timers (RFC 4271 §10); default false (exact timers for tests). */
  timerJitter?: boolean;
}

export interface PeerOptions {
  address: string;
  asn: number;
  localAddress?: string;
  /** Remote TCP port (default 179). */
  port?: number;
  passive?: boolean;
  holdTime?: number;
  maxPrefixes?: number;
  /**
   * eBGP multihop TTL. Node's net.Socket has no IP_TTL option, so packets go
   * out with the system default TTL (64 on Linux), which already allows
   * multihop; single-hop GTSM (TTL 255) is not possible from Node.
   */
  multihop?: number;
  /** Start the session with the speaker (default true); see setPeerEnabled. */
  enabled?: boolean;
}

export interface OriginateAttributes {
  origin?: Origin;
  med?: number;
  localPref?: number;
  communities?: number[];
}

export interface PeerStatus {
  address: string;
  asn: number;
  state: BgpState;
  uptimeSeconds: number;
  received: number;
  accepted: number;
  advertised: number;
  routerId?: string;
  localAddress?: string;
  holdTime?: number;
  lastError?: string;
}

export interface LearnedRoute {
  prefix: Ipv4Prefix;
  source: string;
  nextHop: string | undefined;
  asPath: string;
  origin: Origin | undefined;
  med: number | undefined;
  localPref: number | undefined;
  communities: number[];
  reason: BestPathReason;
  candidates: number;
}

export interface AdvertisedRoute {
  prefix: Ipv4Prefix;
  nextHop: string | undefined;
  asPath: string;
  origin?: Origin | undefined;
}

export interface PeerStateEvent {
  address: string;
  from: BgpState;
  to: BgpState;
  reason: TransitionReason;
  error?: string;
}

export interface SpeakerEvents {
  peerState: [PeerStateEvent];
  routesChanged: [BestPathChange[]];
}

interface AdjOutEntry {
  key: string;
  attributes: PathAttributes;
}

/** Idle hold after a max-prefix Cease: 60 s, doubling per repeat up to 15 min (a flood never becomes a restart loop). */
export const MAX_PREFIX_BACKOFF_MIN_S = 60;
export const MAX_PREFIX_BACKOFF_MAX_S = 900;

class Peer {
  readonly options: PeerOptions;
  enabled: boolean;
  /** Current max-prefix restart backoff (s); 0 until the limit is hit, reset by a clean End-of-RIB. */
  maxPrefixBackoff = 0;
  primary: Connection;
  secondary: Connection | undefined;
  readonly adjOut = new Map<Ipv4Prefix, AdjOutEntry>();
  /** Cache: source attribute object → exported attributes for this session. */
  exportCache = new WeakMap<PathAttributes, AdjOutEntry>();
  constructor(options: PeerOptions, primary: Connection) {
    this.options = options;
    this.primary = primary;
    this.enabled = options.enabled ?? true;
  }
  get established(): Connection | undefined {
    return this.primary.fsm.state === BgpState.Established ? this.primary : undefined;
  }
}

function defaultLogger(): FsmLogger {
  return pino({ name: 'bgp', level: process.env['VGW_LOG_LEVEL'] ?? 'info' }, pino.destination(2));
}

export class BgpSpeaker extends EventEmitter<SpeakerEvents> {
  readonly options: SpeakerOptions;
  readonly rib: Rib;
  readonly #peers = new Map<string, Peer>();
  readonly #clock: Clock;
  readonly #log: FsmLogger;
  #server: net.Server | undefined;
  #running = false;

  constructor(options: SpeakerOptions) {
    super();
    this.options = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? defaultLogger();
    this.rib = new Rib({ localAsn: options.localAsn });
    this.rib.subscribe((changes) => {
      this.emit('routesChanged', changes);
      for (const peer of this.#peers.values()) this.#exportChanges(peer, changes);
    });
  }

  /** Start listening (if configured) and start every configured peer. */
  async start(): Promise<void> {
    if (this.options.listen && !this.#server) {
      const server = net.createServer((socket) => this.#onIncoming(socket));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: this.options.listen?.address, port: this.options.listen?.port ?? BGP_PORT }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      this.#server = server;
    }
    this.#running = true;
    for (const p of this.#peers.values()) if (p.enabled && p.primary.fsm.stopped) p.primary.fsm.handle({ type: 'manualStart' });
  }

  /** Cease/Administrative Shutdown to every peer, stop listening. */
  async stop(shutdownCommunication = 'speaker shutdown'): Promise<void> {
    this.#running = false;
    for (const p of this.#peers.values()) {
      p.secondary?.fsm.handle({ type: 'manualStop' });
      p.primary.fsm.handle({ type: 'manualStop', shutdownCommunication });
    }
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get listenPort(): number | undefined {
    const a = this.#server?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  addPeer(options: PeerOptions): void {
    const address = options.address;
    if (this.#peers.has(address)) throw new Error(`peer ${address} already configured`);
    canonicalPrefix(`${address}/32`); // throws RangeError for a non-IPv4 address
    // RFC 4271 §4.2: "Hold Time MUST be either zero or at least three seconds".
    if (options.holdTime !== undefined && options.holdTime !== 0 && (options.holdTime < 3 || options.holdTime > 65535)) {
      throw new RangeError(`hold time ${options.holdTime} for ${address}: must be 0 or 3..65535`);
    }
    if (options.multihop !== undefined) {
      this.#log.warn({ peer: address, multihop: options.multihop }, `BGP ${address}: multihop TTL cannot be set from Node; the system default TTL is used`);
    }
    this.rib.addPeer({ address, asn: options.asn, routerId: '0.0.0.0', ibgp: options.asn === this.options.localAsn }, options.maxPrefixes ?? DEFAULT_MAX_PREFIXES);
    const peer = new Peer(options, this.#newConnection(options, options.passive ?? false));
    this.#peers.set(address, peer);
    if (this.#running && peer.enabled) peer.primary.fsm.handle({ type: 'manualStart' });
  }

  /**
   * Stop a peer's session now (Cease/Administrative Shutdown; everything learned
   * from it is withdrawn at once, no hold-timer wait) and keep it stopped, or
   * start it again. The gateway ties a peer to its tunnel with this.
   */
  setPeerEnabled(address: string, enabled: boolean, shutdownCommunication = 'peer disabled'): boolean {
    const p = this.#peers.get(address);
    if (!p) return false;
    if (p.enabled === enabled) return true;
    p.enabled = enabled;
    if (enabled) {
      if (this.#running && p.primary.fsm.stopped) p.primary.fsm.handle({ type: 'manualStart' });
    } else {
      p.secondary?.fsm.handle({ type: 'manualStop' });
      p.primary.fsm.handle({ type: 'manualStop', shutdownCommunication });
      // Not Established (no 'down' callback) yet routes may remain from a session torn down just now.
      this.rib.peerDown(address);
      p.adjOut.clear();
    }
    return true;
  }

  peerEnabled(address: string): boolean {
    return this.#peers.get(address)?.enabled ?? false;
  }

  removePeer(address: string, shutdownCommunication = 'peer deconfigured'): void {
    const p = this.#peers.get(address);
    if (!p) return;
    p.secondary?.fsm.handle({ type: 'manualStop' });
    p.primary.fsm.handle({ type: 'manualStop', shutdownCommunication });
    this.#peers.delete(address);
    this.rib.removePeer(address);
  }

  /** Ask a peer to re-send its routes (RFC 2918). */
  refresh(address: string): boolean {
    const c = this.#peers.get(address)?.established;
    if (!c?.fsm.negotiated?.routeRefresh) return false;
    c.socket?.write(encodeRouteRefresh(Afi.Ipv4, Safi.Unicast));
    return true;
  }

  originate(prefixes: readonly string[], attrs: OriginateAttributes = {}): void {
    const attributes: PathAttributes = { origin: attrs.origin ?? Origin.Igp, asPath: [] };
    if (attrs.med !== undefined) attributes.med = attrs.med;
    if (attrs.localPref !== undefined) attributes.localPref = attrs.localPref;
    if (attrs.communities?.length) attributes.communities = [...attrs.communities];
    this.rib.originate(prefixes.map(canonicalPrefix), attributes);
  }

  withdraw(prefixes: readonly string[]): void {
    this.rib.withdrawLocal(prefixes.map(canonicalPrefix));
  }

  peers(): PeerStatus[] {
    return [...this.#peers.values()].map((p) => {
      const fsm = p.primary.fsm;
      const stats = this.rib.peerStats(p.options.address);
      const s: PeerStatus = {
        address: p.options.address,
        asn: p.options.asn,
        state: fsm.state,
        uptimeSeconds: fsm.establishedAt === undefined ? 0 : Math.floor((this.#clock.now() - fsm.establishedAt) / 1000),
        received: stats.received,
        accepted: stats.accepted,
        advertised: p.adjOut.size,
      };
      if (fsm.negotiated) {
        s.routerId = fsm.negotiated.peerOpen.bgpId;
        s.holdTime = fsm.negotiated.holdTime;
      }
      const la = p.primary.localAddress;
      if (la) s.localAddress = la;
      if (fsm.lastError) s.lastError = fsm.lastError;
      return s;
    });
  }

  learnedRoutes(): LearnedRoute[] {
    const out: LearnedRoute[] = [];
    for (const { route, reason, candidates } of this.rib.bestRoutes()) {
      const a = route.attributes;
      out.push({
        prefix: route.prefix,
        source: route.source,
        nextHop: a.nextHop ?? a.mpReach?.nextHop,
        asPath: formatAsPath(a.asPath),
        origin: a.origin,
        med: a.med,
        localPref: a.localPref,
        communities: a.communities ?? [],
        reason,
        candidates,
      });
    }
    return out;
  }

  advertisedRoutes(address: string): AdvertisedRoute[] {
    const p = this.#peers.get(address);
    if (!p) return [];
    return [...p.adjOut].map(([prefix, e]) => ({ prefix, nextHop: e.attributes.nextHop, asPath: formatAsPath(e.attributes.asPath), origin: e.attributes.origin }));
  }

  // ------------------------------------------------------------ connections

  #newConnection(options: PeerOptions, passive: boolean): Connection {
    const address = options.address;
    const conn: Connection = new Connection(
      {
        localAsn: this.options.localAsn,
        routerId: this.options.routerId,
        peerAsn: options.asn,
        peerAddress: address,
        passive,
        ...(options.holdTime !== undefined ? { holdTime: options.holdTime } : {}),
        ...(this.options.connectRetryTime !== undefined ? { connectRetryTime: this.options.connectRetryTime } : {}),
        ...(this.options.idleHoldTime !== undefined ? { idleHoldTime: this.options.idleHoldTime } : {}),
        ...(this.options.timerJitter ? { jitter: true } : {}),
      },
      { address, port: options.port ?? BGP_PORT, ...(options.localAddress ? { localAddress: options.localAddress } : {}) },
      {
        established: (s) => this.#onEstablished(address, conn, s),
        update: (m) => this.#onUpdate(address, conn, m),
        routeRefresh: (m) => {
          if (m.subtype === RouteRefreshSubtype.Request && m.afi === Afi.Ipv4 && m.safi === Safi.Unicast) this.#resend(address, conn);
        },
        down: (reason, n) => this.#onDown(address, conn, reason, n?.text),
        transition: (from, to, reason) => this.#onTransition(address, conn, from, to, reason),
        collision: (open, outgoing) => this.#onCollision(address, conn, open, outgoing),
      },
      this.#clock,
      this.#log,
    );
    return conn;
  }

  #onIncoming(socket: net.Socket): void {
    const remote = stripV4Mapped(socket.remoteAddress);
    const peer = this.#peers.get(remote);
    if (!peer) {
      this.#log.warn({ remote }, `BGP: connection from unconfigured address ${remote} refused`);
      socket.destroy();
      return;
    }
    const fsm = peer.primary.fsm;
    if (fsm.stopped || !peer.enabled) {
      socket.destroy();
      return;
    }
    if (fsm.state === BgpState.Idle) fsm.handle({ type: 'automaticStart' });
    switch (fsm.state) {
      case BgpState.Connect:
      case BgpState.Active:
        peer.primary.attachIncoming(socket);
        return;
      case BgpState.OpenSent:
      case BgpState.OpenConfirm: {
        if (peer.secondary) {
          socket.destroy();
          return;
        }
        const second = this.#newConnection(peer.options, true);
        peer.secondary = second;
        second.fsm.handle({ type: 'manualStart' });
        second.attachIncoming(socket);
        return;
      }
      default:
        // RFC 4271 §6.8: a collision with an Established session closes the new connection.
        this.#log.info({ peer: remote }, `BGP ${remote}: incoming connection while Established, closed`);
        socket.destroy();
    }
  }

  #onCollision(address: string, conn: Connection, open: OpenMessage, outgoing: boolean): 'continue' | 'closeThis' {
    const peer = this.#peers.get(address);
    if (!peer) return 'continue';
    const other = conn === peer.primary ? peer.secondary : peer.primary;
    // RFC 4271 §6.8: "a connection collision with an existing BGP connection that is in the Established
    // state causes closing of the newly created connection".
    if (other && other.fsm.state === BgpState.Established) return 'closeThis';
    if (!other || other.fsm.state !== BgpState.OpenConfirm) return 'continue';
    const keep = collisionKeeps(this.options.routerId, open.bgpId);
    const thisWins = (keep === 'locallyInitiated') === outgoing;
    this.#log.info({ peer: address, keep }, `BGP ${address}: connection collision, keeping the ${keep} connection`);
    if (!thisWins) return 'closeThis';
    other.fsm.handle({ type: 'localError', error: ceaseError(CeaseSubcode.ConnectionCollisionResolution, 'connection collision'), reason: 'collisionLost' });
    return 'continue';
  }

  #onTransition(address: string, conn: Connection, from: BgpState, to: BgpState, reason: TransitionReason): void {
    const peer = this.#peers.get(address);
    if (!peer) return;
    if (to === BgpState.Idle && conn === peer.secondary) {
      peer.secondary = undefined;
      conn.fsm.handle({ type: 'manualStop' });
    } else if (to === BgpState.Idle && conn === peer.primary && peer.secondary && !peer.primary.fsm.stopped) {
      // The incoming connection won the collision, or the outgoing one failed while the incoming one
      // is still opening: it becomes the session (left as secondary it would block every later
      // connection); restore the peer's own mode for later restarts.
      const winner = peer.secondary;
      peer.secondary = undefined;
      peer.primary = winner;
      winner.fsm.config.passive = peer.options.passive ?? false;
      conn.fsm.handle({ type: 'manualStop' });
    }
    if (conn !== peer.primary && to !== BgpState.Idle) return;
    const ev: PeerStateEvent = { address, from, to, reason };
    if (to === BgpState.Idle && conn.fsm.lastError) ev.error = conn.fsm.lastError;
    this.emit('peerState', ev);
  }

  // ------------------------------------------------------------ routes in

  #onEstablished(address: string, conn: Connection, s: NegotiatedSession): void {
    const peer = this.#peers.get(address);
    if (!peer) return;
    this.rib.setPeerInfo({ address, asn: s.peerAsn, routerId: s.peerOpen.bgpId, ibgp: s.peerAsn === this.options.localAsn });
    if (conn.fsm.config.idleHoldTime > 0) conn.fsm.config.idleHoldTime = this.options.idleHoldTime ?? DEFAULT_IDLE_HOLD_TIME;
    peer.adjOut.clear();
    peer.exportCache = new WeakMap();
    this.#sendFullTable(peer, conn);
    conn.socket?.write(END_OF_RIB_IPV4); // RFC 4724 §2: End-of-RIB after the initial table
  }

  #onUpdate(address: string, conn: Connection, m: UpdateMessage): void {
    for (const e of m.errors) {
      this.#log.warn({ peer: address, action: e.action, code: e.code, subcode: e.subcode }, `BGP ${address}: malformed UPDATE (${e.action}): ${e.message}`);
    }
    if (isEndOfRib(m)) {
      this.#log.info({ peer: address }, `BGP ${address}: End-of-RIB received`);
      const peer = this.#peers.get(address);
      if (peer) peer.maxPrefixBackoff = 0; // the whole table fitted: back to normal restarts
      return;
    }
    const announced = announcedPrefixes(m);
    const withdrawn = withdrawnPrefixes(m);
    // RFC 7606 §2: treat-as-withdraw → every announced prefix is withdrawn.
    const result = m.treatAsWithdraw
      ? this.rib.applyUpdate(address, [], {}, [...withdrawn, ...announced])
      : this.rib.applyUpdate(address, announced, normalisedAttributes(m), withdrawn);
    if (result.maxPrefixExceeded) {
      const { limit, count } = result.maxPrefixExceeded;
      const peer = this.#peers.get(address);
      const backoff = Math.min(MAX_PREFIX_BACKOFF_MAX_S, Math.max(MAX_PREFIX_BACKOFF_MIN_S, (peer?.maxPrefixBackoff ?? 0) * 2));
      if (peer) peer.maxPrefixBackoff = backoff;
      // Restart only after the backoff (the configured idle hold is restored once Established again).
      if (conn.fsm.config.idleHoldTime > 0) conn.fsm.config.idleHoldTime = Math.max(conn.fsm.config.idleHoldTime, backoff);
      this.#log.warn(
        { peer: address, limit, count, restartInSeconds: backoff },
        `BGP ${address}: maximum prefix limit ${limit} exceeded (${count} prefixes), sending Cease/Maximum Number of Prefixes Reached and closing; retrying in ${backoff} s`,
      );
      // RFC 4486 §4: data = AFI (2), SAFI (1), upper bound (4)
      const data = Buffer.alloc(7);
      data.writeUInt16BE(Afi.Ipv4, 0);
      data[2] = Safi.Unicast;
      data.writeUInt32BE(limit, 3);
      conn.fsm.handle({ type: 'localError', error: ceaseError(CeaseSubcode.MaximumPrefixesReached, `maximum prefix limit ${limit} exceeded`, data) });
    } else if (result.looped > 0) {
      this.#log.debug({ peer: address, looped: result.looped }, `BGP ${address}: ${result.looped} prefixes dropped (own AS in AS_PATH)`);
    }
  }

  #onDown(address: string, conn: Connection, reason: TransitionReason, text: string | undefined): void {
    const peer = this.#peers.get(address);
    if (!peer || conn !== peer.primary) return;
    const n = this.rib.peerDown(address);
    peer.adjOut.clear();
    this.#log.info({ peer: address, reason, withdrawn: n }, `BGP ${address}: session down (${reason}${text ? `: ${text}` : ''}), ${n} routes withdrawn`);
  }

  // ------------------------------------------------------------ routes out

  #context(conn: Connection): AttributeContext {
    return { fourOctetAs: conn.fsm.negotiated?.fourOctetAs ?? false };
  }

  /** What we would send this peer for `best` (cached per source attribute set), or undefined. */
  #exportFor(peer: Peer, conn: Connection, best: RibRoute | undefined): AdjOutEntry | undefined {
    if (!best) return undefined;
    const cached = peer.exportCache.get(best.attributes);
    if (cached && best.source !== peer.options.address) return cached;
    const out = exportAttributes(best, {
      peerAddress: peer.options.address,
      peerAsn: peer.options.asn,
      localAsn: this.options.localAsn,
      localAddress: conn.localAddress ?? peer.options.localAddress,
      transit: this.options.transit ?? false,
    });
    if (!out) return undefined;
    const entry = { key: encodeAttributes(out, this.#context(conn)).toString('latin1'), attributes: out };
    peer.exportCache.set(best.attributes, entry);
    return entry;
  }

  #exportChanges(peer: Peer, changes: readonly BestPathChange[]): void {
    const conn = peer.established;
    if (!conn) return;
    const withdrawn: Ipv4Prefix[] = [];
    const groups = new Map<string, { attributes: PathAttributes; nlri: Ipv4Prefix[] }>();
    for (const c of changes) this.#diffOne(peer, conn, c.prefix, c.best, withdrawn, groups);
    this.#sendUpdates(conn, withdrawn, groups);
  }

  #diffOne(
    peer: Peer,
    conn: Connection,
    prefix: Ipv4Prefix,
    best: RibRoute | undefined,
    withdrawn: Ipv4Prefix[],
    groups: Map<string, { attributes: PathAttributes; nlri: Ipv4Prefix[] }>,
  ): void {
    const want = this.#exportFor(peer, conn, best);
    const have = peer.adjOut.get(prefix);
    if (!want) {
      if (have) {
        peer.adjOut.delete(prefix);
        withdrawn.push(prefix);
      }
      return;
    }
    if (have && have.key === want.key) return;
    peer.adjOut.set(prefix, want);
    let g = groups.get(want.key);
    if (!g) groups.set(want.key, (g = { attributes: want.attributes, nlri: [] }));
    g.nlri.push(prefix);
  }

  #sendUpdates(conn: Connection, withdrawn: Ipv4Prefix[], groups: Map<string, { attributes: PathAttributes; nlri: Ipv4Prefix[] }>): void {
    if (withdrawn.length === 0 && groups.size === 0) return;
    for (const msg of packUpdates(withdrawn, [...groups.values()], this.#context(conn))) conn.socket?.write(msg);
  }

  #sendFullTable(peer: Peer, conn: Connection): void {
    const groups = new Map<string, { attributes: PathAttributes; nlri: Ipv4Prefix[] }>();
    const withdrawn: Ipv4Prefix[] = [];
    for (const { route } of this.rib.bestRoutes()) this.#diffOne(peer, conn, route.prefix, route, withdrawn, groups);
    this.#sendUpdates(conn, withdrawn, groups);
  }

  /** ROUTE-REFRESH received: re-send the Adj-RIB-Out, framed by BoRR/EoRR when enhanced refresh was negotiated (RFC 7313 §4). */
  #resend(address: string, conn: Connection): void {
    const peer = this.#peers.get(address);
    if (!peer || conn !== peer.established) return;
    const enhanced = conn.fsm.negotiated?.enhancedRouteRefresh ?? false;
    this.#log.info({ peer: address, enhanced }, `BGP ${address}: ROUTE-REFRESH received, re-sending ${peer.adjOut.size} routes`);
    if (enhanced) conn.socket?.write(encodeRouteRefresh(Afi.Ipv4, Safi.Unicast, RouteRefreshSubtype.BeginningOfRefresh));
    const groups = new Map<string, { attributes: PathAttributes; nlri: Ipv4Prefix[] }>();
    for (const [prefix, e] of peer.adjOut) {
      let g = groups.get(e.key);
      if (!g) groups.set(e.key, (g = { attributes: e.attributes, nlri: [] }));
      g.nlri.push(prefix);
    }
    this.#sendUpdates(conn, [], groups);
    if (enhanced) conn.socket?.write(encodeRouteRefresh(Afi.Ipv4, Safi.Unicast, RouteRefreshSubtype.EndOfRefresh));
  }

  /** For logs: "Cease 6/2 ..." of the last error of a peer. */
  describeLastError(address: string): string | undefined {
    return this.#peers.get(address)?.primary.fsm.lastError;
  }
}

/** Routes learned via MP_REACH carry their next hop there; copy it into NEXT_HOP for uniform handling. */
function normalisedAttributes(m: UpdateMessage): PathAttributes {
  const a = m.attributes;
  if (a.nextHop === undefined && a.mpReach && a.mpReach.afi === Afi.Ipv4) return { ...a, nextHop: a.mpReach.nextHop };
  return a;
}

