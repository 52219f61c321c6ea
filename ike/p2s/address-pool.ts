/**
 * Point-to-site client address pool (Azure's vpnClientAddressPool).
 *
 * Hands out IPv4 host addresses from one or more CIDR blocks, skipping each
 * block's network and broadcast address (a /31 or /32 block is used whole).
 * An address is stable per client identity while leased, and stays reserved
 * for that identity after release until the pool runs dry: only then are
 * released addresses handed to someone else, least recently released first.
 * So a client that reconnects after a blip gets its old address back.
 */
import { cidrToRange, intToIp, ipToInt } from '../traffic-selectors.js';

export class PoolExhaustedError extends Error {
  override readonly name = 'PoolExhaustedError';
}

/** A lease to adopt (HA) collides with the local pool's state. */
export class PoolConflictError extends Error {
  override readonly name = 'PoolConflictError';
}

interface Block { first: number; last: number }

export interface Lease {
  identity: string;
  address: string;
}

export class AddressPool {
  private readonly blocks: Block[];
  readonly size: number;
  /** identity → address (number), for active leases. */
  private readonly active = new Map<string, number>();
  private readonly inUse = new Set<number>();
  /** Released leases, oldest first (Map keeps insertion order): identity → address. */
  private readonly released = new Map<string, number>();
  private readonly earmarked = new Set<number>();
  /** Next never-used candidate (scan cursor). */
  private cursor = 0;

  constructor(readonly cidrs: readonly string[]) {
    if (cidrs.length === 0) throw new RangeError('address pool needs at least one CIDR');
    this.blocks = cidrs.map((c) => {
      const r = cidrToRange(c);
      const s = ipToInt(r.start), e = ipToInt(r.end);
      return e - s >= 2 ? { first: s + 1, last: e - 1 } : { first: s, last: e };
    });
    this.size = this.blocks.reduce((n, b) => n + b.last - b.first + 1, 0);
  }

  /** True when `address` is one this pool hands out. */
  contains(address: string): boolean {
    const n = ipToInt(address);
    return this.blocks.some((b) => n >= b.first && n <= b.last);
  }

  /** The identity's address: its active lease, its previous one if still free, else a new one. */
  allocate(identity: string): Lease {
    const have = this.active.get(identity);
    if (have !== undefined) return { identity, address: intToIp(have) };
    let n = this.released.get(identity);
    if (n !== undefined) { this.released.delete(identity); this.earmarked.delete(n); }
    else n = this.fresh() ?? this.reclaim();
    if (n === undefined) throw new PoolExhaustedError(`address pool ${this.cidrs.join(', ')} is exhausted (${this.size} addresses in use)`);
    this.active.set(identity, n);
    this.inUse.add(n);
    return { identity, address: intToIp(n) };
  }

  /**
   * Takes over a lease made elsewhere (HA: the partner instance handed this
   * address to `identity`). Throws PoolConflictError when the address is not
   * ours to give or is leased to someone else.
   */
  adopt(identity: string, address: string): void {
    if (!this.contains(address)) throw new PoolConflictError(`${address} is not in the address pool ${this.cidrs.join(', ')}`);
    const n = ipToInt(address);
    const have = this.active.get(identity);
    if (have === n) return;
    if (this.inUse.has(n)) throw new PoolConflictError(`${address} is already leased to another client`);
    const earmark = this.released.get(identity);
    if (earmark !== undefined) { this.released.delete(identity); this.earmarked.delete(earmark); }
    for (const [id, m] of this.released) if (m === n) { this.released.delete(id); this.earmarked.delete(m); break; }
    if (have !== undefined) {
      // The identity's previous address is free again: reclaimable (under a key no identity can have).
      this.inUse.delete(have);
      this.released.set(`\0${have}`, have);
      this.earmarked.add(have);
    }
    this.active.set(identity, n);
    this.inUse.add(n);
  }

  /** Ends the lease; the address stays earmarked for the identity until needed elsewhere. */
  release(identity: string): void {
    const n = this.active.get(identity);
    if (n === undefined) return;
    this.active.delete(identity);
    this.inUse.delete(n);
    this.released.set(identity, n);
    this.earmarked.add(n);
  }

  leaseOf(identity: string): string | undefined {
    const n = this.active.get(identity);
    return n === undefined ? undefined : intToIp(n);
  }

  get leased(): number { return this.active.size; }

  private fresh(): number | undefined {
    while (this.cursor < this.size) {
      const n = this.nth(this.cursor++);
      if (!this.inUse.has(n) && !this.isEarmarked(n)) return n;
    }
    return undefined;
  }

  private reclaim(): number | undefined {
    for (const [id, n] of this.released) {
      this.released.delete(id);
      this.earmarked.delete(n);
      if (!this.inUse.has(n)) return n;
    }
    return undefined;
  }

  private isEarmarked(n: number): boolean {
    return this.earmarked.has(n);
  }

  private nth(i: number): number {
    for (const b of this.blocks) {
      const len = b.last - b.first + 1;
      if (i < len) return b.first + i;
      i -= len;
    }
    throw new RangeError('pool index out of range');
  }
}
