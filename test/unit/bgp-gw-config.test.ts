/** gateway.bgp / LNG bgp / enableBgp: parsing, defaults, validation, the plan derived from them. */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../daemon/config.js';
import { bgpPlanFor, routedPrefixesOf } from '../../daemon/bgp-plan.js';
import { kernelBatchLines } from '../../daemon/bgp-routes.js';

const base = (gwBgp: string, lngBgp: string, extra = ''): string => `
gateway:
  name: vnet1-gw
  addressSpace: [10.1.0.0/16]
  publicIpAddress: 192.0.2.1
${gwBgp ? `  bgp: ${gwBgp}\n` : ''}
localNetworkGateways:
  - name: site1
    gatewayIpAddress: 192.0.2.2
    addressPrefixes: [10.2.255.1/32]
${lngBgp ? `    bgp: ${lngBgp}\n` : ''}
connections:
  - { name: vnet1-to-site1, localNetworkGateway: site1, sharedKey: "k", enableBgp: true${extra} }
`;

function problems(text: string): string[] {
  try {
    parseConfig(text);
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

describe('BGP config', () => {
  it("accepts Azure's example and derives the plan", () => {
    const cfg = parseConfig(base('{ asn: 65515, peeringAddress: 10.1.255.30 }', '{ asn: 65050, peeringAddress: 10.2.255.1 }'));
    expect(cfg.gateway.bgp).toEqual({ asn: 65515, peeringAddress: ['10.1.255.30'], holdTime: 180, maxPrefixes: 4000 });
    expect(cfg.connections[0]?.enableBgp).toBe(true);
    const plan = bgpPlanFor(cfg);
    expect(plan).toMatchObject({
      asn: 65515, peeringAddress: '10.1.255.30', originate: ['10.1.0.0/16'],
      peers: [{ connection: 'vnet1-to-site1', localNetworkGateway: 'site1', address: '10.2.255.1', asn: 65050 }],
    });
    expect(plan?.protectedAddresses.sort()).toEqual(['192.0.2.1', '192.0.2.2']);
  });

  it('accepts APIPA peering addresses and implies the peer /32 in the tunnel', () => {
    const cfg = parseConfig(base('{ asn: 65515, peeringAddress: 169.254.21.1 }', '{ asn: 65050, peeringAddress: 169.254.21.2 }').replace('[10.2.255.1/32]', '[]'));
    const lng = cfg.localNetworkGateways[0]!;
    expect(routedPrefixesOf(lng, true)).toEqual(['169.254.21.2/32']);
    expect(routedPrefixesOf(lng, false)).toEqual([]);
  });

  it('enableBgp defaults to false and BGP-less configs keep working', () => {
    const cfg = parseConfig(base('', '').replace(', enableBgp: true', ''));
    expect(cfg.connections[0]?.enableBgp).toBe(false);
    expect(bgpPlanFor(cfg)).toBeUndefined();
  });

  it.each([
    ['{ asn: 0, peeringAddress: 10.1.255.30 }', '{ asn: 65050, peeringAddress: 10.2.255.1 }', 'gateway.bgp.asn: 0 is not a valid ASN'],
    ['{ asn: 4294967296, peeringAddress: 10.1.255.30 }', '{ asn: 65050, peeringAddress: 10.2.255.1 }', 'gateway.bgp.asn: 4294967296 is not a valid ASN'],
    ['{ asn: 23456, peeringAddress: 10.1.255.30 }', '{ asn: 65050, peeringAddress: 10.2.255.1 }', 'AS_TRANS'],
    ['{ asn: 65515, peeringAddress: 10.9.0.1 }', '{ asn: 65050, peeringAddress: 10.2.255.1 }', 'gateway.bgp.peeringAddress: 10.9.0.1 must be inside gateway.addressSpace or APIPA'],
    ['{ asn: 65515, peeringAddress: 169.254.23.1 }', '{ asn: 65050, peeringAddress: 10.2.255.1 }', 'must be inside gateway.addressSpace or APIPA'],
    ['{ asn: 65515, peeringAddress: "10.1.255.30,10.1.255.31" }', '{ asn: 65050, peeringAddress: 10.2.255.1 }', 'two peering addresses need the two HA instances'],
    ['{ asn: 65515, peeringAddress: 10.1.255.30, holdTime: 2 }', '{ asn: 65050, peeringAddress: 10.2.255.1 }', 'gateway.bgp.holdTime: 2 is not a valid hold time'],
    ['{ asn: 65515, peeringAddress: 10.1.255.30 }', '{ asn: 65515, peeringAddress: 10.2.255.1 }', "localNetworkGateways[0].bgp.asn: 65515 is the gateway's own ASN"],
    ['{ asn: 65515, peeringAddress: 10.1.255.30 }', '{ asn: 12076, peeringAddress: 10.2.255.1 }', 'localNetworkGateways[0].bgp.asn: 12076 is a Microsoft public ASN'],
    ['{ asn: 65515, peeringAddress: 10.1.255.30 }', '{ asn: 65050, peeringAddress: 10.1.0.9 }', 'localNetworkGateways[0].bgp.peeringAddress: 10.1.0.9 is inside the VNet address space'],
    ['{ asn: 65515, peeringAddress: 10.1.255.30 }', '{ asn: 65050 }', 'localNetworkGateways[0].bgp.peeringAddress: is required'],
    ['', '{ asn: 65050, peeringAddress: 10.2.255.1 }', 'connections[0].enableBgp: BGP on a connection needs gateway.bgp'],
    ['{ asn: 65515, peeringAddress: 10.1.255.30 }', '', 'connections[0].enableBgp: local network gateway "site1" has no bgp settings'],
  ])('refuses gateway.bgp %s / lng.bgp %s', (gw, lng, want) => {
    const p = problems(base(gw, lng));
    expect(p.join('\n')).toContain(want);
  });

  it('refuses enableBgp with policy-based selectors and duplicate on-premises peering addresses', () => {
    expect(problems(base('{ asn: 65515, peeringAddress: 10.1.255.30 }', '{ asn: 65050, peeringAddress: 10.2.255.1 }', ', usePolicyBasedTrafficSelectors: true')).join('\n'))
      .toContain('BGP needs route-based');
    const two = base('{ asn: 65515, peeringAddress: 10.1.255.30 }', '{ asn: 65050, peeringAddress: 10.2.255.1 }').replace('connections:', `  - name: site2
    gatewayIpAddress: 192.0.2.3
    bgp: { asn: 65051, peeringAddress: 10.2.255.1 }
connections:`);
    expect(problems(two).join('\n')).toContain('localNetworkGateways[1].bgp.peeringAddress: 10.2.255.1 is also localNetworkGateways[0].bgp.peeringAddress');
  });

  it('kernel batch lines use proto bgp and a metric above static routes', () => {
    expect(kernelBatchLines('vgw0', ['10.9.0.0/16'], ['10.8.0.0/16'])).toEqual([
      'route del 10.8.0.0/16 dev vgw0 proto bgp metric 20',
      'route replace 10.9.0.0/16 dev vgw0 proto bgp metric 20',
    ]);
  });
});
