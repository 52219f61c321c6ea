/**
 * IKEv2 digital-signature authentication (RFC 7427 §3, AUTH method 14):
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | ASN.1 Length  | AlgorithmIdentifier ASN.1 object              |
 * +-+-+-+-+-+-+-+-+                                               +
 * ~        AlgorithmIdentifier ASN.1 object continuing            ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                         Signature Value                       ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The signature is over the signed octets of RFC 7296 §2.15. Supported:
 * sha{256,384,512}WithRSAEncryption (PKCS#1 v1.5), RSASSA-PSS (RFC 4055
 * parameters), ecdsa-with-SHA{256,384,512} (DER signature) and Ed25519.
 * The legacy methods 1 (RSA, SHA-1) and 9/10/11 (ECDSA, raw r||s, RFC 4754)
 * are verified too, since a peer without SIGNATURE_HASH_ALGORITHMS uses them.
 */
import { constants, sign, verify, type KeyObject } from 'node:crypto';
import { AuthMethod } from '../constants.js';

export class SignatureAuthError extends Error {
  override readonly name = 'SignatureAuthError';
}

const OID_RSA_SHA256 = '1.2.840.113549.1.1.11';
const OID_RSA_SHA384 = '1.2.840.113549.1.1.12';
const OID_RSA_SHA512 = '1.2.840.113549.1.1.13';
const OID_RSA_PSS = '1.2.840.113549.1.1.10';
const OID_MGF1 = '1.2.840.113549.1.1.8';
const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_ECDSA_SHA384 = '1.2.840.10045.4.3.3';
const OID_ECDSA_SHA512 = '1.2.840.10045.4.3.4';
const OID_ED25519 = '1.3.101.112';
const OID_SHA1 = '1.3.14.3.2.26';
const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
const OID_SHA384 = '2.16.840.1.101.3.4.2.2';
const OID_SHA512 = '2.16.840.1.101.3.4.2.3';

type Hash = 'sha1' | 'sha256' | 'sha384' | 'sha512';
const HASH_OIDS: Record<string, Hash> = { [OID_SHA1]: 'sha1', [OID_SHA256]: 'sha256', [OID_SHA384]: 'sha384', [OID_SHA512]: 'sha512' };
const HASH_LEN: Record<Hash, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

/** SIGNATURE_HASH_ALGORITHMS values (RFC 7427 §4) we accept: SHA2-256, SHA2-384, SHA2-512, Identity. */
export const SUPPORTED_SIGNATURE_HASHES = [2, 3, 4, 5] as const;

export function signatureHashAlgorithmsData(): Buffer {
  const b = Buffer.alloc(SUPPORTED_SIGNATURE_HASHES.length * 2);
  SUPPORTED_SIGNATURE_HASHES.forEach((h, i) => b.writeUInt16BE(h, i * 2));
  return b;
}

// ---- a minimal DER reader/writer for AlgorithmIdentifier ----

interface Tlv { tag: number; body: Buffer; end: number }

function readTlv(buf: Buffer, at: number): Tlv {
  if (at + 2 > buf.length) throw new SignatureAuthError('truncated ASN.1');
  const tag = buf[at]!;
  let len = buf[at + 1]!;
  let p = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || p + n > buf.length) throw new SignatureAuthError('bad ASN.1 length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    p += n;
  }
  if (p + len > buf.length) throw new SignatureAuthError('truncated ASN.1 value');
  return { tag, body: buf.subarray(p, p + len), end: p + len };
}

function children(body: Buffer): Tlv[] {
  const out: Tlv[] = [];
  for (let at = 0; at < body.length;) {
    const t = readTlv(body, at);
    out.push(t);
    at = t.end;
  }
  return out;
}

function oidToString(b: Buffer): string {
  if (b.length === 0) throw new SignatureAuthError('empty OID');
  const parts = [Math.floor(b[0]! / 40), b[0]! % 40];
  let v = 0;
  for (let i = 1; i < b.length; i++) {
    v = v * 128 + (b[i]! & 0x7f);
    if (!(b[i]! & 0x80)) { parts.push(v); v = 0; }
  }
  return parts.join('.');
}

function derLen(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  return Buffer.from([0x82, n >> 8, n & 0xff]);
}
function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLen(body.length), body]);
}
function derOid(dotted: string): Buffer {
  const nums = dotted.split('.').map(Number);
  const out = [nums[0]! * 40 + nums[1]!];
  for (const n of nums.slice(2)) {
    const bytes = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) bytes.unshift((v & 0x7f) | 0x80);
    out.push(...bytes);
  }
  return der(0x06, Buffer.from(out));
}
const NULL = Buffer.from([0x05, 0x00]);
const algId = (oid: string, params?: Buffer): Buffer => der(0x30, derOid(oid), ...(params ? [params] : []));

