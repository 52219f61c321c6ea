/**
 * Traffic selectors (RFC 7296 §2.9, §3.13): conversion between wire TS and
 * address ranges, and responder narrowing. IPv4 only for now.
 */
import { TsType } from './constants.js';
import type { TrafficSelector } from './codec/types.js';
import type { Ipv4Range } from '../dataplane/backend.js';

export function ipToInt(ip: string): number {
  const p = ip.split('.');
  if (p.length !== 4) throw new Error(`not an IPv4 address: ${ip}`);
  let n = 0;
  for (const s of p) {
    const v = Number(s);
    if (!/^\d{1,3}$/.test(s) || v > 255) throw new Error(`not an IPv4 address: ${ip}`);
    n = n * 256 + v;
  }
  return n >>> 0;
}

export function intToIp(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function cidrToRange(cidr: string): Ipv4Range {
  const [addr, lenS] = cidr.split('/');
  const len = lenS === undefined ? 32 : Number(lenS);
  if (addr === undefined || !Number.isInteger(len) || len < 0 || len > 32) throw new Error(`bad prefix: ${cidr}`);
  const base = ipToInt(addr);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const start = (base & mask) >>> 0;
  const end = (start | (~mask >>> 0)) >>> 0;
  return { start: intToIp(start), end: intToIp(end) };
}

export const ANY_V4: Ipv4Range = { start: '0.0.0.0', end: '255.255.255.255' };

/** "10.1.0.0/16" when the range is a prefix, else "a.b.c.d-e.f.g.h". */
export function rangeToString(r: Ipv4Range): string {
  const s = ipToInt(r.start);
  const e = ipToInt(r.end);
  const size = e - s + 1;
  if (size > 0 && (size & (size - 1)) === 0 && s % size === 0) {
    return `${r.start}/${32 - Math.log2(size)}`;
  }
  if (s === 0 && e === 0xffffffff) return '0.0.0.0/0';
  return `${r.start}-${r.end}`;
}

export function rangeToTs(r: Ipv4Range): TrafficSelector {
  return {
    tsType: TsType.IPV4_ADDR_RANGE,
    ipProtocol: 0,
    startPort: 0,
    endPort: 65535,
    startAddress: Buffer.from(r.start.split('.').map(Number)),
    endAddress: Buffer.from(r.end.split('.').map(Number)),
  };
}

/** IPv4 selectors as ranges; IPv6 ones and port/protocol restrictions are not supported and skipped. */
export function tsToRanges(ts: readonly TrafficSelector[]): Ipv4Range[] {
  const out: Ipv4Range[] = [];
  for (const t of ts) {
    if (t.tsType !== TsType.IPV4_ADDR_RANGE || t.startAddress.length !== 4 || t.endAddress.length !== 4) continue;
    const s = t.startAddress.readUInt32BE(0);
    const e = t.endAddress.readUInt32BE(0);
    if (s > e) continue;
    out.push({ start: intToIp(s), end: intToIp(e) });
  }
  return out;
}

/** Intersection of two range lists (responder narrowing, §2.9). */
export function narrow(offered: readonly Ipv4Range[], allowed: readonly Ipv4Range[]): Ipv4Range[] {
  const out: Ipv4Range[] = [];
  for (const o of offered) {
    const os = ipToInt(o.start), oe = ipToInt(o.end);
    for (const a of allowed) {
      const s = Math.max(os, ipToInt(a.start));
      const e = Math.min(oe, ipToInt(a.end));
      if (s <= e) out.push({ start: intToIp(s), end: intToIp(e) });
    }
  }
  return out;
}

export function rangesEqual(a: readonly Ipv4Range[], b: readonly Ipv4Range[]): boolean {
  return a.length === b.length && a.every((r, i) => r.start === b[i]?.start && r.end === b[i]?.end);
}
