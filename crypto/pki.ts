/**
 * Point-to-site PKI in the spirit of Azure P2S: an admin makes a root CA,
 * uploads its public data (base64 DER, no PEM armour) into the gateway
 * config, and issues client certificates (CN = user identity, EKU
 * clientAuth) and a gateway certificate (EKU serverAuth + IKE intermediate,
 * SAN DNS/IP) — without openssl recipes.
 *
 * Certificates are built by ./pki-x509.ts (forge.asn1 + node:crypto
 * signing, so RSA and ECDSA issuers work the same) and client identities
 * are packed by ./pki-pkcs12.ts.
 */
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { PkiError } from './pki-errors.js';
import { buildPkcs12 } from './pki-pkcs12.js';
import {
  authorityKeyIdExt, basicConstraintsExt, buildCertificate, encodeName, extKeyUsageExt, generatePrivateKey,
  keyIdentifier, keyUsageExt, OID, privateKeyPem, readCertFields, subjectAltNameExt, subjectKeyIdExt,
  subjectKeyIdOf, type Extension, type GeneralName, type KeySpec, type KeyUsageName,
} from './pki-x509.js';

export { PkiError } from './pki-errors.js';
export type { EcCurve, KeySpec, KeyType, RsaBits } from './pki-x509.js';

export interface CertAndKey {
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
}

export interface RootCaOptions extends KeySpec {
  /** Common name of the root, e.g. "P2SRoot". */
  name: string;
  /** Optional O= attribute. */
  organization?: string;
  /** Validity in days; default 3650. */
  days?: number;
}

export interface ClientCertOptions extends KeySpec {
  ca: CertAndKey;
  /** User identity: becomes CN (and a SAN when it is a DNS name, e-mail or IP). */
  name: string;
  organization?: string;
  /** Validity in days; default 730 (never beyond the CA's own notAfter). */
  days?: number;
  /** PKCS#12 import password; empty when omitted. */
  p12Password?: string;
  /** 3DES/SHA-1 PKCS#12 for older macOS/iOS/Windows importers. */
  p12Legacy?: boolean;
}

export interface IssuedClientCert extends CertAndKey {
  /** PKCS#12 with key, client cert and the CA cert. */
  p12: Buffer;
  thumbprint: string;
}

export interface GatewayCertOptions extends KeySpec {
  ca: CertAndKey;
  /** Gateway FQDN or IP address: CN and first SAN. */
  name: string;
  /** Extra SANs (DNS names or IP addresses). */
  sans?: string[];
  organization?: string;
  /** Validity in days; default 730 (never beyond the CA's own notAfter). */
  days?: number;
}

export interface IssuedGatewayCert extends CertAndKey {
  thumbprint: string;
}

const DAY_MS = 86_400_000;
/** Back-date notBefore a little so a peer with a slow clock does not reject a fresh cert. */
const CLOCK_SKEW_MS = 5 * 60_000;

