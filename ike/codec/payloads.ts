/**
 * The payload dispatch table and the generic payload chain (RFC 7296 §3.2).
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Each payload's body is handed to its codec as its own slice, so a wrong
 * inner length can never reach into the next payload. Unknown payloads are
 * kept opaque; an unknown payload with the Critical bit set is rejected with
 * UNSUPPORTED_CRITICAL_PAYLOAD (§2.5). SK (46) and SKF (53) end the plain
 * chain: message.ts handles them.
 */
import { GENERIC_PAYLOAD_HEADER_LENGTH, PayloadType } from '../constants.js';
import { IkeParseError, UnsupportedCriticalPayloadError } from '../errors.js';
import { decodeAuth, encodeAuth } from './auth.js';
import { ByteWriter } from './bytes.js';
import { decodeCert, encodeCert } from './cert.js';
import { decodeCp, encodeCp } from './cp.js';
import { decodeDelete, encodeDelete } from './delete.js';
import { decodeEap, encodeEap } from './eap.js';
import { decodeId, encodeId } from './id.js';
import { decodeKe, encodeKe } from './ke.js';
import { decodeNonce, encodeNonce } from './nonce.js';
import { decodeNotify, encodeNotify } from './notify.js';
import { decodeSa, encodeSa } from './sa.js';
import { decodeTs, encodeTs } from './ts.js';
import type { KnownPayload } from './known.js';
import type { Payload } from './types.js';
import { decodeVendor, encodeVendor } from './vendor.js';

const CRITICAL_BIT = 0x80;

export interface PayloadCodec {
  decode(body: Buffer, critical: boolean): Payload;
  encode(p: Payload, w: ByteWriter): void;
}

/** Binds a typed encoder into the table; the table key guarantees the payload shape. */
function entry<P extends Payload>(
  decode: (body: Buffer, critical: boolean) => P,
  encode: (p: P, w: ByteWriter) => void,
): PayloadCodec {
  return { decode, encode: (p, w) => encode(p as P, w) };
}

export const PAYLOAD_CODECS: ReadonlyMap<number, PayloadCodec> = new Map<number, PayloadCodec>([
  [PayloadType.SA, entry(decodeSa, encodeSa)],
  [PayloadType.KE, entry(decodeKe, encodeKe)],
  [PayloadType.IDi, entry((b, c) => decodeId(b, c, PayloadType.IDi), encodeId)],
  [PayloadType.IDr, entry((b, c) => decodeId(b, c, PayloadType.IDr), encodeId)],
  [PayloadType.CERT, entry((b, c) => decodeCert(b, c, PayloadType.CERT), encodeCert)],
  [PayloadType.CERTREQ, entry((b, c) => decodeCert(b, c, PayloadType.CERTREQ), encodeCert)],
  [PayloadType.AUTH, entry(decodeAuth, encodeAuth)],
  [PayloadType.NONCE, entry(decodeNonce, encodeNonce)],
  [PayloadType.NOTIFY, entry(decodeNotify, encodeNotify)],
  [PayloadType.DELETE, entry(decodeDelete, encodeDelete)],
  [PayloadType.VENDOR, entry(decodeVendor, encodeVendor)],
  [PayloadType.TSi, entry((b, c) => decodeTs(b, c, PayloadType.TSi), encodeTs)],
  [PayloadType.TSr, entry((b, c) => decodeTs(b, c, PayloadType.TSr), encodeTs)],
  [PayloadType.CP, entry(decodeCp, encodeCp)],
  [PayloadType.EAP, entry(decodeEap, encodeEap)],
]);

export function isUnknownPayload(p: Payload): p is Extract<Payload, { unknown: true }> {
  return 'unknown' in p && p.unknown === true;
}

/** Where a chain stopped at an SK or SKF payload. */
export interface ChainStop {
  type: PayloadType.SK | PayloadType.SKF;
  /** Offset of the SK/SKF generic payload header. */
  offset: number;
  /** Payload Length field of the SK/SKF payload. */
  length: number;
  /** Its Next Payload field: the first inner payload type. */
  nextPayload: number;
}

export interface ChainResult {
  payloads: Payload[];
  stop?: ChainStop;
}

