/** Edge cases and hostile input for the crypto layer: every failure is a typed error. */
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DhGroup, EncrId, IntegId, PrfId } from '../../ike/constants.js';
import { KEY_PAD, pskAuth, pskAuthEquals, signedOctets } from '../../crypto/auth.js';
import { createKeyExchange, isSupportedGroup, keyExchangeLength } from '../../crypto/dh.js';
import { CryptoError, IntegrityError, KeyExchangeError } from '../../crypto/errors.js';
import { encrKeyLength, integIcvLength, integKeyLength } from '../../crypto/ike-keys.js';
import { prf, prfOutputLength, prfPlus } from '../../crypto/prf.js';
import { randomNonce, randomSpi4, randomSpi8 } from '../../crypto/random.js';
import { createSkTransform } from '../../crypto/sk.js';

describe('errors', () => {
  it('form a hierarchy with readable names', () => {
    const e = new IntegrityError('x');
    expect(e).toBeInstanceOf(CryptoError);
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('IntegrityError');
    expect(new KeyExchangeError('y')).toBeInstanceOf(CryptoError);
  });
});

describe('prf / prf+ limits', () => {
  it.each([
    [PrfId.HMAC_SHA2_256, 32],
    [PrfId.HMAC_SHA2_384, 48],
    [PrfId.HMAC_SHA2_512, 64],
  ])('PRF %i: output %i bytes, prf+ up to 255 blocks', (id, len) => {
    expect(prfOutputLength(id)).toBe(len);
    const key = randomBytes(16);
    const seed = randomBytes(8);
    expect(prfPlus(id, key, seed, 0).length).toBe(0);
    const max = prfPlus(id, key, seed, 255 * len);
    expect(max.length).toBe(255 * len);
    // Prefix property: a shorter request is a prefix of a longer one.
    expect(prfPlus(id, key, seed, len + 1).equals(max.subarray(0, len + 1))).toBe(true);
    // T1 = prf(K, S | 0x01)
    expect(max.subarray(0, len).equals(prf(id, key, Buffer.concat([seed, Buffer.of(1)])))).toBe(true);
    expect(() => prfPlus(id, key, seed, 255 * len + 1)).toThrow(CryptoError);
  });

  it.each([[-1], [1.5], [Number.NaN]])('rejects length %s', (len) => {
    expect(() => prfPlus(PrfId.HMAC_SHA2_256, Buffer.alloc(1), Buffer.alloc(1), len)).toThrow(CryptoError);
  });

  it.each([[PrfId.HMAC_SHA1], [0], [99]])('rejects unsupported PRF %i', (id) => {
    expect(() => prfOutputLength(id)).toThrow(CryptoError);
    expect(() => prf(id, Buffer.alloc(1), Buffer.alloc(1))).toThrow(CryptoError);
    expect(() => prfPlus(id, Buffer.alloc(1), Buffer.alloc(1), 1)).toThrow(CryptoError);
  });
});

