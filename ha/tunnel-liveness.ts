/**
 * Tunnel liveness for active-active: is the tunnel of a connection alive
 * right now, within half a second, without waiting for IKE DPD (≥ 9 s)?
 *
 *   every 100 ms, per Child SA of a watched connection:
 *     nothing sent since the last tick  → send an RFC 4303 §2.6 dummy packet
 *                                         (next header 59, empty, ICV-protected)
 *     nothing received for 500 ms       → the connection is dead: the dataplane
 *                                         moves its flows to the other tunnels
 *                                         with the same selectors
 *
 *   gwB ──tunnel to instance 0── ESP data + dummies ──▶ gwA-0   (killed: silence)
 *       ──tunnel to instance 1── ESP data + dummies ──▶ gwA-1
 *
 * Any authenticated ESP packet counts as a sign of life (dataplane
 * lastInboundMs), so a busy tunnel sends no dummies at all. Both ends must
 * send: a gateway watches the connections it has several of towards the same
 * prefixes (multipathGroups) and, as an HA active-active instance, all of its
 * connections; and it echoes (sends dummies on) any tunnel whose peer sends
 * dummies, so the peer can watch it. A peer that ignores dummies (strongSwan,
 * the kernel) is never watched, because it never sends any.
 *
 * A Child SA is alive for `deadAfterMs` after it is first seen (grace for a
 * new or rekeyed SA). A connection with no Child SA is reset to alive.
 *
 * Our own stalls do not count as the peer's silence: when a tick comes more
 * than STALL_TICKS heartbeats late (the process was starved of CPU, or GC),
 * Node runs this timer before it reads the datagrams that queued up
 * meanwhile, so every tunnel would look silent at once. Silence is then
 * counted from the moment we resumed.
 */
import type { Logger } from 'pino';
import type { ChildSaCounters } from '../dataplane/backend.js';

export const LIVENESS_HEARTBEAT_MS = 100;
export const LIVENESS_DEAD_AFTER_MS = 500;
/** How long we keep answering a peer's dummies after the last one. */
const ECHO_HOLD_MS = 2_000;
/** A tick this many heartbeats after the previous one means we were stalled. */
export const LIVENESS_STALL_TICKS = 3;

export interface LivenessDataplane {
  counters(id: string): ChildSaCounters | undefined;
  sendDummy(id: string): boolean;
  setConnectionLive(connection: string, live: boolean): void;
}

export interface TunnelLivenessOptions {
  dataplane: LivenessDataplane;
  /** Installed Child SA ids of a connection. */
  childIds(connection: string): string[];
  /** Every connection of the gateway (echo candidates). */
  connections: readonly string[];
  /** Connections whose liveness decides where flows go. */
  watched: readonly string[];
  log?: Logger;
  heartbeatMs?: number;
  deadAfterMs?: number;
  now?: () => number;
  /** A watched connection changed state (BGP follows it, status shows it). */
  onChange?: (connection: string, live: boolean, silentMs: number) => void;
}

export interface TunnelLivenessView {
  connection: string;
  live: boolean;
  /** ms since the last authenticated ESP packet on any of its Child SAs (null: none yet). */
  silentMs: number | null;
  lastChange: string | null;
}

interface ConnState { live: boolean; lastChangeMs: number; echoUntilMs: number; lastInMs: number }

/** Groups of ≥ 2 connections towards exactly the same prefixes (candidates for flow spreading). */
export function multipathGroups(specs: ReadonlyArray<{ name: string; remotePrefixes: ReadonlyArray<{ start: string; end: string }>; p2s?: unknown }>): string[][] {
  const byKey = new Map<string, string[]>();
  for (const s of specs) {
    if (s.p2s !== undefined || s.remotePrefixes.length === 0) continue;
    const key = s.remotePrefixes.map((r) => `${r.start}-${r.end}`).sort().join(',');
    const g = byKey.get(key);
    if (g) g.push(s.name); else byKey.set(key, [s.name]);
  }
  return [...byKey.values()].filter((g) => g.length > 1);
}

export class TunnelLiveness {
  private readonly watched: Set<string>;
  private readonly state = new Map<string, ConnState>();
  private readonly firstSeen = new Map<string, number>();
  private readonly lastOut = new Map<string, number>();
  private readonly lastDummies = new Map<string, number>();
  private readonly heartbeatMs: number;
  private readonly deadAfterMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private lastTickMs = 0;
  /** When we last resumed from a stall of our own; silence before it is not the peer's. */
  private resumedAtMs = 0;
  readonly stats = { dummiesSent: 0, deaths: 0, revivals: 0, stalls: 0 };

  constructor(private readonly o: TunnelLivenessOptions) {
    this.watched = new Set(o.watched);
    this.heartbeatMs = o.heartbeatMs ?? LIVENESS_HEARTBEAT_MS;
    this.deadAfterMs = o.deadAfterMs ?? LIVENESS_DEAD_AFTER_MS;
    this.now = o.now ?? Date.now;
    for (const c of o.connections) this.state.set(c, { live: true, lastChangeMs: 0, echoUntilMs: 0, lastInMs: 0 });
  }

