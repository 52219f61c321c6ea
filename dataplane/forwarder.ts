/**
 * EspDataplane: the userspace ESP forwarder between a TUN device and the
 * ESP-in-UDP socket; implements IpsecBackend (dataplane/backend.ts) so IKE
 * installs Child SAs into it.
 *
 * Outbound pipeline (one TUN read batch at a time):
 *   1. TUN read batch: packets land in the TUN slab with free headroom in front.
 *   2. SPD lookup: the Child SA whose tsRemote contains dst and tsLocal contains
 *      src; most specific remote range first, then the newest SA (so a rekeyed
 *      SA takes over at once: make-before-break).
 *   3. MTU/MSS: TCP SYN MSS clamped to the tunnel; a DF packet too big for the
 *      tunnel gets an ICMP "fragmentation needed" back into the TUN.
 *   4. seq: the SA's next 32-bit sequence number (refuses to wrap).
 *   5. encrypt: ESP header + IV written into the headroom, ciphertext over the
 *      packet, trailer + ICV after it (in place; a scratch buffer otherwise).
 *   6. UDP send: transport.sendEsp to the SA's peer (port 4500, RFC 3948).
 *
 * Inbound pipeline (one UDP datagram):
 *   1. SPI lookup (Map) → Child SA; unknown SPI dropped.
 *   2. ESP decapsulate: bounds → replay check → ICV + decrypt → replay commit
 *      → padding/next header (dataplane/esp.ts).
 *   3. Inbound policy check (RFC 4301 §5.2): the inner src must be inside the
 *      SA's tsRemote and dst inside its tsLocal, else dropped ('policy').
 *   4. MSS clamp on SYN/SYN-ACK, then written to the TUN.
 *
 * Overhead (outer IPv4 path MTU P, AES-GCM-16):
 *   outer IPv4 20 + UDP 8 + ESP header 8 + IV 8 + pad 0..3 + trailer 2 + ICV 16
 *   → inner MTU = floor((P - 60) / 4) * 4 - 2       (P = 1500 → 1438, MSS 1398)
 * AES-CBC + HMAC-SHA-256-128: IV 16, pad 0..15 to 16-byte blocks, ICV 16
 *   → inner MTU = floor((P - 68) / 16) * 16 - 2     (P = 1500 → 1422, MSS 1382)
 *
 * Supported standards: RFC 4303 (ESP, tunnel mode, 32-bit seq), RFC 3948
 * (ESP in UDP), RFC 4106 (AES-GCM ESP), RFC 4868 (HMAC-SHA-256-128), RFC 3602
 * (AES-CBC), RFC 6479 (anti-replay bitmap), RFC 4301 §5 (SPD/SAD processing,
 * address selectors only), RFC 1191/792 (frag-needed), RFC 1624 (checksum update).
 */
import type { Logger } from 'pino';
import type { ChildSaCounters, ChildSaInstall, IpsecBackend, Ipv4Range, UdpEndpoint } from './backend.js';
import {
  createInboundSa,
  createOutboundSa,
  decapsulate,
  encapsulate,
  espLength,
  espPrefixLength,
  NEXT_HEADER_IPV4,
  NEXT_HEADER_NONE,
  readSpi,
  seqExhausted,
  type InboundEspSa,
  type OutboundEspSa,
} from './esp.js';
import { ESP_HEADER_LENGTH, ESP_TRAILER_LENGTH, type EspTransform } from './esp-cipher.js';
import { buildFragNeeded, FRAG_NEEDED_MAX_LENGTH } from './icmp.js';
import { ipv4DontFragment, ipv4Dst, ipv4HeaderLength, ipv4Src, ipv4ToUint32, ipv4TotalLength, ipVersion } from './ipv4.js';
import { clampTcpMss } from './mss-clamp.js';
import { rangesContain, smallestMatch, toNumericRanges, type NumericRange } from './selectors.js';
import { flowHash, LearnedRoutes } from './learned-routes.js';
import type { PacketBatch, PacketDevice } from './tun.js';

const OUTER_IPV4_HEADER = 20;
const UDP_HEADER = 8;
const TCP_IP_HEADERS = 40;
const MAX_PACKET = 65535;
/** Decrypted packets per TUN write call. */
const TUN_QUEUE = 256;

