/**
 * Protection of the Encrypted (SK) and Encrypted Fragment (SKF) payload body,
 * RFC 7296 §3.14 (CBC + HMAC) and RFC 5282 §3 (AEAD):
 *
 *                        1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Next Payload  |C|  RESERVED   |         Payload Length        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  <- bodyOffset
 *   |                     Initialization Vector                     |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                    Encrypted IKE Payloads                     ~
 *   +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |               |             Padding (0-255 octets)            |
 *   +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
 *   |                                               |  Pad Length   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                    Integrity Checksum Data                    ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * AEAD (AES-GCM RFC 5282, ChaCha20-Poly1305 RFC 7634): nonce = salt(4) ‖ IV(8),
 * AAD = IKE header ‖ unencrypted payload header(s) = msg[0, bodyOffset).
 * CBC: random 16-byte IV, ICV = truncated HMAC over msg[0, len - icvLength).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  randomBytes,
  timingSafeEqual,
  type CipherGCMTypes,
  type CipherChaCha20Poly1305Types,
} from 'node:crypto';
import { EncrId, IntegId } from '../ike/constants.js';
import { AEAD_SALT_LENGTH, cipherKeyBytes, gcmIcvLength, integInfo, type IntegInfo } from './algorithms.js';
import { CryptoError, IntegrityError } from './errors.js';
import type { SkTransform } from './types.js';

export type { SkTransform } from './types.js';

const AEAD_IV_LENGTH = 8;
const AES_BLOCK = 16;
const PAD_LENGTH_FIELD = 1;

export function createSkTransform(
  encr: number,
  encrKeyBits: number,
  integ: number,
  encKey: Buffer,
  integKey: Buffer,
): SkTransform {
  const keyBytes = cipherKeyBytes(encr, encrKeyBits);
  if (encr === EncrId.AES_CBC) {
    if (integ === IntegId.NONE) throw new CryptoError('AES-CBC needs an integrity transform');
    return new CbcHmacSkTransform(keyBytes, encKey, integInfo(integ), integKey);
  }
  if (integ !== IntegId.NONE) {
    throw new CryptoError(`AEAD transform ${encr} must not be combined with integrity ${integ}`);
  }
  return createAeadSkTransform(encr, keyBytes, encKey);
}

/** AEAD SK transform from keymat laid out as key ‖ 4-byte salt. */
export function createAeadSkTransform(encr: number, keyBytes: number, encKeyWithSalt: Buffer): SkTransform {
  if (encKeyWithSalt.length !== keyBytes + AEAD_SALT_LENGTH) {
    throw new CryptoError(
      `AEAD key must be ${keyBytes}+${AEAD_SALT_LENGTH} bytes, got ${encKeyWithSalt.length}`,
    );
  }
  const key = Buffer.from(encKeyWithSalt.subarray(0, keyBytes));
  const salt = Buffer.from(encKeyWithSalt.subarray(keyBytes));
  if (encr === EncrId.CHACHA20_POLY1305) {
    return new AeadSkTransform('chacha20-poly1305', 16, key, salt);
  }
  const icv = gcmIcvLength(encr);
  if (icv === undefined) throw new CryptoError(`unsupported AEAD transform ${encr}`);
  const algorithm = `aes-${keyBytes * 8}-gcm` as CipherGCMTypes;
  return new AeadSkTransform(algorithm, icv, key, salt);
}

function checkLayout(msg: Buffer, bodyOffset: number): void {
  if (!Number.isInteger(bodyOffset) || bodyOffset < 0 || bodyOffset > msg.length) {
    throw new IntegrityError(`SK body offset ${bodyOffset} outside message of ${msg.length} bytes`);
  }
}

/** Pad length byte is the last plaintext byte; it must leave room for itself. */
function stripPadding(decrypted: Buffer): Buffer {
  const padLength = decrypted[decrypted.length - 1];
  if (padLength === undefined || padLength + PAD_LENGTH_FIELD > decrypted.length) {
    throw new IntegrityError(`bad SK pad length ${padLength ?? 'missing'} for ${decrypted.length} bytes`);
  }
  return decrypted.subarray(0, decrypted.length - PAD_LENGTH_FIELD - padLength);
}

class AeadSkTransform implements SkTransform {
  readonly ivLength = AEAD_IV_LENGTH;
  /**
   * RFC 5282 §3.1: an IV must never repeat under one key. A 64-bit counter
   * from a random start gives uniqueness without tracking history.
   */
  private ivCounter: bigint = randomBytes(8).readBigUInt64BE(0);
  private readonly nonce = Buffer.alloc(AEAD_SALT_LENGTH + AEAD_IV_LENGTH);

  constructor(
    private readonly algorithm: CipherGCMTypes | CipherChaCha20Poly1305Types,
    readonly icvLength: number,
    private readonly key: Buffer,
    salt: Buffer,
  ) {
    salt.copy(this.nonce, 0);
  }

  sealedLength(plaintextLength: number): number {
    // No block alignment needed for a stream-like AEAD: zero padding octets.
    return this.ivLength + plaintextLength + PAD_LENGTH_FIELD + this.icvLength;
  }