  start(): void {
    if (this.timer) return;
    this.o.log?.info({ watched: [...this.watched], heartbeatMs: this.heartbeatMs, deadAfterMs: this.deadAfterMs }, 'tunnel liveness started');
    this.timer = setInterval(() => this.tick(), this.heartbeatMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  isLive(connection: string): boolean {
    return this.state.get(connection)?.live ?? true;
  }

  /** One heartbeat period (the timer calls it; tests call it directly). */
  tick(): void {
    const now = this.now();
    if (this.lastTickMs !== 0 && now - this.lastTickMs > this.heartbeatMs * LIVENESS_STALL_TICKS) {
      this.resumedAtMs = now;
      this.stats.stalls++;
      this.o.log?.debug({ stalledMs: now - this.lastTickMs }, 'tunnel liveness: this process stalled; silence counted from now');
    }
    this.lastTickMs = now;
    const seen = new Set<string>();
    for (const conn of this.o.connections) {
      const st = this.state.get(conn);
      if (!st) continue;
      const ids = this.o.childIds(conn);
      const watched = this.watched.has(conn);
      let lastIn = 0;
      let newest = 0;
      const counters: Array<[string, ChildSaCounters]> = [];
      for (const id of ids) {
        const c = this.o.dataplane.counters(id);
        if (!c) continue;
        seen.add(id);
        counters.push([id, c]);
        const first = this.firstSeen.get(id) ?? now;
        if (!this.firstSeen.has(id)) this.firstSeen.set(id, now);
        newest = Math.max(newest, first);
        lastIn = Math.max(lastIn, c.lastInboundMs);
        const dummies = c.drops.dummy ?? 0;
        if (dummies > (this.lastDummies.get(id) ?? 0)) st.echoUntilMs = now + ECHO_HOLD_MS;
        this.lastDummies.set(id, dummies);
      }
      st.lastInMs = lastIn;
      if (watched || st.echoUntilMs > now) {
        for (const [id, c] of counters) {
          if (c.outPackets === this.lastOut.get(id) && this.o.dataplane.sendDummy(id)) this.stats.dummiesSent++;
          this.lastOut.set(id, c.outPackets);
        }
      }
      if (!watched) continue;
      if (counters.length === 0) {
        if (!st.live) this.set(conn, st, true, now, 0, 'no Child SA any more');
        continue;
      }
      const sign = Math.max(lastIn, newest, this.resumedAtMs);
      const silent = now - sign;
      const live = silent < this.deadAfterMs;
      if (live !== st.live) this.set(conn, st, live, now, lastIn ? now - lastIn : silent, live ? 'ESP received again' : `no ESP for ${silent} ms`);
    }
    for (const id of [...this.firstSeen.keys()]) {
      if (seen.has(id)) continue;
      this.firstSeen.delete(id);
      this.lastOut.delete(id);
      this.lastDummies.delete(id);
    }
  }

  private set(conn: string, st: ConnState, live: boolean, now: number, silentMs: number, why: string): void {
    st.live = live;
    st.lastChangeMs = now;
    if (live) this.stats.revivals++; else this.stats.deaths++;
    this.o.dataplane.setConnectionLive(conn, live);
    const others = [...this.watched].filter((c) => c !== conn && this.state.get(c)?.live);
    if (live) this.o.log?.info({ event: 'tunnel-live', connection: conn }, `tunnel ${conn} alive (${why}): it carries its flows again`);
    else this.o.log?.warn({ event: 'tunnel-dead', connection: conn, silentMs, survivors: others }, `tunnel ${conn} dead (${why}): its flows move to ${others.join(', ') || 'no other tunnel'}`);
    try { this.o.onChange?.(conn, live, silentMs); } catch (err) { this.o.log?.warn({ err }, 'tunnel liveness listener failed'); }
  }

  views(): TunnelLivenessView[] {
    const now = this.now();
    return [...this.watched].map((connection) => {
      const st = this.state.get(connection);
      return {
        connection, live: st?.live ?? true, silentMs: st && st.lastInMs ? now - st.lastInMs : null,
        lastChange: st && st.lastChangeMs ? new Date(st.lastChangeMs).toISOString() : null,
      };
    });
  }
}

/** The IKE side TunnelLiveness reads: a connection's live Child SAs. */
export interface LivenessIke {
  sasOf(connection: string): Array<{ activeChildren(): Array<{ id: string }> }>;
}

/**
 * Liveness for a gateway: watches the multipath groups among `specs`, or every
 * site-to-site connection when `watchAll` (an active-active HA instance).
 * Undefined when there is nothing to watch or echo (no site-to-site connection).
 */
export function gatewayLiveness(o: {
  specs: ReadonlyArray<{ name: string; remotePrefixes: ReadonlyArray<{ start: string; end: string }>; p2s?: unknown }>;
  ike: LivenessIke;
  dataplane: LivenessDataplane;
  watchAll: boolean;
  log?: Logger;
  onChange?: (connection: string, live: boolean, silentMs: number) => void;
}): TunnelLiveness | undefined {
  const s2s = o.specs.filter((s) => s.p2s === undefined).map((s) => s.name);
  if (s2s.length === 0) return undefined;
  const watched = o.watchAll ? s2s : multipathGroups(o.specs).flat();
  const opts: TunnelLivenessOptions = {
    dataplane: o.dataplane,
    childIds: (c) => o.ike.sasOf(c).flatMap((sa) => sa.activeChildren().map((ch) => ch.id)),
    connections: s2s,
    watched,
  };
  if (o.log) opts.log = o.log;
  if (o.onChange) opts.onChange = o.onChange;
  return new TunnelLiveness(opts);
}
