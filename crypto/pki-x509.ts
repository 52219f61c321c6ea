/**
 * X.509 v3 certificate builder (RFC 5280 §4.1) and the few certificate field
 * readers the PKI code needs.
 *
 * forge 1.x can only sign with RSA, so the TBSCertificate is built with
 * forge.asn1 and signed with node:crypto; that one path serves RSA and ECDSA
 * issuers alike.
 *
 *   Certificate  ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
 *   TBSCertificate ::= SEQUENCE {
 *     version [0] EXPLICIT INTEGER (2 = v3), serialNumber INTEGER,
 *     signature AlgorithmIdentifier, issuer Name, validity SEQUENCE { notBefore, notAfter },
 *     subject Name, subjectPublicKeyInfo, extensions [3] EXPLICIT SEQUENCE OF Extension }
 *   Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';
import {
  bits, bool, children, explicit, fromDer, ia5, implicitPrimitive, int, nul, octets, oid, oidOf,
  primitiveBytes, rawDer, seq, set, time, toDer, uintBytes, utf8, type Asn1,
} from './pki-asn1.js';
import { PkiError } from './pki-errors.js';

export const OID = {
  commonName: '2.5.4.3',
  countryName: '2.5.4.6',
  organizationName: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  anyExtendedKeyUsage: '2.5.29.37.0',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  /** id-kp-ipsecIKE (RFC 4945 §5.1.3.12). */
  ipsecIke: '1.3.6.1.5.5.7.3.17',
  /** "IP security IKE intermediate": required by Windows and macOS IKEv2 clients on the gateway cert. */
  ikeIntermediate: '1.3.6.1.5.5.8.2.2',
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
} as const;

export type KeyType = 'rsa' | 'ecdsa';
export type RsaBits = 2048 | 3072 | 4096;
export type EcCurve = 'P-256' | 'P-384';

export interface KeySpec {
  keyType: KeyType;
  /** RSA modulus size; default 2048 (3072 for a root CA). */
  rsaBits?: RsaBits;
  /** ECDSA curve; default P-256. */
  ecCurve?: EcCurve;
}

export function generatePrivateKey(spec: KeySpec, defaultRsaBits: RsaBits = 2048): KeyObject {
  if (spec.keyType === 'rsa') {
    const bitsWanted = spec.rsaBits ?? defaultRsaBits;
    if (![2048, 3072, 4096].includes(bitsWanted)) throw new PkiError(`unsupported RSA size ${bitsWanted} (use 2048, 3072 or 4096)`);
    return generateKeyPairSync('rsa', { modulusLength: bitsWanted, publicExponent: 0x10001 }).privateKey;
  }
  if (spec.keyType === 'ecdsa') {
    const curve = spec.ecCurve ?? 'P-256';
    if (curve !== 'P-256' && curve !== 'P-384') throw new PkiError(`unsupported ECDSA curve ${String(curve)} (use P-256 or P-384)`);
    return generateKeyPairSync('ec', { namedCurve: curve }).privateKey;
  }
  throw new PkiError(`unsupported key type ${String(spec.keyType)} (use rsa or ecdsa)`);
}

/** PKCS#8 PEM ("BEGIN PRIVATE KEY"), read by OpenSSL, strongSwan and Windows alike. */
export function privateKeyPem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** Signature algorithm implied by the issuer's key: RSA PKCS#1 v1.5 SHA-256, ECDSA with the curve's hash. */
function signatureAlgorithm(signingKey: KeyObject): { algId: Asn1; hash: string } {
  const type = signingKey.asymmetricKeyType;
  if (type === 'rsa') return { algId: seq([oid(OID.sha256WithRSAEncryption), nul()]), hash: 'sha256' };
  if (type === 'ec') {
    const curve = signingKey.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return { algId: seq([oid(OID.ecdsaWithSha256)]), hash: 'sha256' };
    if (curve === 'secp384r1') return { algId: seq([oid(OID.ecdsaWithSha384)]), hash: 'sha384' };
    throw new PkiError(`unsupported issuer EC curve ${String(curve)}`);
  }
  throw new PkiError(`unsupported issuer key type ${String(type)}`);
}

