/**
 * IPv4 header helpers (RFC 791) for the dataplane: address conversion,
 * the Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version|  IHL  |Type of Service|          Total Length         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Identification        |Flags|      Fragment Offset    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Time to Live |    Protocol   |         Header Checksum       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Source Address                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Destination Address                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */

export const IPV4_MIN_HEADER = 20;
export const IP_PROTO_ICMP = 1;
export const IP_PROTO_TCP = 6;
export const IP_PROTO_UDP = 17;
const FLAG_DF = 0x4000;
const FRAG_OFFSET_MASK = 0x1fff;
const FLAG_MF = 0x2000;

export class Ipv4AddressError extends Error {
  constructor(text: string) {
    super(`not an IPv4 address: ${JSON.stringify(text)}`);
    this.name = 'Ipv4AddressError';
  }
}

/** "10.1.0.2" → 0x0a010002 (unsigned). */
export function ipv4ToUint32(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4) throw new Ipv4AddressError(text);
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) throw new Ipv4AddressError(text);
    const octet = Number(part);
    if (octet > 255) throw new Ipv4AddressError(text);
    value = value * 256 + octet;
  }
  return value >>> 0;
}

export function uint32ToIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/**
 * Header length if pkt[off, off+len) starts with a plausible IPv4 header
 * (version 4, IHL ≥ 5, total length within the buffer), else 0.
 */
export function ipv4HeaderLength(pkt: Uint8Array, off: number, len: number): number {
  if (len < IPV4_MIN_HEADER) return 0;
  const b0 = pkt[off]!;
  if (b0 >> 4 !== 4) return 0;
  const ihl = (b0 & 15) * 4;
  if (ihl < IPV4_MIN_HEADER || ihl > len) return 0;
  const total = (pkt[off + 2]! << 8) | pkt[off + 3]!;
  if (total < ihl || total > len) return 0;
  return ihl;
}

export function ipVersion(pkt: Uint8Array, off: number): number {
  return pkt[off]! >> 4;
}
export function ipv4TotalLength(pkt: Uint8Array, off: number): number {
  return (pkt[off + 2]! << 8) | pkt[off + 3]!;
}
export function ipv4Protocol(pkt: Uint8Array, off: number): number {
  return pkt[off + 9]!;
}
export function ipv4Src(pkt: Uint8Array, off: number): number {
  return ((pkt[off + 12]! << 24) | (pkt[off + 13]! << 16) | (pkt[off + 14]! << 8) | pkt[off + 15]!) >>> 0;
}
export function ipv4Dst(pkt: Uint8Array, off: number): number {
  return ((pkt[off + 16]! << 24) | (pkt[off + 17]! << 16) | (pkt[off + 18]! << 8) | pkt[off + 19]!) >>> 0;
}
function flagsAndOffset(pkt: Uint8Array, off: number): number {
  return (pkt[off + 6]! << 8) | pkt[off + 7]!;
}
export function ipv4DontFragment(pkt: Uint8Array, off: number): boolean {
  return (flagsAndOffset(pkt, off) & FLAG_DF) !== 0;
}
/** True for the first (or only) fragment: the one that carries the transport header. */
export function ipv4IsFirstFragment(pkt: Uint8Array, off: number): boolean {
  return (flagsAndOffset(pkt, off) & FRAG_OFFSET_MASK) === 0;
}
export function ipv4IsFragment(pkt: Uint8Array, off: number): boolean {
  return (flagsAndOffset(pkt, off) & (FRAG_OFFSET_MASK | FLAG_MF)) !== 0;
}

/** Ones-complement sum of pkt[off, off+len) folded to 16 bits (not inverted). */
export function onesComplementSum(pkt: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  const end = off + len - 1;
  let i = off;
  for (; i < end; i += 2) sum += (pkt[i]! << 8) | pkt[i + 1]!;
  if (i === end) sum += pkt[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The Internet checksum (RFC 1071) of pkt[off, off+len). */
export function internetChecksum(pkt: Uint8Array, off: number, len: number, initial = 0): number {
  return ~onesComplementSum(pkt, off, len, initial) & 0xffff;
}

/**
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for a 16-bit field changing from
 * `oldWord` to `newWord`.
 */
export function checksumUpdate16(checksum: number, oldWord: number, newWord: number): number {
  let sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + newWord;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Writes a fresh IPv4 header checksum. */
export function setIpv4HeaderChecksum(pkt: Buffer, off: number): void {
  const ihl = (pkt[off]! & 15) * 4;
  pkt.writeUInt16BE(0, off + 10);
  pkt.writeUInt16BE(internetChecksum(pkt, off, ihl), off + 10);
}
