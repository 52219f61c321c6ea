/**
 * Typed BGP errors. A codec throws `BgpNotificationError` carrying the
 * NOTIFICATION code/subcode/data it wants sent; for UPDATE errors the RFC 7606
 * `action` says how bad it is:
 *
 *  - 'sessionReset'     send NOTIFICATION, close (RFC 4271 behaviour; header, OPEN, NLRI framing)
 *  - 'treatAsWithdraw'  keep the session, withdraw every prefix of the UPDATE (RFC 7606 §2)
 *  - 'attributeDiscard' keep the session and the routes, drop only that attribute (RFC 7606 §2)
 *
 * Only 'sessionReset' errors are thrown out of a decoder; the other two are
 * returned with the decoded UPDATE so the RIB can act on them.
 */
import { ErrorCode } from './constants.js';

export type ErrorAction = 'sessionReset' | 'treatAsWithdraw' | 'attributeDiscard';

const ACTION_RANK: Record<ErrorAction, number> = { attributeDiscard: 0, treatAsWithdraw: 1, sessionReset: 2 };

/** The harsher of two RFC 7606 actions (RFC 7606 §3.h: "the most severe ... MUST be used"). */
export function harsherAction(a: ErrorAction, b: ErrorAction): ErrorAction {
  return ACTION_RANK[a] >= ACTION_RANK[b] ? a : b;
}

export class BgpNotificationError extends Error {
  override readonly name = 'BgpNotificationError';
  readonly code: ErrorCode;
  readonly subcode: number;
  readonly data: Uint8Array;
  readonly action: ErrorAction;

  constructor(
    code: ErrorCode,
    subcode: number,
    message: string,
    options: { data?: Uint8Array; action?: ErrorAction } = {},
  ) {
    super(message);
    this.code = code;
    this.subcode = subcode;
    this.data = options.data ?? new Uint8Array(0);
    this.action = options.action ?? 'sessionReset';
  }
}

export function isBgpNotificationError(e: unknown): e is BgpNotificationError {
  return e instanceof BgpNotificationError;
}