// ---- algorithm choice ----

export interface SignatureScheme {
  kind: 'rsa-pkcs1' | 'rsa-pss' | 'ecdsa' | 'ed25519';
  hash: Hash | null;
  saltLength?: number;
}

/** Parses an AlgorithmIdentifier (RFC 7427 §3, RFC 4055 for PSS). */
export function parseAlgorithmIdentifier(der: Buffer): SignatureScheme {
  const top = readTlv(der, 0);
  if (top.tag !== 0x30 || top.end !== der.length) throw new SignatureAuthError('AlgorithmIdentifier is not a SEQUENCE');
  const [oidT, params] = children(top.body);
  if (!oidT || oidT.tag !== 0x06) throw new SignatureAuthError('AlgorithmIdentifier lacks an OID');
  const oid = oidToString(oidT.body);
  switch (oid) {
    case OID_RSA_SHA256: return { kind: 'rsa-pkcs1', hash: 'sha256' };
    case OID_RSA_SHA384: return { kind: 'rsa-pkcs1', hash: 'sha384' };
    case OID_RSA_SHA512: return { kind: 'rsa-pkcs1', hash: 'sha512' };
    case OID_ECDSA_SHA256: return { kind: 'ecdsa', hash: 'sha256' };
    case OID_ECDSA_SHA384: return { kind: 'ecdsa', hash: 'sha384' };
    case OID_ECDSA_SHA512: return { kind: 'ecdsa', hash: 'sha512' };
    case OID_ED25519: return { kind: 'ed25519', hash: null };
    case OID_RSA_PSS: return parsePssParams(params);
    default: throw new SignatureAuthError(`signature algorithm ${oid} not supported`);
  }
}

/** RSASSA-PSS-params: [0] hash (default SHA-1), [1] MGF1 with the same hash, [2] salt length (default 20). */
function parsePssParams(params: Tlv | undefined): SignatureScheme {
  let hash: Hash = 'sha1';
  let saltLength = 20;
  if (params && params.tag === 0x30) {
    for (const f of children(params.body)) {
      if (f.tag === 0xa0) {
        const inner = readTlv(f.body, 0);
        const oid = children(inner.body)[0];
        const h = oid ? HASH_OIDS[oidToString(oid.body)] : undefined;
        if (!h) throw new SignatureAuthError('RSASSA-PSS hash algorithm not supported');
        hash = h;
      } else if (f.tag === 0xa1) {
        const mgf = children(readTlv(f.body, 0).body);
        if (!mgf[0] || oidToString(mgf[0].body) !== OID_MGF1) throw new SignatureAuthError('RSASSA-PSS mask generation must be MGF1');
        const mh = mgf[1] ? children(mgf[1].body)[0] : undefined;
        if (mh && HASH_OIDS[oidToString(mh.body)] !== hash) throw new SignatureAuthError('RSASSA-PSS with an MGF1 hash other than the message hash is not supported');
      } else if (f.tag === 0xa2) {
        const n = readTlv(f.body, 0);
        saltLength = n.body.reduce((v, b) => v * 256 + b, 0);
      }
    }
  }
  return { kind: 'rsa-pss', hash, saltLength };
}

/** The scheme we sign with for a key: SHA-256 (P-384: SHA-384) is what every peer understands. */
export function schemeForKey(key: KeyObject, rsaPss = false): SignatureScheme {
  const t = key.asymmetricKeyType;
  if (t === 'rsa') return rsaPss ? { kind: 'rsa-pss', hash: 'sha256', saltLength: 32 } : { kind: 'rsa-pkcs1', hash: 'sha256' };
  if (t === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    return { kind: 'ecdsa', hash: curve === 'secp384r1' ? 'sha384' : curve === 'secp521r1' ? 'sha512' : 'sha256' };
  }
  if (t === 'ed25519') return { kind: 'ed25519', hash: null };
  throw new SignatureAuthError(`key type ${t ?? 'unknown'} cannot sign IKE AUTH`);
}

