/**
 * Stream framer for the BGP TCP byte stream (RFC 4271 §4.1).
 *
 * While at least a header is buffered: check the marker, check
 * 19 <= Length <= 4096, wait until the whole frame is there, hand it out,
 * and keep only the remainder. Frames handed out are views of buffers the
 * framer never writes to again, so callers may keep them.
 */
import { ErrorCode, HEADER_LENGTH, HeaderErrorSubcode, MARKER_LENGTH, MAX_MESSAGE_LENGTH, MIN_MESSAGE_LENGTH } from './constants.js';
import { BgpNotificationError } from './errors.js';

export class BgpFramer {
  #pending: Buffer = Buffer.alloc(0);
  #maxLength: number;

  constructor(maxLength = MAX_MESSAGE_LENGTH) {
    this.#maxLength = maxLength;
  }

  /** Bytes waiting for the rest of a frame. */
  get pendingBytes(): number {
    return this.#pending.length;
  }

  /**
   * Feed bytes; returns complete frames (header included). Throws
   * BgpNotificationError (session reset) on a bad marker or length; the
   * stream is unusable after that.
   */
  push(chunk: Uint8Array): Buffer[] {
    const input = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const buf = this.#pending.length === 0 ? input : Buffer.concat([this.#pending, input]);
    const frames: Buffer[] = [];
    let off = 0;
    while (buf.length - off >= HEADER_LENGTH) {
      // RFC 4271 §6.1: "If at least one of the following is true: ... the Marker field ... is not as expected,
      // then the error subcode MUST be set to Connection Not Synchronized."
      for (let i = 0; i < MARKER_LENGTH; i++) {
        if (buf[off + i] !== 0xff) {
          throw new BgpNotificationError(ErrorCode.MessageHeader, HeaderErrorSubcode.ConnectionNotSynchronized, 'bad marker');
        }
      }
      const length = buf.readUInt16BE(off + 16);
      // "if the Length field of the message header is less than 19 or greater than 4096 ... Bad Message Length.
      //  The Data field MUST contain the erroneous Length field."
      if (length < MIN_MESSAGE_LENGTH || length > this.#maxLength) {
        throw new BgpNotificationError(ErrorCode.MessageHeader, HeaderErrorSubcode.BadMessageLength, `bad message length ${length}`, {
          data: Uint8Array.of(length >> 8, length & 255),
        });
      }
      if (buf.length - off < length) break;
      frames.push(buf.subarray(off, off + length));
      off += length;
    }
    // Compact: copy the (small, < 4096) remainder so a big chunk is not kept alive by it.
    this.#pending = off === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
    return frames;
  }

  reset(): void {
    this.#pending = Buffer.alloc(0);
  }
}
