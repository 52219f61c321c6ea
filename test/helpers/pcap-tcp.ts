/**
 * Tiny pcap / pcapng reader for tests: extracts IPv4 TCP payloads and
 * reassembles each direction of a connection in sequence order.
 * Supports link types Ethernet (1), raw IPv4 (101/228) and Linux cooked (113).
 */
import { readFileSync } from 'node:fs';

export interface TcpSegment {
  index: number; // 1-based frame number, as tshark counts
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  flags: number;
  payload: Buffer;
}

interface RawPacket {
  linkType: number;
  data: Buffer;
}

function readPackets(file: string): RawPacket[] {
  const buf = readFileSync(file);
  const magic = buf.readUInt32LE(0);
  const out: RawPacket[] = [];
  if (magic === 0x0a0d0d0a) {
    // pcapng: blocks of (type, length, body, length)
    let off = 0;
    let le = true;
    const linkTypes: number[] = [];
    while (off + 12 <= buf.length) {
      const bom = buf.readUInt32LE(off + 8);
      if (buf.readUInt32LE(off) === 0x0a0d0d0a) le = bom === 0x1a2b3c4d;
      const r32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
      const r16 = (o: number): number => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
      const type = r32(off);
      const len = r32(off + 4);
      if (type === 1) linkTypes.push(r16(off + 8));
      else if (type === 6) {
        const ifId = r32(off + 8);
        const capLen = r32(off + 20);
        out.push({ linkType: linkTypes[ifId] ?? 1, data: buf.subarray(off + 28, off + 28 + capLen) });
      }
      if (len < 12) throw new Error('bad pcapng block');
      off += len;
    }
    return out;
  }
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && buf.readUInt32BE(0) !== 0xa1b2c3d4 && buf.readUInt32BE(0) !== 0xa1b23c4d) throw new Error('not a pcap file');
  const r32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linkType = r32(20);
  let off = 24;
  while (off + 16 <= buf.length) {
    const capLen = r32(off + 8);
    out.push({ linkType, data: buf.subarray(off + 16, off + 16 + capLen) });
    off += 16 + capLen;
  }
  return out;
}

function ipStart(p: RawPacket): number | undefined {
  if (p.linkType === 1) return p.data.readUInt16BE(12) === 0x0800 ? 14 : undefined;
  if (p.linkType === 113) return p.data.readUInt16BE(14) === 0x0800 ? 16 : undefined;
  if (p.linkType === 101 || p.linkType === 228) return 0;
  return undefined;
}

export function readTcpSegments(file: string): TcpSegment[] {
  const segs: TcpSegment[] = [];
  readPackets(file).forEach((p, i) => {
    const ip = ipStart(p);
    if (ip === undefined || p.data.length < ip + 20) return;
    const d = p.data;
    if (((d[ip] as number) >> 4) !== 4 || d[ip + 9] !== 6) return;
    const ihl = ((d[ip] as number) & 15) * 4;
    const total = d.readUInt16BE(ip + 2);
    const tcp = ip + ihl;
    const dataOff = ((d[tcp + 12] as number) >> 4) * 4;
    const ipStr = (o: number): string => `${d[o]}.${d[o + 1]}.${d[o + 2]}.${d[o + 3]}`;
    segs.push({
      index: i + 1,
      src: ipStr(ip + 12),
      dst: ipStr(ip + 16),
      srcPort: d.readUInt16BE(tcp),
      dstPort: d.readUInt16BE(tcp + 2),
      seq: d.readUInt32BE(tcp + 4),
      flags: d[tcp + 13] as number,
      payload: Buffer.from(d.subarray(tcp + dataOff, ip + total)),
    });
  });
  return segs;
}

/** Payload bytes of one direction (src → dst), retransmissions dropped by sequence number. */
export function tcpStream(segments: readonly TcpSegment[], src: string, dst: string): Buffer {
  const parts: Buffer[] = [];
  let next: number | undefined;
  for (const s of segments) {
    if (s.src !== src || s.dst !== dst || s.payload.length === 0) continue;
    if (next !== undefined && s.seq !== next) {
      const delta = (s.seq - next) | 0;
      if (delta < 0 && delta + s.payload.length <= 0) continue; // full retransmission
      if (delta < 0) {
        parts.push(s.payload.subarray(-delta));
        next = (s.seq + s.payload.length) >>> 0;
        continue;
      }
      throw new Error(`gap in TCP stream ${src} -> ${dst} at frame ${s.index}`);
    }
    parts.push(s.payload);
    next = (s.seq + s.payload.length) >>> 0;
  }
  return Buffer.concat(parts);
}
