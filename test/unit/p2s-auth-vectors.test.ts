/**
 * RFC 7427 AUTH (method 14) against real strongSwan 5.9 IKE_AUTH payloads
 * (test/vectors/ike-{rw,s2s}-cert-keylog.*, opened with charon's keylog),
 * plus sign/verify round trips for every scheme we produce.
 */
import { readFileSync } from 'node:fs';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSkTransform } from '../../crypto/sk.js';
import { signedOctets } from '../../crypto/auth.js';
import { AuthMethod, CertEncoding, EncrId, HeaderFlag, IntegId, PayloadType, PrfId } from '../../ike/constants.js';
import { decodeMessage, FragmentReassembler } from '../../ike/codec/message.js';
import type { IkeMessage, Payload } from '../../ike/codec/types.js';
import { readPcapIke } from '../helpers/pcap.js';
import {
  encodeAlgorithmIdentifier, parseAlgorithmIdentifier, schemeForKey, signAuth, verifyAuth, SignatureAuthError,
} from '../../ike/p2s/signature.js';
import { caKeyId, certMatchesIdentity } from '../../ike/p2s/cert-identity.js';
import { certificateDer } from '../../crypto/pki.js';

const VECTORS = new URL('../vectors/', import.meta.url);
interface Keys { spi_i: string; spi_r: string; Sk_ei: string; Sk_er: string; Sk_pi: string; Sk_pr: string }

function first<T extends PayloadType>(m: IkeMessage, t: T): Extract<Payload, { type: T; data: Buffer }> {
  const p = m.payloads.find((x) => x.type === t && !('unknown' in x));
  if (!p) throw new Error(`no payload ${t}`);
  return p as Extract<Payload, { type: T; data: Buffer }>;
}

function loadCapture(name: string) {
  const keys = (JSON.parse(readFileSync(new URL(`ike-${name}.keys.json`, VECTORS), 'utf8')) as { ike: Keys[] }).ike[0]!;
  const raws = readPcapIke(readFileSync(new URL(`ike-${name}.pcap`, VECTORS))).map((d) => decodeMessage(d.ike));
  const initReq = raws.find((r) => r.header.exchange === 34 && !(r.header.flags & HeaderFlag.Response))!;
  const initResp = raws.find((r) => r.header.exchange === 34 && (r.header.flags & HeaderFlag.Response))!;
  const sk = (initiator: boolean) => createSkTransform(EncrId.AES_GCM_16, 256, IntegId.NONE,
    Buffer.from(initiator ? keys.Sk_ei : keys.Sk_er, 'hex'), Buffer.alloc(0));
  const open = (response: boolean): IkeMessage => {
    const r = new FragmentReassembler();
    for (const raw of raws) {
      if (raw.header.exchange !== 35 || ((raw.header.flags & HeaderFlag.Response) !== 0) !== response) continue;
      const m = r.add(raw, sk(!response));
      if (m) return m;
    }
    throw new Error('no IKE_AUTH');
  };
  const nonce = (m: { payloads: Payload[] }) => (m.payloads.find((p) => p.type === PayloadType.NONCE) as { data: Buffer }).data;
  return { keys, initReq, initResp, authReq: open(false), authResp: open(true), ni: nonce(initReq), nr: nonce(initResp) };
}

const idBody = (p: { idType: number; data: Buffer }) => Buffer.concat([Buffer.from([p.idType, 0, 0, 0]), p.data]);

