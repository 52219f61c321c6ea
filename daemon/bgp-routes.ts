/**
 * Learned routes → forwarding state. For every prefix in the Loc-RIB whose best
 * path came from a tunnel peer:
 *
 *   kernel:    ip route replace PREFIX dev vgw0 proto bgp metric 20
 *   dataplane: setLearnedRoute(PREFIX, [connection, ...])   (which tunnel(s))
 *
 * ECMP: the candidates that tie with the best path through every decision step
 * that matters (LOCAL_PREF, AS_PATH length, ORIGIN, MED, eBGP/iBGP; only router
 * id / peer address differ) are all used: two on-premises devices advertising
 * the same prefix share the traffic. The kernel route is the same single
 * "dev vgw0" either way (one TUN); the dataplane picks the tunnel by 5-tuple
 * hash (dataplane/learned-routes.ts).
 *
 * Kernel updates are batched (`ip -batch`) and serialised: while one batch runs,
 * further changes accumulate and only the final state per prefix is applied.
 * The dataplane is updated synchronously, so traffic follows the RIB at once.
 *
 * Never installed: prefixes overlapping our own address space, and prefixes
 * that contain a tunnel endpoint (other than 0.0.0.0/0, which never beats the
 * connected route to the endpoint): routing those into the TUN would cut the
 * tunnels. They stay in the RIB (and in `vgw routes --learned`) as not installed.
 */
import type { Logger } from 'pino';
import { compareRoutes, LOCAL_SOURCE, type BestPathChange, type Rib, type RibRoute } from '../bgp/index.js';
import { parseIpv4, parseIpv4Cidr, prefixesOverlap, type Ipv4Prefix } from './config-ipv4.js';

/** Kernel metric of learned routes: static routes to the same prefix (metric 0) keep precedence. */
export const BGP_ROUTE_METRIC = 20;

export interface LearnedRouteSink {
  setLearnedRoute(prefix: string, connections: readonly string[]): void;
}

/** Applies kernel route changes; resolves with a description of failures ('' when none). */
export type KernelApply = (replace: readonly string[], remove: readonly string[]) => Promise<string>;

export interface RouteProgrammerOptions {
  rib: Rib;
  /** Peer address → connection name. */
  connectionOf: (peerAddress: string) => string | undefined;
  dataplane: LearnedRouteSink;
  kernel: KernelApply;
  ownPrefixes: readonly string[];
  protectedAddresses: readonly string[];
  log?: Logger;
}

export type NotInstalledReason = 'ownAddressSpace' | 'coversTunnelEndpoint';

/** ip -batch lines for the learned routes of one TUN device. */
export function kernelBatchLines(dev: string, replace: readonly string[], remove: readonly string[]): string[] {
  const tail = `dev ${dev} proto bgp metric ${BGP_ROUTE_METRIC}`;
  return [...remove.map((p) => `route del ${p} ${tail}`), ...replace.map((p) => `route replace ${p} ${tail}`)];
}

/** Candidates that tie with `best` down to (excluding) the router-id tie-breakers. */
export function multipathSet(best: RibRoute, candidates: readonly RibRoute[]): RibRoute[] {
  const out = [best];
  for (const c of candidates) {
    if (c === best || c.source === LOCAL_SOURCE) continue;
    const r = compareRoutes(best, c).reason;
    if (r === 'routerId' || r === 'peerAddress') out.push(c);
  }
  return out;
}

export class LearnedRouteProgrammer {
  readonly #o: RouteProgrammerOptions;
  readonly #own: Ipv4Prefix[];
  readonly #protected: number[];
  /** What the dataplane has: prefix → connections (sorted). */
  readonly #installed = new Map<string, readonly string[]>();
  readonly #notInstalled = new Map<string, NotInstalledReason>();
  /** Kernel: desired presence per prefix not yet applied. */
  readonly #pending = new Map<string, boolean>();
  readonly #kernel = new Set<string>();
  #running: Promise<void> | undefined;
  #idle: Array<() => void> = [];
  kernelErrors = 0;
  lastKernelError = '';

  constructor(o: RouteProgrammerOptions) {
    this.#o = o;
    this.#own = o.ownPrefixes.map((p) => parseIpv4Cidr(p)).flatMap((r) => (r.ok ? [r.prefix] : []));
    this.#protected = o.protectedAddresses.map((a) => parseIpv4(a)).filter((a): a is number => a !== null);
  }

