/**
 * TCP MSS clamping (the "--clamp-mss-to-pmtu" of iptables): lowers the MSS
 * option of SYN and SYN-ACK segments so TCP never builds a segment that does
 * not fit through the tunnel. The TCP checksum is fixed incrementally (RFC 1624).
 *
 *   TCP header (RFC 9293): ... data offset (byte 12, high nibble) | flags (byte 13, SYN = 0x02)
 *   checksum at byte 16; options from byte 20: MSS = kind 2, length 4, value (16 bits)
 */
import { checksumUpdate16, IP_PROTO_TCP, ipv4HeaderLength, ipv4IsFirstFragment } from './ipv4.js';

const TCP_FLAG_SYN = 0x02;
const TCP_OPT_END = 0;
const TCP_OPT_NOP = 1;
const TCP_OPT_MSS = 2;

/**
 * Clamps the MSS option of an IPv4 TCP SYN in pkt[off, off+len) to `maxMss`.
 * Returns true when the packet was changed.
 */
export function clampTcpMss(pkt: Buffer, off: number, len: number, maxMss: number): boolean {
  const ihl = ipv4HeaderLength(pkt, off, len);
  if (ihl === 0 || pkt[off + 9] !== IP_PROTO_TCP || !ipv4IsFirstFragment(pkt, off)) return false;
  const tcp = off + ihl;
  const tcpEnd = off + pkt.readUInt16BE(off + 2);
  if (tcp + 20 > tcpEnd) return false;
  if ((pkt[tcp + 13]! & TCP_FLAG_SYN) === 0) return false;
  const dataOffset = (pkt[tcp + 12]! >> 4) * 4;
  if (dataOffset < 20 || tcp + dataOffset > tcpEnd) return false;
  let at = tcp + 20;
  const optEnd = tcp + dataOffset;
  while (at < optEnd) {
    const kind = pkt[at]!;
    if (kind === TCP_OPT_END) return false;
    if (kind === TCP_OPT_NOP) {
      at++;
      continue;
    }
    if (at + 1 >= optEnd) return false;
    const optLen = pkt[at + 1]!;
    if (optLen < 2 || at + optLen > optEnd) return false;
    if (kind === TCP_OPT_MSS && optLen === 4) {
      const mss = pkt.readUInt16BE(at + 2);
      if (mss <= maxMss) return false;
      pkt.writeUInt16BE(maxMss, at + 2);
      // At an odd offset from the TCP header the value straddles two checksum
      // words, which is the same as a byte-swapped word at an even offset.
      const odd = ((at + 2 - tcp) & 1) === 1;
      const oldWord = odd ? swap16(mss) : mss;
      const newWord = odd ? swap16(maxMss) : maxMss;
      pkt.writeUInt16BE(checksumUpdate16(pkt.readUInt16BE(tcp + 16), oldWord, newWord), tcp + 16);
      return true;
    }
    at += optLen;
  }
  return false;
}

function swap16(v: number): number {
  return ((v & 0xff) << 8) | (v >>> 8);
}
