/** daemon/cli/pki.ts: the `vgw pki` actions, called directly and through commander. */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fileStem, pkiInit, pkiIssueClient, pkiIssueGateway, pkiThumbprint, registerPkiCommands } from '../../daemon/cli/pki.js';
import { PkiError, parseRootCertData } from '../../crypto/pki.js';
import { verifyClientChain } from '../../crypto/pki-verify.js';

let dir = '';
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'pki-cli-')); });
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const mode = (p: string): number => statSync(p).mode & 0o777;
const ossl = (...args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });

describe('actions', () => {
  const lines: string[] = [];
  const print = (l: string): void => { lines.push(l); };
  let root: ReturnType<typeof pkiInit>;

  beforeAll(() => {
    root = pkiInit({ name: 'P2SRoot', out: join(dir, 'ca'), keyType: 'ecdsa', days: '365' }, print);
  });

  it('init writes cert 0644 and key 0600 and prints the publicCertData line', () => {
    expect(root.certPath).toBe(join(dir, 'ca', 'P2SRoot.crt.pem'));
    expect(mode(root.keyPath)).toBe(0o600);
    expect(mode(root.certPath)).toBe(0o644);
    expect(lines).toContain(root.publicCertData);
    expect(lines).toContain(`thumbprint ${root.thumbprint}`);
    // the printed line is what goes into the config: it must parse back to this cert
    expect(parseRootCertData(root.publicCertData)).toEqual(new X509Certificate(readFileSync(root.certPath)).raw);
    expect(readFileSync(root.keyPath, 'utf8')).toContain('BEGIN PRIVATE KEY');
  });

  it('init refuses to overwrite an existing CA unless --force, and --force keeps 0600', () => {
    expect(() => pkiInit({ name: 'P2SRoot', out: join(dir, 'ca'), keyType: 'ecdsa' }, print)).toThrow(/already exists/);
    const forced = join(dir, 'forced');
    pkiInit({ name: 'R', out: forced, keyType: 'ecdsa' }, print);
    const keyPath = join(forced, 'R.key.pem');
    writeFileSync(keyPath, 'x', { mode: 0o644 });
    pkiInit({ name: 'R', out: forced, keyType: 'ecdsa', force: true }, print);
    expect(mode(keyPath)).toBe(0o600);
    expect(readFileSync(keyPath, 'utf8')).toContain('BEGIN PRIVATE KEY');
  });

  it('issue-client writes pem, key 0600 and p12 0600; openssl reads the p12 and verifies the cert', () => {
    const r = pkiIssueClient({ name: 'alice', caCert: root.certPath, caKey: root.keyPath, out: join(dir, 'clients'), p12Password: 'pw' }, print);
    expect(mode(r.keyPath)).toBe(0o600);
    expect(mode(r.p12Path)).toBe(0o600);
    expect(mode(r.certPath)).toBe(0o644);
    expect(ossl('pkcs12', '-in', r.p12Path, '-passin', 'pass:pw', '-nodes')).toContain('BEGIN PRIVATE KEY');
    expect(ossl('verify', '-CAfile', root.certPath, r.certPath)).toContain('OK');
    // key type follows the CA's when not given
    expect(new X509Certificate(readFileSync(r.certPath)).publicKey.asymmetricKeyType).toBe('ec');
    const v = verifyClientChain({
      leafDer: new X509Certificate(readFileSync(r.certPath)).raw,
      roots: [parseRootCertData(root.publicCertData)],
      revokedThumbprints: new Set(),
    });
    expect(v).toMatchObject({ ok: true, commonName: 'alice', thumbprint: r.thumbprint });
  });

  it('issue-gateway writes cert + 0600 key with the SANs', () => {
    const r = pkiIssueGateway({ name: 'vpn.example.net', caCert: root.certPath, caKey: root.keyPath, out: join(dir, 'gw'),
      san: ['192.0.2.1'], keyType: 'rsa', rsaBits: 2048 }, print);
    expect(mode(r.keyPath)).toBe(0o600);
    const x = new X509Certificate(readFileSync(r.certPath));
    expect(x.subjectAltName).toBe('DNS:vpn.example.net, IP Address:192.0.2.1');
    expect(x.publicKey.asymmetricKeyType).toBe('rsa');
  });

  it('thumbprint matches openssl for PEM and DER files', () => {
    const derPath = join(dir, 'root.der');
    writeFileSync(derPath, new X509Certificate(readFileSync(root.certPath)).raw);
    const fp = ossl('x509', '-in', root.certPath, '-noout', '-fingerprint', '-sha1');
    const expected = (/=([0-9A-F:]+)/i.exec(fp)?.[1] ?? '').replace(/:/g, '');
    expect(pkiThumbprint(root.certPath, print)).toBe(expected);
    expect(pkiThumbprint(derPath, print)).toBe(expected);
    expect(lines[lines.length - 1]).toBe(expected);
  });

  it.each<[string, () => unknown, RegExp]>([
    ['missing CA key file', () => pkiIssueClient({ name: 'x', caCert: join(dir, 'ca', 'P2SRoot.crt.pem'), caKey: join(dir, 'nope.pem'), out: dir }), /cannot read CA key/],
    ['bad key type', () => pkiInit({ name: 'x', out: dir, keyType: 'dsa' }), /--key-type/],
    ['bad days', () => pkiInit({ name: 'x', out: dir, days: 'ten' }), /--days/],
    ['bad rsa bits', () => pkiInit({ name: 'x', out: dir, rsaBits: '1000' }), /--rsa-bits/],
    ['thumbprint of a non-certificate', () => pkiThumbprint(join(dir, 'ca', 'P2SRoot.key.pem')), /no CERTIFICATE block/],
    ['thumbprint of a missing file', () => pkiThumbprint(join(dir, 'missing.pem')), /cannot read/],
  ])('%s → PkiError', (_l, fn, msg) => {
    expect(fn).toThrow(PkiError);
    expect(fn).toThrow(msg);
  });

  it.each([['alice', 'alice'], ['../../etc/passwd', '__.._etc_passwd'], ['..', '_'], ['John Doe', 'John_Doe'], ['a@b.c', 'a@b.c']])(
    'fileStem(%j) = %j stays inside DIR', (name, stem) => { expect(fileStem(name)).toBe(stem); });
});

