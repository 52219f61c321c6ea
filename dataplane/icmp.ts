/**
 * ICMP "Destination Unreachable / Fragmentation Needed and DF set"
 * (RFC 792 type 3 code 4, next-hop MTU from RFC 1191 §4):
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   Type = 3    |   Code = 4    |           Checksum            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           unused = 0          |         Next-Hop MTU          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      Internet Header + 64 bits of Original Data Datagram      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { internetChecksum, IP_PROTO_ICMP, ipv4HeaderLength, ipv4IsFirstFragment, setIpv4HeaderChecksum } from './ipv4.js';

export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_CODE_FRAG_NEEDED = 4;
/** Longest message built: 20 (IP) + 8 (ICMP) + 60 (max orig header) + 8. */
export const FRAG_NEEDED_MAX_LENGTH = 96;
const ICMP_ERROR_TYPES = new Set([3, 4, 5, 11, 12]);

/**
 * Builds the ICMP error for the IPv4 packet orig[off, off+len) into out
 * (≥ FRAG_NEEDED_MAX_LENGTH bytes). Returns its length, or 0 when no ICMP
 * may be sent (RFC 1122 §3.2.2: not for ICMP errors, non-first fragments).
 * `source` is the address the error comes from (uint32).
 */
export function buildFragNeeded(orig: Buffer, off: number, len: number, nextHopMtu: number, source: number, out: Buffer): number {
  const ihl = ipv4HeaderLength(orig, off, len);
  if (ihl === 0 || !ipv4IsFirstFragment(orig, off)) return 0;
  if (orig[off + 9] === IP_PROTO_ICMP && (ihl >= len || ICMP_ERROR_TYPES.has(orig[off + ihl]!))) return 0;
  const quoted = Math.min(len, ihl + 8);
  const total = 20 + 8 + quoted;
  if (out.length < total) throw new RangeError(`ICMP output buffer needs ${total} bytes`);
  out[0] = 0x45;
  out[1] = 0xc0; // DSCP CS6 as Linux uses for ICMP errors
  out.writeUInt16BE(total, 2);
  out.writeUInt32BE(0, 4); // id 0, no flags
  out[8] = 64; // TTL
  out[9] = IP_PROTO_ICMP;
  out.writeUInt32BE(source >>> 0, 12);
  orig.copy(out, 16, off + 12, off + 16); // back to the original sender
  setIpv4HeaderChecksum(out, 0);
  out[20] = ICMP_DEST_UNREACHABLE;
  out[21] = ICMP_CODE_FRAG_NEEDED;
  out.writeUInt16BE(0, 22);
  out.writeUInt16BE(0, 24);
  out.writeUInt16BE(nextHopMtu, 26);
  orig.copy(out, 28, off, off + quoted);
  out.writeUInt16BE(internetChecksum(out, 20, 8 + quoted), 22);
  return total;
}