/**
 * A received ESP datagram at buf[offset, offset+length) from srcIpv4 (host
 * order) : srcPort. `buf` is a reused receive slab: consume before returning.
 */
export type EspRawHandler = (buf: Buffer, offset: number, length: number, srcIpv4: number, srcPort: number) => void;

/** The ESP side of the UDP transport (dataplane/udp-transport.ts implements it). */
export interface EspTransportLike {
  /**
   * Sends ESP bytes; `buf` is only borrowed for the duration of the call.
   * A batching transport may hold the datagram until flush().
   */
  sendEsp(buf: Buffer, offset: number, length: number, remote: UdpEndpoint): void;
  /** Where received ESP datagrams (non-IKE, non-keepalive on 4500) go. */
  setEspHandler(handler: (pkt: Buffer, remote: UdpEndpoint) => void): void;
  /**
   * Optional allocation-free receive path (no Buffer view, no endpoint object
   * per packet). onBatchEnd runs after each receive batch, while the batch's
   * buffer is still valid (the forwarder writes its queued packets to the TUN then).
   */
  setEspRawHandler?(handler: EspRawHandler, onBatchEnd?: () => void): void;
  /** Sends whatever sendEsp queued (one sendmmsg); called at the end of every TUN batch. */
  flush?(): void;
  /** Optional zero-copy sendEsp: buf must stay unchanged until flush() returns. */
  sendEspBorrowed?(buf: Buffer, offset: number, length: number, remote: UdpEndpoint): void;
}

export interface EspDataplaneOptions {
  tun: PacketDevice;
  transport: EspTransportLike;
  log?: Logger;
  /** MTU of the outer path the ESP-in-UDP packets take. Default 1500. */
  mtu?: number;
  /** Clamp TCP MSS on SYNs in both directions. Default true. */
  clampMss?: boolean;
  /** Source address of generated ICMP errors; default: the original packet's destination. */
  icmpSource?: string;
  now?: () => number;
  /** Minimum time between two onAcquire calls for one connection. Default 1000 ms. */
  acquireIntervalMs?: number;
}

/** A connection's configured selectors: traffic matching them without an SA is an "acquire". */
export interface AcquirePolicy {
  connection: string;
  tsRemote: Ipv4Range[];
  /** Default: any source. */
  tsLocal?: Ipv4Range[];
}

/** Largest inner packet that fits a path MTU once encapsulated with `t`. */
export function tunnelInnerMtu(pathMtu: number, t: Pick<EspTransform, 'ivLength' | 'icvLength' | 'padAlign'>): number {
  const room = pathMtu - OUTER_IPV4_HEADER - UDP_HEADER - ESP_HEADER_LENGTH - t.ivLength - t.icvLength;
  return Math.floor(room / t.padAlign) * t.padAlign - ESP_TRAILER_LENGTH;
}

export class SaInstallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SaInstallError';
  }
}

interface ChildSaEntry {
  readonly id: string;
  readonly connection: string;
  readonly order: number;
  readonly outbound: OutboundEspSa;
  readonly inbound: InboundEspSa;
  readonly tsLocal: NumericRange[];
  readonly tsRemote: NumericRange[];
  readonly peer: UdpEndpoint;
  /** peer.address as a host-order uint32, -1 for IPv6 (compared on the raw receive path). */
  readonly peerIpv4: number;
  readonly innerMtu: number;
  readonly maxMss: number;
  inBytes: number;
  inPackets: number;
  outBytes: number;
  outPackets: number;
  lastInboundMs: number;
  readonly drops: Map<string, number>;
  /** Multipath: hash of the connection name (rendezvous weight) and the selector key that groups equal tunnels. */
  readonly pathHash: number;
  readonly remoteKey: string;
  /** Multipath: the tunnel is declared dead (setConnectionLive); skipped while another equal tunnel is alive. */
  pathDown: boolean;
  /** Outbound not used yet (rekey responder): promoted on the first authenticated inbound packet. */
  deferredOut: boolean;
}

function countDrop(drops: Map<string, number>, reason: string): void {
  drops.set(reason, (drops.get(reason) ?? 0) + 1);
}

export class EspDataplane implements IpsecBackend {
  onAcquire?: (connection: string) => void;

