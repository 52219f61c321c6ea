import { CryptoError } from './errors.js';

/**
 * Bad certificate material or a PKI operation that cannot be done: garbage
 * publicCertData, a CA key that does not match its certificate, an unknown
 * key type. Callers (CLI, config loader) print the message as is.
 */
export class PkiError extends CryptoError {}
