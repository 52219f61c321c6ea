/**
 * Key sizes of the ENCR and INTEG transforms we implement, shared by key
 * derivation (ike-keys.ts) and SK protection (sk.ts).
 */
import { EncrId, IntegId } from '../ike/constants.js';
import { CryptoError } from './errors.js';

/** RFC 5282 §7.1 / RFC 4106 §8.1 / RFC 7634 §2: 4 salt octets follow the AEAD key. */
export const AEAD_SALT_LENGTH = 4;

export interface IntegInfo {
  readonly hash: string;
  readonly keyLength: number;
  readonly icvLength: number;
}

const INTEGS: ReadonlyMap<number, IntegInfo> = new Map<number, IntegInfo>([
  [IntegId.HMAC_SHA1_96, { hash: 'sha1', keyLength: 20, icvLength: 12 }],
  [IntegId.HMAC_SHA2_256_128, { hash: 'sha256', keyLength: 32, icvLength: 16 }], // RFC 4868
  [IntegId.HMAC_SHA2_384_192, { hash: 'sha384', keyLength: 48, icvLength: 24 }],
  [IntegId.HMAC_SHA2_512_256, { hash: 'sha512', keyLength: 64, icvLength: 32 }],
]);

export function integInfo(integ: number): IntegInfo {
  const info = INTEGS.get(integ);
  if (!info) throw new CryptoError(`unsupported integrity transform ${integ}`);
  return info;
}

/** AES-GCM ICV length by transform id (RFC 5282 §8). */
export function gcmIcvLength(encr: number): number | undefined {
  switch (encr) {
    case EncrId.AES_GCM_8:
      return 8;
    case EncrId.AES_GCM_12:
      return 12;
    case EncrId.AES_GCM_16:
      return 16;
    default:
      return undefined;
  }
}

export function isAeadEncr(encr: number): boolean {
  return gcmIcvLength(encr) !== undefined || encr === EncrId.CHACHA20_POLY1305;
}

/** Validates the Key Length attribute and returns the cipher key size in bytes (without salt). */
export function cipherKeyBytes(encr: number, keyBits: number): number {
  if (encr === EncrId.CHACHA20_POLY1305) {
    // RFC 7634 §2: fixed 256-bit key, no Key Length attribute.
    if (keyBits !== 0 && keyBits !== 256) throw new CryptoError(`ChaCha20-Poly1305 key must be 256 bits`);
    return 32;
  }
  if (encr !== EncrId.AES_CBC && gcmIcvLength(encr) === undefined) {
    throw new CryptoError(`unsupported encryption transform ${encr}`);
  }
  if (keyBits !== 128 && keyBits !== 192 && keyBits !== 256) {
    throw new CryptoError(`unsupported AES key length ${keyBits} bits`);
  }
  return keyBits / 8;
}
