/**
 * Path attributes, table-driven (one descriptor per attribute type, as in
 * BIRD's `bgp_attr_table`): expected flags, RFC 7606 error action, and the
 * decode / encode / format functions.
 *
 * Attribute TLV (RFC 4271 §4.3):
 *
 *  0                   1
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Attr. Flags  |Attr. Type Code|  then 1 length octet, or 2 if Extended Length
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   O T P E 0 0 0 0   (Optional, Transitive, Partial, Extended length)
 */
import {
  AS_TRANS,
  Afi,
  AsPathSegmentType,
  AttrFlag,
  AttrType,
  ErrorCode,
  Origin,
  Safi,
  UpdateErrorSubcode,
} from './constants.js';
import { BgpNotificationError, type ErrorAction } from './errors.js';
import { decodePrefixes, encodePrefixes, ipv4ToString, writeIpv4, type Ipv4Prefix } from './wire.js';

export interface AsPathSegment {
  type: AsPathSegmentType;
  asns: number[];
}

export interface RawAttribute {
  flags: number;
  type: number;
  value: Uint8Array;
}

export interface MpReach {
  afi: number;
  safi: number;
  /** IPv4 next hop (only AFI 1 / SAFI 1 is decoded; other families keep `nlri` empty). */
  nextHop: string;
  nlri: Ipv4Prefix[];
}

export interface MpUnreach {
  afi: number;
  safi: number;
  withdrawn: Ipv4Prefix[];
}

export interface PathAttributes {
  origin?: Origin;
  asPath?: AsPathSegment[];
  nextHop?: string;
  med?: number;
  localPref?: number;
  atomicAggregate?: boolean;
  aggregator?: { asn: number; address: string };
  communities?: number[];
  mpReach?: MpReach;
  mpUnreach?: MpUnreach;
  as4Path?: AsPathSegment[];
  as4Aggregator?: { asn: number; address: string };
  /** Attributes we do not understand (optional ones only; unknown well-known is an error). */
  unknown?: RawAttribute[];
}

export interface AttributeContext {
  /** Both sides advertised the 4-octet AS capability (RFC 6793): AS_PATH/AGGREGATOR carry 4-octet ASNs. */
  fourOctetAs: boolean;
}

export interface AttributeDescriptor {
  type: AttrType;
  name: string;
  /** Expected Optional|Transitive bits. */
  flags: number;
  /** RFC 7606 action when this attribute is malformed. */
  onError: ErrorAction;
  decode(value: Buffer, ctx: AttributeContext, into: PathAttributes): void;
  /** Value octets, or undefined when the attribute is absent. */
  encode(attrs: PathAttributes, ctx: AttributeContext): Buffer | undefined;
  format(attrs: PathAttributes): string | undefined;
}

const WELL_KNOWN = AttrFlag.Transitive;
const OPTIONAL = AttrFlag.Optional;
const OPTIONAL_TRANSITIVE = AttrFlag.Optional | AttrFlag.Transitive;

function malformed(subcode: UpdateErrorSubcode, message: string): BgpNotificationError {
  // The walker replaces the action with the descriptor's onError.
  return new BgpNotificationError(ErrorCode.UpdateMessage, subcode, message);
}

function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

function requireLength(value: Buffer, length: number, name: string): void {
  if (value.length !== length) throw malformed(UpdateErrorSubcode.AttributeLengthError, `${name} length ${value.length} != ${length}`);
}

// ---------------------------------------------------------------- AS_PATH helpers

export function decodeAsPath(value: Buffer, asnSize: 2 | 4, name = 'AS_PATH'): AsPathSegment[] {
  const segments: AsPathSegment[] = [];
  let off = 0;
  while (off < value.length) {
    if (off + 2 > value.length) throw malformed(UpdateErrorSubcode.MalformedAsPath, `${name}: truncated segment header`);
    const type = value[off] as number;
    const count = value[off + 1] as number;
    off += 2;
    if (type !== AsPathSegmentType.AsSet && type !== AsPathSegmentType.AsSequence) {
      throw malformed(UpdateErrorSubcode.MalformedAsPath, `${name}: segment type ${type}`);
    }
    // RFC 7606 §7.2: a zero segment length is malformed.
    if (count === 0) throw malformed(UpdateErrorSubcode.MalformedAsPath, `${name}: empty segment`);
    if (off + count * asnSize > value.length) throw malformed(UpdateErrorSubcode.MalformedAsPath, `${name}: segment overruns attribute`);
    const asns = new Array<number>(count);
    for (let i = 0; i < count; i++, off += asnSize) asns[i] = asnSize === 4 ? value.readUInt32BE(off) : value.readUInt16BE(off);
    segments.push({ type: type as AsPathSegmentType, asns });
  }
  return segments;
}

