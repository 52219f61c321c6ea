/**
 * `vgw pki ...`: make a point-to-site root CA, issue client and gateway
 * certificates and print thumbprints, Azure P2S style, without openssl.
 *
 * Each command's work is an exported function (pkiInit, pkiIssueClient,
 * pkiIssueGateway, pkiThumbprint) taking plain options and a line printer,
 * so tests run them without spawning a process. Private keys and PKCS#12
 * files are written 0600; existing files are never overwritten without
 * --force.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import type { Command } from 'commander';
import {
  certificateDer, createRootCa, issueClientCert, issueGatewayCert, PkiError, publicCertData, thumbprint,
  type CertAndKey, type EcCurve, type KeySpec, type KeyType, type RsaBits,
} from '../../crypto/pki.js';

/** Where command output goes; tests pass an array collector. */
export type PrintLine = (line: string) => void;
const stdoutLine: PrintLine = (line) => { process.stdout.write(line + '\n'); };

export interface KeyOptions {
  keyType?: string;
  rsaBits?: string | number;
  curve?: string;
}

export interface PkiInitOptions extends KeyOptions {
  name: string;
  out?: string;
  days?: string | number;
  organization?: string;
  force?: boolean;
}

export interface PkiIssueClientOptions extends KeyOptions {
  name: string;
  caCert: string;
  caKey: string;
  out?: string;
  days?: string | number;
  p12Password?: string;
  p12Legacy?: boolean;
  force?: boolean;
}

export interface PkiIssueGatewayOptions extends KeyOptions {
  name: string;
  caCert: string;
  caKey: string;
  out?: string;
  days?: string | number;
  san?: string[];
  force?: boolean;
}

export interface WrittenFiles {
  certPath: string;
  keyPath: string;
  thumbprint: string;
}

const KEY_MODE = 0o600;
const CERT_MODE = 0o644;

function parseKeySpec(o: KeyOptions, fallback: KeyType): KeySpec {
  const keyType = (o.keyType ?? fallback).toLowerCase();
  if (keyType !== 'rsa' && keyType !== 'ecdsa') throw new PkiError(`--key-type must be rsa or ecdsa, got "${o.keyType}"`);
  const spec: KeySpec = { keyType };
  if (o.rsaBits !== undefined) {
    const b = Number(o.rsaBits);
    if (b !== 2048 && b !== 3072 && b !== 4096) throw new PkiError(`--rsa-bits must be 2048, 3072 or 4096, got "${o.rsaBits}"`);
    spec.rsaBits = b as RsaBits;
  }
  if (o.curve !== undefined) {
    const c = o.curve.toUpperCase();
    if (c !== 'P-256' && c !== 'P-384') throw new PkiError(`--curve must be P-256 or P-384, got "${o.curve}"`);
    spec.ecCurve = c as EcCurve;
  }
  return spec;
}

function parseDays(days: string | number | undefined): number | undefined {
  if (days === undefined) return undefined;
  const n = Number(days);
  if (!Number.isInteger(n) || n <= 0) throw new PkiError(`--days must be a positive integer, got "${days}"`);
  return n;
}

/** File name stem for a subject name: keeps it readable, keeps it inside DIR. */
export function fileStem(name: string): string {
  const stem = name.replace(/[^A-Za-z0-9._@-]/g, '_').replace(/^\.+/, '_');
  if (stem === '') throw new PkiError('name gives an empty file name');
  return stem;
}

function writeOut(path: string, data: string | Buffer, mode: number, force: boolean): void {
  try {
    writeFileSync(path, data, { mode, flag: force ? 'w' : 'wx' });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EEXIST') throw new PkiError(`${path} already exists (use --force to overwrite)`);
    throw new PkiError(`cannot write ${path}: ${err.message}`);
  }
  chmodSync(path, mode); // mode above only applies when the file is created
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new PkiError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

function loadCaFiles(certPath: string, keyPath: string): CertAndKey {
  return { certPem: readText(certPath, 'CA certificate'), keyPem: readText(keyPath, 'CA key') };
}

/** Leaf key type defaults to the CA's, so an ECDSA PKI stays ECDSA. */
function caKeyType(ca: CertAndKey): KeyType {
  const cert = new X509Certificate(certificateDer(ca.certPem, 'CA certificate'));
  return cert.publicKey.asymmetricKeyType === 'ec' ? 'ecdsa' : 'rsa';
}

function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new PkiError(`cannot create ${dir}: ${(e as Error).message}`);
  }
}

