/**
 * KEEPALIVE message (RFC 4271 §4.4): the 19-octet header alone.
 * "A KEEPALIVE message consists of only the message header and has a length of 19 octets."
 */
import { ErrorCode, HeaderErrorSubcode, KEEPALIVE_LENGTH, MessageType } from './constants.js';
import { BgpNotificationError } from './errors.js';
import { allocMessage } from './wire.js';

export interface KeepaliveMessage {
  type: MessageType.Keepalive;
}

/** Precomputed: every KEEPALIVE is the same 19 octets. */
export const KEEPALIVE: Buffer = allocMessage(MessageType.Keepalive, 0);

export function decodeKeepalive(msg: Uint8Array): KeepaliveMessage {
  if (msg.length !== KEEPALIVE_LENGTH) {
    throw new BgpNotificationError(ErrorCode.MessageHeader, HeaderErrorSubcode.BadMessageLength, `KEEPALIVE length ${msg.length}`, {
      data: Uint8Array.of(msg.length >> 8, msg.length & 255),
    });
  }
  return { type: MessageType.Keepalive };
}

export function encodeKeepalive(): Buffer {
  return KEEPALIVE;
}
