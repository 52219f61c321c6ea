/**
 * crypto/pki-verify.ts: chains we issue, chains openssl and strongSwan made,
 * and every way a chain must be refused.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRootCa, issueClientCert, issueGatewayCert, parseRootCertData, thumbprint, type CertAndKey, type KeyType,
} from '../../crypto/pki.js';
import { verifyClientChain, type VerifyClientChainInput } from '../../crypto/pki-verify.js';

const der = (pem: string): Buffer => new X509Certificate(pem).raw;
const DAY = 86_400_000;

function verify(over: Partial<VerifyClientChainInput> & Pick<VerifyClientChainInput, 'leafDer' | 'roots'>) {
  return verifyClientChain({ revokedThumbprints: new Set(), ...over });
}

describe.each<[KeyType]>([['rsa'], ['ecdsa']])('our %s chains', (keyType) => {
  let ca: CertAndKey;
  let otherCa: CertAndKey;
  let client: ReturnType<typeof issueClientCert>;
  beforeAll(() => {
    ca = createRootCa({ name: 'P2SRoot', keyType, rsaBits: 2048 });
    otherCa = createRootCa({ name: 'P2SRoot', keyType, rsaBits: 2048 }); // same name, different key
    client = issueClientCert({ ca, name: 'alice', keyType, rsaBits: 2048 });
  });

  it('accepts a client issued by a configured root', () => {
    const r = verify({ leafDer: der(client.certPem), roots: [der(otherCa.certPem), der(ca.certPem)] });
    expect(r).toMatchObject({ ok: true, subject: 'CN=alice', commonName: 'alice', thumbprint: client.thumbprint });
    if (r.ok) expect(r.chainThumbprints).toEqual([client.thumbprint, thumbprint(ca.certPem)]);
  });

  it('refuses a client from another CA, even with the same CA name', () => {
    const r = verify({ leafDer: der(client.certPem), roots: [der(otherCa.certPem)] });
    expect(r).toMatchObject({ ok: false, thumbprint: client.thumbprint });
    if (!r.ok) expect(r.reason).toMatch(/no trusted issuer/); // name matches, AKI/SKI does not
    const stranger = createRootCa({ name: 'Stranger', keyType: 'ecdsa' });
    const r2 = verify({ leafDer: der(client.certPem), roots: [der(stranger.certPem)] });
    expect(r2.ok).toBe(false);
    if (!r2.ok) expect(r2.reason).toMatch(/no trusted issuer/);
  });

  it('refuses a revoked thumbprint in any notation', () => {
    const colons = client.thumbprint.toLowerCase().replace(/(..)(?!$)/g, '$1:');
    for (const t of [client.thumbprint, colons]) {
      const r = verify({ leafDer: der(client.certPem), roots: [der(ca.certPem)], revokedThumbprints: new Set(['00'.repeat(20), t]) });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(/revoked/);
    }
  });

  it('refuses expired and not-yet-valid certificates', () => {
    const later = verify({ leafDer: der(client.certPem), roots: [der(ca.certPem)], now: new Date(Date.now() + 800 * DAY) });
    expect(later.ok).toBe(false);
    if (!later.ok) expect(later.reason).toMatch(/expired/);
    const earlier = verify({ leafDer: der(client.certPem), roots: [der(ca.certPem)], now: new Date(Date.now() - DAY) });
    expect(earlier.ok).toBe(false);
    if (!earlier.ok) expect(earlier.reason).toMatch(/not yet valid/);
  });

  it('refuses a leaf whose root expired (the leaf itself still valid)', () => {
    const shortCa = createRootCa({ name: 'Short', keyType, rsaBits: 2048, days: 1 });
    const leaf = issueClientCert({ ca: shortCa, name: 'x', keyType, rsaBits: 2048, days: 1 });
    expect(verify({ leafDer: der(leaf.certPem), roots: [der(shortCa.certPem)] }).ok).toBe(true);
    const r = verify({ leafDer: der(leaf.certPem), roots: [der(shortCa.certPem)], now: new Date(Date.now() + 2 * DAY) });
    expect(r.ok).toBe(false);
  });

  it('refuses a gateway (serverAuth-only) cert as a client, accepts it for purpose serverAuth', () => {
    const gw = issueGatewayCert({ ca, name: 'vpn.example.net', keyType, rsaBits: 2048 });
    const r = verify({ leafDer: der(gw.certPem), roots: [der(ca.certPem)] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/clientAuth/);
    expect(verify({ leafDer: der(gw.certPem), roots: [der(ca.certPem)], purpose: 'serverAuth' }).ok).toBe(true);
  });

  it('refuses the root itself presented as a client cert', () => {
    const r = verify({ leafDer: der(ca.certPem), roots: [der(ca.certPem)] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/CA certificate/);
  });
});

describe('hostile input never throws', () => {
  const ca = createRootCa({ name: 'R', keyType: 'ecdsa' });
  const leaf = der(issueClientCert({ ca, name: 'x', keyType: 'ecdsa' }).certPem);
  it.each<[string, Partial<VerifyClientChainInput> & Pick<VerifyClientChainInput, 'leafDer' | 'roots'>, RegExp]>([
    ['garbage leaf', { leafDer: Buffer.from('hello'), roots: [der(ca.certPem)] }, /leaf: malformed/],
    ['empty leaf', { leafDer: Buffer.alloc(0), roots: [der(ca.certPem)] }, /leaf: malformed/],
    ['truncated leaf', { leafDer: leaf.subarray(0, 100), roots: [der(ca.certPem)] }, /leaf: malformed/],
    ['garbage root', { leafDer: leaf, roots: [Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01])] }, /root #1: malformed/],
    ['no roots', { leafDer: leaf, roots: [] }, /no trusted root/],
    ['garbage intermediate', { leafDer: leaf, roots: [der(ca.certPem)], intermediatesDer: [Buffer.from('x')] }, /intermediate #1/],
  ])('%s', (_l, input, reason) => {
    const r = verify(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
  it('a tampered signature is refused', () => {
    const bad = Buffer.from(leaf);
    bad[bad.length - 5] = (bad[bad.length - 5] ?? 0) ^ 0x01;
    const r = verify({ leafDer: bad, roots: [der(ca.certPem)] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/signature of "CN=x" does not verify/);
  });
});

describe('openssl-made PKIs', () => {
  let dir = '';
  const cnf = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_ca_len0]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_not_ca]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyCertSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_client_odd_critical]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
1.3.6.1.4.1.99999.1 = critical,ASN1:NULL
`;
  const ossl = (...args: string[]): string =>
    execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  const keyArgs = (kind: string): string[] =>
    kind === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${kind}`];
  const read = (f: string): Buffer => der(readFileSync(join(dir, f), 'utf8'));

  /** Self-signed root: NAME.pem / NAME.key */
  function root(name: string, kind: string, ext = 'v3_ca'): void {
    ossl('req', '-x509', '-new', ...keyArgs(kind), '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`,
      '-days', '30', '-config', 'ossl.cnf', '-extensions', ext, '-subj', `/O=Test/CN=${name}`);
  }
  /** Certificate NAME signed by ISSUER with extension section EXT; extra x509 args (e.g. -sigopt). */
  function issue(name: string, kind: string, issuer: string, ext: string, extra: string[] = []): void {
    ossl('req', '-new', ...keyArgs(kind), '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`,
      '-config', 'ossl.cnf', '-subj', `/O=Test/CN=${name}`);
    ossl('x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`,
      '-set_serial', String(Math.floor(Math.random() * 1e9) + 1), '-days', '10', '-extfile', 'ossl.cnf', '-extensions', ext,
      '-out', `${name}.pem`, ...extra);
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pki-verify-'));
    writeFileSync(join(dir, 'ossl.cnf'), cnf);
    root('rsaroot', 'rsa');
    issue('rsaclient', 'rsa', 'rsaroot', 'v3_client');
    issue('psclient', 'prime256v1', 'rsaroot', 'v3_client', ['-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32']);
    root('ecroot', 'prime256v1');
    issue('ecclient', 'prime256v1', 'ecroot', 'v3_client');
    root('p384root', 'secp384r1');
    issue('p384client', 'rsa', 'p384root', 'v3_client', ['-sha384']);
    issue('inter', 'prime256v1', 'rsaroot', 'v3_ca');
    issue('interclient', 'prime256v1', 'inter', 'v3_client');
    issue('fakeinter', 'prime256v1', 'rsaroot', 'v3_not_ca');
    issue('fakeclient', 'prime256v1', 'fakeinter', 'v3_client');
    root('len0root', 'prime256v1', 'v3_ca_len0');
    issue('len0inter', 'prime256v1', 'len0root', 'v3_ca');
    issue('len0client', 'prime256v1', 'len0inter', 'v3_client');
    issue('oddclient', 'prime256v1', 'ecroot', 'v3_client_odd_critical');
  }, 60_000);
  afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  it.each([
    ['RSA root, RSA client (PKCS#1 v1.5)', 'rsaroot', 'rsaclient'],
    ['RSA root, RSA-PSS signature on an EC client', 'rsaroot', 'psclient'],
    ['P-256 root, P-256 client', 'ecroot', 'ecclient'],
    ['P-384 root (ecdsa-with-SHA384), RSA client', 'p384root', 'p384client'],
  ])('accepts %s, with the root given as base64 DER and as PEM', (_l, rootName, leafName) => {
    const rootPem = readFileSync(join(dir, `${rootName}.pem`), 'utf8');
    for (const rootText of [rootPem, der(rootPem).toString('base64')]) {
      const r = verify({ leafDer: read(`${leafName}.pem`), roots: [parseRootCertData(rootText)] });
      expect(r).toMatchObject({ ok: true, commonName: leafName, subject: `O=Test, CN=${leafName}` });
    }
  });

  it('the PSS case really is RSA-PSS', () => {
    expect(ossl('x509', '-in', 'psclient.pem', '-noout', '-text')).toContain('rsassaPss');
  });

  it('walks an intermediate sent by the peer; refuses when it is missing', () => {
    const roots = [read('rsaroot.pem')];
    expect(verify({ leafDer: read('interclient.pem'), intermediatesDer: [read('inter.pem')], roots }).ok).toBe(true);
    const r = verify({ leafDer: read('interclient.pem'), roots });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/no trusted issuer/);
  });

  it('refuses an issuer without basicConstraints CA:TRUE', () => {
    const r = verify({ leafDer: read('fakeclient.pem'), intermediatesDer: [read('fakeinter.pem')], roots: [read('rsaroot.pem')] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/not a CA/);
  });

  it('enforces pathLenConstraint', () => {
    const r = verify({ leafDer: read('len0client.pem'), intermediatesDer: [read('len0inter.pem')], roots: [read('len0root.pem')] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/pathLenConstraint/);
  });

  it('refuses an unknown critical extension', () => {
    const r = verify({ leafDer: read('oddclient.pem'), roots: [read('ecroot.pem')] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/critical extension 1\.3\.6\.1\.4\.1\.99999\.1/);
  });

  it('our CA + client: openssl verify and verifyClientChain agree', () => {
    const ca = createRootCa({ name: 'OursForOpenssl', keyType: 'rsa', rsaBits: 2048 });
    const c = issueClientCert({ ca, name: 'zed', keyType: 'ecdsa' });
    writeFileSync(join(dir, 'ours-ca.pem'), ca.certPem);
    writeFileSync(join(dir, 'ours-zed.pem'), c.certPem);
    expect(ossl('verify', '-CAfile', 'ours-ca.pem', '-purpose', 'sslclient', 'ours-zed.pem')).toContain('OK');
    expect(verify({ leafDer: der(c.certPem), roots: [der(ca.certPem)] }).ok).toBe(true);
  });
});

describe('strongSwan test PKI (pki --self / --issue)', () => {
  const vec = (f: string): Buffer => der(readFileSync(new URL(`../vectors/pki-strongswan-${f}.cert.pem`, import.meta.url), 'utf8'));
  const now = new Date('2030-06-01T00:00:00Z'); // inside the pinned 2020..2049 validity

  it.each([['client1'], ['gwA'], ['gwB']])('verifies %s against the strongSwan CA', (name) => {
    const r = verify({ leafDer: vec(name), roots: [vec('ca')], now });
    expect(r).toMatchObject({ ok: true, commonName: `${name}.interop.test`, subject: `C=XX, O=io-interop, CN=${name}.interop.test` });
  });

  it('accepts the strongSwan CA as publicCertData and refuses its leaves once revoked', () => {
    const caDer = vec('ca');
    expect(parseRootCertData(caDer.toString('base64'))).toEqual(caDer);
    const revoked = new Set([thumbprint(vec('client1'))]);
    const r = verify({ leafDer: vec('client1'), roots: [caDer], revokedThumbprints: revoked, now });
    expect(r.ok).toBe(false);
  });

  it('refuses strongSwan certs under one of our roots', () => {
    const ours = createRootCa({ name: 'io-interop Root CA', keyType: 'ecdsa' });
    expect(verify({ leafDer: vec('client1'), roots: [der(ours.certPem)], now }).ok).toBe(false);
  });
});
