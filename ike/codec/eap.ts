/**
 * EAP payload (RFC 7296 §3.16). The body is one EAP message (RFC 3748),
 * kept opaque here.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                       EAP Message                             ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { PayloadType } from '../constants.js';
import type { ByteWriter } from './bytes.js';
import type { KnownPayload } from './known.js';

export function decodeEap(body: Buffer, critical: boolean): KnownPayload<PayloadType.EAP> {
  return { type: PayloadType.EAP, critical, data: body };
}

export function encodeEap(p: KnownPayload<PayloadType.EAP>, w: ByteWriter): void {
  w.bytes(p.data);
}