  private readonly tun: PacketDevice;
  private readonly transport: EspTransportLike;
  private readonly log: Logger | undefined;
  private readonly pathMtu: number;
  private readonly clampMss: boolean;
  private readonly icmpSource: number | undefined;
  private readonly now: () => number;
  private readonly byId = new Map<string, ChildSaEntry>();
  private readonly bySpi = new Map<number, ChildSaEntry>();
  /** Outbound candidates, newest last. */
  private outboundList: ChildSaEntry[] = [];
  private installCount = 0;
  /** Drops not attributable to a Child SA (noRoute, unknownSpi, ...). */
  private readonly globalDropCounts = new Map<string, number>();
  /** For packets that cannot be encapsulated in place (too little head/tailroom). */
  private readonly scratch = Buffer.alloc(MAX_PACKET + 128);
  private readonly icmpBuf = Buffer.alloc(FRAG_NEEDED_MAX_LENGTH);
  private acquirePolicies: Array<{ connection: string; tsRemote: NumericRange[]; tsLocal: NumericRange[] | undefined }> = [];
  private readonly lastAcquireMs = new Map<string, number>();
  private readonly acquireIntervalMs: number;
  /** Decrypted packets waiting for one writeCoalesced call (raw receive path only). */
  private readonly tunQueueOffsets = new Uint32Array(TUN_QUEUE);
  private readonly tunQueueLengths = new Uint32Array(TUN_QUEUE);
  private tunQueueBuf: Buffer | undefined;
  private tunQueued = 0;
  /** BGP-learned prefixes → connections (dataplane/learned-routes.ts), after the static selectors. */
  private readonly learned = new LearnedRoutes();
  /** Multipath (active-active tunnels): connections declared dead, and whether two connections share selectors at all. */
  private readonly downConnections = new Set<string>();
  private multipath = false;
  private readonly emptyPayload = Buffer.alloc(0);

  constructor(opts: EspDataplaneOptions) {
    this.tun = opts.tun;
    this.transport = opts.transport;
    this.log = opts.log;
    this.pathMtu = opts.mtu ?? 1500;
    if (!Number.isInteger(this.pathMtu) || this.pathMtu < 576 || this.pathMtu > MAX_PACKET) {
      throw new RangeError(`path MTU ${this.pathMtu} out of range 576..65535`);
    }
    this.clampMss = opts.clampMss ?? true;
    this.icmpSource = opts.icmpSource === undefined ? undefined : ipv4ToUint32(opts.icmpSource);
    this.now = opts.now ?? Date.now;
    this.acquireIntervalMs = opts.acquireIntervalMs ?? 1000;
    this.tun.onPackets((batch) => this.onTunBatch(batch));
    this.transport.setEspHandler((pkt, remote) => this.onEsp(pkt, remote));
    this.transport.setEspRawHandler?.(
      (buf, offset, length, srcIpv4) => this.onEspRaw(buf, offset, length, srcIpv4),
      () => this.flushTun(),
    );
  }

  // ---- IpsecBackend ----

  installChildSa(sa: ChildSaInstall): void {
    const existingSpi = this.bySpi.get(sa.inbound.spi >>> 0);
    if (existingSpi && existingSpi.id !== sa.id) {
      throw new SaInstallError(`inbound SPI 0x${(sa.inbound.spi >>> 0).toString(16)} already used by Child SA ${existingSpi.id}`);
    }
    const outbound = createOutboundSa(sa.outbound, sa.outboundSeqStart ?? 1n);
    const inbound = createInboundSa(sa.inbound);
    const innerMtu = tunnelInnerMtu(this.pathMtu, outbound.transform);
    const entry: ChildSaEntry = {
      id: sa.id,
      connection: sa.connection,
      order: ++this.installCount,
      outbound,
      inbound,
      tsLocal: toNumericRanges(sa.tsLocal),
      tsRemote: toNumericRanges(sa.tsRemote),
      peer: { address: sa.peer.address, port: sa.peer.port },
      peerIpv4: sa.peer.address.includes(':') ? -1 : ipv4ToUint32(sa.peer.address),
      innerMtu,
      maxMss: innerMtu - TCP_IP_HEADERS,
      inBytes: 0,
      inPackets: 0,
      outBytes: 0,
      outPackets: 0,
      lastInboundMs: 0,
      drops: new Map(),
      pathHash: stringHash(sa.connection),
      remoteKey: sa.tsRemote.map((r) => `${r.start}-${r.end}`).sort().join(','),
      pathDown: this.downConnections.has(sa.connection),
      deferredOut: sa.outboundActive === false,
    };
    this.removeChildSa(sa.id);
    this.byId.set(entry.id, entry);
    this.bySpi.set(inbound.spi, entry);
    // Newest last wins the outbound lookup; a deferred SA waits at the front.
    this.outboundList = entry.deferredOut ? [entry, ...this.outboundList] : [...this.outboundList, entry];
    this.refreshMultipath();
    this.log?.info(
      { id: sa.id, connection: sa.connection, spiIn: hex(inbound.spi), spiOut: hex(outbound.spi), peer: sa.peer, innerMtu },
      'ESP Child SA installed',
    );
  }