/** `vgw pki init`: root CA → DIR/<name>.crt.pem + DIR/<name>.key.pem, prints publicCertData. */
export function pkiInit(opts: PkiInitOptions, print: PrintLine = stdoutLine): WrittenFiles & { publicCertData: string } {
  const dir = opts.out ?? '.';
  const days = parseDays(opts.days);
  const ca = createRootCa({
    name: opts.name,
    ...parseKeySpec(opts, 'rsa'),
    ...(days !== undefined ? { days } : {}),
    ...(opts.organization !== undefined ? { organization: opts.organization } : {}),
  });
  ensureDir(dir);
  const stem = fileStem(opts.name);
  const certPath = join(dir, `${stem}.crt.pem`);
  const keyPath = join(dir, `${stem}.key.pem`);
  const force = opts.force ?? false;
  writeOut(keyPath, ca.keyPem, KEY_MODE, force);
  writeOut(certPath, ca.certPem, CERT_MODE, force);
  const data = publicCertData(ca.certPem);
  const tp = thumbprint(ca.certPem);
  print(`wrote ${certPath}`);
  print(`wrote ${keyPath} (mode 0600, keep it offline)`);
  print(`thumbprint ${tp}`);
  print('publicCertData (paste into the gateway config, p2s root certificates):');
  print(data);
  return { certPath, keyPath, thumbprint: tp, publicCertData: data };
}

/** `vgw pki issue-client`: DIR/<name>.crt.pem, .key.pem and .p12. */
export function pkiIssueClient(opts: PkiIssueClientOptions, print: PrintLine = stdoutLine): WrittenFiles & { p12Path: string } {
  const ca = loadCaFiles(opts.caCert, opts.caKey);
  const days = parseDays(opts.days);
  const issued = issueClientCert({
    ca,
    name: opts.name,
    ...parseKeySpec(opts, caKeyType(ca)),
    ...(days !== undefined ? { days } : {}),
    ...(opts.p12Password !== undefined ? { p12Password: opts.p12Password } : {}),
    p12Legacy: opts.p12Legacy ?? false,
  });
  const dir = opts.out ?? '.';
  ensureDir(dir);
  const stem = fileStem(opts.name);
  const certPath = join(dir, `${stem}.crt.pem`);
  const keyPath = join(dir, `${stem}.key.pem`);
  const p12Path = join(dir, `${stem}.p12`);
  const force = opts.force ?? false;
  writeOut(keyPath, issued.keyPem, KEY_MODE, force);
  writeOut(p12Path, issued.p12, KEY_MODE, force);
  writeOut(certPath, issued.certPem, CERT_MODE, force);
  print(`wrote ${certPath}`);
  print(`wrote ${keyPath} (mode 0600)`);
  print(`wrote ${p12Path} (mode 0600${opts.p12Password ? '' : ', no import password'}${opts.p12Legacy ? ', legacy 3DES/SHA-1' : ''})`);
  print(`thumbprint ${issued.thumbprint}`);
  return { certPath, keyPath, p12Path, thumbprint: issued.thumbprint };
}

/** `vgw pki issue-gateway`: DIR/<name>.crt.pem + .key.pem with serverAuth + IKE intermediate EKUs. */
export function pkiIssueGateway(opts: PkiIssueGatewayOptions, print: PrintLine = stdoutLine): WrittenFiles {
  const ca = loadCaFiles(opts.caCert, opts.caKey);
  const days = parseDays(opts.days);
  const issued = issueGatewayCert({
    ca,
    name: opts.name,
    sans: opts.san ?? [],
    ...parseKeySpec(opts, caKeyType(ca)),
    ...(days !== undefined ? { days } : {}),
  });
  const dir = opts.out ?? '.';
  ensureDir(dir);
  const stem = fileStem(opts.name);
  const certPath = join(dir, `${stem}.crt.pem`);
  const keyPath = join(dir, `${stem}.key.pem`);
  const force = opts.force ?? false;
  writeOut(keyPath, issued.keyPem, KEY_MODE, force);
  writeOut(certPath, issued.certPem, CERT_MODE, force);
  print(`wrote ${certPath}`);
  print(`wrote ${keyPath} (mode 0600)`);
  print(`thumbprint ${issued.thumbprint}`);
  return { certPath, keyPath, thumbprint: issued.thumbprint };
}