export function encodeAsPath(segments: readonly AsPathSegment[], asnSize: 2 | 4): Buffer {
  // Segments longer than 255 ASNs are split (RFC 4271 §5.1.2 allows it for sequences).
  const parts: Buffer[] = [];
  for (const seg of segments) {
    for (let start = 0; start < seg.asns.length; start += 255) {
      const chunk = seg.asns.slice(start, start + 255);
      const b = Buffer.allocUnsafe(2 + chunk.length * asnSize);
      b[0] = seg.type;
      b[1] = chunk.length;
      chunk.forEach((asn, i) => {
        if (asnSize === 4) b.writeUInt32BE(asn >>> 0, 2 + 4 * i);
        else b.writeUInt16BE(asn > 0xffff ? AS_TRANS : asn, 2 + 2 * i);
      });
      parts.push(b);
    }
  }
  return Buffer.concat(parts);
}

/** RFC 4271 §9.1.2.2 a): an AS_SET counts as 1, each sequence member as 1. */
export function asPathLength(segments: readonly AsPathSegment[] | undefined): number {
  if (!segments) return 0;
  let n = 0;
  for (const s of segments) n += s.type === AsPathSegmentType.AsSet ? 1 : s.asns.length;
  return n;
}

export function asPathContains(segments: readonly AsPathSegment[] | undefined, asn: number): boolean {
  return !!segments && segments.some((s) => s.asns.includes(asn));
}

/** The neighbouring AS (first AS of the leftmost sequence), used for MED comparison. */
export function firstAs(segments: readonly AsPathSegment[] | undefined): number | undefined {
  const first = segments?.[0];
  return first && first.type === AsPathSegmentType.AsSequence ? first.asns[0] : undefined;
}

export function formatAsPath(segments: readonly AsPathSegment[] | undefined): string {
  if (!segments || segments.length === 0) return '';
  return segments.map((s) => (s.type === AsPathSegmentType.AsSet ? `{${s.asns.join(',')}}` : s.asns.join(' '))).join(' ');
}

export function prependAs(segments: readonly AsPathSegment[] | undefined, asn: number): AsPathSegment[] {
  const first = segments?.[0];
  if (first && first.type === AsPathSegmentType.AsSequence && first.asns.length < 255) {
    return [{ type: AsPathSegmentType.AsSequence, asns: [asn, ...first.asns] }, ...(segments ?? []).slice(1)];
  }
  return [{ type: AsPathSegmentType.AsSequence, asns: [asn] }, ...(segments ?? [])];
}

/**
 * RFC 6793 §4.2.3 (minimal): on a 2-octet session, rebuild the real path from
 * AS_PATH and AS4_PATH. If AS4_PATH is longer than AS_PATH it is ignored.
 */
export function mergeAs4Path(asPath: readonly AsPathSegment[], as4Path: readonly AsPathSegment[]): AsPathSegment[] {
  const n2 = asPathLength(asPath);
  const n4 = asPathLength(as4Path);
  if (n4 > n2) return [...asPath];
  // Keep the leading (n2 - n4) ASNs of AS_PATH, then append AS4_PATH.
  let keep = n2 - n4;
  const out: AsPathSegment[] = [];
  for (const seg of asPath) {
    if (keep <= 0) break;
    if (seg.type === AsPathSegmentType.AsSet) {
      out.push(seg);
      keep -= 1;
    } else {
      const take = seg.asns.slice(0, keep);
      out.push({ type: seg.type, asns: take });
      keep -= take.length;
    }
  }
  // Join the kept head and AS4_PATH into one sequence where they meet.
  const last = out[out.length - 1];
  const head4 = as4Path[0];
  if (last && head4 && last.type === AsPathSegmentType.AsSequence && head4.type === AsPathSegmentType.AsSequence && last.asns.length + head4.asns.length <= 255) {
    return [...out.slice(0, -1), { type: AsPathSegmentType.AsSequence, asns: [...last.asns, ...head4.asns] }, ...as4Path.slice(1)];
  }
  return [...out, ...as4Path];
}

function needsAs4Path(segments: readonly AsPathSegment[] | undefined): boolean {
  return !!segments && segments.some((s) => s.asns.some((a) => a > 0xffff));
}

// ---------------------------------------------------------------- descriptor table

