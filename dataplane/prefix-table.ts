/**
 * Longest-prefix-match table for IPv4 (one Map per prefix length, probed from
 * the longest length present down). Used for the dynamic, BGP-learned routes
 * of the ESP dataplane: 100k prefixes cost ~100k Map entries and a lookup
 * costs at most one Map probe per distinct prefix length in the table.
 */

const MASKS: readonly number[] = Array.from({ length: 33 }, (_, len) => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0));

export class PrefixTable<T> {
  readonly #byLength: Array<Map<number, T> | undefined> = new Array<Map<number, T> | undefined>(33).fill(undefined);
  /** Prefix lengths with at least one entry, longest first. */
  #lengths: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Network address (host order) and length of "a.b.c.d/len"; throws RangeError when malformed or with host bits set. */
  static parse(prefix: string): { network: number; length: number } {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(prefix);
    if (!m) throw new RangeError(`not an IPv4 prefix: ${JSON.stringify(prefix)}`);
    let addr = 0;
    for (let i = 1; i <= 4; i++) {
      const o = Number(m[i]);
      if (o > 255) throw new RangeError(`not an IPv4 prefix: ${JSON.stringify(prefix)}`);
      addr = addr * 256 + o;
    }
    const length = Number(m[5]);
    if (length > 32) throw new RangeError(`not an IPv4 prefix: ${JSON.stringify(prefix)}`);
    const network = (addr & (MASKS[length] as number)) >>> 0;
    if (network !== addr) throw new RangeError(`${prefix} has host bits set`);
    return { network, length };
  }

  set(network: number, length: number, value: T): void {
    let m = this.#byLength[length];
    if (!m) {
      m = new Map();
      this.#byLength[length] = m;
      this.#lengths = [...this.#lengths, length].sort((a, b) => b - a);
    }
    if (!m.has(network)) this.#size++;
    m.set(network, value);
  }

  delete(network: number, length: number): boolean {
    const m = this.#byLength[length];
    if (!m || !m.delete(network)) return false;
    this.#size--;
    if (m.size === 0) {
      this.#byLength[length] = undefined;
      this.#lengths = this.#lengths.filter((l) => l !== length);
    }
    return true;
  }

  get(network: number, length: number): T | undefined {
    return this.#byLength[length]?.get(network);
  }

  /** Prefix length of the last successful lookup() (kept in a field: no allocation per packet). */
  matchedLength = -1;

  /** Value of the longest prefix containing `address` (host-order uint32); sets matchedLength. */
  lookup(address: number): T | undefined {
    const lengths = this.#lengths;
    for (let i = 0; i < lengths.length; i++) {
      const len = lengths[i] as number;
      const v = (this.#byLength[len] as Map<number, T>).get((address & (MASKS[len] as number)) >>> 0);
      if (v !== undefined) {
        this.matchedLength = len;
        return v;
      }
    }
    this.matchedLength = -1;
    return undefined;
  }

  clear(): void {
    this.#byLength.fill(undefined);
    this.#lengths = [];
    this.#size = 0;
  }
}