describe.each(['rw-cert-keylog', 's2s-cert-keylog'])('strongSwan AUTH payloads in %s', (name) => {
  const c = loadCapture(name);
  const cases = [
    { who: 'initiator', msg: c.authReq, idType: PayloadType.IDi, real: c.initReq.bytes, nonce: c.nr, skp: c.keys.Sk_pi },
    { who: 'responder', msg: c.authResp, idType: PayloadType.IDr, real: c.initResp.bytes, nonce: c.ni, skp: c.keys.Sk_pr },
  ] as const;
  for (const k of cases) {
    it(`${k.who}: method 14 signature verifies with the certificate from CERT, and fails when tampered`, () => {
      const auth = k.msg.payloads.find((p) => p.type === PayloadType.AUTH) as { method: number; data: Buffer };
      const cert = k.msg.payloads.find((p) => p.type === PayloadType.CERT) as { encoding: number; data: Buffer };
      const id = k.msg.payloads.find((p) => p.type === k.idType) as { idType: number; data: Buffer };
      expect(auth.method).toBe(AuthMethod.DIGITAL_SIGNATURE);
      expect(cert.encoding).toBe(CertEncoding.X509_SIGNATURE);
      expect(certMatchesIdentity(cert.data, id)).toBe(true);
      const octets = signedOctets(PrfId.HMAC_SHA2_256, k.real, k.nonce, Buffer.from(k.skp, 'hex'), idBody(id));
      const key = new X509Certificate(cert.data).publicKey;
      expect(verifyAuth(auth.method, auth.data, key, octets)).toMatch(/ECDSA SHA-256|RSA PKCS#1 v1.5 SHA-256/);
      // Our own encoding of the same algorithm is byte-identical to strongSwan's.
      const algLen = auth.data[0]!;
      const alg = auth.data.subarray(1, 1 + algLen);
      expect(encodeAlgorithmIdentifier(parseAlgorithmIdentifier(alg)).equals(alg)).toBe(true);
      const bad = Buffer.from(octets);
      bad[bad.length - 1]! ^= 1;
      expect(() => verifyAuth(auth.method, auth.data, key, bad)).toThrow(SignatureAuthError);
    });
  }

  it('CERTREQ carries the SHA-1 of the CA SubjectPublicKeyInfo', () => {
    const ca = certificateDer(readFileSync(new URL('pki-strongswan-ca.cert.pem', VECTORS), 'utf8'));
    const cr = c.initResp.payloads.find((p) => p.type === PayloadType.CERTREQ) as { data: Buffer };
    expect(cr.data.toString('hex')).toBe(caKeyId(ca).toString('hex'));
  });
});

describe('signAuth / verifyAuth round trips', () => {
  const keys: Array<[string, ReturnType<typeof generateKeyPairSync>, boolean]> = [
    ['RSA PKCS#1 v1.5', generateKeyPairSync('rsa', { modulusLength: 2048 }), false],
    ['RSASSA-PSS', generateKeyPairSync('rsa', { modulusLength: 2048 }), true],
    ['ECDSA P-256', generateKeyPairSync('ec', { namedCurve: 'P-256' }), false],
    ['ECDSA P-384', generateKeyPairSync('ec', { namedCurve: 'P-384' }), false],
    ['Ed25519', generateKeyPairSync('ed25519'), false],
  ];
  it.each(keys)('%s', (label, kp, pss) => {
    const octets = Buffer.from('signed octets of an IKE_AUTH');
    const a = signAuth(kp.privateKey, octets, pss);
    expect(a.method).toBe(AuthMethod.DIGITAL_SIGNATURE);
    expect(verifyAuth(a.method, a.data, kp.publicKey, octets)).toContain(label.startsWith('ECDSA') ? 'ECDSA' : label.split(' ')[0]!);
    expect(() => verifyAuth(a.method, a.data, kp.publicKey, Buffer.from('other'))).toThrow(SignatureAuthError);
  });
  it('a signature algorithm that does not fit the key is refused', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const a = signAuth(rsa.privateKey, Buffer.from('x'));
    expect(() => verifyAuth(a.method, a.data, ec.publicKey, Buffer.from('x'))).toThrow(/does not fit/);
    expect(schemeForKey(ec.privateKey).hash).toBe('sha256');
  });
  it('truncated or garbage AUTH data is a typed error, never a crash', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (const d of [Buffer.alloc(0), Buffer.from([50, 1, 2]), Buffer.from([2, 0x30, 0x00]), Buffer.from([4, 0x30, 2, 6, 0])]) {
      expect(() => verifyAuth(AuthMethod.DIGITAL_SIGNATURE, d, ec.publicKey, Buffer.from('x'))).toThrow(SignatureAuthError);
    }
    expect(() => verifyAuth(AuthMethod.SHARED_KEY_MIC, Buffer.from('x'), ec.publicKey, Buffer.from('x'))).toThrow(SignatureAuthError);
  });
});
