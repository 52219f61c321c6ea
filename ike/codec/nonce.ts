/**
 * Nonce payload (RFC 7296 §3.9).
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                            Nonce Data                         ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * RFC 7296 requires 16..256 bytes; that policy check belongs to the engine
 * (it decides which notify to send), so any length is decoded here.
 */
import { PayloadType } from '../constants.js';
import type { ByteWriter } from './bytes.js';
import type { KnownPayload } from './known.js';

export function decodeNonce(body: Buffer, critical: boolean): KnownPayload<PayloadType.NONCE> {
  return { type: PayloadType.NONCE, critical, data: body };
}

export function encodeNonce(p: KnownPayload<PayloadType.NONCE>, w: ByteWriter): void {
  w.bytes(p.data);
}
