/**
 * Rules that relate several config entries: unique names, LocalNetworkGateway
 * references, address overlaps, one connection per remote address.
 *
 * They run on the raw YAML data (not the schema's output) so they can be
 * reported in the same pass as field errors; anything malformed is skipped
 * here because the schema already reports it.
 */
import { parseIpv4, parseIpv4Cidr, prefixesOverlap, type Ipv4Prefix } from './config-ipv4.js';
import { bgpProblems } from './config-bgp.js';

export interface ConfigProblem {
  /** Field path like "connections[0].ipsecPolicies[0].dhGroup"; "" for the document root. */
  readonly path: string;
  readonly message: string;
}

type Rec = Record<string, unknown>;

function asRecord(v: unknown): Rec | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : undefined;
}
function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function asString(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

interface IndexedPrefix { path: string; prefix: Ipv4Prefix }

function prefixesAt(list: unknown, basePath: string): IndexedPrefix[] {
  const out: IndexedPrefix[] = [];
  asList(list).forEach((item, i) => {
    const text = asString(item);
    if (text === undefined) return;
    const r = parseIpv4Cidr(text);
    if (r.ok) out.push({ path: `${basePath}[${i}]`, prefix: r.prefix });
  });
  return out;
}

/** Reports every repeated `name` in a list, pointing at the later entry and naming the first. */
function duplicateNames(list: unknown[], listPath: string, what: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const firstIndex = new Map<string, number>();
  list.forEach((item, i) => {
    const name = asString(asRecord(item)?.name);
    if (name === undefined) return;
    const first = firstIndex.get(name);
    if (first === undefined) firstIndex.set(name, i);
    else problems.push({ path: `${listPath}[${i}].name`, message: `duplicate ${what} name "${name}" (also ${listPath}[${first}])` });
  });
  return problems;
}

export function crossCheck(raw: unknown): ConfigProblem[] {
  const root = asRecord(raw);
  if (!root) return [];
  const problems: ConfigProblem[] = [];
  const gateway = asRecord(root.gateway);
  const lngs = asList(root.localNetworkGateways);
  const conns = asList(root.connections);

  // The VNet's own prefixes must be disjoint (Azure refuses overlapping address spaces).
  const vnet = prefixesAt(gateway?.addressSpace, 'gateway.addressSpace');
  vnet.forEach((a, i) => {
    for (const b of vnet.slice(0, i)) {
      if (prefixesOverlap(a.prefix, b.prefix)) {
        problems.push({ path: a.path, message: `${a.prefix.cidr} overlaps ${b.path} ${b.prefix.cidr}` });
      }
    }
  });

  problems.push(...duplicateNames(lngs, 'localNetworkGateways', 'local network gateway'));
  problems.push(...duplicateNames(conns, 'connections', 'connection'));

  const publicIp = asString(gateway?.publicIpAddress);
  const lngByName = new Map<string, Rec>();
  lngs.forEach((item, i) => {
    const lng = asRecord(item);
    if (!lng) return;
    const name = asString(lng.name);
    if (name !== undefined && !lngByName.has(name)) lngByName.set(name, lng);
    const base = `localNetworkGateways[${i}]`;
    const gwIp = asString(lng.gatewayIpAddress);
    if (gwIp !== undefined && publicIp !== undefined && parseIpv4(gwIp) !== null && parseIpv4(gwIp) === parseIpv4(publicIp)) {
      problems.push({ path: `${base}.gatewayIpAddress`, message: `${gwIp} is this gateway's own gateway.publicIpAddress` });
    }
    // Traffic for an on-premises prefix inside the VNet could never be routed to the tunnel.
    for (const p of prefixesAt(lng.addressPrefixes, `${base}.addressPrefixes`)) {
      for (const v of vnet) {
        if (prefixesOverlap(p.prefix, v.prefix)) {
          problems.push({ path: p.path, message: `${p.prefix.cidr} overlaps the VNet address space ${v.prefix.cidr} (${v.path})` });
        }
      }
    }
  });

  const connByRemote = new Map<number, number>();
  conns.forEach((item, i) => {
    const conn = asRecord(item);
    if (!conn) return;
    const ref = asString(conn.localNetworkGateway);
    if (ref === undefined) return;
    const lng = lngByName.get(ref);
    if (!lng) {
      const defined = [...lngByName.keys()];
      problems.push({
        path: `connections[${i}].localNetworkGateway`,
        message: `"${ref}" is not defined in localNetworkGateways` + (defined.length ? ` (defined: ${defined.join(', ')})` : ' (none defined)'),
      });
      return;
    }
    // IKE identifies the peer by its address: two connections to one address would be indistinguishable.
    const remote = parseIpv4(asString(lng.gatewayIpAddress) ?? '');
    if (remote === null) return;
    const other = connByRemote.get(remote);
    if (other !== undefined) {
      problems.push({
        path: `connections[${i}].localNetworkGateway`,
        message: `connections[${other}] already connects to ${String(lng.gatewayIpAddress)}; only one connection per remote gateway address is allowed`,
      });
    } else {
      connByRemote.set(remote, i);
    }
  });
  problems.push(...bgpProblems(raw));
  return problems;
}
