/**
 * Routing information bases (RFC 4271 §3.2, §9):
 *
 *   Adj-RIB-In (one per peer)  --loop check, max-prefix-->  Loc-RIB (best path per prefix)
 *
 * Best-path selection follows RFC 4271 §9.1.2.2 plus the usual tie-breakers,
 * and records WHY the best path won (`BestPathReason`), so `show route` can
 * explain it. Locally originated routes are always preferred. Changes to the
 * best path are published as batched `BestPathChange` events (the gateway will
 * program the kernel from them, the speaker re-advertises from them).
 *
 * Prefixes are keys in Maps ("10.65.1.0/24"); 100k prefixes cost a few tens of MB.
 */
import { DEFAULT_LOCAL_PREF, DEFAULT_MAX_PREFIXES } from './constants.js';
import { asPathContains, asPathLength, firstAs, type PathAttributes } from './attributes.js';
import { ipv4ToNumber, type Ipv4Prefix } from './wire.js';

export const LOCAL_SOURCE = 'local';

export interface PeerInfo {
  address: string;
  asn: number;
  routerId: string;
  ibgp: boolean;
}

export interface RibRoute {
  prefix: Ipv4Prefix;
  /** Peer address, or LOCAL_SOURCE for originated routes. */
  source: string;
  peer: PeerInfo | undefined;
  attributes: PathAttributes;
  /** Milliseconds (clock of the owner) when learned. */
  learnedAt: number;
}

/** Decision step that separated the best path from its closest competitor. */
export type BestPathReason =
  | 'onlyPath'
  | 'localOrigin'
  | 'localPref'
  | 'asPathLength'
  | 'origin'
  | 'med'
  | 'ebgpOverIbgp'
  | 'routerId'
  | 'peerAddress';

const STEP_ORDER: readonly BestPathReason[] = ['onlyPath', 'localOrigin', 'localPref', 'asPathLength', 'origin', 'med', 'ebgpOverIbgp', 'routerId', 'peerAddress'];

export interface BestPathChange {
  kind: 'added' | 'changed' | 'removed';
  prefix: Ipv4Prefix;
  best: RibRoute | undefined;
  previous: RibRoute | undefined;
  reason: BestPathReason | undefined;
}

/**
 * Compare two candidate routes. Negative: `a` is better. Returns the step that decided.
 * RFC 4271 §9.1.2.2 (MED only between routes from the same neighbouring AS).
 */
export function compareRoutes(a: RibRoute, b: RibRoute): { order: number; reason: BestPathReason } {
  const aLocal = a.source === LOCAL_SOURCE;
  const bLocal = b.source === LOCAL_SOURCE;
  if (aLocal !== bLocal) return { order: aLocal ? -1 : 1, reason: 'localOrigin' };
  const lpA = a.attributes.localPref ?? DEFAULT_LOCAL_PREF;
  const lpB = b.attributes.localPref ?? DEFAULT_LOCAL_PREF;
  if (lpA !== lpB) return { order: lpB - lpA, reason: 'localPref' }; // higher wins
  const lenA = asPathLength(a.attributes.asPath);
  const lenB = asPathLength(b.attributes.asPath);
  if (lenA !== lenB) return { order: lenA - lenB, reason: 'asPathLength' };
  const oA = a.attributes.origin ?? 2;
  const oB = b.attributes.origin ?? 2;
  if (oA !== oB) return { order: oA - oB, reason: 'origin' };
  const nA = firstAs(a.attributes.asPath);
  if (nA !== undefined && nA === firstAs(b.attributes.asPath)) {
    // "a route that lacks the MULTI_EXIT_DISC attribute [is considered] as having the lowest possible value"
    const mA = a.attributes.med ?? 0;
    const mB = b.attributes.med ?? 0;
    if (mA !== mB) return { order: mA - mB, reason: 'med' };
  }
  const iA = a.peer?.ibgp ?? false;
  const iB = b.peer?.ibgp ?? false;
  if (iA !== iB) return { order: iA ? 1 : -1, reason: 'ebgpOverIbgp' };
  const rA = ipv4ToNumber(a.peer?.routerId ?? '0.0.0.0');
  const rB = ipv4ToNumber(b.peer?.routerId ?? '0.0.0.0');
  if (rA !== rB) return { order: rA - rB, reason: 'routerId' };
  const pA = ipv4ToNumber(a.peer?.address ?? '0.0.0.0');
  const pB = ipv4ToNumber(b.peer?.address ?? '0.0.0.0');
  return { order: pA - pB, reason: 'peerAddress' };
}

