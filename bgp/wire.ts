/**
 * Shared wire helpers: the 19-octet header, IPv4 addresses and the
 * (length, prefix) NLRI encoding used by withdrawn routes, NLRI and
 * MP_REACH/MP_UNREACH (RFC 4271 §4.3).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * +                           Marker (16 x 0xFF)                  +
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Length               |      Type     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { ErrorCode, HEADER_LENGTH, MARKER_LENGTH, MessageType, UpdateErrorSubcode } from './constants.js';
import { BgpNotificationError, type ErrorAction } from './errors.js';

/** An IPv4 prefix in canonical text form, e.g. "10.65.1.0/24" (host bits zero). */
export type Ipv4Prefix = string;

/** Allocate a message and fill in marker, length and type; the body starts at offset 19. */
export function allocMessage(type: MessageType, bodyLength: number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_LENGTH + bodyLength);
  buf.fill(0xff, 0, MARKER_LENGTH);
  buf.writeUInt16BE(HEADER_LENGTH + bodyLength, 16);
  buf[18] = type;
  return buf;
}

export function ipv4ToString(buf: Uint8Array, offset: number): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parse dotted-quad to an unsigned 32-bit number; throws RangeError on API misuse. */
export function ipv4ToNumber(address: string): number {
  const m = IPV4_RE.exec(address);
  if (!m) throw new RangeError(`not an IPv4 address: ${address}`);
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) throw new RangeError(`not an IPv4 address: ${address}`);
    n = n * 256 + octet;
  }
  return n;
}

export function numberToIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function writeIpv4(buf: Buffer, offset: number, address: string): void {
  buf.writeUInt32BE(ipv4ToNumber(address), offset);
}

/** Parse "a.b.c.d/len" (API input) into address + length with host bits cleared. */
export function parsePrefix(prefix: string): { address: number; length: number } {
  const slash = prefix.indexOf('/');
  if (slash < 0) throw new RangeError(`not an IPv4 prefix: ${prefix}`);
  const length = Number(prefix.slice(slash + 1));
  if (!Number.isInteger(length) || length < 0 || length > 32) throw new RangeError(`bad prefix length: ${prefix}`);
  const address = ipv4ToNumber(prefix.slice(0, slash));
  return { address: maskAddress(address, length), length };
}

function maskAddress(address: number, length: number): number {
  return length === 0 ? 0 : (address & (0xffffffff << (32 - length))) >>> 0;
}

/** Canonical form of a prefix given as text: "10.65.1.7/24" → "10.65.1.0/24". */
export function canonicalPrefix(prefix: string): Ipv4Prefix {
  const p = parsePrefix(prefix);
  return `${numberToIpv4(p.address)}/${p.length}`;
}

/** Octets needed for a prefix of this length in NLRI encoding. */
export function prefixWireLength(length: number): number {
  return 1 + ((length + 7) >> 3);
}

/** Encode one prefix at `offset`; returns the new offset. */
export function writePrefix(buf: Buffer, offset: number, prefix: Ipv4Prefix): number {
  const { address, length } = parsePrefix(prefix);
  buf[offset++] = length;
  const octets = (length + 7) >> 3;
  for (let i = 0; i < octets; i++) buf[offset++] = (address >>> (24 - 8 * i)) & 255;
  return offset;
}

export function encodePrefixes(prefixes: readonly Ipv4Prefix[]): Buffer {
  let size = 0;
  for (const p of prefixes) size += prefixWireLength(parsePrefix(p).length);
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  for (const p of prefixes) off = writePrefix(buf, off, p);
  return buf;
}

/**
 * Decode a run of (length, prefix) pairs in buf[start, end).
 * RFC 7606 §5.3: a prefix length > 32 or a prefix overrunning the field is a
 * syntax error the caller maps to `action` (session reset for the classic
 * NLRI fields, per RFC 7606 §5.3 / RFC 4760 §7 for MP_*).
 * Host bits are cleared (RFC 4271 §4.3: "trailing bits ... irrelevant").
 */
export function decodePrefixes(
  buf: Uint8Array,
  start: number,
  end: number,
  what: string,
  action: ErrorAction = 'sessionReset',
): Ipv4Prefix[] {
  const out: Ipv4Prefix[] = [];
  let off = start;
  while (off < end) {
    const length = buf[off++] as number;
    if (length > 32) {
      throw new BgpNotificationError(ErrorCode.UpdateMessage, UpdateErrorSubcode.InvalidNetworkField, `${what}: prefix length ${length} > 32`, { action });
    }
    const octets = (length + 7) >> 3;
    if (off + octets > end) {
      throw new BgpNotificationError(ErrorCode.UpdateMessage, UpdateErrorSubcode.InvalidNetworkField, `${what}: prefix overruns the field`, { action });
    }
    let address = 0;
    for (let i = 0; i < 4; i++) address = address * 256 + (i < octets ? (buf[off + i] as number) : 0);
    off += octets;
    out.push(`${numberToIpv4(maskAddress(address, length))}/${length}`);
  }
  return out;
}
