/**
 * ROUTE-REFRESH message (RFC 2918 §3) with the RFC 7313 message subtype.
 *
 *  0       7      15      23      31
 *  +-------+-------+-------+-------+
 *  |      AFI      | Subtyp| SAFI  |
 *  +-------+-------+-------+-------+
 *
 * Subtype 0 = normal request, 1 = Beginning of Route Refresh (BoRR),
 * 2 = End of Route Refresh (EoRR).
 */
import { ErrorCode, MessageType, ROUTE_REFRESH_LENGTH, RouteRefreshErrorSubcode, RouteRefreshSubtype } from './constants.js';
import { BgpNotificationError } from './errors.js';
import { allocMessage } from './wire.js';

export interface RouteRefreshMessage {
  type: MessageType.RouteRefresh;
  afi: number;
  subtype: RouteRefreshSubtype | number;
  safi: number;
}

export function decodeRouteRefresh(msg: Uint8Array): RouteRefreshMessage {
  // RFC 7313 §5: "If the length ... is not 4, then ... ROUTE-REFRESH Message Error / Invalid Message Length";
  // the Data field carries the complete message.
  if (msg.length !== ROUTE_REFRESH_LENGTH) {
    throw new BgpNotificationError(ErrorCode.RouteRefreshMessage, RouteRefreshErrorSubcode.InvalidMessageLength, `ROUTE-REFRESH length ${msg.length}`, {
      data: Uint8Array.from(msg),
    });
  }
  return {
    type: MessageType.RouteRefresh,
    afi: ((msg[19] as number) << 8) | (msg[20] as number),
    subtype: msg[21] as number,
    safi: msg[22] as number,
  };
}

export function encodeRouteRefresh(afi: number, safi: number, subtype: RouteRefreshSubtype = RouteRefreshSubtype.Request): Buffer {
  const buf = allocMessage(MessageType.RouteRefresh, 4);
  buf.writeUInt16BE(afi, 19);
  buf[21] = subtype;
  buf[22] = safi;
  return buf;
}