  removeChildSa(id: string): void {
    const entry = this.byId.get(id);
    if (!entry) return;
    this.byId.delete(id);
    if (this.bySpi.get(entry.inbound.spi) === entry) this.bySpi.delete(entry.inbound.spi);
    this.outboundList = this.outboundList.filter((e) => e !== entry);
    this.refreshMultipath();
    // Native key contexts are freed now rather than at GC (and the keys with them).
    entry.outbound.transform.dispose?.();
    entry.inbound.transform.dispose?.();
    this.log?.info({ id, spiIn: hex(entry.inbound.spi), spiOut: hex(entry.outbound.spi) }, 'ESP Child SA removed');
  }

  counters(id: string): ChildSaCounters | undefined {
    const e = this.byId.get(id);
    if (!e) return undefined;
    return {
      inBytes: e.inBytes,
      inPackets: e.inPackets,
      outBytes: e.outBytes,
      outPackets: e.outPackets,
      drops: Object.fromEntries(e.drops),
      lastInboundMs: e.lastInboundMs,
      outboundSeq: BigInt(e.outbound.nextSeq),
    };
  }

  /** Drops that happened before a Child SA was identified (noRoute, unknownSpi, badPacket ...). */
  globalDrops(): Record<string, number> {
    return Object.fromEntries(this.globalDropCounts);
  }

  /**
   * Sets the configured selectors of every connection. An outbound packet
   * with no Child SA that matches one calls onAcquire(connection), at most
   * once per acquireIntervalMs per connection.
   */
  setAcquirePolicies(policies: readonly AcquirePolicy[]): void {
    this.acquirePolicies = policies.map((p) => ({
      connection: p.connection,
      tsRemote: toNumericRanges(p.tsRemote),
      tsLocal: p.tsLocal ? toNumericRanges(p.tsLocal) : undefined,
    }));
  }

  /**
   * Learned (BGP) route: traffic to `prefix` goes through one of `connections`
   * (5-tuple hash when several: ECMP), unless a static selector is at least as
   * specific; traffic from `prefix` is accepted from them. Empty list: remove.
   */
  setLearnedRoute(prefix: string, connections: readonly string[]): void {
    this.learned.set(prefix, connections);
  }

  learnedRoute(prefix: string): readonly string[] | undefined {
    return this.learned.get(prefix);
  }

  get learnedRouteCount(): number {
    return this.learned.size;
  }

  /**
   * Multipath liveness: a dead connection's Child SAs are skipped by the
   * outbound lookup while another connection with the same selectors is alive
   * (its flows move there); with none alive the lookup falls back to them.
   */
  setConnectionLive(connection: string, live: boolean): void {
    if (live) this.downConnections.delete(connection);
    else this.downConnections.add(connection);
    for (const e of this.byId.values()) if (e.connection === connection) e.pathDown = !live;
  }

  /** Connections currently declared dead (setConnectionLive). */
  deadConnections(): string[] {
    return [...this.downConnections];
  }

  /**
   * Sends one RFC 4303 §2.6 dummy packet (next header 59, empty payload) on a
   * Child SA: the tunnel-liveness heartbeat. The receiver discards it after
   * the ICV check, which is what refreshes its lastInboundMs. Not counted as
   * traffic. False when the SA is unknown or its sequence space is used up.
   */
  sendDummy(id: string): boolean {
    const e = this.byId.get(id);
    if (!e || seqExhausted(e.outbound)) return false;
    const n = encapsulate(e.outbound, this.emptyPayload, this.scratch, 0, NEXT_HEADER_NONE);
    this.transport.sendEsp(this.scratch, 0, n, e.peer);
    this.transport.flush?.();
    return true;
  }

