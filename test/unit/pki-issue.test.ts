/**
 * crypto/pki.ts: the certificates and PKCS#12 files we issue, checked by an
 * independent implementation (the openssl CLI) rather than by our own code.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRootCa, derToPem, issueClientCert, issueGatewayCert, normalizeThumbprint, parseRootCertData, PkiError,
  publicCertData, thumbprint, type CertAndKey, type KeyType,
} from '../../crypto/pki.js';
import { CryptoError } from '../../crypto/errors.js';
import { ipToBytes } from '../../crypto/pki-x509.js';
import { pkcs12Kdf } from '../../crypto/pki-pkcs12.js';

let dir = '';
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'pki-issue-')); });
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 20_000 });
}
/** openssl pkcs12 -info writes the MAC/bag details to stderr. */
function opensslAll(args: string[]): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout + r.stderr;
}
function file(name: string, data: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
}
function certText(pem: string): string {
  return openssl(['x509', '-noout', '-text', '-in', file(`t-${Math.random()}.pem`, pem)]);
}

describe.each<[KeyType]>([['rsa'], ['ecdsa']])('%s PKI checked by openssl', (keyType) => {
  let ca: CertAndKey;
  beforeAll(() => { ca = createRootCa({ name: `P2SRoot-${keyType}`, keyType, rsaBits: 2048, days: 30 }); });

  it('root CA: CA:TRUE critical, keyCertSign+cRLSign, SKI, self-signed', () => {
    const text = certText(ca.certPem);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(text).toMatch(/Subject Key Identifier/);
    expect(text).toContain(`Subject: CN = P2SRoot-${keyType}`);
    expect(text).toContain(keyType === 'rsa' ? 'sha256WithRSAEncryption' : 'ecdsa-with-SHA256');
    const cert = new X509Certificate(ca.certPem);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(ca.keyPem))).toBe(true);
    expect(ca.keyPem).toContain('-----BEGIN PRIVATE KEY-----');
  });

  it('client cert: openssl verify -purpose sslclient, CN, EKU clientAuth, SAN', () => {
    const c = issueClientCert({ ca, name: 'alice', keyType, p12Password: 'pw' });
    const caFile = file(`ca-${keyType}.pem`, ca.certPem);
    const out = openssl(['verify', '-CAfile', caFile, '-purpose', 'sslclient', file(`alice-${keyType}.pem`, c.certPem)]);
    expect(out).toContain(': OK');
    const text = certText(c.certPem);
    expect(text).toContain('Subject: CN = alice');
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication\n/);
    expect(text).toContain('DNS:alice');
    expect(text).toMatch(/Basic Constraints:\s+CA:FALSE/);
    expect(text).toContain('Authority Key Identifier');
    expect(c.thumbprint).toBe(thumbprint(c.certPem));
  });

  it('gateway cert: serverAuth + ikeIntermediate, SAN DNS and IPs, openssl verify -purpose sslserver', () => {
    const g = issueGatewayCert({ ca, name: 'vpn.example.net', keyType, sans: ['192.0.2.1', '2001:db8::1', 'vpn.example.net'] });
    const out = openssl(['verify', '-CAfile', file(`ca-g-${keyType}.pem`, ca.certPem), '-purpose', 'sslserver',
      file(`gw-${keyType}.pem`, g.certPem)]);
    expect(out).toContain(': OK');
    const text = certText(g.certPem);
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication, 1\.3\.6\.1\.5\.5\.8\.2\.2/);
    // the duplicate SAN is dropped
    expect(text).toMatch(/DNS:vpn\.example\.net, IP Address:192\.0\.2\.1, IP Address:2001:DB8:0:0:0:0:0:1\n/);
    const x = new X509Certificate(g.certPem);
    expect(x.checkHost('vpn.example.net')).toBe('vpn.example.net');
    expect(x.checkIP('192.0.2.1')).toBe('192.0.2.1');
  });

  it('openssl pkcs12 reads our p12 without -legacy, key matches cert, CA cert included', () => {
    const c = issueClientCert({ ca, name: 'bob', keyType, p12Password: 's3cret' });
    const p12 = file(`bob-${keyType}.p12`, c.p12);
    const out = openssl(['pkcs12', '-in', p12, '-passin', 'pass:s3cret', '-nodes']);
    expect(out.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(out)?.[0] ?? '';
    expect(new X509Certificate(c.certPem).checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(out).toContain('friendlyName: bob');
    const info = opensslAll(['pkcs12', '-in', p12, '-passin', 'pass:s3cret', '-info', '-noout']);
    expect(info).toContain('MAC: sha256');
    expect(info).toMatch(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC/);
  });

  it('legacy p12 (3DES, SHA-1 MAC) also reads without -legacy', () => {
    const c = issueClientCert({ ca, name: 'carol', keyType, p12Password: 'pw', p12Legacy: true });
    const p12 = file(`carol-${keyType}.p12`, c.p12);
    const info = opensslAll(['pkcs12', '-in', p12, '-passin', 'pass:pw', '-info', '-nodes']);
    expect(info).toContain('MAC: sha1');
    expect(info).toContain('pbeWithSHA1And3-KeyTripleDES-CBC');
    expect(info).toContain('BEGIN PRIVATE KEY');
  });

  it('p12 with no password opens with an empty one; a wrong password is refused', () => {
    const c = issueClientCert({ ca, name: 'dave', keyType });
    const p12 = file(`dave-${keyType}.p12`, c.p12);
    expect(openssl(['pkcs12', '-in', p12, '-passin', 'pass:', '-nodes'])).toContain('BEGIN PRIVATE KEY');
    expect(() => openssl(['pkcs12', '-in', p12, '-passin', 'pass:wrong', '-nodes'])).toThrow(/mac verify/i);
  });

  it('thumbprint equals openssl x509 -fingerprint -sha1 (PEM and DER input)', () => {
    const pemFile = file(`fp-${keyType}.pem`, ca.certPem);
    const fp = openssl(['x509', '-in', pemFile, '-noout', '-fingerprint', '-sha1']);
    const expected = /Fingerprint=([0-9A-F:]+)/i.exec(fp)?.[1]?.replace(/:/g, '') ?? 'missing';
    expect(thumbprint(ca.certPem)).toBe(expected);
    const der = new X509Certificate(ca.certPem).raw;
    expect(thumbprint(der)).toBe(expected);
    expect(thumbprint(Buffer.from(ca.certPem))).toBe(expected);
  });

  it('publicCertData round-trips through parseRootCertData', () => {
    const data = publicCertData(ca.certPem);
    expect(data).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(parseRootCertData(data)).toEqual(new X509Certificate(ca.certPem).raw);
  });
});

