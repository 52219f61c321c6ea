/**
 * `vgw routes --learned | --advertised [--peer IP] [--network PREFIX|IP] [--limit N] [--json]`:
 * the gateway's BGP routes, like Azure's Get-AzVirtualNetworkGatewayLearnedRoute
 * and Get-AzVirtualNetworkGatewayAdvertisedRoute (network, nextHop, sourcePeer,
 * origin, asPath, weight, localPref), backed by the control methods in
 * daemon/bgp-control.ts.
 */
import { Command } from 'commander';
import { controlRequest } from '../control.js';
import { renderAdvertised, renderLearned, type AdvertisedRouteView, type LearnedRouteView } from '../bgp-views.js';

export interface RoutesOptions { learned?: boolean; advertised?: boolean; peer?: string; network?: string; limit?: string; json?: boolean }

/** Thrown for a usage error the caller reports (exit status 2 like commander's). */
export class RoutesUsageError extends Error {
  override readonly name = 'RoutesUsageError';
}

/** Runs `routes` against a control socket; returns the text to print. */
export async function routesCommand(socket: string, opts: RoutesOptions): Promise<string> {
  if (opts.learned === opts.advertised || (!opts.learned && !opts.advertised)) {
    throw new RoutesUsageError('give exactly one of --learned or --advertised');
  }
  const params: Record<string, unknown> = {};
  if (opts.peer !== undefined) params.peer = opts.peer;
  if (opts.network !== undefined) params.network = opts.network;
  if (opts.limit !== undefined) {
    const n = Number(opts.limit);
    if (!Number.isInteger(n) || n < 1) throw new RoutesUsageError('--limit must be a positive whole number');
    params.limit = n;
  }
  const method = opts.learned ? 'routes-learned' : 'routes-advertised';
  const r = (await controlRequest(socket, method, params, 30_000)) as { total: number; routes: unknown[] };
  if (opts.json) return `${JSON.stringify(r.routes, null, 2)}\n`;
  const text = opts.learned ? renderLearned(r.routes as LearnedRouteView[]) : renderAdvertised(r.routes as AdvertisedRouteView[]);
  return r.total > r.routes.length ? `${text}(${r.routes.length} of ${r.total} shown; use --limit)\n` : text;
}

export function registerRoutesCommand(program: Command, out: (t: string) => void, socketOf: (cmd: Command) => string): void {
  program.command('routes')
    .description('BGP routes: --learned (from peers, with best path and kernel install) or --advertised (to peers)')
    .option('--learned', 'routes learned from the BGP peers (and our own address space)')
    .option('--advertised', 'routes advertised to the BGP peers')
    .option('--peer <ip>', 'only this peer (learned: source peer; advertised: the peer advertised to)')
    .option('--network <prefix|ip>', 'only this prefix, or the prefixes containing this address')
    .option('--limit <n>', 'at most this many lines (default 10000)')
    .option('--json', 'print JSON')
    .action(async (opts: RoutesOptions, cmd: Command) => {
      try {
        out(await routesCommand(socketOf(cmd), opts));
      } catch (e) {
        if (e instanceof RoutesUsageError) cmd.error(`error: ${e.message}`, { exitCode: 2 });
        throw e;
      }
    });
}