describe('commander wiring', () => {
  function program(): { prog: Command; err: string[] } {
    const err: string[] = [];
    const prog = new Command('vgw').exitOverride().configureOutput({ writeErr: (s) => { err.push(s); }, writeOut: () => {} });
    registerPkiCommands(prog);
    return { prog, err };
  }

  it('vgw pki init / issue-client / issue-gateway / thumbprint run end to end', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const d = join(dir, 'cmd');
      await program().prog.parseAsync(['pki', 'init', '--name', 'CmdRoot', '--out', d, '--key-type', 'ecdsa', '--days', '30'], { from: 'user' });
      const ca = ['--ca-cert', join(d, 'CmdRoot.crt.pem'), '--ca-key', join(d, 'CmdRoot.key.pem')];
      await program().prog.parseAsync(['pki', 'issue-client', '--name', 'bob', ...ca, '--out', d, '--p12-password', 'x', '--p12-legacy'], { from: 'user' });
      await program().prog.parseAsync(['pki', 'issue-gateway', '--name', 'gw.example', ...ca, '--out', d, '--san', '10.0.0.1', '--san', 'gw2.example'], { from: 'user' });
      await program().prog.parseAsync(['pki', 'thumbprint', join(d, 'bob.crt.pem')], { from: 'user' });
      for (const f of ['CmdRoot.crt.pem', 'bob.p12', 'bob.key.pem', 'gw.example.crt.pem']) expect(existsSync(join(d, f))).toBe(true);
      expect(mode(join(d, 'bob.p12'))).toBe(0o600);
      expect(new X509Certificate(readFileSync(join(d, 'gw.example.crt.pem'))).subjectAltName)
        .toBe('DNS:gw.example, IP Address:10.0.0.1, DNS:gw2.example');
      const printed = out.mock.calls.map((c) => String(c[0]));
      const tp = pkiThumbprint(join(d, 'bob.crt.pem'), () => {});
      expect(printed).toContain(`${tp}\n`);
    } finally {
      out.mockRestore();
    }
  });

  it('a PKI error becomes "error: ..." with exit code 1, not a stack trace', async () => {
    const { prog, err } = program();
    const run = prog.parseAsync(['pki', 'thumbprint', join(dir, 'does-not-exist.pem')], { from: 'user' });
    await expect(run).rejects.toBeInstanceOf(CommanderError);
    await expect(run).rejects.toMatchObject({ exitCode: 1 });
    expect(err.join('')).toMatch(/^error: cannot read/);
  });

  it('--name is required', async () => {
    const { prog } = program();
    await expect(prog.parseAsync(['pki', 'init'], { from: 'user' })).rejects.toMatchObject({ code: 'commander.missingMandatoryOptionValue' });
  });
});