export function derToPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`;
}

/** All CERTIFICATE blocks of a PEM text, as DER. */
export function pemToDers(pem: string): Buffer[] {
  const out: Buffer[] = [];
  for (const m of pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)) {
    out.push(decodeBase64Strict(m[1] ?? '', 'PEM certificate'));
  }
  return out;
}

function decodeBase64Strict(text: string, what: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0 || compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) {
    throw new PkiError(`${what}: not valid base64`);
  }
  return Buffer.from(compact, 'base64');
}

function parseX509(der: Buffer, what: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (e) {
    throw new PkiError(`${what}: not a valid X.509 certificate (${(e as Error).message})`);
  }
}

/**
 * One certificate as DER from PEM text, a DER Buffer, or a Buffer holding
 * PEM text. Throws PkiError for anything that does not parse as X.509.
 */
export function certificateDer(input: string | Buffer, what = 'certificate'): Buffer {
  let der: Buffer;
  const text = typeof input === 'string' ? input : input.subarray(0, 64).toString('latin1');
  if (text.includes('-----BEGIN')) {
    const first = pemToDers(typeof input === 'string' ? input : input.toString('latin1'))[0];
    if (!first) throw new PkiError(`${what}: PEM has no CERTIFICATE block`);
    der = first;
  } else if (typeof input === 'string') {
    der = decodeBase64Strict(input, what);
  } else {
    der = input;
  }
  parseX509(der, what);
  return der;
}

/**
 * Azure-style certificate thumbprint: SHA-1 of the DER, uppercase hex, no
 * separators. Accepts PEM (string or Buffer), base64 DER or DER.
 */
export function thumbprint(certPemOrDer: string | Buffer): string {
  return createHash('sha1').update(certificateDer(certPemOrDer)).digest('hex').toUpperCase();
}

/** "4a:9d:FE 22…" → "4A9DFE22…"; throws PkiError unless 40 hex digits remain. */
export function normalizeThumbprint(s: string): string {
  const hex = s.replace(/[\s:\-]/g, '').replace(/^\u200e/, '').toUpperCase(); // certmgr copies often carry a LRM mark
  if (!/^[0-9A-F]{40}$/.test(hex)) throw new PkiError(`not a SHA-1 thumbprint (need 40 hex digits): "${s}"`);
  return hex;
}

/**
 * The root's `publicCertData` as Azure shows it: base64 of the DER, no PEM
 * armour, on one line.
 */
export function publicCertData(certPem: string): string {
  return certificateDer(certPem, 'root certificate').toString('base64');
}

/**
 * Reads a root's publicCertData (base64 DER, Azure's format; line breaks
 * allowed) or a full PEM certificate. Returns the DER; PkiError on garbage.
 */
export function parseRootCertData(publicCertDataText: string): Buffer {
  if (typeof publicCertDataText !== 'string' || publicCertDataText.trim() === '') {
    throw new PkiError('publicCertData is empty');
  }
  const der = certificateDer(publicCertDataText, 'publicCertData');
  const cert = parseX509(der, 'publicCertData');
  if (!cert.ca) throw new PkiError('publicCertData: certificate is not a CA (basicConstraints CA:TRUE missing)');
  return der;
}

interface LoadedCa {
  cert: X509Certificate;
  key: KeyObject;
  subjectNameDer: Buffer;
  keyId: Buffer;
  der: Buffer;
}

function loadCa(ca: CertAndKey): LoadedCa {
  const der = certificateDer(ca.certPem, 'CA certificate');
  const cert = parseX509(der, 'CA certificate');
  if (!cert.ca) throw new PkiError('CA certificate is not a CA (basicConstraints CA:TRUE missing)');
  let key: KeyObject;
  try {
    key = createPrivateKey(ca.keyPem);
  } catch (e) {
    throw new PkiError(`CA key: cannot read private key (${(e as Error).message})`);
  }
  if (!cert.checkPrivateKey(key)) throw new PkiError('CA key does not match the CA certificate');
  const fields = readCertFields(der);
  return { cert, key, der, subjectNameDer: fields.subjectNameDer, keyId: subjectKeyIdOf(fields) ?? keyIdentifier(cert.publicKey) };
}

function nameAttrs(cn: string, organization?: string): Array<[string, string]> {
  if (cn.trim() === '') throw new PkiError('name must not be empty');
  if (cn.length > 64) throw new PkiError('name longer than 64 characters (X.520 ub-common-name)');
  return organization ? [[OID.organizationName, organization], [OID.commonName, cn]] : [[OID.commonName, cn]];
}

function validity(days: number | undefined, fallback: number, ca?: LoadedCa): { notBefore: Date; notAfter: Date } {
  const d = days ?? fallback;
  if (!Number.isFinite(d) || d <= 0 || d > 36_500) throw new PkiError(`days must be between 1 and 36500, got ${d}`);
  const now = Date.now();
  let notAfter = new Date(now + d * DAY_MS);
  if (ca) {
    const caEnd = Date.parse(ca.cert.validTo);
    if (caEnd <= now) throw new PkiError(`CA certificate expired on ${ca.cert.validTo}`);
    if (notAfter.getTime() > caEnd) notAfter = new Date(caEnd); // a leaf cannot outlive its issuer
  }
  return { notBefore: new Date(now - CLOCK_SKEW_MS), notAfter };
}

function leafKeyUsage(key: KeyObject): Extension {
  const usages: KeyUsageName[] = ['digitalSignature'];
  if (key.asymmetricKeyType === 'rsa') usages.push('keyEncipherment'); // as Windows' own P2S certs have
  return keyUsageExt(usages);
}

const DNS_NAME = /^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$/;
const EMAIL = /^[^\s@]+@[^\s@]+$/;

function generalName(s: string): GeneralName | undefined {
  if (isIP(s)) return { ip: s };
  if (EMAIL.test(s)) return { email: s };
  if (DNS_NAME.test(s) && s.length <= 253) return { dns: s };
  return undefined;
}

export function createRootCa(opts: RootCaOptions): CertAndKey {
  const key = generatePrivateKey(opts, 3072);
  const name = encodeName(nameAttrs(opts.name, opts.organization));
  const keyId = keyIdentifier(key);
  const der = buildCertificate({
    subjectNameDer: name,
    issuerNameDer: name,
    subjectPublicKey: key,
    signingKey: key,
    ...validity(opts.days, 3650),
    extensions: [
      basicConstraintsExt(true),
      keyUsageExt(['keyCertSign', 'cRLSign']),
      subjectKeyIdExt(keyId),
      authorityKeyIdExt(keyId),
    ],
  });
  return { certPem: derToPem(der), keyPem: privateKeyPem(key) };
}

export function issueClientCert(opts: ClientCertOptions): IssuedClientCert {
  const ca = loadCa(opts.ca);
  const key = generatePrivateKey(opts);
  const san = generalName(opts.name);
  const der = buildCertificate({
    subjectNameDer: encodeName(nameAttrs(opts.name, opts.organization)),
    issuerNameDer: ca.subjectNameDer,
    subjectPublicKey: key,
    signingKey: ca.key,
    ...validity(opts.days, 730, ca),
    extensions: [
      basicConstraintsExt(false),
      leafKeyUsage(key),
      extKeyUsageExt([OID.clientAuth]),
      ...(san ? [subjectAltNameExt([san])] : []),
      subjectKeyIdExt(keyIdentifier(key)),
      authorityKeyIdExt(ca.keyId),
    ],
  });
  const p12 = buildPkcs12(key, [der, ca.der], {
    ...(opts.p12Password !== undefined ? { password: opts.p12Password } : {}),
    friendlyName: opts.name,
    legacy: opts.p12Legacy ?? false,
  });
  return {
    certPem: derToPem(der),
    keyPem: privateKeyPem(key),
    p12,
    thumbprint: createHash('sha1').update(der).digest('hex').toUpperCase(),
  };
}

export function issueGatewayCert(opts: GatewayCertOptions): IssuedGatewayCert {
  const ca = loadCa(opts.ca);
  const names: GeneralName[] = [];
  const seen = new Set<string>();
  for (const s of [opts.name, ...(opts.sans ?? [])]) {
    const gn = generalName(s);
    if (!gn || 'email' in gn) throw new PkiError(`gateway name/SAN must be a DNS name or an IP address: "${s}"`);
    const k = JSON.stringify(gn).toLowerCase();
    if (!seen.has(k)) names.push(gn);
    seen.add(k);
  }
  const key = generatePrivateKey(opts);
  const der = buildCertificate({
    subjectNameDer: encodeName(nameAttrs(opts.name, opts.organization)),
    issuerNameDer: ca.subjectNameDer,
    subjectPublicKey: key,
    signingKey: ca.key,
    ...validity(opts.days, 730, ca),
    extensions: [
      basicConstraintsExt(false),
      leafKeyUsage(key),
      extKeyUsageExt([OID.serverAuth, OID.ikeIntermediate]),
      subjectAltNameExt(names),
      subjectKeyIdExt(keyIdentifier(key)),
      authorityKeyIdExt(ca.keyId),
    ],
  });
  return {
    certPem: derToPem(der),
    keyPem: privateKeyPem(key),
    thumbprint: createHash('sha1').update(der).digest('hex').toUpperCase(),
  };
}
