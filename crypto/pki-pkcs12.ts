/**
 * PKCS#12 (RFC 7292) writer for a private key plus its certificate chain,
 * the format Windows, macOS, iOS and Android import client identities from.
 *
 *   PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo, macData MacData }
 *   authSafe = ContentInfo(data, OCTET STRING(AuthenticatedSafe))
 *   AuthenticatedSafe ::= SEQUENCE OF ContentInfo       -- here: [certs(data), key(data)]
 *   SafeBag ::= SEQUENCE { bagId OID, bagValue [0] EXPLICIT ANY, bagAttributes SET OF Attribute OPTIONAL }
 *   MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER }
 *
 * forge.pkcs12 only accepts RSA keys/certs that forge can parse, so this is
 * a small own encoder (forge.asn1 for DER). The certificates are public and
 * go into a plain `data` bag (no RC2/3DES-encrypted cert bag, which is what
 * makes OpenSSL 3 ask for -legacy); the key is a pkcs8ShroudedKeyBag:
 *   modern (default): PBES2 / PBKDF2-HMAC-SHA256 / AES-256-CBC, MAC HMAC-SHA256
 *   legacy:           pbeWithSHAAnd3-KeyTripleDES-CBC, MAC HMAC-SHA1 — for
 *                     macOS Keychain / iOS / Windows before 10 1709.
 */
import { createCipheriv, createHash, createHmac, randomBytes, type KeyObject } from 'node:crypto';
import { bmp, bmpBytes, explicit, int, nul, octets, oid, rawDer, seq, set, toDer, type Asn1 } from './pki-asn1.js';

const P12_OID = {
  data: '1.2.840.113549.1.7.1',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  pbeWithSha1And3KeyTripleDesCbc: '1.2.840.113549.1.12.1.3',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;

export interface Pkcs12Options {
  /** Import password; empty when omitted (most importers still want one). */
  password?: string;
  /** Label shown by the OS certificate store. */
  friendlyName?: string;
  /** 3DES + SHA-1 MAC instead of AES-256 + SHA-256, for older Apple and Windows importers. */
  legacy?: boolean;
  /** PBKDF / MAC iteration count; default 2048 (OpenSSL's). */
  iterations?: number;
}

type Hash = 'sha1' | 'sha256';

/**
 * RFC 7292 Appendix B.2 key derivation: `id` 1 = key, 2 = IV, 3 = MAC key.
 * `password` is the BMPString with its 00 00 terminator.
 */
export function pkcs12Kdf(hash: Hash, password: Buffer, salt: Buffer, id: 1 | 2 | 3, iterations: number, n: number): Buffer {
  const u = hash === 'sha1' ? 20 : 32;
  const v = 64; // block size of SHA-1 and SHA-256
  const stretch = (src: Buffer, len: number): Buffer => {
    const out = Buffer.alloc(len);
    for (let i = 0; i < len; i++) out[i] = src[i % src.length] ?? 0;
    return out;
  };
  const I = Buffer.concat([
    salt.length ? stretch(salt, v * Math.ceil(salt.length / v)) : Buffer.alloc(0),
    password.length ? stretch(password, v * Math.ceil(password.length / v)) : Buffer.alloc(0),
  ]);
  const D = Buffer.alloc(v, id);
  const out = Buffer.alloc(n);
  for (let off = 0; ; off += u) {
    let A = createHash(hash).update(D).update(I).digest();
    for (let r = 1; r < iterations; r++) A = createHash(hash).update(A).digest();
    A.copy(out, off);
    if (off + u >= n) return out;
    const B = stretch(A, v);
    for (let j = 0; j < I.length; j += v) { // I_j = (I_j + B + 1) mod 2^(8v)
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = (I[j + k] ?? 0) + (B[k] ?? 0) + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
}

function contentInfoData(der: Buffer): Asn1 {
  return seq([oid(P12_OID.data), explicit(0, octets(der))]);
}

function attribute(type: string, value: Asn1): Asn1 {
  return seq([oid(type), set([value])]);
}

function shroudedKey(key: KeyObject, password: string, legacy: boolean, iterations: number): Buffer {
  if (!legacy) {
    // node/OpenSSL 3 emit PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC.
    return key.export({ format: 'der', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: password });
  }
  const salt = randomBytes(8);
  const pw = bmpBytes(password, true);
  const k = pkcs12Kdf('sha1', pw, salt, 1, iterations, 24);
  const iv = pkcs12Kdf('sha1', pw, salt, 2, iterations, 8);
  const plain = key.export({ format: 'der', type: 'pkcs8' });
  const c = createCipheriv('des-ede3-cbc', k, iv);
  const enc = Buffer.concat([c.update(plain), c.final()]);
  return toDer(seq([
    seq([oid(P12_OID.pbeWithSha1And3KeyTripleDesCbc), seq([octets(salt), int(iterations)])]),
    octets(enc),
  ]));
}

/** PKCS#12 with `key` and `chainDer` (leaf first, then issuers). */
export function buildPkcs12(key: KeyObject, chainDer: Buffer[], opts: Pkcs12Options = {}): Buffer {
  const password = opts.password ?? '';
  const legacy = opts.legacy ?? false;
  const iterations = opts.iterations ?? 2048;
  const leaf = chainDer[0];
  const localKeyId = leaf ? createHash('sha1').update(leaf).digest() : randomBytes(20);
  const pairAttrs: Asn1[] = [attribute(P12_OID.localKeyId, octets(localKeyId))];
  if (opts.friendlyName) pairAttrs.push(attribute(P12_OID.friendlyName, bmp(opts.friendlyName)));

  const certBags = chainDer.map((der, i) => seq([
    oid(P12_OID.certBag),
    explicit(0, seq([oid(P12_OID.x509Certificate), explicit(0, octets(der))])),
    ...(i === 0 ? [set(pairAttrs)] : []),
  ]));
  const keyBag = seq([
    oid(P12_OID.pkcs8ShroudedKeyBag),
    explicit(0, rawDer(shroudedKey(key, password, legacy, iterations), 'EncryptedPrivateKeyInfo')),
    set(pairAttrs),
  ]);
  const authSafe = toDer(seq([
    contentInfoData(toDer(seq(certBags))),
    contentInfoData(toDer(seq([keyBag]))),
  ]));

  const macHash: Hash = legacy ? 'sha1' : 'sha256';
  const macSalt = randomBytes(legacy ? 8 : 16);
  const macKey = pkcs12Kdf(macHash, bmpBytes(password, true), macSalt, 3, iterations, macHash === 'sha1' ? 20 : 32);
  const mac = createHmac(macHash, macKey).update(authSafe).digest();
  return toDer(seq([
    int(3),
    contentInfoData(authSafe),
    seq([
      seq([seq([oid(macHash === 'sha1' ? P12_OID.sha1 : P12_OID.sha256), nul()]), octets(mac)]),
      octets(macSalt),
      int(iterations),
    ]),
  ]));
}