function decodeAggregator(value: Buffer, asnSize: 2 | 4, name: string): { asn: number; address: string } {
  requireLength(value, asnSize + 4, name);
  return { asn: asnSize === 4 ? value.readUInt32BE(0) : value.readUInt16BE(0), address: ipv4ToString(value, asnSize) };
}

function encodeAggregator(agg: { asn: number; address: string }, asnSize: 2 | 4): Buffer {
  const b = Buffer.allocUnsafe(asnSize + 4);
  if (asnSize === 4) b.writeUInt32BE(agg.asn >>> 0, 0);
  else b.writeUInt16BE(agg.asn > 0xffff ? AS_TRANS : agg.asn, 0);
  writeIpv4(b, asnSize, agg.address);
  return b;
}

const ORIGIN_NAMES = ['IGP', 'EGP', 'INCOMPLETE'] as const;

export function formatCommunity(c: number): string {
  return `${c >>> 16}:${c & 0xffff}`;
}

export const ATTRIBUTES: readonly AttributeDescriptor[] = [
  {
    type: AttrType.Origin,
    name: 'ORIGIN',
    flags: WELL_KNOWN,
    onError: 'treatAsWithdraw', // RFC 7606 §7.1
    decode(v, _ctx, into) {
      requireLength(v, 1, 'ORIGIN');
      const o = v[0] as number;
      if (o > Origin.Incomplete) throw malformed(UpdateErrorSubcode.InvalidOriginAttribute, `ORIGIN value ${o}`);
      into.origin = o;
    },
    encode: (a) => (a.origin === undefined ? undefined : Buffer.of(a.origin)),
    format: (a) => (a.origin === undefined ? undefined : ORIGIN_NAMES[a.origin]),
  },
  {
    type: AttrType.AsPath,
    name: 'AS_PATH',
    flags: WELL_KNOWN,
    onError: 'treatAsWithdraw', // RFC 7606 §7.2
    decode(v, ctx, into) {
      into.asPath = decodeAsPath(v, ctx.fourOctetAs ? 4 : 2);
    },
    encode: (a, ctx) => (a.asPath === undefined ? undefined : encodeAsPath(a.asPath, ctx.fourOctetAs ? 4 : 2)),
    format: (a) => (a.asPath === undefined ? undefined : formatAsPath(a.asPath)),
  },
  {
    type: AttrType.NextHop,
    name: 'NEXT_HOP',
    flags: WELL_KNOWN,
    onError: 'treatAsWithdraw', // RFC 7606 §7.3
    decode(v, _ctx, into) {
      requireLength(v, 4, 'NEXT_HOP');
      const n = v.readUInt32BE(0);
      // RFC 4271 §6.3 / RFC 7606 §7.3: 0.0.0.0, limited broadcast and multicast are semantically wrong.
      if (n === 0 || n === 0xffffffff || n >>> 28 === 0xe) {
        throw malformed(UpdateErrorSubcode.InvalidNextHopAttribute, `NEXT_HOP ${ipv4ToString(v, 0)} is not a unicast address`);
      }
      into.nextHop = ipv4ToString(v, 0);
    },
    encode(a) {
      if (a.nextHop === undefined) return undefined;
      const b = Buffer.allocUnsafe(4);
      writeIpv4(b, 0, a.nextHop);
      return b;
    },
    format: (a) => a.nextHop,
  },
  {
    type: AttrType.MultiExitDisc,
    name: 'MULTI_EXIT_DISC',
    flags: OPTIONAL,
    onError: 'treatAsWithdraw', // RFC 7606 §7.4
    decode(v, _ctx, into) {
      requireLength(v, 4, 'MULTI_EXIT_DISC');
      into.med = v.readUInt32BE(0);
    },
    encode: (a) => (a.med === undefined ? undefined : u32(a.med)),
    format: (a) => (a.med === undefined ? undefined : String(a.med)),
  },
  {
    type: AttrType.LocalPref,
    name: 'LOCAL_PREF',
    flags: WELL_KNOWN,
    onError: 'treatAsWithdraw', // RFC 7606 §7.5
    decode(v, _ctx, into) {
      requireLength(v, 4, 'LOCAL_PREF');
      into.localPref = v.readUInt32BE(0);
    },
    encode: (a) => (a.localPref === undefined ? undefined : u32(a.localPref)),
    format: (a) => (a.localPref === undefined ? undefined : String(a.localPref)),
  },
  {
    type: AttrType.AtomicAggregate,
    name: 'ATOMIC_AGGREGATE',
    flags: WELL_KNOWN,
    onError: 'attributeDiscard', // RFC 7606 §7.6
    decode(v, _ctx, into) {
      requireLength(v, 0, 'ATOMIC_AGGREGATE');
      into.atomicAggregate = true;
    },
    encode: (a) => (a.atomicAggregate ? Buffer.alloc(0) : undefined),
    format: (a) => (a.atomicAggregate ? 'yes' : undefined),
  },
  {
    type: AttrType.Aggregator,
    name: 'AGGREGATOR',
    flags: OPTIONAL_TRANSITIVE,
    onError: 'attributeDiscard', // RFC 7606 §7.7
    decode(v, ctx, into) {
      into.aggregator = decodeAggregator(v, ctx.fourOctetAs ? 4 : 2, 'AGGREGATOR');
    },
    encode: (a, ctx) => (a.aggregator === undefined ? undefined : encodeAggregator(a.aggregator, ctx.fourOctetAs ? 4 : 2)),
    format: (a) => (a.aggregator === undefined ? undefined : `${a.aggregator.asn} ${a.aggregator.address}`),
  },
  {
    type: AttrType.Communities,
    name: 'COMMUNITIES',
    flags: OPTIONAL_TRANSITIVE,
    onError: 'treatAsWithdraw', // RFC 7606 §7.8
    decode(v, _ctx, into) {
      if (v.length === 0 || v.length % 4 !== 0) throw malformed(UpdateErrorSubcode.OptionalAttributeError, `COMMUNITIES length ${v.length}`);
      const list: number[] = [];
      for (let off = 0; off < v.length; off += 4) list.push(v.readUInt32BE(off));
      into.communities = list;
    },
    encode(a) {
      if (!a.communities || a.communities.length === 0) return undefined;
      const b = Buffer.allocUnsafe(4 * a.communities.length);
      a.communities.forEach((c, i) => b.writeUInt32BE(c >>> 0, 4 * i));
      return b;
    },
    format: (a) => (a.communities === undefined ? undefined : a.communities.map(formatCommunity).join(' ')),
  },
  {
    type: AttrType.MpReachNlri,
    name: 'MP_REACH_NLRI',
    flags: OPTIONAL,
    onError: 'sessionReset', // RFC 7606 §7.11 (we do not implement AFI/SAFI disable)
    decode(v, _ctx, into) {
      // AFI(2) SAFI(1) NH len(1) NH Reserved(1) NLRI
      if (v.length < 5) throw malformed(UpdateErrorSubcode.OptionalAttributeError, 'MP_REACH_NLRI too short');
      const afi = v.readUInt16BE(0);
      const safi = v[2] as number;
      const nhLen = v[3] as number;
      if (4 + nhLen + 1 > v.length) throw malformed(UpdateErrorSubcode.OptionalAttributeError, 'MP_REACH_NLRI next hop overruns attribute');
      if (afi === Afi.Ipv4 && safi === Safi.Unicast) {
        if (nhLen !== 4) throw malformed(UpdateErrorSubcode.OptionalAttributeError, `MP_REACH_NLRI IPv4 next hop length ${nhLen}`);
        into.mpReach = { afi, safi, nextHop: ipv4ToString(v, 4), nlri: decodePrefixes(v, 4 + nhLen + 1, v.length, 'MP_REACH_NLRI') };
      } else {
        into.mpReach = { afi, safi, nextHop: '', nlri: [] }; // family not negotiated by us; ignored
      }
    },
    encode(a) {
      const mp = a.mpReach;
      if (!mp || mp.afi !== Afi.Ipv4 || mp.safi !== Safi.Unicast) return undefined;
      const nlri = encodePrefixes(mp.nlri);
      const b = Buffer.allocUnsafe(9 + nlri.length);
      b.writeUInt16BE(mp.afi, 0);
      b[2] = mp.safi;
      b[3] = 4;
      writeIpv4(b, 4, mp.nextHop);
      b[8] = 0;
      nlri.copy(b, 9);
      return b;
    },
    format: (a) => (a.mpReach === undefined ? undefined : `afi ${a.mpReach.afi} safi ${a.mpReach.safi} nh ${a.mpReach.nextHop} ${a.mpReach.nlri.length} prefixes`),
  },
  {
    type: AttrType.MpUnreachNlri,
    name: 'MP_UNREACH_NLRI',
    flags: OPTIONAL,
    onError: 'sessionReset', // RFC 7606 §7.12
    decode(v, _ctx, into) {
      if (v.length < 3) throw malformed(UpdateErrorSubcode.OptionalAttributeError, 'MP_UNREACH_NLRI too short');
      const afi = v.readUInt16BE(0);
      const safi = v[2] as number;
      const withdrawn = afi === Afi.Ipv4 && safi === Safi.Unicast ? decodePrefixes(v, 3, v.length, 'MP_UNREACH_NLRI') : [];
      into.mpUnreach = { afi, safi, withdrawn };
    },
    encode(a) {
      const mp = a.mpUnreach;
      if (!mp || mp.afi !== Afi.Ipv4 || mp.safi !== Safi.Unicast) return undefined;
      const w = encodePrefixes(mp.withdrawn);
      const b = Buffer.allocUnsafe(3 + w.length);
      b.writeUInt16BE(mp.afi, 0);
      b[2] = mp.safi;
      w.copy(b, 3);
      return b;
    },
    format: (a) => (a.mpUnreach === undefined ? undefined : `afi ${a.mpUnreach.afi} safi ${a.mpUnreach.safi} ${a.mpUnreach.withdrawn.length} prefixes`),
  },
  {
    type: AttrType.As4Path,
    name: 'AS4_PATH',
    flags: OPTIONAL_TRANSITIVE,
    onError: 'attributeDiscard', // RFC 6793 §6 / RFC 7606 §7.13
    decode(v, _ctx, into) {
      into.as4Path = decodeAsPath(v, 4, 'AS4_PATH');
    },
    // Sent only on 2-octet sessions and only when the path holds a 4-octet ASN (RFC 6793 §4.2.2).
    encode: (a, ctx) => {
      if (ctx.fourOctetAs) return undefined;
      if (a.as4Path) return encodeAsPath(a.as4Path, 4);
      return needsAs4Path(a.asPath) ? encodeAsPath(a.asPath ?? [], 4) : undefined;
    },
    format: (a) => (a.as4Path === undefined ? undefined : formatAsPath(a.as4Path)),
  },
  {
    type: AttrType.As4Aggregator,
    name: 'AS4_AGGREGATOR',
    flags: OPTIONAL_TRANSITIVE,
    onError: 'attributeDiscard', // RFC 7606 §7.14
    decode(v, _ctx, into) {
      into.as4Aggregator = decodeAggregator(v, 4, 'AS4_AGGREGATOR');
    },
    encode: (a, ctx) => {
      if (ctx.fourOctetAs) return undefined;
      if (a.as4Aggregator) return encodeAggregator(a.as4Aggregator, 4);
      return a.aggregator && a.aggregator.asn > 0xffff ? encodeAggregator(a.aggregator, 4) : undefined;
    },
    format: (a) => (a.as4Aggregator === undefined ? undefined : `${a.as4Aggregator.asn} ${a.as4Aggregator.address}`),
  },
];

