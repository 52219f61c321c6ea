/**
 * Traffic selectors as numeric IPv4 ranges, for per-packet matching
 * (RFC 4301 §4.4.1 SPD entries, reduced to what IKEv2 TS_IPV4_ADDR_RANGE carries:
 * address ranges; protocol/ports are not enforced here).
 */
import type { Ipv4Range } from './backend.js';
import { ipv4ToUint32 } from './ipv4.js';

export interface NumericRange {
  readonly start: number;
  readonly end: number; // inclusive
}

export class SelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelectorError';
  }
}

export function toNumericRanges(ranges: readonly Ipv4Range[]): NumericRange[] {
  return ranges.map((r) => {
    const start = ipv4ToUint32(r.start);
    const end = ipv4ToUint32(r.end);
    if (start > end) throw new SelectorError(`selector range ${r.start}-${r.end} is reversed`);
    return { start, end };
  });
}

/**
 * Size (end - start + 1) of the smallest range containing `addr`, or 0 when
 * none does. Smaller = more specific, which is what the SPD lookup prefers.
 */
export function smallestMatch(ranges: readonly NumericRange[], addr: number): number {
  let best = 0;
  for (const r of ranges) {
    if (addr >= r.start && addr <= r.end) {
      const size = r.end - r.start + 1;
      if (best === 0 || size < best) best = size;
    }
  }
  return best;
}

export function rangesContain(ranges: readonly NumericRange[], addr: number): boolean {
  for (const r of ranges) if (addr >= r.start && addr <= r.end) return true;
  return false;
}