describe('key exchange validation', () => {
  const groups = [DhGroup.MODP_2048, DhGroup.ECP_256, DhGroup.ECP_384, DhGroup.CURVE25519];

  it.each([
    [DhGroup.MODP_2048, 256],
    [DhGroup.ECP_256, 64],
    [DhGroup.ECP_384, 96],
    [DhGroup.CURVE25519, 32],
  ])('group %i: KE length %i, round trip', (group, len) => {
    expect(isSupportedGroup(group)).toBe(true);
    expect(keyExchangeLength(group)).toBe(len);
    const a = createKeyExchange(group);
    const b = createKeyExchange(group);
    expect(a.group).toBe(group);
    expect(a.publicKey.length).toBe(len);
    expect(a.computeSharedSecret(b.publicKey).equals(b.computeSharedSecret(a.publicKey))).toBe(true);
  });

  it.each([[0], [1], [2], [5], [15], [21], [99]])('unsupported group %i', (group) => {
    expect(isSupportedGroup(group)).toBe(false);
    expect(() => keyExchangeLength(group)).toThrow(CryptoError);
    expect(() => createKeyExchange(group)).toThrow(CryptoError);
  });

  for (const group of groups) {
    it(`group ${group}: wrong peer lengths throw KeyExchangeError`, () => {
      const ke = createKeyExchange(group);
      const len = keyExchangeLength(group);
      const sec1Tagged = Buffer.concat([Buffer.of(4), createKeyExchange(group).publicKey]);
      for (const bad of [Buffer.alloc(0), Buffer.alloc(len - 1, 1), Buffer.alloc(len + 1, 1), sec1Tagged]) {
        expect(() => ke.computeSharedSecret(bad), `${bad.length} bytes`).toThrow(KeyExchangeError);
      }
    });
  }

  it.each([[DhGroup.ECP_256], [DhGroup.ECP_384]])('group %i: off-curve and all-zero points rejected', (group) => {
    const ke = createKeyExchange(group);
    const len = keyExchangeLength(group);
    expect(() => ke.computeSharedSecret(Buffer.alloc(len, 0xaa))).toThrow(KeyExchangeError);
    expect(() => ke.computeSharedSecret(Buffer.alloc(len))).toThrow(KeyExchangeError);
    // A valid point with one bit of y flipped is off the curve.
    const good = Buffer.from(createKeyExchange(group).publicKey);
    good[len - 1] = (good[len - 1] ?? 0) ^ 1;
    expect(() => ke.computeSharedSecret(good)).toThrow(KeyExchangeError);
  });

  it('Curve25519: all-zero and other low-order points rejected (RFC 8031 §2.3)', () => {
    const ke = createKeyExchange(DhGroup.CURVE25519);
    const lowOrder = [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ];
    for (const p of lowOrder) {
      expect(() => ke.computeSharedSecret(Buffer.from(p, 'hex')), p).toThrow(KeyExchangeError);
    }
  });

  it('MODP-2048: 0, 1, p-1, p and all-ones rejected', () => {
    const ke = createKeyExchange(DhGroup.MODP_2048);
    const pMinus1 = Buffer.from(MODP_P_HEX, 'hex');
    pMinus1[255] = 0xfe; // p ends in 0xff
    const one = Buffer.alloc(256);
    one[255] = 1;
    for (const bad of [Buffer.alloc(256), one, pMinus1, Buffer.from(MODP_P_HEX, 'hex'), Buffer.alloc(256, 0xff)]) {
      expect(() => ke.computeSharedSecret(bad)).toThrow(KeyExchangeError);
    }
  });

  it('bad private key lengths are CryptoErrors', () => {
    expect(() => createKeyExchange(DhGroup.CURVE25519, Buffer.alloc(31, 1))).toThrow(CryptoError);
    expect(() => createKeyExchange(DhGroup.ECP_256, Buffer.alloc(48, 1))).toThrow(CryptoError);
    expect(() => createKeyExchange(DhGroup.ECP_256, Buffer.alloc(32, 0))).toThrow(CryptoError); // zero scalar
  });
});

/** RFC 3526 §3 prime, for range checks (independent copy of the constant). */
const MODP_P_HEX =
  'ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd129024e088a67cc74020bbea63b139b22514a08798e3404dd' +
  'ef9519b3cd3a431b302b0a6df25f14374fe1356d6d51c245e485b576625e7ec6f44c42e9a637ed6b0bff5cb6f406b7ed' +
  'ee386bfb5a899fa5ae9f24117c4b1fe649286651ece45b3dc2007cb8a163bf0598da48361c55d39a69163fa8fd24cf5f' +
  '83655d23dca3ad961c62f356208552bb9ed529077096966d670c354e4abc9804f1746c08ca18217c32905e462e36ce3b' +
  'e39e772c180e86039b2783a2ec07a28fb5c55df06f4c52c9de2bcbf6955817183995497cea956ae515d2261898fa0510' +
  '15728e5a8aacaa68ffffffffffffffff';

describe('key and ICV length tables', () => {
  it.each([
    [EncrId.AES_GCM_16, 128, 20],
    [EncrId.AES_GCM_16, 256, 36],
    [EncrId.AES_GCM_12, 192, 28],
    [EncrId.AES_GCM_8, 128, 20],
    [EncrId.AES_CBC, 128, 16],
    [EncrId.AES_CBC, 256, 32],
    [EncrId.CHACHA20_POLY1305, 256, 36],
  ])('encr %i/%i → %i bytes (IKE and ESP)', (encr, bits, len) => {
    expect(encrKeyLength(encr, bits)).toBe(len);
    expect(encrKeyLength(encr, bits, true)).toBe(len);
  });

  it.each([
    [EncrId.AES_CBC, 100],
    [EncrId.AES_GCM_16, 0],
    [EncrId.CHACHA20_POLY1305, 128],
    [3, 128],
  ])('encr %i/%i is rejected', (encr, bits) => {
    expect(() => encrKeyLength(encr, bits)).toThrow(CryptoError);
  });

  it.each([
    [IntegId.NONE, 0, 0],
    [IntegId.HMAC_SHA1_96, 20, 12],
    [IntegId.HMAC_SHA2_256_128, 32, 16],
    [IntegId.HMAC_SHA2_384_192, 48, 24],
    [IntegId.HMAC_SHA2_512_256, 64, 32],
  ])('integ %i: key %i, ICV %i', (integ, key, icv) => {
    expect(integKeyLength(integ)).toBe(key);
    expect(integIcvLength(integ)).toBe(icv);
  });

  it('unknown integ is rejected', () => {
    expect(() => integKeyLength(5)).toThrow(CryptoError);
    expect(() => integIcvLength(5)).toThrow(CryptoError);
  });
});

