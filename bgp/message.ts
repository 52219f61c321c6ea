/**
 * Decode one framed BGP message by type (RFC 4271 §4.1 / §6.1).
 */
import { ErrorCode, HeaderErrorSubcode, MessageType } from './constants.js';
import type { AttributeContext } from './attributes.js';
import { BgpNotificationError } from './errors.js';
import { decodeKeepalive, type KeepaliveMessage } from './keepalive.js';
import { decodeNotification, type NotificationMessage } from './notification.js';
import { decodeOpen, type OpenMessage } from './open.js';
import { decodeRouteRefresh, type RouteRefreshMessage } from './route-refresh.js';
import { decodeUpdate, type UpdateMessage } from './update.js';

export type BgpMessage = OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;

/**
 * `frame` must be one complete message as returned by BgpFramer. Throws only
 * BgpNotificationError.
 */
export function decodeMessage(frame: Uint8Array, ctx: AttributeContext): BgpMessage {
  const type = frame[18];
  switch (type) {
    case MessageType.Open:
      return decodeOpen(frame);
    case MessageType.Update:
      return decodeUpdate(frame, ctx);
    case MessageType.Notification:
      return decodeNotification(frame);
    case MessageType.Keepalive:
      return decodeKeepalive(frame);
    case MessageType.RouteRefresh:
      return decodeRouteRefresh(frame);
    default:
      // "If the Type field of the message header is not recognized ... Bad Message Type. The Data field MUST contain the erroneous Type field."
      throw new BgpNotificationError(ErrorCode.MessageHeader, HeaderErrorSubcode.BadMessageType, `unknown message type ${type}`, {
        data: Uint8Array.of(type ?? 0),
      });
  }
}
