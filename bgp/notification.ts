/**
 * NOTIFICATION message (RFC 4271 §4.5), with the RFC 8203/9003 shutdown
 * communication for Cease / Administrative Shutdown and Administrative Reset.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Error code    | Error subcode |   Data (variable)             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Shutdown communication data (RFC 8203 §2): Length (1) + UTF-8 text.
 */
import { CeaseSubcode, ErrorCode, HeaderErrorSubcode, MIN_NOTIFICATION_LENGTH, MessageType } from './constants.js';
import { BgpNotificationError } from './errors.js';
import { allocMessage } from './wire.js';

export interface NotificationMessage {
  type: MessageType.Notification;
  code: number;
  subcode: number;
  data: Uint8Array;
  /** Decoded RFC 8203 shutdown communication, when present and well-formed. */
  shutdownCommunication?: string;
}

/** RFC 9003 raised the limit from 128 to 255 octets. */
export const MAX_SHUTDOWN_COMMUNICATION = 255;

function carriesShutdownCommunication(code: number, subcode: number): boolean {
  return code === ErrorCode.Cease && (subcode === CeaseSubcode.AdministrativeShutdown || subcode === CeaseSubcode.AdministrativeReset);
}

export function decodeNotification(msg: Uint8Array): NotificationMessage {
  if (msg.length < MIN_NOTIFICATION_LENGTH) {
    throw new BgpNotificationError(ErrorCode.MessageHeader, HeaderErrorSubcode.BadMessageLength, 'NOTIFICATION shorter than 21 octets', {
      data: Uint8Array.of(msg.length >> 8, msg.length & 255),
    });
  }
  const code = msg[19] as number;
  const subcode = msg[20] as number;
  const data = Uint8Array.from(msg.subarray(21));
  const out: NotificationMessage = { type: MessageType.Notification, code, subcode, data };
  if (carriesShutdownCommunication(code, subcode) && data.length >= 1) {
    const len = data[0] as number;
    // RFC 8203 §4: a malformed communication is only logged, never acted on.
    if (len + 1 <= data.length) {
      out.shutdownCommunication = Buffer.from(data.buffer, data.byteOffset + 1, len).toString('utf8');
    }
  }
  return out;
}

export function encodeNotification(code: number, subcode: number, data: Uint8Array = new Uint8Array(0)): Buffer {
  const buf = allocMessage(MessageType.Notification, 2 + data.length);
  buf[19] = code;
  buf[20] = subcode;
  buf.set(data, 21);
  return buf;
}

/** Data field for a shutdown communication; truncates on a UTF-8 boundary to the RFC limit. */
export function shutdownCommunicationData(text: string): Uint8Array {
  let bytes = Buffer.from(text, 'utf8');
  if (bytes.length > MAX_SHUTDOWN_COMMUNICATION) {
    let end = MAX_SHUTDOWN_COMMUNICATION;
    while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
    bytes = bytes.subarray(0, end);
  }
  const out = new Uint8Array(1 + bytes.length);
  out[0] = bytes.length;
  out.set(bytes, 1);
  return out;
}

export function encodeNotificationFromError(e: BgpNotificationError): Buffer {
  return encodeNotification(e.code, e.subcode, e.data);
}

const CODE_NAMES: Record<number, string> = {
  1: 'Message Header Error',
  2: 'OPEN Message Error',
  3: 'UPDATE Message Error',
  4: 'Hold Timer Expired',
  5: 'Finite State Machine Error',
  6: 'Cease',
  7: 'ROUTE-REFRESH Message Error',
};

/** "Cease/2 (Administrative Shutdown) "io-interop maintenance"" style text for logs. */
export function formatNotification(n: { code: number; subcode: number; shutdownCommunication?: string }): string {
  const name = CODE_NAMES[n.code] ?? `code ${n.code}`;
  const text = n.shutdownCommunication !== undefined ? ` "${n.shutdownCommunication}"` : '';
  return `${name} ${n.code}/${n.subcode}${text}`;
}