/** Pick the best of the candidates and the reason it beat its closest competitor. */
export function selectBest(candidates: readonly RibRoute[]): { best: RibRoute; reason: BestPathReason } | undefined {
  const first = candidates[0];
  if (!first) return undefined;
  let best = first;
  for (let i = 1; i < candidates.length; i++) {
    const c = candidates[i] as RibRoute;
    if (compareRoutes(c, best).order < 0) best = c;
  }
  let reason: BestPathReason = 'onlyPath';
  for (const c of candidates) {
    if (c === best) continue;
    const r = compareRoutes(best, c).reason;
    if (STEP_ORDER.indexOf(r) > STEP_ORDER.indexOf(reason)) reason = r;
  }
  return { best, reason };
}

interface LocEntry {
  candidates: RibRoute[];
  best: RibRoute | undefined;
  reason: BestPathReason | undefined;
}

interface AdjIn {
  info: PeerInfo;
  maxPrefixes: number;
  routes: Map<Ipv4Prefix, { route: RibRoute; accepted: boolean }>;
  accepted: number;
}

export interface ApplyResult {
  accepted: number;
  /** Dropped because our ASN is in the AS_PATH (RFC 4271 §9.1.2). */
  looped: number;
  withdrawn: number;
  /** Set when the update would push the peer over its limit; nothing was applied. */
  maxPrefixExceeded?: { limit: number; count: number };
}

export type RibListener = (changes: BestPathChange[]) => void;

export class Rib {
  readonly localAsn: number;
  readonly #loc = new Map<Ipv4Prefix, LocEntry>();
  readonly #peers = new Map<string, AdjIn>();
  readonly #local = new Map<Ipv4Prefix, RibRoute>();
  readonly #listeners = new Set<RibListener>();
  readonly #candidateListeners = new Set<(prefixes: Ipv4Prefix[]) => void>();
  /** Prefixes whose candidate set changed in the current operation (only collected while someone listens). */
  #touched: Ipv4Prefix[] = [];
  readonly #now: () => number;

  constructor(opts: { localAsn: number; now?: () => number }) {
    this.localAsn = opts.localAsn;
    this.#now = opts.now ?? Date.now;
  }

