/**
 * Typed errors of the IKE layer. Each carries the notify the engine should
 * answer with (RFC 7296 §2.21), or `undefined` when the message must simply be
 * dropped. Decoders throw only these, so hostile input can never crash the
 * daemon: the caller catches IkeError, logs, and maybe answers.
 */
import { NotifyType } from './constants.js';

export class IkeError extends Error {
  /** The notify to send back, if any (undefined = drop silently). */
  readonly notify: NotifyType | undefined;
  /** Notification Data for that notify (e.g. the payload type for UNSUPPORTED_CRITICAL_PAYLOAD). */
  readonly notifyData?: Buffer;

  constructor(notify: NotifyType | undefined, message: string, notifyData?: Buffer) {
    super(message);
    this.name = new.target.name;
    this.notify = notify;
    if (notifyData !== undefined) this.notifyData = notifyData;
  }
}

/** Malformed wire data: answered with INVALID_SYNTAX (7). */
export class IkeParseError extends IkeError {
  constructor(message: string) {
    super(NotifyType.INVALID_SYNTAX, message);
  }
}

/** A payload with the critical bit set that we do not understand (RFC 7296 §2.5). */
export class UnsupportedCriticalPayloadError extends IkeError {
  readonly payloadType: number;
  constructor(payloadType: number) {
    super(
      NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD,
      `unsupported critical payload type ${payloadType}`,
      Buffer.from([payloadType & 0xff]),
    );
    this.payloadType = payloadType;
  }
}

/** Header major version is not 2 (RFC 7296 §2.5): answered with INVALID_MAJOR_VERSION. */
export class InvalidMajorVersionError extends IkeError {
  readonly version: number;
  constructor(version: number) {
    super(
      NotifyType.INVALID_MAJOR_VERSION,
      `unsupported IKE version ${version >> 4}.${version & 0x0f}`,
    );
    this.version = version;
  }
}

/**
 * A protocol-level refusal decided by the engine: NO_PROPOSAL_CHOSEN,
 * AUTHENTICATION_FAILED, TS_UNACCEPTABLE, INVALID_KE_PAYLOAD, ...
 */
export class IkeProtocolError extends IkeError {
  constructor(notify: NotifyType, message: string, data?: Buffer) {
    super(notify, message, data);
  }
}