/** Name with one attribute per RDN, in the given order (most significant first, e.g. C, O, CN). */
export function encodeName(attrs: ReadonlyArray<readonly [string, string]>): Buffer {
  return toDer(seq(attrs.map(([type, value]) => set([seq([
    oid(type),
    // countryName is PrintableString by definition (RFC 5280 App. A); the rest UTF8String.
    type === OID.countryName
      ? forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.PRINTABLESTRING, false, value)
      : utf8(value),
  ])]))));
}

export interface Extension { oid: string; critical: boolean; value: Buffer }

export function basicConstraintsExt(ca: boolean, pathLen?: number): Extension {
  const body: Asn1[] = ca ? [bool(true)] : [];
  if (ca && pathLen !== undefined) body.push(int(pathLen));
  return { oid: OID.basicConstraints, critical: ca, value: toDer(seq(body)) };
}

export const KeyUsageBit = {
  digitalSignature: 0, nonRepudiation: 1, keyEncipherment: 2, dataEncipherment: 3,
  keyAgreement: 4, keyCertSign: 5, cRLSign: 6,
} as const;
export type KeyUsageName = keyof typeof KeyUsageBit;

/** keyUsage as a DER named BIT STRING: trailing zero bits dropped (X.690 §11.2.2). */
export function keyUsageExt(usages: KeyUsageName[]): Extension {
  let mask = 0;
  for (const u of usages) mask |= 0x8000 >> KeyUsageBit[u];
  if (mask === 0) throw new PkiError('keyUsage needs at least one bit');
  let highest = 0;
  for (let b = 0; b < 16; b++) if (mask & (0x8000 >> b)) highest = b;
  const len = highest < 8 ? 1 : 2;
  const bytes = Buffer.from([mask >> 8, mask & 0xff]).subarray(0, len);
  return { oid: OID.keyUsage, critical: true, value: toDer(bits(bytes, len * 8 - (highest + 1))) };
}

export function extKeyUsageExt(oids: string[]): Extension {
  return { oid: OID.extKeyUsage, critical: false, value: toDer(seq(oids.map(oid))) };
}

export type GeneralName = { dns: string } | { ip: string } | { email: string };

export function subjectAltNameExt(names: GeneralName[]): Extension {
  const enc = names.map((n): Asn1 => {
    if ('dns' in n) return implicitPrimitive(2, Buffer.from(n.dns, 'ascii'));
    if ('email' in n) return implicitPrimitive(1, Buffer.from(n.email, 'ascii'));
    return implicitPrimitive(7, ipToBytes(n.ip));
  });
  return { oid: OID.subjectAltName, critical: false, value: toDer(seq(enc)) };
}

export function subjectKeyIdExt(keyId: Buffer): Extension {
  return { oid: OID.subjectKeyIdentifier, critical: false, value: toDer(octets(keyId)) };
}

/** AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING } */
export function authorityKeyIdExt(keyId: Buffer): Extension {
  return { oid: OID.authorityKeyIdentifier, critical: false, value: toDer(seq([implicitPrimitive(0, keyId)])) };
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING value. */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = children(fromDer(spkiDer(publicKey), 'SubjectPublicKeyInfo'), 'SubjectPublicKeyInfo');
  const bitString = primitiveBytes(spki[1] ?? nul(), 'subjectPublicKey').subarray(1);
  return createHash('sha1').update(bitString).digest();
}

function spkiDer(publicKey: KeyObject): Buffer {
  return createPublicKey(publicKey).export({ format: 'der', type: 'spki' });
}

/** IPv4 (4 bytes) or IPv6 (16 bytes) for a GeneralName iPAddress. */
export function ipToBytes(ip: string): Buffer {
  const family = isIP(ip);
  if (family === 4) return Buffer.from(ip.split('.').map(Number));
  if (family !== 6) throw new PkiError(`not an IP address: ${ip}`);
  // Rewrite a trailing dotted quad (::ffff:192.0.2.1) as two hex groups first.
  const text = ip.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, a: string, b: string, c: string, d: string) =>
    `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`);
  const [head = '', rest] = text.split('::');
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  const zeros = rest === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...new Array<number>(zeros).fill(0), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

export interface CertTemplate {
  subjectNameDer: Buffer;
  issuerNameDer: Buffer;
  subjectPublicKey: KeyObject;
  signingKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  extensions: Extension[];
}

/** Positive 127-bit random serial (RFC 5280 §4.1.2.2: at most 20 octets, non-negative, unpredictable). */
function randomSerial(): Buffer {
  const s = randomBytes(16);
  s[0] = ((s[0] ?? 0) & 0x7f) | 0x40;
  return s;
}