  /** Feed the Rib's best-path changes (subscribe this to 'routesChanged'). */
  onChanges(changes: readonly BestPathChange[]): void {
    for (const c of changes) this.#refresh(c.prefix);
    this.#kick();
  }

  /** Re-evaluate one prefix (e.g. a candidate that is not the best changed: the ECMP set may differ). */
  refresh(prefixes: Iterable<string>): void {
    for (const p of prefixes) this.#refresh(p);
    this.#kick();
  }

  /** Connections a prefix is installed toward (undefined: not installed). */
  installedVia(prefix: string): readonly string[] | undefined {
    return this.#installed.get(prefix);
  }

  notInstalledReason(prefix: string): NotInstalledReason | undefined {
    return this.#notInstalled.get(prefix);
  }

  get installedCount(): number {
    return this.#installed.size;
  }

  get kernelCount(): number {
    return this.#kernel.size;
  }

  /** Resolves when every change so far is in the kernel. */
  settled(): Promise<void> {
    if (!this.#running && this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Remove everything (gateway stop). */
  async clear(): Promise<void> {
    for (const p of [...this.#installed.keys()]) {
      this.#o.dataplane.setLearnedRoute(p, []);
      this.#installed.delete(p);
    }
    for (const p of this.#kernel) this.#pending.set(p, false);
    this.#kick();
    await this.settled();
  }

  #refresh(prefix: string): void {
    const want = this.#wanted(prefix);
    const have = this.#installed.get(prefix);
    if (want && have && want.length === have.length && want.every((c, i) => c === have[i])) return;
    if (want) {
      this.#installed.set(prefix, want);
      this.#o.dataplane.setLearnedRoute(prefix, want);
      if (!have) this.#pending.set(prefix, true);
    } else if (have) {
      this.#installed.delete(prefix);
      this.#o.dataplane.setLearnedRoute(prefix, []);
      this.#pending.set(prefix, false);
    }
  }

  #wanted(prefix: string): string[] | undefined {
    this.#notInstalled.delete(prefix);
    const best = this.#o.rib.best(prefix)?.route;
    if (!best || best.source === LOCAL_SOURCE) return undefined;
    const why = this.#refuse(prefix);
    if (why) {
      this.#notInstalled.set(prefix, why);
      return undefined;
    }
    const conns = new Set<string>();
    for (const r of multipathSet(best, this.#o.rib.candidates(prefix))) {
      const c = this.#o.connectionOf(r.source);
      if (c !== undefined) conns.add(c);
    }
    return conns.size ? [...conns].sort() : undefined;
  }

  #refuse(prefix: string): NotInstalledReason | undefined {
    const r = parseIpv4Cidr(prefix);
    if (!r.ok) return 'ownAddressSpace';
    if (this.#own.some((o) => prefixesOverlap(o, r.prefix))) return 'ownAddressSpace';
    if (r.prefix.prefixLength > 0 && this.#protected.some((a) => a >= r.prefix.first && a <= r.prefix.last)) return 'coversTunnelEndpoint';
    return undefined;
  }

  #kick(): void {
    if (this.#running || this.#pending.size === 0) {
      if (!this.#running && this.#pending.size === 0) this.#wake();
      return;
    }
    this.#running = (async () => {
      while (this.#pending.size > 0) {
        const replace: string[] = [];
        const remove: string[] = [];
        for (const [p, present] of this.#pending) {
          if (present && !this.#kernel.has(p)) replace.push(p);
          else if (!present && this.#kernel.has(p)) remove.push(p);
        }
        this.#pending.clear();
        if (replace.length === 0 && remove.length === 0) continue;
        try {
          const failed = await this.#o.kernel(replace, remove);
          if (failed) {
            this.kernelErrors++;
            this.lastKernelError = failed.slice(0, 500);
            this.#o.log?.warn({ failed: this.lastKernelError }, 'some learned routes could not be programmed into the kernel');
          }
        } catch (err) {
          this.kernelErrors++;
          this.lastKernelError = String(err).slice(0, 500);
          this.#o.log?.error({ err }, 'programming learned routes into the kernel failed');
        }
        for (const p of replace) this.#kernel.add(p);
        for (const p of remove) this.#kernel.delete(p);
        this.#o.log?.debug({ added: replace.length, removed: remove.length, total: this.#kernel.size }, 'learned routes programmed into the kernel');
      }
    })().finally(() => {
      this.#running = undefined;
      if (this.#pending.size > 0) this.#kick();
      else this.#wake();
    });
  }

  #wake(): void {
    const w = this.#idle;
    this.#idle = [];
    for (const f of w) f();
  }
}