describe('issuing from a P-384 CA', () => {
  it('signs with ecdsa-with-SHA384 and openssl verifies', () => {
    const ca = createRootCa({ name: 'P384Root', keyType: 'ecdsa', ecCurve: 'P-384' });
    const c = issueClientCert({ ca, name: 'eve@example.com', keyType: 'rsa', rsaBits: 2048 });
    expect(certText(c.certPem)).toContain('ecdsa-with-SHA384');
    expect(certText(c.certPem)).toContain('email:eve@example.com');
    expect(openssl(['verify', '-CAfile', file('p384.pem', ca.certPem), file('eve.pem', c.certPem)])).toContain(': OK');
  });
});

describe('issuing refuses bad input with PkiError', () => {
  const ca = createRootCa({ name: 'R', keyType: 'ecdsa' });
  const other = createRootCa({ name: 'O', keyType: 'ecdsa' });
  it.each<[string, () => unknown, RegExp]>([
    ['CA key that is not the CA cert key', () => issueClientCert({ ca: { certPem: ca.certPem, keyPem: other.keyPem }, name: 'x', keyType: 'ecdsa' }), /does not match/],
    ['leaf cert used as CA', () => {
      const leaf = issueClientCert({ ca, name: 'x', keyType: 'ecdsa' });
      return issueClientCert({ ca: { certPem: leaf.certPem, keyPem: leaf.keyPem }, name: 'y', keyType: 'ecdsa' });
    }, /not a CA/],
    ['garbage CA key', () => issueClientCert({ ca: { certPem: ca.certPem, keyPem: 'nope' }, name: 'x', keyType: 'ecdsa' }), /CA key/],
    ['empty name', () => issueClientCert({ ca, name: ' ', keyType: 'ecdsa' }), /empty/],
    ['gateway name with spaces', () => issueGatewayCert({ ca, name: 'not a host', keyType: 'ecdsa' }), /DNS name or an IP/],
    ['bad RSA size', () => createRootCa({ name: 'x', keyType: 'rsa', rsaBits: 1024 as 2048 }), /RSA size/],
    ['bad key type', () => createRootCa({ name: 'x', keyType: 'dsa' as KeyType }), /key type/],
    ['zero days', () => createRootCa({ name: 'x', keyType: 'ecdsa', days: 0 }), /days/],
  ])('%s', (_label, fn, msg) => {
    expect(fn).toThrow(PkiError);
    expect(fn).toThrow(msg);
  });
  it('PkiError is a CryptoError', () => { expect(new PkiError('x')).toBeInstanceOf(CryptoError); });
  it('a leaf never outlives its CA', () => {
    const shortCa = createRootCa({ name: 'Short', keyType: 'ecdsa', days: 2 });
    const c = issueClientCert({ ca: shortCa, name: 'x', keyType: 'ecdsa', days: 365 });
    expect(Date.parse(new X509Certificate(c.certPem).validTo)).toBeLessThanOrEqual(Date.parse(new X509Certificate(shortCa.certPem).validTo));
  });
});