describe('SK transform misuse and hostile input', () => {
  const gcmKey = randomBytes(36);
  const cbcKey = randomBytes(16);
  const integKey = randomBytes(32);
  const makeGcm = () => createSkTransform(EncrId.AES_GCM_16, 256, IntegId.NONE, gcmKey, Buffer.alloc(0));
  const makeCbc = () => createSkTransform(EncrId.AES_CBC, 128, IntegId.HMAC_SHA2_256_128, cbcKey, integKey);

  it.each([
    ['GCM key without salt', () => createSkTransform(EncrId.AES_GCM_16, 256, IntegId.NONE, randomBytes(32), Buffer.alloc(0))],
    ['GCM with an integrity transform', () => createSkTransform(EncrId.AES_GCM_16, 256, IntegId.HMAC_SHA2_256_128, gcmKey, integKey)],
    ['CBC without integrity', () => createSkTransform(EncrId.AES_CBC, 128, IntegId.NONE, cbcKey, Buffer.alloc(0))],
    ['CBC key of wrong size', () => createSkTransform(EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_256_128, cbcKey, integKey)],
    ['integ key of wrong size', () => createSkTransform(EncrId.AES_CBC, 128, IntegId.HMAC_SHA2_256_128, cbcKey, randomBytes(20))],
    ['unsupported encr', () => createSkTransform(3, 128, IntegId.NONE, cbcKey, Buffer.alloc(0))],
  ])('%s → CryptoError', (_name, make) => {
    expect(make).toThrow(CryptoError);
  });

  it('sealedLength follows the layout rules', () => {
    const g = makeGcm();
    expect([g.ivLength, g.icvLength, g.sealedLength(0), g.sealedLength(100)]).toEqual([8, 16, 25, 125]);
    const c = makeCbc();
    // IV 16 + pad(plaintext + padLen byte to 16) + ICV 16
    expect([c.ivLength, c.icvLength, c.sealedLength(0), c.sealedLength(15), c.sealedLength(16)]).toEqual([16, 16, 48, 48, 64]);
  });

  it('seal refuses a message of the wrong size', () => {
    for (const sk of [makeGcm(), makeCbc()]) {
      expect(() => sk.seal(Buffer.alloc(32 + sk.sealedLength(10) + 1), 32, randomBytes(10))).toThrow(CryptoError);
    }
  });

  it('AES-GCM IVs never repeat within an SA and start at a random point', () => {
    const sk = makeGcm();
    const seen = new Set<string>();
    let previous: bigint | undefined;
    for (let i = 0; i < 500; i++) {
      const msg = Buffer.alloc(32 + sk.sealedLength(4));
      sk.seal(msg, 32, Buffer.from('ping'));
      const iv = msg.subarray(32, 40);
      seen.add(iv.toString('hex'));
      const value = iv.readBigUInt64BE(0);
      if (previous !== undefined) expect(value).toBe((previous + 1n) & 0xffffffffffffffffn);
      previous = value;
      expect(sk.open(msg, 32).toString()).toBe('ping');
    }
    expect(seen.size).toBe(500);
    const other = makeGcm();
    const m1 = Buffer.alloc(32 + other.sealedLength(0));
    other.seal(m1, 32, Buffer.alloc(0));
    expect(seen.has(m1.subarray(32, 40).toString('hex'))).toBe(false);
  });

  it('AES-CBC IVs are fresh random blocks', () => {
    const sk = makeCbc();
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const msg = Buffer.alloc(32 + sk.sealedLength(4));
      sk.seal(msg, 32, Buffer.from('ping'));
      seen.add(msg.subarray(32, 48).toString('hex'));
    }
    expect(seen.size).toBe(200);
  });

  it('open rejects truncated bodies and out-of-range offsets with IntegrityError', () => {
    for (const sk of [makeGcm(), makeCbc()]) {
      const msg = Buffer.alloc(32 + sk.sealedLength(20));
      sk.seal(msg, 32, randomBytes(20));
      for (const bad of [msg.subarray(0, 32), msg.subarray(0, 32 + sk.ivLength + sk.icvLength), msg.subarray(0, msg.length - 1)]) {
        expect(() => sk.open(bad, 32)).toThrow(IntegrityError);
      }
      expect(() => sk.open(msg, msg.length + 1)).toThrow(IntegrityError);
      expect(() => sk.open(msg, -1)).toThrow(IntegrityError);
      expect(() => sk.open(Buffer.alloc(0), 0)).toThrow(IntegrityError);
    }
  });

  it('open rejects an authentic body whose pad length overruns it', () => {
    // GCM: plaintext "abc" ‖ pad length 200, properly authenticated.
    const msg = Buffer.alloc(32 + 8 + 4 + 16);
    const iv = randomBytes(8);
    iv.copy(msg, 32);
    const c = createCipheriv('aes-256-gcm', gcmKey.subarray(0, 32), Buffer.concat([gcmKey.subarray(32), iv]));
    c.setAAD(msg.subarray(0, 32));
    Buffer.concat([c.update(Buffer.from([0x61, 0x62, 0x63, 200])), c.final()]).copy(msg, 40);
    c.getAuthTag().copy(msg, 44);
    expect(() => makeGcm().open(msg, 32)).toThrow(IntegrityError);

    // CBC: one block whose last byte (pad length) is 16, ICV valid.
    const cbcMsg = Buffer.alloc(32 + 16 + 16 + 16);
    const iv2 = randomBytes(16);
    iv2.copy(cbcMsg, 32);
    const block = Buffer.alloc(16, 0);
    block[15] = 16;
    const e = createCipheriv('aes-128-cbc', cbcKey, iv2).setAutoPadding(false);
    Buffer.concat([e.update(block), e.final()]).copy(cbcMsg, 48);
    createHmac('sha256', integKey).update(cbcMsg.subarray(0, 64)).digest().copy(cbcMsg, 64, 0, 16);
    expect(() => makeCbc().open(cbcMsg, 32)).toThrow(IntegrityError);
    // Same with pad length 15: exactly fills the block, must open to nothing.
    block[15] = 15;
    const e2 = createCipheriv('aes-128-cbc', cbcKey, iv2).setAutoPadding(false);
    Buffer.concat([e2.update(block), e2.final()]).copy(cbcMsg, 48);
    createHmac('sha256', integKey).update(cbcMsg.subarray(0, 64)).digest().copy(cbcMsg, 64, 0, 16);
    expect(makeCbc().open(cbcMsg, 32).length).toBe(0);
  });

  it('CBC ciphertext that is not whole blocks is rejected before decryption', () => {
    const sk = makeCbc();
    const msg = Buffer.alloc(32 + 16 + 20 + 16);
    createHmac('sha256', integKey).update(msg.subarray(0, msg.length - 16)).digest().copy(msg, msg.length - 16, 0, 16);
    expect(() => sk.open(msg, 32)).toThrow(IntegrityError);
  });
});

