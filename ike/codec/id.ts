/**
 * Identification payloads IDi / IDr (RFC 7296 §3.5).
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   ID Type     |                 RESERVED                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                   Identification Data                         ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The RESERVED bytes are part of the signed/MACed ID octets (§2.15): AUTH is
 * computed over this whole body, so encodeId must stay byte-exact.
 */
import { PayloadType } from '../constants.js';
import { ByteReader, ByteWriter } from './bytes.js';
import type { KnownPayload } from './known.js';

export type IdPayload = KnownPayload<PayloadType.IDi | PayloadType.IDr>;

export function decodeId(
  body: Buffer,
  critical: boolean,
  type: PayloadType.IDi | PayloadType.IDr = PayloadType.IDi,
): IdPayload {
  const r = new ByteReader(body, 0, body.length, type === PayloadType.IDi ? 'IDi payload' : 'IDr payload');
  const idType = r.u8('ID type');
  r.skip(3, 'reserved');
  return { type, critical, idType, data: r.rest() };
}

export function encodeId(p: IdPayload, w: ByteWriter): void {
  w.u8(p.idType).zeros(3).bytes(p.data);
}
