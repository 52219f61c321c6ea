/**
 * Dynamic (BGP-learned) routes of the ESP dataplane: prefix → the connections
 * whose tunnels carry it. Route-based Child SAs are any-to-any, and their
 * static outbound selectors are only the LNG's addressPrefixes; a learned
 * prefix maps to connections here instead, consulted when no static selector
 * is at least as specific (longest prefix wins overall).
 *
 * ECMP: all learned routes go into ONE TUN device (`ip route ... dev vgw0`), so
 * the kernel cannot choose between tunnels; the dataplane does. With several
 * connections for a prefix, a flow's 5-tuple hash (src, dst, protocol, ports
 * when not a fragment) picks one of those with a live Child SA, so one flow
 * keeps one tunnel (no reordering) and flows spread across tunnels.
 *
 * Inbound, a packet from a learned prefix is accepted on any tunnel that
 * carries that prefix (the negotiated selectors are 0.0.0.0/0 anyway).
 */
import { PrefixTable } from './prefix-table.js';

export class LearnedRoutes {
  readonly #table = new PrefixTable<readonly string[]>();

  get size(): number {
    return this.#table.size;
  }

  /** Prefix length of the last successful connectionsFor(). */
  get matchedLength(): number {
    return this.#table.matchedLength;
  }

  /** Sets (or with an empty list removes) the connections that carry `prefix` ("a.b.c.d/len"). */
  set(prefix: string, connections: readonly string[]): void {
    const { network, length } = PrefixTable.parse(prefix);
    if (connections.length === 0) this.#table.delete(network, length);
    else this.#table.set(network, length, [...new Set(connections)].sort());
  }

  get(prefix: string): readonly string[] | undefined {
    const { network, length } = PrefixTable.parse(prefix);
    return this.#table.get(network, length);
  }

  clear(): void {
    this.#table.clear();
  }

  /** Connections of the longest learned prefix containing `dst`; sets matchedLength. */
  connectionsFor(dst: number): readonly string[] | undefined {
    return this.#table.size === 0 ? undefined : this.#table.lookup(dst);
  }

  /** Inbound policy: may a packet from `src` arrive over `connection`? */
  carries(connection: string, src: number): boolean {
    const c = this.connectionsFor(src);
    return c !== undefined && c.includes(connection);
  }
}

/** 32-bit hash of a packet's 5-tuple (ports only for unfragmented TCP/UDP/SCTP). */
export function flowHash(pkt: Uint8Array, off: number): number {
  const src = ((pkt[off + 12]! << 24) | (pkt[off + 13]! << 16) | (pkt[off + 14]! << 8) | pkt[off + 15]!) >>> 0;
  const dst = ((pkt[off + 16]! << 24) | (pkt[off + 17]! << 16) | (pkt[off + 18]! << 8) | pkt[off + 19]!) >>> 0;
  const proto = pkt[off + 9]!;
  let h = Math.imul(src ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(dst, 0xc2b2ae35) ^ proto;
  const fragment = ((pkt[off + 6]! & 0x1f) << 8 | pkt[off + 7]!) !== 0 || (pkt[off + 6]! & 0x20) !== 0;
  if (!fragment && (proto === 6 || proto === 17 || proto === 132)) {
    const l4 = off + (pkt[off]! & 0x0f) * 4;
    if (l4 + 4 <= pkt.length) h ^= Math.imul((pkt[l4]! << 24) | (pkt[l4 + 1]! << 16) | (pkt[l4 + 2]! << 8) | pkt[l4 + 3]!, 0x27d4eb2f);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}