describe('AUTH helpers', () => {
  it('KEY_PAD is the RFC 7296 string', () => {
    expect(KEY_PAD).toBe('Key Pad for IKEv2');
  });

  it('signedOctets = message | nonce | prf(SK_p, ID body)', () => {
    const [m, n, k, id] = [randomBytes(50), randomBytes(32), randomBytes(32), Buffer.from('01000000c0000201', 'hex')];
    const o = signedOctets(PrfId.HMAC_SHA2_256, m, n, k, id);
    expect(o.equals(Buffer.concat([m, n, prf(PrfId.HMAC_SHA2_256, k, id)]))).toBe(true);
  });

  it('pskAuth = prf(prf(PSK, KEY_PAD), octets)', () => {
    const psk = Buffer.from('secret');
    const oct = randomBytes(100);
    const inner = prf(PrfId.HMAC_SHA2_384, psk, Buffer.from(KEY_PAD));
    expect(pskAuth(PrfId.HMAC_SHA2_384, psk, oct).equals(prf(PrfId.HMAC_SHA2_384, inner, oct))).toBe(true);
  });

  it.each([
    ['equal', 'aabb', 'aabb', true],
    ['different', 'aabb', 'aabc', false],
    ['shorter', 'aabb', 'aa', false],
    ['empty', '', '', false],
  ])('pskAuthEquals %s', (_n, a, b, want) => {
    expect(pskAuthEquals(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'))).toBe(want);
  });
});

describe('random identifiers', () => {
  it('SPIs and nonces have the right shape', () => {
    for (let i = 0; i < 200; i++) {
      const spi4 = randomSpi4();
      expect(Number.isInteger(spi4) && spi4 >= 256 && spi4 <= 0xffffffff).toBe(true);
      const spi8 = randomSpi8();
      expect(spi8.length).toBe(8);
      expect(spi8.equals(Buffer.alloc(8))).toBe(false);
    }
    expect(randomNonce().length).toBe(32);
    expect(randomNonce(16).length).toBe(16);
    expect(randomNonce(256).length).toBe(256);
    expect(() => randomNonce(15)).toThrow(CryptoError);
    expect(() => randomNonce(257)).toThrow(CryptoError);
    expect(randomNonce().equals(randomNonce())).toBe(false);
  });
});