  seal(msg: Buffer, bodyOffset: number, plaintext: Buffer): void {
    checkLayout(msg, bodyOffset);
    if (msg.length !== bodyOffset + this.sealedLength(plaintext.length)) {
      throw new CryptoError(`SK seal: message is ${msg.length} bytes, layout needs ${bodyOffset + this.sealedLength(plaintext.length)}`);
    }
    const iv = msg.subarray(bodyOffset, bodyOffset + this.ivLength);
    iv.writeBigUInt64BE(this.ivCounter, 0);
    this.ivCounter = (this.ivCounter + 1n) & 0xffff_ffff_ffff_ffffn;
    iv.copy(this.nonce, AEAD_SALT_LENGTH);

    const cipher = createCipheriv(this.algorithm as CipherGCMTypes, this.key, this.nonce, {
      authTagLength: this.icvLength,
    });
    cipher.setAAD(msg.subarray(0, bodyOffset));
    let out = bodyOffset + this.ivLength;
    out += cipher.update(plaintext).copy(msg, out);
    out += cipher.update(Buffer.of(0)).copy(msg, out); // pad length 0, no padding
    out += cipher.final().copy(msg, out);
    cipher.getAuthTag().copy(msg, out);
  }

  open(msg: Buffer, bodyOffset: number): Buffer {
    checkLayout(msg, bodyOffset);
    const body = msg.length - bodyOffset;
    if (body < this.ivLength + PAD_LENGTH_FIELD + this.icvLength) {
      throw new IntegrityError(`SK body of ${body} bytes is too short`);
    }
    const icvStart = msg.length - this.icvLength;
    const nonce = Buffer.alloc(AEAD_SALT_LENGTH + AEAD_IV_LENGTH);
    this.nonce.copy(nonce, 0, 0, AEAD_SALT_LENGTH);
    msg.copy(nonce, AEAD_SALT_LENGTH, bodyOffset, bodyOffset + this.ivLength);
    const decipher = createDecipheriv(this.algorithm as CipherGCMTypes, this.key, nonce, {
      authTagLength: this.icvLength,
    });
    decipher.setAAD(msg.subarray(0, bodyOffset));
    decipher.setAuthTag(msg.subarray(icvStart));
    let decrypted: Buffer;
    try {
      // final() verifies the tag; nothing is returned unless it does.
      decrypted = Buffer.concat([decipher.update(msg.subarray(bodyOffset + this.ivLength, icvStart)), decipher.final()]);
    } catch {
      throw new IntegrityError('SK ICV does not verify');
    }
    return stripPadding(decrypted);
  }
}

class CbcHmacSkTransform implements SkTransform {
  readonly ivLength = AES_BLOCK;
  readonly icvLength: number;
  private readonly algorithm: string;

  constructor(
    keyBytes: number,
    private readonly encKey: Buffer,
    private readonly integ: IntegInfo,
    private readonly integKey: Buffer,
  ) {
    if (encKey.length !== keyBytes) {
      throw new CryptoError(`AES-CBC key must be ${keyBytes} bytes, got ${encKey.length}`);
    }
    if (integKey.length !== integ.keyLength) {
      throw new CryptoError(`integrity key must be ${integ.keyLength} bytes, got ${integKey.length}`);
    }
    this.algorithm = `aes-${keyBytes * 8}-cbc`;
    this.icvLength = integ.icvLength;
  }

  private paddedLength(plaintextLength: number): number {
    return Math.ceil((plaintextLength + PAD_LENGTH_FIELD) / AES_BLOCK) * AES_BLOCK;
  }

  sealedLength(plaintextLength: number): number {
    return this.ivLength + this.paddedLength(plaintextLength) + this.icvLength;
  }

  private icv(msg: Buffer, end: number): Buffer {
    return createHmac(this.integ.hash, this.integKey)
      .update(msg.subarray(0, end))
      .digest()
      .subarray(0, this.icvLength);
  }

  seal(msg: Buffer, bodyOffset: number, plaintext: Buffer): void {
    checkLayout(msg, bodyOffset);
    if (msg.length !== bodyOffset + this.sealedLength(plaintext.length)) {
      throw new CryptoError(`SK seal: message is ${msg.length} bytes, layout needs ${bodyOffset + this.sealedLength(plaintext.length)}`);
    }
    const padded = Buffer.alloc(this.paddedLength(plaintext.length)); // zero padding octets
    plaintext.copy(padded, 0);
    padded[padded.length - 1] = padded.length - plaintext.length - PAD_LENGTH_FIELD;

    const iv = randomBytes(this.ivLength);
    iv.copy(msg, bodyOffset);
    const cipher = createCipheriv(this.algorithm, this.encKey, iv).setAutoPadding(false);
    let out = bodyOffset + this.ivLength;
    out += cipher.update(padded).copy(msg, out);
    out += cipher.final().copy(msg, out);
    this.icv(msg, out).copy(msg, out);
  }

  open(msg: Buffer, bodyOffset: number): Buffer {
    checkLayout(msg, bodyOffset);
    const cipherStart = bodyOffset + this.ivLength;
    const icvStart = msg.length - this.icvLength;
    const cipherLength = icvStart - cipherStart;
    if (cipherLength < AES_BLOCK || cipherLength % AES_BLOCK !== 0) {
      throw new IntegrityError(`SK ciphertext of ${cipherLength} bytes is not whole AES blocks`);
    }
    // Encrypt-then-MAC: check the ICV before touching the ciphertext.
    if (!timingSafeEqual(this.icv(msg, icvStart), msg.subarray(icvStart))) {
      throw new IntegrityError('SK ICV does not verify');
    }
    const decipher = createDecipheriv(this.algorithm, this.encKey, msg.subarray(bodyOffset, cipherStart));
    decipher.setAutoPadding(false);
    const decrypted = Buffer.concat([decipher.update(msg.subarray(cipherStart, icvStart)), decipher.final()]);
    return stripPadding(decrypted);
  }
}
