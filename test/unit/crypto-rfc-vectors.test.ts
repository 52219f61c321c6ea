/** Published test vectors: RFC 4231 (HMAC-SHA2), RFC 7748 (X25519), RFC 5903 §8 (ECP), RFC 3526 (MODP-2048). */
import { getDiffieHellman } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DhGroup, PrfId } from '../../ike/constants.js';
import { createKeyExchange, keyExchangeLength } from '../../crypto/dh.js';
import { prf, prfOutputLength } from '../../crypto/prf.js';

const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('RFC 4231 HMAC-SHA2 as IKE PRF', () => {
  const cases = [
    {
      name: 'test case 2 (short key "Jefe")',
      key: Buffer.from('Jefe'),
      data: Buffer.from('what do ya want for nothing?'),
      out: {
        [PrfId.HMAC_SHA2_256]: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
        [PrfId.HMAC_SHA2_384]:
          'af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649',
        [PrfId.HMAC_SHA2_512]:
          '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
      },
    },
    {
      name: 'test case 6 (131-byte key, hashed first)',
      key: Buffer.alloc(131, 0xaa),
      data: Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First'),
      out: {
        [PrfId.HMAC_SHA2_256]: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
      },
    },
  ];
  for (const c of cases) {
    for (const [id, expected] of Object.entries(c.out)) {
      it(`${c.name}, PRF ${id}`, () => {
        const out = prf(Number(id), c.key, c.data);
        expect(out.length).toBe(prfOutputLength(Number(id)));
        expect(out.toString('hex')).toBe(expected);
      });
    }
  }
});

describe('RFC 7748 §6.1 X25519 (group 31)', () => {
  const alicePriv = h('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const alicePub = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
  const bobPriv = h('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
  const bobPub = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
  const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

  it('public keys and shared secret match', () => {
    const alice = createKeyExchange(DhGroup.CURVE25519, alicePriv);
    const bob = createKeyExchange(DhGroup.CURVE25519, bobPriv);
    expect(alice.publicKey.toString('hex')).toBe(alicePub);
    expect(bob.publicKey.toString('hex')).toBe(bobPub);
    expect(alice.computeSharedSecret(h(bobPub)).toString('hex')).toBe(shared);
    expect(bob.computeSharedSecret(h(alicePub)).toString('hex')).toBe(shared);
  });
});

describe('RFC 5903 §8 ECP test vectors', () => {
  const vectors = [
    {
      group: DhGroup.ECP_256,
      i: 'C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433',
      gix: 'DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180',
      giy: '5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3',
      r: 'C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53',
      grx: 'D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63',
      gry: '56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB',
      girx: 'D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE',
    },
    {
      group: DhGroup.ECP_384,
      i: '099F3C70 34D4A2C6 99884D73 A375A67F 7624EF7C 6B3C0F16 0647B674 14DCE655 E35B5380 41E649EE 3FAEF896 783AB194',
      gix: '667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3 1634FE72 B4C55EE6 DE3AC808 ACB4BDB4 C88732AE E95F41AA',
      giy: '9482ED1F C0EEB9CA FC498462 5CCFC23F 65032149 E0E144AD A0241815 35A0F38E EB9FCFF3 C2C947DA E69B4C63 4573A81C',
      r: undefined,
      grx: 'E558DBEF 53EECDE3 D3FCCFC1 AEA08A89 A987475D 12FD950D 83CFA417 32BC509D 0D1AC43A 0336DEF9 6FDA41D0 774A3571',
      gry: 'DCFBEC7A ACF31964 72169E83 8430367F 66EEBE3C 6E70C416 DD5F0C68 759DD1FF F83FA401 42209DFF 5EAAD96D B9E6386C',
      girx: '11187331 C279962D 93D60424 3FD592CB 9D0A926F 422E4718 7521287E 7156C5C4 D6031355 69B9E9D0 9CF5D4A2 70F59746',
    },
  ];
  for (const v of vectors) {
    it(`group ${v.group}: KE data = gix|giy, secret = girx`, () => {
      const ini = createKeyExchange(v.group, h(v.i));
      expect(ini.publicKey.toString('hex')).toBe(h(v.gix + v.giy).toString('hex'));
      expect(ini.publicKey.length).toBe(keyExchangeLength(v.group));
      const secret = ini.computeSharedSecret(h(v.grx + v.gry));
      expect(secret.toString('hex')).toBe(h(v.girx).toString('hex'));
      if (v.r) {
        const resp = createKeyExchange(v.group, h(v.r));
        expect(resp.publicKey.toString('hex')).toBe(h(v.grx + v.gry).toString('hex'));
        expect(resp.computeSharedSecret(ini.publicKey).toString('hex')).toBe(h(v.girx).toString('hex'));
      }
    });
  }
});

describe('RFC 3526 MODP-2048 (group 14)', () => {
  it('both sides derive the same 256-byte secret', () => {
    const a = createKeyExchange(DhGroup.MODP_2048);
    const b = createKeyExchange(DhGroup.MODP_2048);
    expect(a.publicKey.length).toBe(256);
    expect(b.publicKey.length).toBe(256);
    const sa = a.computeSharedSecret(b.publicKey);
    expect(sa.length).toBe(256);
    expect(sa.equals(b.computeSharedSecret(a.publicKey))).toBe(true);
    expect(sa.equals(a.publicKey)).toBe(false);
  });

  it('uses the RFC 3526 §3 prime (checked against OpenSSL modp14 via an independent key pair)', () => {
    const ref = getDiffieHellman('modp14');
    ref.generateKeys();
    const ours = createKeyExchange(DhGroup.MODP_2048);
    const refSecret = ref.computeSecret(ours.publicKey);
    const padded = Buffer.concat([Buffer.alloc(256 - refSecret.length), refSecret]);
    const refPub = ref.getPublicKey();
    const refPubPadded = Buffer.concat([Buffer.alloc(256 - refPub.length), refPub]);
    expect(ours.computeSharedSecret(refPubPadded).equals(padded)).toBe(true);
  });

  it('a fixed private key gives a fixed public value, left-padded to 256 bytes', () => {
    // x = 1 → g^x = 2: the smallest value, all leading zero octets.
    const one = createKeyExchange(DhGroup.MODP_2048, Buffer.from([1]));
    expect(one.publicKey.length).toBe(256);
    expect(one.publicKey.subarray(0, 255).every((b) => b === 0)).toBe(true);
    expect(one.publicKey[255]).toBe(2);
    const again = createKeyExchange(DhGroup.MODP_2048, Buffer.alloc(32, 0x42));
    expect(again.publicKey.equals(createKeyExchange(DhGroup.MODP_2048, Buffer.alloc(32, 0x42)).publicKey)).toBe(true);
  });
});