describe('normalizeThumbprint', () => {
  const tp = '4A9DFE220518494274C76E79CE0A2FD2D552F8B0';
  it.each([
    [tp],
    [tp.toLowerCase()],
    ['4A:9D:FE:22:05:18:49:42:74:C7:6E:79:CE:0A:2F:D2:D5:52:F8:B0'],
    ['4a 9d fe 22 05 18 49 42 74 c7 6e 79 ce 0a 2f d2 d5 52 f8 b0'],
    ['\u200e4a9dfe220518494274c76e79ce0a2fd2d552f8b0'],
  ])('accepts %j', (s) => { expect(normalizeThumbprint(s)).toBe(tp); });
  it.each([[''], ['4A9D'], [tp + '00'], ['G' + tp.slice(1)]])('refuses %j', (s) => {
    expect(() => normalizeThumbprint(s)).toThrow(PkiError);
  });
});

describe('parseRootCertData', () => {
  const ca = createRootCa({ name: 'ParseRoot', keyType: 'ecdsa' });
  const der = new X509Certificate(ca.certPem).raw;
  it.each<[string, string]>([
    ['base64 DER on one line (Azure)', der.toString('base64')],
    ['base64 DER wrapped at 64 columns', der.toString('base64').replace(/.{64}/g, '$&\n')],
    ['PEM', ca.certPem],
    ['PEM with CRLF and surrounding text', `subject=CN=x\r\n${ca.certPem.replace(/\n/g, '\r\n')}`],
  ])('accepts %s', (_l, text) => { expect(parseRootCertData(text)).toEqual(der); });
  it.each<[string, string, RegExp]>([
    ['empty', '', /empty/],
    ['not base64', 'hello world!', /base64/],
    ['base64 of garbage', Buffer.from('definitely not a certificate').toString('base64'), /not a valid X\.509/],
    ['truncated DER', der.subarray(0, der.length - 10).toString('base64'), /not a valid X\.509/],
    ['PEM key instead of cert', ca.keyPem, /no CERTIFICATE block/],
    ['a leaf (not a CA)', issueClientCert({ ca, name: 'leaf', keyType: 'ecdsa' }).certPem, /not a CA/],
  ])('refuses %s', (_l, text, msg) => {
    expect(() => parseRootCertData(text)).toThrow(PkiError);
    expect(() => parseRootCertData(text)).toThrow(msg);
  });
  it('round-trips through derToPem', () => { expect(parseRootCertData(derToPem(der))).toEqual(der); });
});

describe('ipToBytes', () => {
  it.each<[string, string]>([
    ['192.0.2.1', 'c0000201'],
    ['::', '0'.repeat(32)],
    ['::1', '0'.repeat(31) + '1'],
    ['2001:db8::1', '20010db8' + '0'.repeat(23) + '1'],
    ['fe80::1:2', 'fe80' + '0'.repeat(20) + '00010002'],
    ['2001:db8:1:2:3:4:5:6', '20010db8000100020003000400050006'],
    ['::ffff:192.0.2.1', '0'.repeat(20) + 'ffffc0000201'],
  ])('%s', (ip, hex) => { expect(ipToBytes(ip).toString('hex')).toBe(hex); });
  it('refuses a non-IP', () => { expect(() => ipToBytes('vpn.example')).toThrow(PkiError); });
});

describe('pkcs12Kdf', () => {
  it('is deterministic, id-separated and length-exact (multi-block output)', () => {
    const pw = Buffer.from('0073006d006500670000', 'hex'); // BMPString "smeg"
    const salt = Buffer.from('0a58cf64530d823f', 'hex');
    const k1 = pkcs12Kdf('sha1', pw, salt, 1, 1, 24);
    expect(k1).toHaveLength(24);
    expect(pkcs12Kdf('sha1', pw, salt, 1, 1, 24)).toEqual(k1);
    expect(pkcs12Kdf('sha1', pw, salt, 2, 1, 24)).not.toEqual(k1);
    // Known answer from the OpenSSL/BouncyCastle PKCS#12 KDF test set ("smeg", salt 0A58CF64530D823F, id 1, 1 iteration).
    expect(k1.toString('hex').toUpperCase()).toBe('8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3');
  });
});
