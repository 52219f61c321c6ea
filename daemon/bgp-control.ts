/**
 * Control-socket methods for BGP (merged into control-handlers.ts):
 *
 *   bgp-peers                                  → BgpPeerView[]
 *   bgp-summary                                → BgpSummary
 *   routes-learned    {network?, peer?, limit?} → { total, routes: LearnedRouteView[] }
 *   routes-advertised {peer?, limit?}           → { total, routes: AdvertisedRouteView[] }
 *
 * `network` matches a prefix exactly or, given an address, every prefix containing it.
 * `limit` (default 10000, max 1000000) caps the lines returned; `total` is the full count.
 */
import { ControlError, type ControlHandler } from './control.js';
import { parseIpv4, parseIpv4Cidr } from './config-ipv4.js';
import type { AdvertisedRouteView, BgpPeerView, BgpSummary, LearnedRouteView } from './bgp-views.js';

export interface BgpControlTarget {
  peers(): BgpPeerView[];
  summary(): BgpSummary;
  learnedRoutes(): LearnedRouteView[];
  advertisedRoutes(peer?: string): AdvertisedRouteView[];
}

const DEFAULT_LIMIT = 10_000;
const MAX_LIMIT = 1_000_000;

function params(p: unknown): Record<string, unknown> {
  if (p === undefined || p === null) return {};
  if (typeof p !== 'object' || Array.isArray(p)) throw new ControlError('invalid_params', 'params must be an object');
  return p as Record<string, unknown>;
}

function optionalString(p: Record<string, unknown>, key: string): string | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length > 64) throw new ControlError('invalid_params', `params.${key} must be a string`);
  return v;
}

function limitOf(p: Record<string, unknown>): number {
  const v = p.limit;
  if (v === undefined || v === null) return DEFAULT_LIMIT;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_LIMIT) throw new ControlError('invalid_params', `params.limit must be 1..${MAX_LIMIT}`);
  return v;
}

/** A filter for `network`: an exact prefix, or an address → the prefixes containing it. */
function networkFilter(network: string | undefined): (prefix: string) => boolean {
  if (network === undefined) return () => true;
  if (network.includes('/')) {
    const r = parseIpv4Cidr(network);
    if (!r.ok) throw new ControlError('invalid_params', r.reason);
    return (p) => p === r.prefix.cidr;
  }
  const a = parseIpv4(network);
  if (a === null) throw new ControlError('invalid_params', `${JSON.stringify(network)} is not an IPv4 address or prefix`);
  return (p) => {
    const r = parseIpv4Cidr(p);
    return r.ok && a >= r.prefix.first && a <= r.prefix.last;
  };
}

export function bgpControlHandlers(bgp: () => BgpControlTarget | undefined): Record<string, ControlHandler> {
  const need = (): BgpControlTarget => {
    const b = bgp();
    if (!b) throw new ControlError('not_found', 'BGP is not configured on this gateway (gateway.bgp)');
    return b;
  };
  return {
    'bgp-peers': async () => need().peers(),
    'bgp-summary': async () => need().summary(),
    'routes-learned': async (raw) => {
      const p = params(raw);
      const match = networkFilter(optionalString(p, 'network'));
      const peer = optionalString(p, 'peer');
      const all = need().learnedRoutes().filter((r) => match(r.network) && (peer === undefined || r.sourcePeer === peer));
      return { total: all.length, routes: all.slice(0, limitOf(p)) };
    },
    'routes-advertised': async (raw) => {
      const p = params(raw);
      const match = networkFilter(optionalString(p, 'network'));
      const all = need().advertisedRoutes(optionalString(p, 'peer')).filter((r) => match(r.network));
      return { total: all.length, routes: all.slice(0, limitOf(p)) };
    },
  };
}
