/**
 * Vendor ID payload (RFC 7296 §3.12).
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                        Vendor ID (VID)                        ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { PayloadType } from '../constants.js';
import type { ByteWriter } from './bytes.js';
import type { KnownPayload } from './known.js';

export function decodeVendor(body: Buffer, critical: boolean): KnownPayload<PayloadType.VENDOR> {
  return { type: PayloadType.VENDOR, critical, data: body };
}

export function encodeVendor(p: KnownPayload<PayloadType.VENDOR>, w: ByteWriter): void {
  w.bytes(p.data);
}
