/**
 * Entry points behind `vgw client ...`: run the client in the foreground
 * with its control socket, and write a ready profile for a user on the
 * gateway side.
 */
import { X509Certificate } from 'node:crypto';
import { copyFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import YAML from 'yaml';
import { ControlServer } from '../control.js';
import { createLogger, type Logger } from '../log.js';
import { loadConfig, type LogLevel } from '../config.js';
import { vpnClientConfigurationOf } from '../config-p2s.js';
import { certificateDer, derToPem, pemToDers } from '../../crypto/pki.js';
import { identityOfCert, identityToString } from '../../ike/p2s/cert-identity.js';
import { IdType } from '../../ike/constants.js';

/** A certificate's ID as profile text, when it has a textual form (else the client derives it). */
function textId(der: Buffer): string | undefined {
  const id = identityOfCert(der);
  return id.idType === IdType.DER_ASN1_DN ? undefined : identityToString(id);
}
import { DEFAULT_CLIENT_SOCKET, loadProfile, ProfileError } from './profile.js';
import { VpnClient } from './vpn-client.js';

export interface ConnectOptions {
  profile: string;
  socket?: string;
  logLevel?: LogLevel;
}

/** Runs until SIGTERM/SIGINT; resolves after a clean stop. */
export async function runClient(o: ConnectOptions): Promise<void> {
  const profile = loadProfile(o.profile);
  const log: Logger = createLogger({ level: o.logLevel ?? 'info', name: 'vgw-client' });
  const client = new VpnClient(profile, log);
  const socket = o.socket ?? profile.controlSocket ?? DEFAULT_CLIENT_SOCKET;
  const control = new ControlServer(socket, { status: async () => client.status() }, log.child({ subsys: 'control' }));
  await control.start();
  try {
    await client.start();
  } catch (e) {
    await control.close().catch(() => undefined);
    throw e;
  }
  await new Promise<void>((resolve) => {
    const stop = (): void => { process.off('SIGTERM', stop); process.off('SIGINT', stop); resolve(); };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await client.stop();
  await control.close().catch(() => undefined);
}

export interface ExportProfileOptions {
  /** The gateway's config (for its address, roots and server certificate). */
  config: string;
  /** The user's certificate and key (from `vgw pki issue-client`). */
  cert: string;
  key: string;
  out: string;
  /** CA to trust for the gateway's certificate; default: the root of the gateway certificate among the configured roots. */
  caCert?: string;
  force?: boolean;
}

/** Writes profile.yaml, ca.pem, client.pem and client.key into `out`; returns the profile path. */
export function exportProfile(o: ExportProfileOptions): string {
  const cfg = loadConfig(o.config);
  const p2s = vpnClientConfigurationOf(cfg.gateway);
  if (!p2s) throw new ProfileError(`${o.config}: gateway has no vpnClientConfiguration`);
  const certPath = p2s.serverCertificate.cert;
  const serverPem = readFileSync(isAbsolute(certPath) ? certPath : join(dirname(o.config), certPath), 'utf8');
  const serverDer = pemToDers(serverPem)[0];
  if (!serverDer) throw new ProfileError('gateway server certificate has no PEM block');
  let caPem: string;
  if (o.caCert) caPem = derToPem(certificateDer(readFileSync(o.caCert, 'utf8'), 'CA certificate'));
  else {
    // The root among the configured ones that issued the gateway certificate.
    const server = new X509Certificate(serverDer);
    const root = p2s.vpnClientRootCertificates.map((r) => Buffer.from(r.publicCertData, 'base64'))
      .find((der) => server.checkIssued(new X509Certificate(der)) && server.verify(new X509Certificate(der).publicKey));
    if (!root) throw new ProfileError('the gateway certificate is not issued by a configured root: pass --ca-cert');
    caPem = derToPem(root);
  }
  const clientDer = certificateDer(readFileSync(o.cert, 'utf8'), 'client certificate');
  if (existsSync(join(o.out, 'profile.yaml')) && !o.force) throw new ProfileError(`${join(o.out, 'profile.yaml')} exists (use --force)`);
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, 'ca.pem'), caPem);
  copyFileSync(o.cert, join(o.out, 'client.pem'));
  copyFileSync(o.key, join(o.out, 'client.key'));
  chmodSync(join(o.out, 'client.key'), 0o600);
  const profile = {
    gateway: cfg.gateway.publicIpAddress,
    ...(textId(serverDer) ? { gatewayId: textId(serverDer) } : {}),
    caCert: 'ca.pem',
    clientCert: 'client.pem',
    clientKey: 'client.key',
    ...(textId(clientDer) ? { identity: textId(clientDer) } : {}),
  };
  const path = join(o.out, 'profile.yaml');
  writeFileSync(path, `# vgw client profile for ${basename(o.cert)}; connect with: vgw client connect --profile ${path}\n${YAML.stringify(profile)}`, { mode: 0o600 });
  return path;
}

