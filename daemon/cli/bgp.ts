/**
 * `vgw bgp peers [--json]`: every BGP session of the gateway with its state,
 * uptime and prefix counts (received / accepted / advertised), like Azure's
 * Get-AzVirtualNetworkGatewayBgpPeerStatus; `vgw bgp summary [--json]`.
 */
import { Command } from 'commander';
import { controlRequest } from '../control.js';
import { renderPeers, type BgpPeerView, type BgpSummary } from '../bgp-views.js';

export async function bgpPeersCommand(socket: string, json: boolean): Promise<string> {
  const peers = (await controlRequest(socket, 'bgp-peers', {}, 10_000)) as BgpPeerView[];
  return json ? `${JSON.stringify(peers, null, 2)}\n` : renderPeers(peers);
}

export async function bgpSummaryCommand(socket: string, json: boolean): Promise<string> {
  const s = (await controlRequest(socket, 'bgp-summary', {}, 10_000)) as BgpSummary;
  if (json) return `${JSON.stringify(s, null, 2)}\n`;
  return `AS${s.asn} peering address ${s.peeringAddress}: ${s.established}/${s.peers} peers established, ` +
    `${s.routesLearned} networks, ${s.routesInstalled} installed (${s.kernelRoutes} kernel routes${s.kernelErrors ? `, ${s.kernelErrors} kernel errors` : ''})\n`;
}

export function registerBgpCommands(program: Command, out: (t: string) => void, socketOf: (cmd: Command) => string): void {
  const bgp = program.command('bgp').description('BGP sessions over the tunnels');
  bgp.command('peers')
    .description('each BGP peer: state, uptime, prefixes received/accepted/advertised')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => { out(await bgpPeersCommand(socketOf(cmd), opts.json ?? false)); });
  bgp.command('summary')
    .description('ASN, peering address, session and route counts')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => { out(await bgpSummaryCommand(socketOf(cmd), opts.json ?? false)); });
}
