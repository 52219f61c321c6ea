/**
 * Certificate chain validation for IKEv2 certificate authentication of
 * point-to-site clients (RFC 7296 §3.6/§3.7, profile of RFC 4945 / RFC 5280).
 *
 * Builds the path leaf → [intermediates] → one trusted root and checks on
 * every link: issuer name/AKI match and signature (node:crypto
 * X509Certificate, so RSA PKCS#1 v1.5, RSA-PSS, ECDSA P-256/P-384 and
 * Ed25519 all work), validity at `now`, basicConstraints CA:TRUE plus
 * keyCertSign and pathLenConstraint on issuers, no unknown critical
 * extension; then the leaf's EKU and revocation by thumbprint.
 *
 * This never throws: malformed input comes back as { ok: false, reason }.
 */
import { createHash, X509Certificate } from 'node:crypto';
import {
  KeyUsageBit, keyUsageOf, OID, pathLenOf, readCertFields, type CertFields,
} from './pki-x509.js';

export type CertPurpose = 'clientAuth' | 'serverAuth' | 'any';

export interface VerifyClientChainInput {
  leafDer: Buffer;
  /** Untrusted intermediates sent by the peer (IKE CERT payloads after the first). */
  intermediatesDer?: Buffer[];
  /** Trust anchors (the config's publicCertData roots), DER. */
  roots: Buffer[];
  /** Revoked client thumbprints, any case/separators (see normalizeThumbprint). */
  revokedThumbprints: Set<string>;
  now?: Date;
  /** EKU the leaf must allow when it has an EKU extension; default clientAuth. */
  purpose?: CertPurpose;
  /** Longest accepted chain including leaf and root; default 6. */
  maxDepth?: number;
}

export type VerifyResult =
  | { ok: true; subject: string; commonName: string | undefined; thumbprint: string; chainThumbprints: string[] }
  | { ok: false; reason: string; thumbprint: string };

/** Extensions this validator understands; an unknown one marked critical fails the chain (RFC 5280 §4.2). */
const UNDERSTOOD_EXTENSIONS = new Set<string>([
  OID.basicConstraints, OID.keyUsage, OID.extKeyUsage, OID.subjectAltName,
  OID.subjectKeyIdentifier, OID.authorityKeyIdentifier,
  '2.5.29.32', // certificatePolicies: no policy constraints are enforced, any policy is acceptable
  '2.5.29.31', // cRLDistributionPoints
  '1.3.6.1.5.5.7.1.1', // authorityInfoAccess
  '2.5.29.18', // issuerAltName
]);

interface Parsed {
  der: Buffer;
  x509: X509Certificate;
  fields: CertFields;
  thumbprint: string;
}

class ChainError extends Error {}

function sha1Hex(der: Buffer): string {
  return createHash('sha1').update(der).digest('hex').toUpperCase();
}

function parse(der: Buffer, what: string): Parsed {
  let x509: X509Certificate;
  let fields: CertFields;
  try {
    x509 = new X509Certificate(der);
    fields = readCertFields(der);
  } catch (e) {
    throw new ChainError(`${what}: malformed certificate (${(e as Error).message})`);
  }
  return { der, x509, fields, thumbprint: sha1Hex(der) };
}

function describe(c: Parsed): string {
  return `"${oneLineSubject(c.x509.subject)}"`;
}

/** node prints "C=XX\nO=org\nCN=name"; logs and identities want one line. */
function oneLineSubject(s: string): string {
  return s.split('\n').filter(Boolean).join(', ');
}

function commonNameOf(subject: string): string | undefined {
  const lines = subject.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? '';
    if (line.startsWith('CN=')) return line.slice(3);
  }
  return undefined;
}

function checkValidity(c: Parsed, now: Date, role: string): void {
  const from = Date.parse(c.x509.validFrom);
  const to = Date.parse(c.x509.validTo);
  if (Number.isNaN(from) || Number.isNaN(to)) throw new ChainError(`${role} ${describe(c)}: unreadable validity dates`);
  if (now.getTime() < from) throw new ChainError(`${role} ${describe(c)} not yet valid (notBefore ${c.x509.validFrom})`);
  if (now.getTime() > to) throw new ChainError(`${role} ${describe(c)} expired (notAfter ${c.x509.validTo})`);
}

function checkCriticalExtensions(c: Parsed, role: string): void {
  for (const [id, ext] of c.fields.extensions) {
    if (ext.critical && !UNDERSTOOD_EXTENSIONS.has(id)) {
      throw new ChainError(`${role} ${describe(c)} has unsupported critical extension ${id}`);
    }
  }
}

