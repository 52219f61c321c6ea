/**
 * Key Exchange payload (RFC 7296 §3.4).
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   Diffie-Hellman Group Num    |           RESERVED            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                       Key Exchange Data                       ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The data length is checked against the group by the crypto layer, not here.
 */
import { PayloadType } from '../constants.js';
import { ByteReader, ByteWriter } from './bytes.js';
import type { KnownPayload } from './known.js';

export function decodeKe(body: Buffer, critical: boolean): KnownPayload<PayloadType.KE> {
  const r = new ByteReader(body, 0, body.length, 'KE payload');
  const group = r.u16('DH group');
  r.skip(2, 'reserved');
  return { type: PayloadType.KE, critical, group, data: r.rest() };
}

export function encodeKe(p: KnownPayload<PayloadType.KE>, w: ByteWriter): void {
  w.u16(p.group).u16(0).bytes(p.data);
}
