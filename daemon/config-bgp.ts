/**
 * BGP part of the gateway config, in Azure's vocabulary (bgpSettings):
 *
 *   gateway:
 *     bgp:
 *       asn: 65515
 *       peeringAddress: 10.1.255.30          # or "10.1.255.30,10.1.255.31" / a list in active-active:
 *                                            #   one per instance, in gateway.instances order
 *       holdTime: 180                        # optional (s; 0 or 3..65535); Azure: 60 s keepalive, 180 s hold
 *       maxPrefixes: 4000                    # optional; Azure drops a session past 4000 prefixes
 *   localNetworkGateways:
 *     - name: site1
 *       addressPrefixes: [10.2.255.1/32]     # only the peer's /32 when BGP is on (optional: it is implied)
 *       bgp: { asn: 65050, peeringAddress: 10.2.255.1 }
 *   connections:
 *     - { name: vnet1-to-site1, localNetworkGateway: site1, enableBgp: true, ... }
 *
 * Peering addresses are either inside the VNet address space (the gateway's)
 * or APIPA (169.254.21.0 .. 169.254.22.255, the range Azure accepts for
 * custom BGP addresses). The schema pieces plug into config-schema.ts; the
 * rules that relate several entries are in `bgpProblems` (run by config-checks.ts).
 */
import { z } from 'zod';
import { parseIpv4, parseIpv4Cidr, prefixContains, type Ipv4Prefix } from './config-ipv4.js';

/** Azure's APIPA range for custom BGP peering addresses on VPN gateways. */
export const APIPA_FIRST = parseIpv4('169.254.21.0') as number;
export const APIPA_LAST = parseIpv4('169.254.22.255') as number;

/**
 * ASNs Azure refuses for on-premises devices (Microsoft public ASNs and Azure-internal
 * private ones). 65515 is Azure's default gateway ASN: fine for gateway.bgp, and for an
 * LNG when the remote site IS an Azure-style gateway (vgwd on both ends), so not refused.
 */
export const AZURE_RESERVED_ASNS: ReadonlyMap<number, string> = new Map([
  [8074, 'a Microsoft public ASN'],
  [8075, 'a Microsoft public ASN'],
  [12076, 'a Microsoft public ASN'],
  [65517, 'reserved by Azure'],
  [65518, 'reserved by Azure'],
  [65519, 'reserved by Azure'],
  [65520, 'reserved by Azure'],
]);
/** RFC 6793 AS_TRANS: a placeholder on the wire, never a real ASN. */
export const AS_TRANS = 23456;
export const DEFAULT_BGP_HOLD_TIME = 180;
export const DEFAULT_BGP_MAX_PREFIXES = 4000;

const asn = z.number()
  .int({ error: (iss) => `${String(iss.input)} must be a whole number` })
  .min(1, { error: (iss) => `${String(iss.input)} is not a valid ASN; allowed 1..4294967295` })
  .max(4294967295, { error: (iss) => `${String(iss.input)} is not a valid ASN; allowed 1..4294967295` })
  .refine((n) => n !== AS_TRANS, { error: '23456 is AS_TRANS (RFC 6793), not usable as an ASN' });

const ipv4 = z.string().refine((s) => parseIpv4(s) !== null, {
  error: (iss) => `${JSON.stringify(iss.input)} is not an IPv4 address`,
});

