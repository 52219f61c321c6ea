/**
 * IKE header (RFC 7296 §3.1).
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       IKE SA Initiator's SPI                  |
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       IKE SA Responder's SPI                  |
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                          Message ID                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                            Length                             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * decodeHeader only decodes; version and length policy live in message.ts.
 */
import { IKE_HEADER_LENGTH } from '../constants.js';
import { IkeParseError } from '../errors.js';
import type { IkeHeader } from './types.js';

const SPI_LENGTH = 8;

export function decodeHeader(buf: Buffer): IkeHeader {
  if (buf.length < IKE_HEADER_LENGTH) {
    throw new IkeParseError(`IKE header truncated: ${buf.length} of ${IKE_HEADER_LENGTH} bytes`);
  }
  return {
    spiI: Buffer.from(buf.subarray(0, 8)),
    spiR: Buffer.from(buf.subarray(8, 16)),
    nextPayload: buf[16]!,
    version: buf[17]!,
    exchange: buf[18]!,
    flags: buf[19]!,
    messageId: buf.readUInt32BE(20),
    length: buf.readUInt32BE(24),
  };
}

/** Writes the 28-byte header at buf[offset]. SPIs must be 8 bytes each. */
export function encodeHeaderInto(buf: Buffer, offset: number, h: IkeHeader): void {
  if (h.spiI.length !== SPI_LENGTH || h.spiR.length !== SPI_LENGTH) {
    throw new RangeError(`IKE SPIs must be 8 bytes (got ${h.spiI.length}/${h.spiR.length})`);
  }
  if (offset < 0 || offset + IKE_HEADER_LENGTH > buf.length) {
    throw new RangeError(`no room for the IKE header at ${offset} in ${buf.length} bytes`);
  }
  h.spiI.copy(buf, offset);
  h.spiR.copy(buf, offset + 8);
  buf[offset + 16] = h.nextPayload & 0xff;
  buf[offset + 17] = h.version & 0xff;
  buf[offset + 18] = h.exchange & 0xff;
  buf[offset + 19] = h.flags & 0xff;
  buf.writeUInt32BE(h.messageId >>> 0, offset + 20);
  buf.writeUInt32BE(h.length >>> 0, offset + 24);
}
