/**
 * Certificates as IKE identities (RFC 7296 §3.5, RFC 4945 §3): which ID we
 * send for a certificate, whether a peer's ID is backed by its certificate,
 * and the CERTREQ key ids of our trust anchors (§3.7: SHA-1 of the
 * SubjectPublicKeyInfo).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { IdType } from '../constants.js';
import { readCertFields } from '../../crypto/pki-x509.js';
import type { IkeIdentity } from './types.js';

interface San { dns: string[]; email: string[]; ip: string[] }

/** node prints "DNS:a, IP Address:1.2.3.4, email:x"; values with ", " inside are quoted (node ≥ 17.3.1). */
function sansOf(cert: X509Certificate): San {
  const out: San = { dns: [], email: [], ip: [] };
  const text = cert.subjectAltName ?? '';
  for (const m of text.matchAll(/(DNS|email|IP Address):("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    const raw = (m[2] ?? '').trim();
    const v = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    if (m[1] === 'DNS') out.dns.push(v.toLowerCase());
    else if (m[1] === 'email') out.email.push(v.toLowerCase());
    else out.ip.push(v);
  }
  return out;
}

function commonName(cert: X509Certificate): string | undefined {
  const lines = cert.subject.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) if (lines[i]?.startsWith('CN=')) return lines[i]!.slice(3);
  return undefined;
}

/** The ID to send for our certificate: SAN DNS, then e-mail, then IPv4, else the subject DN. */
export function identityOfCert(der: Buffer): IkeIdentity {
  const cert = new X509Certificate(der);
  const san = sansOf(cert);
  if (san.dns[0]) return { idType: IdType.FQDN, data: Buffer.from(san.dns[0], 'utf8') };
  if (san.email[0]) return { idType: IdType.RFC822_ADDR, data: Buffer.from(san.email[0], 'utf8') };
  const ip = san.ip.find((a) => isIPv4(a));
  if (ip) return { idType: IdType.IPV4_ADDR, data: Buffer.from(ip.split('.').map(Number)) };
  return { idType: IdType.DER_ASN1_DN, data: readCertFields(der).subjectNameDer };
}

/** An identity given as text: IPv4 → ID_IPV4_ADDR, contains "@" → RFC822, else FQDN. */
export function identityFromText(s: string): IkeIdentity {
  if (isIPv4(s)) return { idType: IdType.IPV4_ADDR, data: Buffer.from(s.split('.').map(Number)) };
  if (s.includes('@')) return { idType: IdType.RFC822_ADDR, data: Buffer.from(s, 'utf8') };
  return { idType: IdType.FQDN, data: Buffer.from(s, 'utf8') };
}

export function identityToString(id: IkeIdentity): string {
  if (id.idType === IdType.IPV4_ADDR && id.data.length === 4) return [...id.data].join('.');
  if (id.idType === IdType.FQDN || id.idType === IdType.RFC822_ADDR) return id.data.toString('utf8');
  if (id.idType === IdType.DER_ASN1_DN) return `DN:${id.data.toString('hex')}`;
  return `type${id.idType}:${id.data.toString('hex')}`;
}

/**
 * True when the certificate vouches for the identity: FQDN/RFC822 against
 * the SAN (or the CN when the certificate has no SAN of that kind), IPv4
 * against SAN IP addresses, a DN byte for byte against the subject.
 */
export function certMatchesIdentity(der: Buffer, id: IkeIdentity): boolean {
  const cert = new X509Certificate(der);
  const san = sansOf(cert);
  switch (id.idType) {
    case IdType.FQDN: {
      const v = id.data.toString('utf8').toLowerCase();
      return san.dns.length > 0 ? san.dns.includes(v) : commonName(cert)?.toLowerCase() === v;
    }
    case IdType.RFC822_ADDR: {
      const v = id.data.toString('utf8').toLowerCase();
      return san.email.length > 0 ? san.email.includes(v) : commonName(cert)?.toLowerCase() === v;
    }
    case IdType.IPV4_ADDR:
      return id.data.length === 4 && san.ip.includes([...id.data].join('.'));
    case IdType.DER_ASN1_DN:
      return readCertFields(der).subjectNameDer.equals(id.data);
    default:
      return false;
  }
}

/** CERTREQ authority entry: SHA-1 of the CA's SubjectPublicKeyInfo (RFC 7296 §3.7). */
export function caKeyId(der: Buffer): Buffer {
  const spki = new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha1').update(spki).digest();
}
