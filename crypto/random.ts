/** Random identifiers and nonces (RFC 7296 §2.6, §2.10; RFC 4303 §2.1). */
import { randomBytes } from 'node:crypto';
import { CryptoError } from './errors.js';

/** RFC 7296 §2.10: nonces are at least 16 octets, at most 256. */
export const MIN_NONCE_LENGTH = 16;
export const MAX_NONCE_LENGTH = 256;
/** RFC 4303 §2.1: SPI values 1..255 are reserved by IANA, 0 is "no SA". */
const FIRST_UNRESERVED_SPI = 256;

/** A non-zero 8-byte IKE SA SPI. */
export function randomSpi8(): Buffer {
  for (;;) {
    const spi = randomBytes(8);
    if (!spi.equals(ZERO_SPI8)) return spi;
  }
}
const ZERO_SPI8 = Buffer.alloc(8);

/** A 4-byte ESP SPI in 256..2^32-1. */
export function randomSpi4(): number {
  for (;;) {
    const spi = randomBytes(4).readUInt32BE(0);
    if (spi >= FIRST_UNRESERVED_SPI) return spi;
  }
}

export function randomNonce(len = 32): Buffer {
  if (!Number.isInteger(len) || len < MIN_NONCE_LENGTH || len > MAX_NONCE_LENGTH) {
    throw new CryptoError(`nonce length must be ${MIN_NONCE_LENGTH}..${MAX_NONCE_LENGTH}, got ${len}`);
  }
  return randomBytes(len);
}