/** `vgw pki thumbprint FILE`: PEM or DER → uppercase SHA-1 hex. */
export function pkiThumbprint(file: string, print: PrintLine = stdoutLine): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new PkiError(`cannot read ${file}: ${(e as Error).message}`);
  }
  const tp = thumbprint(bytes);
  print(tp);
  return tp;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Runs an action; PKI/file errors become "error: ..." and exit code 1, not a stack trace. */
function guarded<A extends unknown[]>(cmd: Command, fn: (...args: A) => unknown): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (e) {
      if (e instanceof PkiError) cmd.error(`error: ${e.message}`, { exitCode: 1, code: 'vgw.pki' });
      throw e;
    }
  };
}

function addKeyOptions(cmd: Command, defaultHint: string): Command {
  return cmd
    .option('--key-type <type>', `rsa or ecdsa (default: ${defaultHint})`)
    .option('--rsa-bits <bits>', '2048, 3072 or 4096')
    .option('--curve <curve>', 'P-256 or P-384 (ecdsa)');
}

export function registerPkiCommands(program: Command): void {
  const pki = program
    .command('pki')
    .description('PKI for point-to-site clients: root CA, client and gateway certificates, thumbprints');

  const init = addKeyOptions(
    pki.command('init')
      .description('create a root CA; prints its publicCertData (base64 DER) for the gateway config')
      .requiredOption('--name <name>', 'root CA common name, e.g. P2SRoot')
      .option('--out <dir>', 'output directory', '.')
      .option('--days <n>', 'validity in days (default 3650)')
      .option('--organization <o>', 'O= attribute of the subject')
      .option('--force', 'overwrite existing files'),
    'rsa, 3072 bits');
  init.action(guarded(init, (o: PkiInitOptions) => { pkiInit(o); }));

  const client = addKeyOptions(
    pki.command('issue-client')
      .description('issue a client certificate (CN = identity, EKU clientAuth) with a PKCS#12 bundle')
      .requiredOption('--name <name>', 'client identity, e.g. alice or alice@example.com')
      .requiredOption('--ca-cert <file>', 'root CA certificate (PEM)')
      .requiredOption('--ca-key <file>', 'root CA private key (PEM)')
      .option('--out <dir>', 'output directory', '.')
      .option('--days <n>', 'validity in days (default 730)')
      .option('--p12-password <password>', 'PKCS#12 import password (default: empty)')
      .option('--p12-legacy', '3DES/SHA-1 PKCS#12 for older macOS/iOS/Windows importers')
      .option('--force', 'overwrite existing files'),
    "the CA's key type");
  client.action(guarded(client, (o: PkiIssueClientOptions) => { pkiIssueClient(o); }));

  const gateway = addKeyOptions(
    pki.command('issue-gateway')
      .description('issue the gateway certificate (EKU serverAuth + IKE intermediate, SAN DNS/IP)')
      .requiredOption('--name <fqdn-or-ip>', 'gateway FQDN or IP address (CN and first SAN)')
      .requiredOption('--ca-cert <file>', 'CA certificate (PEM)')
      .requiredOption('--ca-key <file>', 'CA private key (PEM)')
      .option('--san <name>', 'extra subjectAltName (DNS or IP), repeatable', collect, [])
      .option('--out <dir>', 'output directory', '.')
      .option('--days <n>', 'validity in days (default 730)')
      .option('--force', 'overwrite existing files'),
    "the CA's key type");
  gateway.action(guarded(gateway, (o: PkiIssueGatewayOptions) => { pkiIssueGateway(o); }));

  const tp = pki.command('thumbprint')
    .description('print the SHA-1 thumbprint (uppercase hex, Azure format) of a PEM or DER certificate')
    .argument('<file>', 'certificate file');
  tp.action(guarded(tp, (file: string) => { pkiThumbprint(file); }));
}
