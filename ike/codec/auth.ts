/**
 * Authentication payload (RFC 7296 §3.8).
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Auth Method   |                RESERVED                       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                      Authentication Data                      ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { PayloadType } from '../constants.js';
import { ByteReader, ByteWriter } from './bytes.js';
import type { KnownPayload } from './known.js';

export function decodeAuth(body: Buffer, critical: boolean): KnownPayload<PayloadType.AUTH> {
  const r = new ByteReader(body, 0, body.length, 'AUTH payload');
  const method = r.u8('auth method');
  r.skip(3, 'reserved');
  return { type: PayloadType.AUTH, critical, method, data: r.rest() };
}

export function encodeAuth(p: KnownPayload<PayloadType.AUTH>, w: ByteWriter): void {
  w.u8(p.method).zeros(3).bytes(p.data);
}
