/**
 * IKE SA and Child SA key derivation (RFC 7296 §2.13, §2.14, §2.17, §2.18).
 *
 *   SKEYSEED = prf(Ni | Nr, g^ir)
 *   {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
 *            = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
 *   KEYMAT   = prf+(SK_d, [g^ir (new) |] Ni | Nr)
 *   rekey:   SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
 */
import { AEAD_SALT_LENGTH, cipherKeyBytes, integInfo, isAeadEncr } from './algorithms.js';
import { IntegId } from '../ike/constants.js';
import { prf, prfOutputLength, prfPlus } from './prf.js';

export interface IkeKeyMaterial {
  skD: Buffer;
  skAi: Buffer;
  skAr: Buffer;
  skEi: Buffer;
  skEr: Buffer;
  skPi: Buffer;
  skPr: Buffer;
}

export interface IkeSuite {
  encr: number;
  encrKeyBits: number;
  /** 0 (NONE) for AEAD ciphers. */
  integ: number;
  prf: number;
}

/** I = initiator→responder direction keys. */
export interface ChildKeyMaterial {
  encI: Buffer;
  integI: Buffer;
  encR: Buffer;
  integR: Buffer;
}

/**
 * Bytes of keying material an ENCR transform consumes. AEAD ciphers take
 * their 4-byte salt from the keymat too — for IKE (RFC 5282 §7.1) and ESP
 * (RFC 4106 §8.1) alike, so `forEsp` does not change the result today.
 */
export function encrKeyLength(encr: number, keyBits: number, forEsp = false): number {
  void forEsp;
  const key = cipherKeyBytes(encr, keyBits);
  return isAeadEncr(encr) ? key + AEAD_SALT_LENGTH : key;
}

export function integKeyLength(integ: number): number {
  return integ === IntegId.NONE ? 0 : integInfo(integ).keyLength;
}

export function integIcvLength(integ: number): number {
  return integ === IntegId.NONE ? 0 : integInfo(integ).icvLength;
}

/**
 * SKEYSEED = prf(Ni | Nr, g^ir) (§2.14). With HMAC PRFs the whole Ni | Nr is
 * the key; the half-nonce truncation of §2.14 applies only to fixed-key PRFs
 * such as AES-XCBC, which we do not offer.
 */
export function deriveSkeyseed(prfId: number, ni: Buffer, nr: Buffer, sharedSecret: Buffer): Buffer {
  return prf(prfId, Buffer.concat([ni, nr]), sharedSecret);
}

/** §2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), nonces of the CREATE_CHILD_SA. */
export function deriveRekeySkeyseed(
  prfId: number,
  oldSkD: Buffer,
  sharedSecret: Buffer,
  ni: Buffer,
  nr: Buffer,
): Buffer {
  return prf(prfId, oldSkD, Buffer.concat([sharedSecret, ni, nr]));
}

export function deriveIkeKeys(
  suite: IkeSuite,
  skeyseed: Buffer,
  ni: Buffer,
  nr: Buffer,
  spiI: Buffer,
  spiR: Buffer,
): IkeKeyMaterial {
  const prfLen = prfOutputLength(suite.prf);
  const integLen = integKeyLength(suite.integ);
  const encrLen = encrKeyLength(suite.encr, suite.encrKeyBits);
  const total = prfLen * 3 + integLen * 2 + encrLen * 2;
  const keymat = prfPlus(suite.prf, skeyseed, Buffer.concat([ni, nr, spiI, spiR]), total);
  const take = cutter(keymat);
  return {
    skD: take(prfLen),
    skAi: take(integLen),
    skAr: take(integLen),
    skEi: take(encrLen),
    skEr: take(encrLen),
    skPi: take(prfLen),
    skPr: take(prfLen),
  };
}

/**
 * §2.17: Child SA keys, initiator-to-responder first, encryption before
 * integrity in each direction. `sharedSecret` is the PFS g^ir of a
 * CREATE_CHILD_SA with KE payloads.
 */
export function deriveChildKeys(
  prfId: number,
  skD: Buffer,
  ni: Buffer,
  nr: Buffer,
  encrKeyLen: number,
  integKeyLen: number,
  sharedSecret?: Buffer,
): ChildKeyMaterial {
  const seed = sharedSecret ? Buffer.concat([sharedSecret, ni, nr]) : Buffer.concat([ni, nr]);
  const keymat = prfPlus(prfId, skD, seed, 2 * (encrKeyLen + integKeyLen));
  const take = cutter(keymat);
  return { encI: take(encrKeyLen), integI: take(integKeyLen), encR: take(encrKeyLen), integR: take(integKeyLen) };
}

/** Successive copies (not views) so callers may keep keys past the keymat's life. */
function cutter(keymat: Buffer): (n: number) => Buffer {
  let offset = 0;
  return (n) => {
    const part = Buffer.from(keymat.subarray(offset, offset + n));
    offset += n;
    return part;
  };
}