  /** Inner MTU of the tunnel for a Child SA (for routes / the TUN MTU). */
  innerMtu(id: string): number | undefined {
    return this.byId.get(id)?.innerMtu;
  }

  // ---- outbound ----

  private onTunBatch(batch: PacketBatch): void {
    const slab = batch.slab;
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offset(i);
      const slotStart = off - batch.headroom;
      try {
        this.outboundPacket(slab, off, batch.lengths[i] ?? 0, slotStart, slotStart + batch.slotSize);
      } catch (err) {
        countDrop(this.globalDropCounts, 'internalError');
        this.log?.error({ err }, 'outbound packet failed');
      }
    }
    this.transport.flush?.();
  }

  /** Processes the packet buf[off, off+len); buf[roomStart, roomEnd) is free to write around it. */
  private outboundPacket(buf: Buffer, off: number, len: number, roomStart: number, roomEnd: number): void {
    if (len < 1) return;
    if (ipVersion(buf, off) !== 4) {
      countDrop(this.globalDropCounts, ipVersion(buf, off) === 6 ? 'ipv6Unsupported' : 'badPacket');
      return;
    }
    if (ipv4HeaderLength(buf, off, len) === 0) {
      countDrop(this.globalDropCounts, 'badPacket');
      return;
    }
    const length = ipv4TotalLength(buf, off);
    const src = ipv4Src(buf, off);
    const dst = ipv4Dst(buf, off);
    const entry = this.lookupOutbound(src, dst, buf, off);
    if (!entry) {
      countDrop(this.globalDropCounts, 'noRoute');
      this.maybeAcquire(src, dst);
      return;
    }
    if (seqExhausted(entry.outbound)) {
      countDrop(entry.drops, 'seqExhausted');
      return;
    }
    if (length > entry.innerMtu) {
      if (ipv4DontFragment(buf, off)) {
        countDrop(entry.drops, 'tooBig');
        this.sendFragNeeded(buf, off, length, entry.innerMtu);
        return;
      }
      // DF clear: send anyway; the kernel fragments the outer UDP packet.
    }
    if (this.clampMss) clampTcpMss(buf, off, length, entry.maxMss);

    const sa = entry.outbound;
    const prefix = espPrefixLength(sa.transform);
    const total = espLength(sa.transform, length);
    let out: Buffer;
    let outOffset: number;
    if (off - prefix >= roomStart && off - prefix + total <= roomEnd) {
      out = buf; // in place: header into the headroom, trailer + ICV into the tailroom
      outOffset = off - prefix;
    } else {
      out = this.scratch;
      outOffset = 0;
    }
    const n = encapsulate(sa, buf.subarray(off, off + length), out, outOffset, NEXT_HEADER_IPV4);
    // In place, the TUN slab is untouched until the next batch: lend it (flush() runs at the batch end).
    if (out === buf && this.transport.sendEspBorrowed) this.transport.sendEspBorrowed(out, outOffset, n, entry.peer);
    else this.transport.sendEsp(out, outOffset, n, entry.peer);
    entry.outPackets++;
    entry.outBytes += length;
  }

  /**
   * Starts sending on a Child SA installed with `outboundActive: false`: the
   * peer has shown it holds the SA (it sent on it), or IKE says so.
   */
  activateOutbound(id: string): void {
    const entry = this.byId.get(id);
    if (entry?.deferredOut) this.promoteOutbound(entry);
  }

  private promoteOutbound(entry: ChildSaEntry): void {
    entry.deferredOut = false;
    this.outboundList = [...this.outboundList.filter((e) => e !== entry), entry];
    this.refreshMultipath();
    this.log?.debug({ id: entry.id }, 'outbound switched to the new Child SA');
  }

  /** Most specific tsRemote match wins; among equals, the newest SA (make-before-break). */
  private lookupOutbound(src: number, dst: number, pkt?: Buffer, off = 0): ChildSaEntry | undefined {
    let best: ChildSaEntry | undefined;
    let bestSize = 0;
    const list = this.outboundList;
    for (let i = list.length - 1; i >= 0; i--) {
      const e = list[i]!;
      const size = smallestMatch(e.tsRemote, dst);
      if (size === 0 || (best && size >= bestSize)) continue;
      if (!rangesContain(e.tsLocal, src)) continue;
      best = e;
      bestSize = size;
    }
    if (best && this.multipath && pkt !== undefined) best = this.pickPath(best, bestSize, src, dst, pkt, off);
    if (this.learned.size === 0 || pkt === undefined) return best;
    return this.lookupLearned(src, dst, pkt, off, best ? bestSize : 0) ?? best;
  }

  /**
   * Active-active tunnels: several connections whose SAs match equally. Each
   * flow (5-tuple hash) goes to the live connection with the highest
   * rendezvous weight, so a flow keeps its tunnel and only the flows of a
   * tunnel that dies move; within a connection the newest SA (rekeys).
   */
  private pickPath(best: ChildSaEntry, bestSize: number, src: number, dst: number, pkt: Buffer, off: number): ChildSaEntry {
    const h = flowHash(pkt, off);
    let pick: ChildSaEntry | undefined;
    let pickWeight = -1;
    const list = this.outboundList;
    for (let i = list.length - 1; i >= 0; i--) {
      const e = list[i]!;
      if (e.pathDown || e.remoteKey !== best.remoteKey) continue;
      if (smallestMatch(e.tsRemote, dst) !== bestSize || !rangesContain(e.tsLocal, src)) continue;
      const w = mix32(h ^ e.pathHash);
      if (w > pickWeight) { pick = e; pickWeight = w; }
    }
    return pick ?? best;
  }

  /** Multipath lookups only when two connections hold SAs with the same selectors. */
  private refreshMultipath(): void {
    const seen = new Map<string, string>();
    this.multipath = false;
    for (const e of this.outboundList) {
      const c = seen.get(e.remoteKey);
      if (c === undefined) seen.set(e.remoteKey, e.connection);
      else if (c !== e.connection) { this.multipath = true; return; }
    }
  }

  /** A learned prefix more specific than the static match (size 0: none): the SA of one of its connections. */
  private lookupLearned(src: number, dst: number, pkt: Buffer, off: number, staticSize: number): ChildSaEntry | undefined {
    const conns = this.learned.connectionsFor(dst);
    if (!conns) return undefined;
    if (staticSize !== 0 && 2 ** (32 - this.learned.matchedLength) >= staticSize) return undefined;
    const n = conns.length;
    const start = n === 1 ? 0 : flowHash(pkt, off) % n;
    // The hashed connection first; if it has no live Child SA, the next one (the tunnel that is up).
    for (let k = 0; k < n; k++) {
      const conn = conns[(start + k) % n]!;
      const list = this.outboundList;
      for (let i = list.length - 1; i >= 0; i--) {
        const e = list[i]!;
        if (e.connection === conn && rangesContain(e.tsLocal, src)) return e;
      }
    }
    return undefined;
  }

  private maybeAcquire(src: number, dst: number): void {
    const onAcquire = this.onAcquire;
    if (!onAcquire) return;
    for (const p of this.acquirePolicies) {
      if (!rangesContain(p.tsRemote, dst) || (p.tsLocal && !rangesContain(p.tsLocal, src))) continue;
      const now = this.now();
      const last = this.lastAcquireMs.get(p.connection);
      if (last !== undefined && now - last < this.acquireIntervalMs) return;
      this.lastAcquireMs.set(p.connection, now);
      try {
        onAcquire(p.connection);
      } catch (err) {
        this.log?.warn({ err, connection: p.connection }, 'onAcquire threw');
      }
      return;
    }
  }

  private sendFragNeeded(orig: Buffer, off: number, len: number, mtu: number): void {
    const source = this.icmpSource ?? ipv4Dst(orig, off);
    const n = buildFragNeeded(orig, off, len, mtu, source, this.icmpBuf);
    if (n > 0 && !this.tun.writePacket(this.icmpBuf, 0, n)) countDrop(this.globalDropCounts, 'tunFull');
  }

  // ---- inbound ----

  private onEsp(pkt: Buffer, remote: UdpEndpoint): void {
    try {
      this.inboundPacket(pkt, 0, pkt.length, remote.address, -1);
    } catch (err) {
      countDrop(this.globalDropCounts, 'internalError');
      this.log?.error({ err }, 'inbound ESP packet failed');
    }
  }

  private onEspRaw(buf: Buffer, offset: number, length: number, srcIpv4: number): void {
    try {
      this.inboundPacket(buf, offset, length, undefined, srcIpv4);
    } catch (err) {
      countDrop(this.globalDropCounts, 'internalError');
      this.log?.error({ err }, 'inbound ESP packet failed');
    }
  }

  /** The sender is given either as an address string (dgram path) or as a uint32 (raw path). */
  private inboundPacket(pkt: Buffer, espAt: number, espLen: number, srcAddress: string | undefined, srcIpv4: number): void {
    if (espLen < ESP_HEADER_LENGTH) {
      countDrop(this.globalDropCounts, 'badLength');
      return;
    }
    const entry = this.bySpi.get(readSpi(pkt, espAt));
    if (!entry) {
      countDrop(this.globalDropCounts, 'unknownSpi');
      return;
    }
    if (srcAddress !== undefined ? srcAddress !== entry.peer.address : srcIpv4 !== entry.peerIpv4) {
      countDrop(entry.drops, 'peerMismatch');
      return;
    }
    const r = decapsulate(entry.inbound, pkt, espAt, espLen);
    if (!r.ok) {
      countDrop(entry.drops, r.error);
      return;
    }
    entry.lastInboundMs = this.now();
    if (entry.deferredOut) this.promoteOutbound(entry);
    if (r.nextHeader === NEXT_HEADER_NONE) {
      countDrop(entry.drops, 'dummy'); // RFC 4303 §2.6: discard silently
      return;
    }
    if (r.nextHeader !== NEXT_HEADER_IPV4) {
      countDrop(entry.drops, 'ipv6Unsupported');
      return;
    }
    const off = r.innerOffset;
    if (ipv4HeaderLength(pkt, off, r.innerLength) === 0) {
      countDrop(entry.drops, 'badInner');
      return;
    }
    const length = ipv4TotalLength(pkt, off);
    const innerSrc = ipv4Src(pkt, off);
    if ((!rangesContain(entry.tsRemote, innerSrc) && !this.learned.carries(entry.connection, innerSrc)) || !rangesContain(entry.tsLocal, ipv4Dst(pkt, off))) {
      countDrop(entry.drops, 'policy');
      return;
    }
    entry.inPackets++;
    entry.inBytes += length;
    if (this.clampMss) clampTcpMss(pkt, off, length, entry.maxMss);
    if (srcAddress === undefined && this.tun.writeCoalesced) {
      this.queueTun(pkt, off, length); // raw path: the transport calls flushTun() at the end of the batch
      return;
    }
    if (!this.tun.writePacket(pkt, off, length)) countDrop(entry.drops, 'tunFull');
  }

  private queueTun(buf: Buffer, off: number, length: number): void {
    if (this.tunQueued === TUN_QUEUE || (this.tunQueueBuf !== undefined && this.tunQueueBuf !== buf)) this.flushTun();
    this.tunQueueBuf = buf;
    this.tunQueueOffsets[this.tunQueued] = off;
    this.tunQueueLengths[this.tunQueued] = length;
    this.tunQueued++;
  }

  /** Writes the queued decrypted packets (TCP segments coalesced by the addon). */
  private flushTun(): void {
    const n = this.tunQueued;
    const buf = this.tunQueueBuf;
    this.tunQueued = 0;
    this.tunQueueBuf = undefined;
    if (n === 0 || !buf || !this.tun.writeCoalesced) return;
    let delivered: number;
    try {
      delivered = this.tun.writeCoalesced(buf, this.tunQueueOffsets, this.tunQueueLengths, n);
    } catch (err) {
      countDrop(this.globalDropCounts, 'tunError');
      this.log?.error({ err }, 'TUN write failed');
      return;
    }
    for (let i = delivered; i < n; i++) countDrop(this.globalDropCounts, 'tunFull');
  }
}

/** FNV-1a of a string (connection names → multipath weights). */
function stringHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** 32-bit finalizer (murmur3 fmix): spreads flowHash ^ pathHash into a weight. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

function hex(spi: number): string {
  return `0x${(spi >>> 0).toString(16).padStart(8, '0')}`;
}
