/**
 * `vgw client ...`: the point-to-site client (connect, status) and, on the
 * gateway side, export-profile.
 */
import type { Command } from 'commander';
import { controlRequest } from '../control.js';
import { DEFAULT_CLIENT_SOCKET } from '../client/profile.js';
import { exportProfile, runClient } from '../client/run.js';
import type { ClientStatus } from '../client/vpn-client.js';
import type { LogLevel } from '../config.js';

function renderClientStatus(s: ClientStatus): string {
  const lines = [
    `gateway ${s.gateway}: ${s.state}`,
    `  address:   ${s.address ?? '-'}`,
    `  routes:    ${s.routes.join(', ') || '-'}`,
    `  dns:       ${s.dns.join(', ') || '-'}`,
  ];
  if (s.ikeSa) lines.push(`  IKE SA:    ${s.ikeSa.spiI}_i ${s.ikeSa.spiR}_r to ${s.ikeSa.remote}, since ${s.ikeSa.establishedAt}`);
  lines.push(`  traffic:   ${s.bytesIn} bytes in, ${s.bytesOut} bytes out; ${s.connects} connect(s)`);
  if (s.lastError) lines.push(`  last error: ${s.lastError}`);
  return `${lines.join('\n')}\n`;
}

export function registerClientCommands(program: Command): void {
  const client = program.command('client').description('point-to-site client (IKEv2, certificate authentication)');
  client.command('connect')
    .description('connect to a gateway and stay connected (foreground; stop with Ctrl-C / SIGTERM)')
    .requiredOption('--profile <file>', 'client profile (YAML: gateway, caCert, clientCert, clientKey)')
    .option('--client-socket <path>', `control socket of the client (default: profile controlSocket or ${DEFAULT_CLIENT_SOCKET})`)
    .option('--log-level <level>', 'fatal | error | warn | info | debug | trace', 'info')
    .action(async (o: { profile: string; clientSocket?: string; logLevel: string }) => {
      await runClient({ profile: o.profile, ...(o.clientSocket ? { socket: o.clientSocket } : {}), logLevel: o.logLevel as LogLevel });
    });
  client.command('status')
    .description('show the state of a running `vgw client connect`')
    .option('--client-socket <path>', 'control socket of the client', DEFAULT_CLIENT_SOCKET)
    .option('--json', 'print JSON')
    .action(async (o: { clientSocket: string; json?: boolean }) => {
      const s = (await controlRequest(o.clientSocket, 'status')) as ClientStatus;
      process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : renderClientStatus(s));
    });
  client.command('export-profile')
    .description('write a ready client profile (profile.yaml + certificates) for a user, from the gateway config')
    .requiredOption('--gateway-config <file>', 'the gateway config with vpnClientConfiguration')
    .requiredOption('--cert <file>', "the user's certificate (vgw pki issue-client)")
    .requiredOption('--key <file>', "the user's private key")
    .requiredOption('--out <dir>', 'output directory')
    .option('--ca-cert <file>', 'CA of the gateway certificate (default: found among the configured roots)')
    .option('--force', 'overwrite an existing profile')
    .action((o: { gatewayConfig: string; cert: string; key: string; out: string; caCert?: string; force?: boolean }) => {
      const path = exportProfile({ config: o.gatewayConfig, cert: o.cert, key: o.key, out: o.out, ...(o.caCert ? { caCert: o.caCert } : {}), force: o.force === true });
      process.stdout.write(`profile written: ${path}\n`);
    });
}