export function encodeAlgorithmIdentifier(s: SignatureScheme): Buffer {
  switch (s.kind) {
    case 'rsa-pkcs1':
      return algId(s.hash === 'sha512' ? OID_RSA_SHA512 : s.hash === 'sha384' ? OID_RSA_SHA384 : OID_RSA_SHA256, NULL);
    case 'ecdsa':
      return algId(s.hash === 'sha512' ? OID_ECDSA_SHA512 : s.hash === 'sha384' ? OID_ECDSA_SHA384 : OID_ECDSA_SHA256);
    case 'ed25519':
      return algId(OID_ED25519);
    case 'rsa-pss': {
      const h = s.hash ?? 'sha256';
      const hashOid = Object.entries(HASH_OIDS).find(([, v]) => v === h)?.[0] ?? OID_SHA256;
      const hashAlg = algId(hashOid, NULL);
      const salt = s.saltLength ?? HASH_LEN[h];
      return algId(OID_RSA_PSS, der(0x30,
        der(0xa0, hashAlg),
        der(0xa1, algId(OID_MGF1, hashAlg)),
        der(0xa2, der(0x02, salt >= 0x80 ? Buffer.from([0, salt]) : Buffer.from([salt]))),
      ));
    }
  }
}

function checkKeyFits(s: SignatureScheme, key: KeyObject): void {
  const t = key.asymmetricKeyType;
  const ok = (s.kind === 'rsa-pkcs1' || s.kind === 'rsa-pss') ? (t === 'rsa' || t === 'rsa-pss')
    : s.kind === 'ecdsa' ? t === 'ec' : t === 'ed25519';
  if (!ok) throw new SignatureAuthError(`signature algorithm ${s.kind} does not fit a ${t ?? 'unknown'} key`);
}

function rawSign(s: SignatureScheme, key: KeyObject, data: Buffer): Buffer {
  if (s.kind === 'rsa-pss') {
    return sign(s.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: s.saltLength ?? HASH_LEN[s.hash ?? 'sha256'] });
  }
  return sign(s.hash, data, key);
}

function rawVerify(s: SignatureScheme, key: KeyObject, data: Buffer, sig: Buffer, ieee = false): boolean {
  try {
    if (s.kind === 'rsa-pss') {
      return verify(s.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: s.saltLength ?? 20 }, sig);
    }
    if (s.kind === 'ecdsa' && ieee) return verify(s.hash, data, { key, dsaEncoding: 'ieee-p1363' }, sig);
    return verify(s.hash, data, key, sig);
  } catch {
    return false;
  }
}

/** AUTH payload data for method 14: length | AlgorithmIdentifier | signature. */
export function signAuth(key: KeyObject, octets: Buffer, rsaPss = false): { method: AuthMethod; data: Buffer } {
  const scheme = schemeForKey(key, rsaPss);
  const alg = encodeAlgorithmIdentifier(scheme);
  return { method: AuthMethod.DIGITAL_SIGNATURE, data: Buffer.concat([Buffer.from([alg.length]), alg, rawSign(scheme, key, octets)]) };
}

/**
 * Verifies an AUTH payload made with a public key. Returns a description of
 * the algorithm used; throws SignatureAuthError when it does not verify.
 */
export function verifyAuth(method: number, data: Buffer, key: KeyObject, octets: Buffer): string {
  let scheme: SignatureScheme;
  let sig: Buffer;
  let ieee = false;
  switch (method) {
    case AuthMethod.DIGITAL_SIGNATURE: {
      const len = data[0];
      if (len === undefined || data.length < 1 + len) throw new SignatureAuthError('AUTH data shorter than its AlgorithmIdentifier');
      scheme = parseAlgorithmIdentifier(data.subarray(1, 1 + len));
      sig = data.subarray(1 + len);
      break;
    }
    case AuthMethod.RSA_SIG: scheme = { kind: 'rsa-pkcs1', hash: 'sha1' }; sig = data; break;
    case AuthMethod.ECDSA_256: scheme = { kind: 'ecdsa', hash: 'sha256' }; sig = data; ieee = true; break;
    case AuthMethod.ECDSA_384: scheme = { kind: 'ecdsa', hash: 'sha384' }; sig = data; ieee = true; break;
    case AuthMethod.ECDSA_521: scheme = { kind: 'ecdsa', hash: 'sha512' }; sig = data; ieee = true; break;
    default: throw new SignatureAuthError(`AUTH method ${method} is not a signature method`);
  }
  checkKeyFits(scheme, key);
  if (sig.length === 0 || !rawVerify(scheme, key, octets, sig, ieee)) {
    throw new SignatureAuthError(`${describeScheme(scheme)} signature does not verify`);
  }
  return describeScheme(scheme);
}

export function describeScheme(s: SignatureScheme): string {
  const h = s.hash ? s.hash.toUpperCase().replace('SHA', 'SHA-') : '';
  switch (s.kind) {
    case 'rsa-pkcs1': return `RSA PKCS#1 v1.5 ${h}`;
    case 'rsa-pss': return `RSASSA-PSS ${h}`;
    case 'ecdsa': return `ECDSA ${h}`;
    case 'ed25519': return 'Ed25519';
  }
}
