/**
 * What BGP a gateway instance runs, resolved from the validated config:
 * its ASN and peering address, one eBGP-multihop peer per connection with
 * `enableBgp: true` (the LNG's bgp.peeringAddress, reached through that
 * connection's tunnel), and the prefixes it originates (its address space).
 *
 * The LNG's peering address is routed into the tunnel and made part of the
 * connection's outbound selectors even when the user did not list its /32
 * in addressPrefixes (Azure does the same for APIPA peers).
 */
import type { GatewayConfig, LocalNetworkGateway } from './config-types.js';
import { parseIpv4, parseIpv4Cidr } from './config-ipv4.js';

export interface BgpPeerPlan {
  /** The connection (tunnel) the session runs through. */
  connection: string;
  localNetworkGateway: string;
  address: string;
  asn: number;
}

export interface BgpPlan {
  asn: number;
  /** This instance's peering address; also the router id. */
  peeringAddress: string;
  holdTime: number;
  maxPrefixes: number;
  /** Prefixes we advertise as our own (gateway.addressSpace). */
  originate: string[];
  peers: BgpPeerPlan[];
  /**
   * Addresses a learned route must never capture (tunnel endpoints: routing
   * them into the TUN would cut the tunnels themselves).
   */
  protectedAddresses: string[];
}

/**
 * The plan for one instance (`instanceIndex` into gateway.instances in
 * active-active; a second peering address, if given, belongs to instance 1).
 * Undefined when the gateway has no bgp settings.
 */
export function bgpPlanFor(config: GatewayConfig, instanceIndex = 0): BgpPlan | undefined {
  const bgp = config.gateway.bgp;
  if (!bgp) return undefined;
  const peeringAddress = bgp.peeringAddress[instanceIndex] ?? bgp.peeringAddress[0];
  if (peeringAddress === undefined) return undefined;
  const peers: BgpPeerPlan[] = [];
  for (const c of config.connections) {
    if (!c.enableBgp) continue;
    const lng = config.localNetworkGateways.find((l) => l.name === c.localNetworkGateway);
    if (!lng?.bgp) continue;
    peers.push({ connection: c.name, localNetworkGateway: lng.name, address: lng.bgp.peeringAddress, asn: lng.bgp.asn });
  }
  const endpoints = new Set<string>([config.gateway.publicIpAddress, ...config.localNetworkGateways.map((l) => l.gatewayIpAddress)]);
  for (const i of config.gateway.instances ?? []) if (i.publicIpAddress) endpoints.add(i.publicIpAddress);
  return {
    asn: bgp.asn,
    peeringAddress,
    holdTime: bgp.holdTime,
    maxPrefixes: bgp.maxPrefixes,
    originate: [...config.gateway.addressSpace],
    peers,
    protectedAddresses: [...endpoints],
  };
}

/** The LNG prefixes routed into a connection's tunnel: addressPrefixes plus, with BGP on, the peer's /32. */
export function routedPrefixesOf(lng: LocalNetworkGateway, enableBgp: boolean | undefined): string[] {
  const out = [...lng.addressPrefixes];
  if (enableBgp && lng.bgp) {
    const host = `${lng.bgp.peeringAddress}/32`;
    const a = parseIpv4(lng.bgp.peeringAddress);
    const covered = a !== null && out.some((p) => {
      const r = parseIpv4Cidr(p);
      return r.ok && a >= r.prefix.first && a <= r.prefix.last;
    });
    if (!covered) out.push(host);
  }
  return out;
}