/** One address, a list, or Azure's comma-separated pair → 1..2 addresses. */
const peeringAddresses = z.union([z.string(), z.array(z.string())])
  .transform((v, ctx): string[] => {
    const list = (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim());
    for (const a of list) {
      if (parseIpv4(a) === null) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(a)} is not an IPv4 address`, input: a });
    }
    if (list.length < 1 || list.length > 2) ctx.addIssue({ code: 'custom', message: 'give one peering address, or two (one per instance) in active-active' });
    if (list.length === 2 && list[0] === list[1]) ctx.addIssue({ code: 'custom', message: 'the two instances need different peering addresses' });
    return list;
  });

const holdTime = z.number().int().refine((n) => n === 0 || (n >= 3 && n <= 65535), {
  error: (iss) => `${String(iss.input)} is not a valid hold time; use 0 or 3..65535 seconds (RFC 4271 §4.2)`,
});

export const gatewayBgpSchema = z.strictObject({
  asn,
  peeringAddress: peeringAddresses,
  holdTime: holdTime.default(DEFAULT_BGP_HOLD_TIME),
  maxPrefixes: z.number().int().min(0, { error: 'must be 0 (no limit) or more' }).default(DEFAULT_BGP_MAX_PREFIXES),
});

export const localNetworkGatewayBgpSchema = z.strictObject({
  asn,
  peeringAddress: ipv4,
});

export const enableBgpSchema = z.boolean({ error: 'must be true or false' }).default(false);

export type GatewayBgpSettings = z.output<typeof gatewayBgpSchema>;
export type LocalNetworkGatewayBgpSettings = z.output<typeof localNetworkGatewayBgpSchema>;

export function isApipa(address: number): boolean {
  return address >= APIPA_FIRST && address <= APIPA_LAST;
}

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function prefixes(v: unknown): Ipv4Prefix[] {
  const out: Ipv4Prefix[] = [];
  for (const p of list(v)) {
    const r = typeof p === 'string' ? parseIpv4Cidr(p) : undefined;
    if (r?.ok) out.push(r.prefix);
  }
  return out;
}

function rawPeeringAddresses(v: unknown): string[] {
  if (typeof v === 'string') return v.split(',').map((s) => s.trim());
  return list(v).filter((x): x is string => typeof x === 'string');
}

/**
 * Cross-entry BGP rules on the raw YAML (malformed fields are the schema's to report):
 * enableBgp needs both ends configured, eBGP only, peering addresses in the right
 * place and unique per on-premises device.
 */
export function bgpProblems(raw: unknown): Array<{ path: string; message: string }> {
  const root = rec(raw);
  if (!root) return [];
  const out: Array<{ path: string; message: string }> = [];
  const gw = rec(root.gateway);
  const gwBgp = rec(gw?.bgp);
  const vnet = prefixes(gw?.addressSpace);
  const gwAsn = typeof gwBgp?.asn === 'number' ? gwBgp.asn : undefined;

  const inVnet = (a: number) => vnet.some((p) => prefixContains(p, a));
  if (gwBgp) {
    rawPeeringAddresses(gwBgp.peeringAddress).forEach((text, i) => {
      const a = parseIpv4(text);
      if (a === null) return;
      if (!inVnet(a) && !isApipa(a)) {
        out.push({ path: 'gateway.bgp.peeringAddress', message: `${text} must be inside gateway.addressSpace or APIPA (169.254.21.0 - 169.254.22.255)` });
      }
      if (i === 1 && !list(gw?.instances).length) {
        out.push({ path: 'gateway.bgp.peeringAddress', message: 'two peering addresses need the two HA instances under gateway.instances' });
      }
    });
  }

  const lngs = list(root.localNetworkGateways);
  const lngByName = new Map<string, { lng: Rec; index: number }>();
  const seenPeer = new Map<number, number>();
  lngs.forEach((item, i) => {
    const lng = rec(item);
    if (!lng) return;
    const name = str(lng.name);
    if (name !== undefined && !lngByName.has(name)) lngByName.set(name, { lng, index: i });
    const b = rec(lng.bgp);
    if (!b) return;
    const base = `localNetworkGateways[${i}].bgp`;
    if (typeof b.asn === 'number') {
      if (gwAsn !== undefined && b.asn === gwAsn) {
        out.push({ path: `${base}.asn`, message: `${b.asn} is the gateway's own ASN; sessions over the tunnels are eBGP and need a different ASN` });
      }
      const reserved = AZURE_RESERVED_ASNS.get(b.asn);
      if (reserved && b.asn !== gwAsn) out.push({ path: `${base}.asn`, message: `${b.asn} is ${reserved}; Azure refuses it for an on-premises device` });
    }
    const peer = parseIpv4(str(b.peeringAddress) ?? '');
    if (peer === null) return;
    if (inVnet(peer)) out.push({ path: `${base}.peeringAddress`, message: `${String(b.peeringAddress)} is inside the VNet address space; it must be on the on-premises side` });
    for (const own of rawPeeringAddresses(gwBgp?.peeringAddress)) {
      if (parseIpv4(own) === peer) out.push({ path: `${base}.peeringAddress`, message: `${own} is the gateway's own peering address` });
    }
    const first = seenPeer.get(peer);
    if (first !== undefined) {
      out.push({ path: `${base}.peeringAddress`, message: `${String(b.peeringAddress)} is also localNetworkGateways[${first}].bgp.peeringAddress; each on-premises BGP device needs its own` });
    } else {
      seenPeer.set(peer, i);
    }
  });

  list(root.connections).forEach((item, i) => {
    const c = rec(item);
    if (!c || c.enableBgp !== true) return;
    const path = `connections[${i}].enableBgp`;
    if (!gwBgp) out.push({ path, message: 'BGP on a connection needs gateway.bgp (asn, peeringAddress)' });
    const ref = lngByName.get(str(c.localNetworkGateway) ?? '');
    if (ref && !rec(ref.lng.bgp)) {
      out.push({ path, message: `local network gateway "${String(ref.lng.name)}" has no bgp settings (asn, peeringAddress)` });
    }
    if (c.usePolicyBasedTrafficSelectors === true || str(gw?.vpnType)?.toLowerCase() === 'policybased') {
      out.push({ path, message: 'BGP needs route-based (any-to-any) traffic selectors: the session and the learned prefixes ride the tunnel' });
    }
  });
  return out;
}