/** Builds and signs a v3 certificate; returns DER. */
export function buildCertificate(t: CertTemplate): Buffer {
  if (!(t.notAfter > t.notBefore)) throw new PkiError('certificate notAfter must be after notBefore');
  const { algId, hash } = signatureAlgorithm(t.signingKey);
  const tbs = toDer(seq([
    explicit(0, int(2)),
    uintBytes(randomSerial()),
    algId,
    rawDer(t.issuerNameDer, 'issuer Name'),
    seq([time(t.notBefore), time(t.notAfter)]),
    rawDer(t.subjectNameDer, 'subject Name'),
    rawDer(spkiDer(t.subjectPublicKey), 'SubjectPublicKeyInfo'),
    explicit(3, seq(t.extensions.map((e) => seq([
      oid(e.oid),
      ...(e.critical ? [bool(true)] : []),
      octets(e.value),
    ])))),
  ]));
  const signature = sign(hash, tbs, t.signingKey); // ECDSA: DER Ecdsa-Sig-Value, as X.509 wants
  return toDer(seq([rawDer(tbs, 'TBSCertificate'), algId, bits(signature)]));
}

/** The parts of a certificate's TBS that node's X509Certificate does not expose as bytes. */
export interface CertFields {
  subjectNameDer: Buffer;
  extensions: Map<string, { critical: boolean; value: Buffer }>;
}

export function readCertFields(der: Buffer): CertFields {
  const cert = children(fromDer(der, 'certificate'), 'Certificate');
  const tbs = children(cert[0] ?? nul(), 'TBSCertificate');
  const first = tbs[0];
  const hasVersion = first !== undefined && first.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && first.type === 0;
  const base = hasVersion ? 1 : 0;
  const subject = tbs[base + 4];
  if (!subject) throw new PkiError('certificate: TBSCertificate too short');
  const extensions = new Map<string, { critical: boolean; value: Buffer }>();
  for (const node of tbs.slice(base + 6)) {
    if (node.tagClass !== forge.asn1.Class.CONTEXT_SPECIFIC || node.type !== 3) continue;
    const list = children(children(node, 'extensions')[0] ?? nul(), 'Extensions');
    for (const ext of list) {
      const parts = children(ext, 'Extension');
      const id = oidOf(parts[0] ?? nul(), 'extnID');
      const critical = parts.length === 3 && primitiveBytes(parts[1] ?? nul(), 'critical')[0] !== 0;
      const value = primitiveBytes(parts[parts.length - 1] ?? nul(), 'extnValue');
      if (extensions.has(id)) throw new PkiError(`certificate: duplicate extension ${id}`);
      extensions.set(id, { critical, value });
    }
  }
  return { subjectNameDer: toDer(subject), extensions };
}

/** SubjectKeyIdentifier value, if the certificate has one. */
export function subjectKeyIdOf(fields: CertFields): Buffer | undefined {
  const ext = fields.extensions.get(OID.subjectKeyIdentifier);
  return ext ? primitiveBytes(fromDer(ext.value, 'subjectKeyIdentifier'), 'subjectKeyIdentifier') : undefined;
}

/** keyUsage bits as a set of bit numbers, or undefined when the extension is absent. */
export function keyUsageOf(fields: CertFields): Set<number> | undefined {
  const ext = fields.extensions.get(OID.keyUsage);
  if (!ext) return undefined;
  const raw = primitiveBytes(fromDer(ext.value, 'keyUsage'), 'keyUsage');
  const out = new Set<number>();
  for (let i = 1; i < raw.length; i++) {
    for (let b = 0; b < 8; b++) if ((raw[i] ?? 0) & (0x80 >> b)) out.add((i - 1) * 8 + b);
  }
  return out;
}

/** basicConstraints pathLenConstraint, if present. */
export function pathLenOf(fields: CertFields): number | undefined {
  const ext = fields.extensions.get(OID.basicConstraints);
  if (!ext) return undefined;
  const body = children(fromDer(ext.value, 'basicConstraints'), 'BasicConstraints');
  const last = body[body.length - 1];
  if (!last || last.type !== forge.asn1.Type.INTEGER) return undefined;
  return forge.asn1.derToInteger(last.value as string);
}