/** Issuer rules of RFC 5280 §6.1.4 (k), (l), (n): CA:TRUE, path length, keyCertSign. */
function checkIssuerCapabilities(issuer: Parsed, casBelow: number, role: string): void {
  if (!issuer.x509.ca) throw new ChainError(`${role} ${describe(issuer)} is not a CA (basicConstraints CA:TRUE missing)`);
  const ku = keyUsageOf(issuer.fields);
  if (ku && !ku.has(KeyUsageBit.keyCertSign)) throw new ChainError(`${role} ${describe(issuer)} keyUsage lacks keyCertSign`);
  const pathLen = pathLenOf(issuer.fields);
  if (pathLen !== undefined && casBelow > pathLen) {
    throw new ChainError(`${role} ${describe(issuer)} pathLenConstraint ${pathLen} exceeded`);
  }
}

function checkPurpose(leaf: Parsed, purpose: CertPurpose): void {
  if (purpose === 'any') return;
  const ekus = leaf.x509.keyUsage; // node: the *extended* key usage OIDs; undefined when absent
  if (ekus === undefined || ekus.length === 0) return; // no EKU extension: unrestricted
  const wanted = purpose === 'clientAuth' ? OID.clientAuth : OID.serverAuth;
  if (!ekus.includes(wanted) && !ekus.includes(OID.anyExtendedKeyUsage)) {
    throw new ChainError(`certificate ${describe(leaf)} not allowed for ${purpose} (EKU ${ekus.join(', ')})`);
  }
  const ku = keyUsageOf(leaf.fields);
  if (ku && !ku.has(KeyUsageBit.digitalSignature)) {
    throw new ChainError(`certificate ${describe(leaf)} keyUsage lacks digitalSignature (needed for IKE AUTH)`);
  }
}

/** Candidate issuers of `child`: name/AKI match (checkIssued), trusted roots first. */
function findIssuer(child: Parsed, roots: Parsed[], intermediates: Parsed[]): { issuer: Parsed; trusted: boolean } {
  let nameMatched = false;
  for (const [pool, trusted] of [[roots, true], [intermediates, false]] as const) {
    for (const cand of pool) {
      if (cand === child || !child.x509.checkIssued(cand.x509)) continue; // "child was issued by cand"
      nameMatched = true;
      let good = false;
      try {
        good = child.x509.verify(cand.x509.publicKey);
      } catch {
        good = false;
      }
      if (good) return { issuer: cand, trusted };
    }
  }
  throw new ChainError(nameMatched
    ? `signature of ${describe(child)} does not verify with its issuer's key`
    : `no trusted issuer for ${describe(child)} (issuer "${oneLineSubject(child.x509.issuer)}" unknown)`);
}

function normalizedRevoked(set: Set<string>): Set<string> {
  const out = new Set<string>();
  for (const s of set) out.add(s.replace(/[\s:\-\u200e]/g, '').toUpperCase());
  return out;
}

export function verifyClientChain(input: VerifyClientChainInput): VerifyResult {
  const thumbprint = Buffer.isBuffer(input.leafDer) ? sha1Hex(input.leafDer) : '';
  try {
    const now = input.now ?? new Date();
    const purpose = input.purpose ?? 'clientAuth';
    const maxDepth = input.maxDepth ?? 6;
    if (input.roots.length === 0) throw new ChainError('no trusted root certificates configured');
    const leaf = parse(input.leafDer, 'leaf');
    if (normalizedRevoked(input.revokedThumbprints).has(leaf.thumbprint)) {
      throw new ChainError(`certificate ${describe(leaf)} is revoked (thumbprint ${leaf.thumbprint})`);
    }
    const roots = input.roots.map((d, i) => parse(d, `root #${i + 1}`));
    const intermediates = (input.intermediatesDer ?? []).map((d, i) => parse(d, `intermediate #${i + 1}`));
    if (leaf.x509.ca) throw new ChainError(`certificate ${describe(leaf)} is a CA certificate, not an end entity`);
    checkValidity(leaf, now, 'certificate');
    checkCriticalExtensions(leaf, 'certificate');
    checkPurpose(leaf, purpose);

    const chain: Parsed[] = [leaf];
    for (let current = leaf; ;) {
      if (chain.length >= maxDepth) throw new ChainError(`chain longer than ${maxDepth} certificates`);
      const { issuer, trusted } = findIssuer(current, roots, intermediates);
      const role = trusted ? 'root' : 'intermediate';
      if (chain.includes(issuer)) throw new ChainError(`certificate loop at ${describe(issuer)}`);
      checkValidity(issuer, now, role);
      checkCriticalExtensions(issuer, role);
      checkIssuerCapabilities(issuer, chain.length - 1, role);
      chain.push(issuer);
      if (trusted) break;
      current = issuer;
    }
    return {
      ok: true,
      subject: oneLineSubject(leaf.x509.subject),
      commonName: commonNameOf(leaf.x509.subject),
      thumbprint: leaf.thumbprint,
      chainThumbprints: chain.map((c) => c.thumbprint),
    };
  } catch (e) {
    const reason = e instanceof ChainError ? e.message : `verification error: ${(e as Error).message}`;
    return { ok: false, reason, thumbprint };
  }
}