const BY_TYPE = new Map<number, AttributeDescriptor>(ATTRIBUTES.map((d) => [d.type, d]));

export function attributeDescriptor(type: number): AttributeDescriptor | undefined {
  return BY_TYPE.get(type);
}

/** Encode all attributes in type-code order (what BIRD does; keeps output stable). */
export function encodeAttributes(attrs: PathAttributes, ctx: AttributeContext): Buffer {
  const items: { type: number; flags: number; value: Uint8Array }[] = [];
  for (const d of ATTRIBUTES) {
    const value = d.encode(attrs, ctx);
    if (value !== undefined) items.push({ type: d.type, flags: d.flags, value });
  }
  for (const u of attrs.unknown ?? []) items.push({ type: u.type, flags: u.flags, value: u.value });
  items.sort((a, b) => a.type - b.type);
  let size = 0;
  for (const it of items) size += (it.value.length > 255 || it.flags & AttrFlag.ExtendedLength ? 4 : 3) + it.value.length;
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  for (const it of items) {
    const ext = it.value.length > 255 || (it.flags & AttrFlag.ExtendedLength) !== 0;
    buf[off++] = (it.flags & 0xe0) | (ext ? AttrFlag.ExtendedLength : 0);
    buf[off++] = it.type;
    if (ext) {
      buf.writeUInt16BE(it.value.length, off);
      off += 2;
    } else buf[off++] = it.value.length;
    buf.set(it.value, off);
    off += it.value.length;
  }
  return buf;
}

/** Human-readable one-liner, e.g. "ORIGIN=IGP AS_PATH=65002 NEXT_HOP=203.0.113.2". */
export function formatAttributes(attrs: PathAttributes): string {
  const parts: string[] = [];
  for (const d of ATTRIBUTES) {
    const s = d.format(attrs);
    if (s !== undefined) parts.push(`${d.name}=${s}`);
  }
  for (const u of attrs.unknown ?? []) parts.push(`ATTR${u.type}(flags 0x${u.flags.toString(16)}, ${u.value.length} octets)`);
  return parts.join(' ');
}

