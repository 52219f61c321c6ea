/**
 * Typed errors of the crypto layer. Callers (IKE state machine, ESP data
 * plane) map these to notifies or log lines; nothing here should crash the
 * daemon on hostile input.
 */

/** Base class: unsupported algorithm, bad argument, internal misuse. */
export class CryptoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** ICV / HMAC mismatch, bad padding or a malformed protected body. */
export class IntegrityError extends CryptoError {}

/** Bad peer key-exchange value: wrong length, not on the curve, degenerate secret. */
export class KeyExchangeError extends CryptoError {}