/**
 * Walks the chain in buf[offset, end). Stops at SK/SKF (returning where);
 * otherwise the chain must end (Next Payload 0) exactly at `end`.
 */
export function walkPayloadChain(firstType: number, buf: Buffer, offset: number, end: number): ChainResult {
  if (offset < 0 || end > buf.length || offset > end) {
    throw new IkeParseError(`payload chain: bad bounds [${offset}, ${end}) of ${buf.length}`);
  }
  const payloads: Payload[] = [];
  let type = firstType;
  let pos = offset;
  while (type !== PayloadType.NONE) {
    if (end - pos < GENERIC_PAYLOAD_HEADER_LENGTH) {
      throw new IkeParseError(`payload ${type} header truncated at offset ${pos} (${end - pos} bytes left)`);
    }
    const next = buf[pos]!;
    const critical = (buf[pos + 1]! & CRITICAL_BIT) !== 0;
    const length = buf.readUInt16BE(pos + 2);
    if (length < GENERIC_PAYLOAD_HEADER_LENGTH) {
      throw new IkeParseError(`payload ${type} at offset ${pos}: length ${length} < 4`);
    }
    if (length > end - pos) {
      throw new IkeParseError(`payload ${type} at offset ${pos}: length ${length} runs past the end (${end - pos} left)`);
    }
    if (type === PayloadType.SK || type === PayloadType.SKF) {
      return { payloads, stop: { type, offset: pos, length, nextPayload: next } };
    }
    const body = buf.subarray(pos + GENERIC_PAYLOAD_HEADER_LENGTH, pos + length);
    const codec = PAYLOAD_CODECS.get(type);
    if (codec) {
      payloads.push(codec.decode(body, critical));
    } else if (critical) {
      throw new UnsupportedCriticalPayloadError(type);
    } else {
      payloads.push({ type, unknown: true, critical, body });
    }
    pos += length;
    type = next;
  }
  if (pos !== end) throw new IkeParseError(`${end - pos} bytes after the last payload`);
  return { payloads };
}

/** Decodes the plain payloads of a chain; stops (without error) at SK/SKF. */
export function decodePayloadChain(firstType: number, buf: Buffer, offset: number, end: number): Payload[] {
  return walkPayloadChain(firstType, buf, offset, end).payloads;
}

/** Writes one payload (generic header + body). */
export function encodePayload(p: Payload, next: number, w: ByteWriter): void {
  const start = w.length;
  w.u8(next).u8(p.critical ? CRITICAL_BIT : 0);
  const lenAt = w.reserveU16();
  if (isUnknownPayload(p)) {
    w.bytes(p.body);
  } else {
    const codec = PAYLOAD_CODECS.get(p.type);
    if (!codec) throw new RangeError(`no encoder for payload type ${p.type}`);
    codec.encode(p, w);
  }
  w.patchU16(lenAt, w.length - start);
}

/**
 * Writes the payloads as a chain; the last one's Next Payload is `lastNext`.
 * Returns the type of the first payload (or lastNext when there are none),
 * i.e. the value for the preceding Next Payload field.
 */
export function encodePayloadChain(payloads: readonly Payload[], w: ByteWriter, lastNext = PayloadType.NONE): number {
  payloads.forEach((p, i) => encodePayload(p, payloads[i + 1]?.type ?? lastNext, w));
  return payloads[0]?.type ?? lastNext;
}

/**
 * The known payloads of one type, narrowed. (Comparing `p.type` alone does not
 * narrow: the opaque unknown variant has `type: number`.)
 */
export function payloadsOfType<T extends PayloadType>(payloads: readonly Payload[], type: T): KnownPayload<T>[] {
  return payloads.filter((p): p is KnownPayload<T> => p.type === type && !isUnknownPayload(p));
}

/** The first known payload of a type, if any. */
export function firstPayload<T extends PayloadType>(payloads: readonly Payload[], type: T): KnownPayload<T> | undefined {
  return payloads.find((p): p is KnownPayload<T> => p.type === type && !isUnknownPayload(p));
}

/** The first Notify payload of a given notify type, if any. */
export function findNotify(payloads: readonly Payload[], notifyType: number): KnownPayload<PayloadType.NOTIFY> | undefined {
  return payloadsOfType(payloads, PayloadType.NOTIFY).find((n) => n.notifyType === notifyType);
}