  subscribe(fn: RibListener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * Called after every operation with the prefixes whose candidate set changed,
   * even when the best path did not (e.g. to keep an ECMP set current).
   */
  subscribeCandidates(fn: (prefixes: Ipv4Prefix[]) => void): () => void {
    this.#candidateListeners.add(fn);
    return () => this.#candidateListeners.delete(fn);
  }

  addPeer(info: PeerInfo, maxPrefixes = DEFAULT_MAX_PREFIXES): void {
    const existing = this.#peers.get(info.address);
    if (existing) {
      existing.info = info;
      existing.maxPrefixes = maxPrefixes;
      return;
    }
    this.#peers.set(info.address, { info, maxPrefixes, routes: new Map(), accepted: 0 });
  }

  /** Update the identity learned from the peer's OPEN (router id, ASN) before routes arrive. */
  setPeerInfo(info: PeerInfo): void {
    const p = this.#peers.get(info.address);
    if (p) p.info = info;
  }

  removePeer(address: string): void {
    this.peerDown(address);
    this.#peers.delete(address);
  }

  /**
   * Apply one UPDATE from a peer. Announced prefixes replace the peer's
   * previous route for that prefix (implicit withdraw, RFC 4271 §3.1).
   */
  applyUpdate(address: string, announced: readonly Ipv4Prefix[], attributes: PathAttributes, withdrawn: readonly Ipv4Prefix[]): ApplyResult {
    const peer = this.#peers.get(address);
    if (!peer) throw new Error(`unknown peer ${address}`);
    const result: ApplyResult = { accepted: 0, looped: 0, withdrawn: 0 };
    let newCount = 0;
    for (const p of announced) if (!peer.routes.has(p)) newCount++;
    const announcedSet = withdrawn.length > 0 && announced.length > 0 ? new Set(announced) : undefined;
    const withdrawnPresent = withdrawn.filter((p) => peer.routes.has(p) && !announcedSet?.has(p)).length;
    const after = peer.routes.size + newCount - withdrawnPresent;
    if (peer.maxPrefixes > 0 && after > peer.maxPrefixes) {
      result.maxPrefixExceeded = { limit: peer.maxPrefixes, count: after };
      return result;
    }
    const changes: BestPathChange[] = [];
    const now = this.#now();
    for (const p of withdrawn) {
      const old = peer.routes.get(p);
      if (!old) continue;
      peer.routes.delete(p);
      result.withdrawn++;
      if (old.accepted) {
        peer.accepted--;
        this.#removeCandidate(p, address, changes);
      }
    }
    // RFC 4271 §9.1.2: "If the AS_PATH attribute ... contains the local AS number, the route ... SHOULD be excluded"
    const loop = asPathContains(attributes.asPath, this.localAsn);
    for (const p of announced) {
      const route: RibRoute = { prefix: p, source: address, peer: peer.info, attributes, learnedAt: now };
      const old = peer.routes.get(p);
      peer.routes.set(p, { route, accepted: !loop });
      if (old?.accepted) peer.accepted--;
      if (loop) {
        result.looped++;
        if (old?.accepted) this.#removeCandidate(p, address, changes);
        continue;
      }
      peer.accepted++;
      result.accepted++;
      this.#putCandidate(route, changes);
    }
    this.#emit(changes);
    return result;
  }

  /** Withdraw everything learned from a peer (session went down). */
  peerDown(address: string): number {
    const peer = this.#peers.get(address);
    if (!peer) return 0;
    const changes: BestPathChange[] = [];
    const n = peer.routes.size;
    for (const [p, r] of peer.routes) if (r.accepted) this.#removeCandidate(p, address, changes);
    peer.routes.clear();
    peer.accepted = 0;
    this.#emit(changes);
    return n;
  }

  originate(prefixes: readonly Ipv4Prefix[], attributes: PathAttributes): void {
    const changes: BestPathChange[] = [];
    const now = this.#now();
    for (const p of prefixes) {
      const route: RibRoute = { prefix: p, source: LOCAL_SOURCE, peer: undefined, attributes, learnedAt: now };
      this.#local.set(p, route);
      this.#putCandidate(route, changes);
    }
    this.#emit(changes);
  }

  withdrawLocal(prefixes: readonly Ipv4Prefix[]): void {
    const changes: BestPathChange[] = [];
    for (const p of prefixes) if (this.#local.delete(p)) this.#removeCandidate(p, LOCAL_SOURCE, changes);
    this.#emit(changes);
  }

  best(prefix: Ipv4Prefix): { route: RibRoute; reason: BestPathReason } | undefined {
    const e = this.#loc.get(prefix);
    return e?.best && e.reason ? { route: e.best, reason: e.reason } : undefined;
  }

  *bestRoutes(): IterableIterator<{ route: RibRoute; reason: BestPathReason; candidates: number }> {
    for (const e of this.#loc.values()) if (e.best && e.reason) yield { route: e.best, reason: e.reason, candidates: e.candidates.length };
  }

  candidates(prefix: Ipv4Prefix): readonly RibRoute[] {
    return this.#loc.get(prefix)?.candidates ?? [];
  }

  get size(): number {
    return this.#loc.size;
  }

  peerStats(address: string): { received: number; accepted: number } {
    const p = this.#peers.get(address);
    return { received: p?.routes.size ?? 0, accepted: p?.accepted ?? 0 };
  }

  *adjRibIn(address: string): IterableIterator<{ route: RibRoute; accepted: boolean }> {
    const p = this.#peers.get(address);
    if (p) yield* p.routes.values();
  }

  localRoutes(): IterableIterator<RibRoute> {
    return this.#local.values();
  }

  #putCandidate(route: RibRoute, changes: BestPathChange[]): void {
    if (this.#candidateListeners.size) this.#touched.push(route.prefix);
    let e = this.#loc.get(route.prefix);
    if (!e) {
      e = { candidates: [], best: undefined, reason: undefined };
      this.#loc.set(route.prefix, e);
    }
    const i = e.candidates.findIndex((c) => c.source === route.source);
    if (i >= 0) e.candidates[i] = route;
    else e.candidates.push(route);
    this.#reselect(route.prefix, e, changes);
  }

  #removeCandidate(prefix: Ipv4Prefix, source: string, changes: BestPathChange[]): void {
    const e = this.#loc.get(prefix);
    if (!e) return;
    const i = e.candidates.findIndex((c) => c.source === source);
    if (i < 0) return;
    if (this.#candidateListeners.size) this.#touched.push(prefix);
    e.candidates.splice(i, 1);
    this.#reselect(prefix, e, changes);
    if (e.candidates.length === 0) this.#loc.delete(prefix);
  }

  #reselect(prefix: Ipv4Prefix, e: LocEntry, changes: BestPathChange[]): void {
    const previous = e.best;
    const sel = selectBest(e.candidates);
    e.best = sel?.best;
    e.reason = sel?.reason;
    if (previous === e.best) return; // same route object: nothing changed for consumers
    const kind = !previous ? 'added' : !e.best ? 'removed' : 'changed';
    changes.push({ kind, prefix, best: e.best, previous, reason: e.reason });
  }

  #emit(changes: BestPathChange[]): void {
    if (changes.length > 0) for (const fn of this.#listeners) fn(changes);
    if (this.#touched.length > 0) {
      const touched = this.#touched;
      this.#touched = [];
      for (const fn of this.#candidateListeners) fn(touched);
    }
  }
}
