/**
 * Cross-checks against independent implementations: @noble/hashes HMAC for
 * prf+ and key derivation, @noble/ciphers for SK payload AEAD and CBC.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { cbc, gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { describe, expect, it } from 'vitest';
import { EncrId, IntegId, PrfId } from '../../ike/constants.js';
import { prfPlus } from '../../crypto/prf.js';
import { deriveChildKeys, deriveIkeKeys, encrKeyLength, integKeyLength } from '../../crypto/ike-keys.js';
import { createSkTransform } from '../../crypto/sk.js';

const HASHES = { [PrfId.HMAC_SHA2_256]: sha256, [PrfId.HMAC_SHA2_384]: sha384, [PrfId.HMAC_SHA2_512]: sha512 } as const;
type Prf = keyof typeof HASHES;
const PRFS = [PrfId.HMAC_SHA2_256, PrfId.HMAC_SHA2_384, PrfId.HMAC_SHA2_512] as const;

/** prf+ written straight from RFC 7296 §2.13 on top of @noble/hashes. */
function referencePrfPlus(prfId: Prf, key: Uint8Array, seed: Uint8Array, length: number): Buffer {
  const blocks: Uint8Array[] = [];
  let t = new Uint8Array(0);
  for (let i = 1; blocks.reduce((n, b) => n + b.length, 0) < length; i++) {
    t = hmac(HASHES[prfId], key, Buffer.concat([t, seed, Buffer.of(i)]));
    blocks.push(t);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

describe('prf+ vs @noble/hashes reference', () => {
  for (const prfId of PRFS) {
    it(`PRF ${prfId}: random keys, seeds and lengths`, () => {
      for (let n = 0; n < 20; n++) {
        const key = randomBytes(randomInt(1, 200));
        const seed = randomBytes(randomInt(0, 300));
        const len = randomInt(0, 1000);
        expect(prfPlus(prfId, key, seed, len).equals(referencePrfPlus(prfId, key, seed, len))).toBe(true);
      }
    });
  }

  it('deriveIkeKeys / deriveChildKeys split the reference keystream in RFC 7296 order', () => {
    for (const prfId of PRFS) {
      const suite = { encr: EncrId.AES_CBC, encrKeyBits: 256, integ: IntegId.HMAC_SHA2_512_256, prf: prfId };
      const [skeyseed, ni, nr, spiI, spiR] = [randomBytes(64), randomBytes(32), randomBytes(48), randomBytes(8), randomBytes(8)];
      const k = deriveIkeKeys(suite, skeyseed, ni, nr, spiI, spiR);
      const p = HASHES[prfId].outputLen;
      const ref = referencePrfPlus(prfId, skeyseed, Buffer.concat([ni, nr, spiI, spiR]), 3 * p + 2 * 64 + 2 * 32);
      expect(Buffer.concat([k.skD, k.skAi, k.skAr, k.skEi, k.skEr, k.skPi, k.skPr]).equals(ref)).toBe(true);
      expect([k.skD.length, k.skAi.length, k.skEi.length, k.skPr.length]).toEqual([p, 64, 32, p]);

      const g = randomBytes(32);
      const c = deriveChildKeys(prfId, k.skD, ni, nr, 36, 0, g);
      const cref = referencePrfPlus(prfId, k.skD, Buffer.concat([g, ni, nr]), 72);
      expect(Buffer.concat([c.encI, c.integI, c.encR, c.integR]).equals(cref)).toBe(true);
    }
  });
});

/** An IKE-like message: 28-byte header + 4-byte SK generic header, then room for the body. */
function layout(bodyOffset: number, bodyLength: number): Buffer {
  const msg = Buffer.alloc(bodyOffset + bodyLength);
  randomBytes(bodyOffset).copy(msg);
  msg.writeUInt32BE(msg.length, 24);
  return msg;
}

describe('AEAD SK payload vs @noble/ciphers', () => {
  const cases = [
    { name: 'AES-GCM-16 256', encr: EncrId.AES_GCM_16, bits: 256, icv: 16, noble: gcm },
    { name: 'AES-GCM-16 128', encr: EncrId.AES_GCM_16, bits: 128, icv: 16, noble: gcm },
    { name: 'AES-GCM-12 256', encr: EncrId.AES_GCM_12, bits: 256, icv: 12, noble: gcm },
    { name: 'AES-GCM-8 128', encr: EncrId.AES_GCM_8, bits: 128, icv: 8, noble: gcm },
    { name: 'ChaCha20-Poly1305', encr: EncrId.CHACHA20_POLY1305, bits: 256, icv: 16, noble: chacha20poly1305 },
  ];
  for (const c of cases) {
    it(`${c.name}: our seal opens with noble, noble's seal opens with ours`, () => {
      for (let n = 0; n < 10; n++) {
        const keymat = randomBytes(encrKeyLength(c.encr, c.bits));
        const key = keymat.subarray(0, c.bits / 8);
        const salt = keymat.subarray(c.bits / 8);
        const sk = createSkTransform(c.encr, c.bits, IntegId.NONE, keymat, Buffer.alloc(0));
        expect(sk.icvLength).toBe(c.icv);
        const plaintext = randomBytes(randomInt(0, 600));
        const bodyOffset = 32 + randomInt(0, 3) * 4; // SK after header, or SKF with fragment numbers
        const msg = layout(bodyOffset, sk.sealedLength(plaintext.length));
        sk.seal(msg, bodyOffset, plaintext);

        // Ours → noble. Truncated-ICV GCM (RFC 5282 §8) keeps the leading ICV octets.
        const iv = msg.subarray(bodyOffset, bodyOffset + 8);
        const aad = msg.subarray(0, bodyOffset);
        const expected = c.noble(key, Buffer.concat([salt, iv]), aad).encrypt(Buffer.concat([plaintext, Buffer.of(0)]));
        const expectedBody = Buffer.concat([expected.subarray(0, expected.length - 16), expected.subarray(expected.length - 16, expected.length - 16 + c.icv)]);
        expect(msg.subarray(bodyOffset + 8).equals(expectedBody)).toBe(true);
        if (c.icv === 16) {
          const opened = c.noble(key, Buffer.concat([salt, iv]), aad).decrypt(msg.subarray(bodyOffset + 8));
          expect(Buffer.from(opened).equals(Buffer.concat([plaintext, Buffer.of(0)]))).toBe(true);
        }

        // Noble → ours, with non-zero padding that we must accept and strip.
        const pad = randomInt(0, 20);
        const inner = Buffer.concat([plaintext, randomBytes(pad), Buffer.of(pad)]);
        const iv2 = randomBytes(8);
        const msg2 = layout(bodyOffset, 8 + inner.length + c.icv);
        const sealed = c.noble(key, Buffer.concat([salt, iv2]), msg2.subarray(0, bodyOffset)).encrypt(inner);
        iv2.copy(msg2, bodyOffset);
        Buffer.from(sealed.subarray(0, inner.length + c.icv)).copy(msg2, bodyOffset + 8);
        expect(sk.open(msg2, bodyOffset).equals(plaintext)).toBe(true);
      }
    });
  }
});

describe('AES-CBC + HMAC SK payload vs @noble/ciphers + @noble/hashes', () => {
  const cases = [
    { integ: IntegId.HMAC_SHA2_256_128, hash: sha256, icv: 16, bits: 128 },
    { integ: IntegId.HMAC_SHA2_384_192, hash: sha384, icv: 24, bits: 256 },
    { integ: IntegId.HMAC_SHA2_512_256, hash: sha512, icv: 32, bits: 256 },
  ];
  for (const c of cases) {
    it(`AES-CBC-${c.bits} + integ ${c.integ}: both directions`, () => {
      for (let n = 0; n < 10; n++) {
        const encKey = randomBytes(c.bits / 8);
        const integKey = randomBytes(integKeyLength(c.integ));
        const sk = createSkTransform(EncrId.AES_CBC, c.bits, c.integ, encKey, integKey);
        expect(sk.icvLength).toBe(c.icv);
        const plaintext = randomBytes(randomInt(0, 600));
        const bodyOffset = 32;
        const msg = layout(bodyOffset, sk.sealedLength(plaintext.length));
        sk.seal(msg, bodyOffset, plaintext);

        const icvStart = msg.length - c.icv;
        const icv = hmac(c.hash, integKey, msg.subarray(0, icvStart)).subarray(0, c.icv);
        expect(Buffer.from(icv).equals(msg.subarray(icvStart))).toBe(true);
        const iv = msg.subarray(bodyOffset, bodyOffset + 16);
        const dec = cbc(encKey, iv, { disablePadding: true }).decrypt(msg.subarray(bodyOffset + 16, icvStart));
        const padLen = dec[dec.length - 1] ?? -1;
        expect(Buffer.from(dec.subarray(0, dec.length - 1 - padLen)).equals(plaintext)).toBe(true);

        // Noble → ours with a longer-than-needed padding (allowed by RFC 7296 §3.14).
        const pad = 16 - ((plaintext.length + 1) % 16 || 16) + 16 * randomInt(0, 3);
        const inner = Buffer.concat([plaintext, randomBytes(pad), Buffer.of(pad)]);
        expect(inner.length % 16).toBe(0);
        const iv2 = randomBytes(16);
        const msg2 = layout(bodyOffset, 16 + inner.length + c.icv);
        iv2.copy(msg2, bodyOffset);
        Buffer.from(cbc(encKey, iv2, { disablePadding: true }).encrypt(inner)).copy(msg2, bodyOffset + 16);
        const end = msg2.length - c.icv;
        Buffer.from(hmac(c.hash, integKey, msg2.subarray(0, end)).subarray(0, c.icv)).copy(msg2, end);
        expect(sk.open(msg2, bodyOffset).equals(plaintext)).toBe(true);
      }
    });
  }
});
