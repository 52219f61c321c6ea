/** Table tests for proposal selection and traffic selector narrowing. */
import { describe, expect, it } from 'vitest';
import { DhGroup, EncrId, IntegId, PrfId, ProtocolId, TransformType } from '../../ike/constants.js';
import type { Proposal } from '../../ike/codec/types.js';
import {
  buildEspProposals, buildIkeProposals, selectEspProposal, selectIkeProposal, suiteFromIkeReply, ikeSuiteAllowed,
} from '../../ike/proposal.js';
import { cidrToRange, narrow, rangeToString, rangeToTs, tsToRanges, ANY_V4 } from '../../ike/traffic-selectors.js';
import { connectionSpecs } from '../../daemon/gateway.js';
import { parseConfig } from '../../daemon/config.js';

const GCM256 = { encr: EncrId.AES_GCM_16, encrKeyBits: 256, integ: IntegId.NONE, prf: PrfId.HMAC_SHA2_256, dh: [DhGroup.CURVE25519, DhGroup.ECP_256] };
const CBC256 = { encr: EncrId.AES_CBC, encrKeyBits: 256, integ: IntegId.HMAC_SHA2_256_128, prf: PrfId.HMAC_SHA2_256, dh: [DhGroup.MODP_2048] };

/** strongSwan's IKE_SA_INIT proposal from the s2s-psk capture: AES-GCM-16-256, PRF-SHA256, Curve25519, no INTEG. */
const strongswanOffer: Proposal[] = [{
  num: 1, protocolId: ProtocolId.IKE, spi: Buffer.alloc(0), transforms: [
    { type: TransformType.ENCR, id: EncrId.AES_GCM_16, keyLength: 256 },
    { type: TransformType.PRF, id: PrfId.HMAC_SHA2_256 },
    { type: TransformType.DH, id: DhGroup.CURVE25519 },
  ],
}];

describe('IKE proposal selection', () => {
  const cases: Array<[string, Proposal[], typeof GCM256[], number | undefined]> = [
    ['strongSwan GCM offer matches our GCM spec', strongswanOffer, [GCM256], DhGroup.CURVE25519],
    ['no common cipher', strongswanOffer, [CBC256], undefined],
    ['GCM with a non-NONE INTEG transform is refused', [{ ...strongswanOffer[0]!, transforms: [...strongswanOffer[0]!.transforms, { type: TransformType.INTEG, id: IntegId.HMAC_SHA2_256_128 }] }], [GCM256], undefined],
    ['key length must match', [{ ...strongswanOffer[0]!, transforms: [{ type: TransformType.ENCR, id: EncrId.AES_GCM_16, keyLength: 128 }, ...strongswanOffer[0]!.transforms.slice(1)] }], [GCM256], undefined],
    ['our own built proposals select themselves', buildIkeProposals([CBC256]), [CBC256], DhGroup.MODP_2048],
    ['ESP proposals are ignored in an IKE SA payload', buildEspProposals([{ encr: EncrId.AES_GCM_16, encrKeyBits: 256, integ: IntegId.NONE, pfs: 0 }], Buffer.alloc(4, 1), false) as Proposal[], [GCM256], undefined],
  ];
  for (const [name, offer, specs, dh] of cases) {
    it(name, () => {
      const r = selectIkeProposal(offer, specs);
      expect(r?.suite.dh).toBe(dh);
    });
  }

  it('the peer KE group order wins among acceptable groups', () => {
    const offer = buildIkeProposals([{ ...GCM256, dh: [DhGroup.ECP_256, DhGroup.CURVE25519] }]);
    expect(selectIkeProposal(offer, [GCM256])?.suite.dh).toBe(DhGroup.ECP_256);
  });

  it('a responder choice outside what we offered is rejected', () => {
    const reply = buildIkeProposals([CBC256])[0]!;
    const suite = suiteFromIkeReply(reply)!;
    expect(ikeSuiteAllowed(suite, [GCM256])).toBe(false);
    expect(ikeSuiteAllowed(suite, [CBC256])).toBe(true);
  });

  it('ESP: a CREATE_CHILD_SA KE group must be listed in the chosen proposal', () => {
    const spi = Buffer.from([1, 2, 3, 4]);
    const pfs = [{ encr: EncrId.AES_GCM_16, encrKeyBits: 128, integ: IntegId.NONE, pfs: DhGroup.ECP_256 }];
    const offer = buildEspProposals(pfs, spi, true);
    expect(selectEspProposal(offer, pfs, DhGroup.ECP_256)?.suite.dh).toBe(DhGroup.ECP_256);
    expect(selectEspProposal(offer, pfs, DhGroup.ECP_384)).toBeUndefined();
    expect(selectEspProposal(buildEspProposals(pfs, spi, false), pfs, undefined)?.suite.dh).toBe(DhGroup.NONE);
  });
});

describe('traffic selectors', () => {
  const r = cidrToRange;
  const cases: Array<[string, string[], string[], string[]]> = [
    ['any narrowed to a prefix', ['0.0.0.0/0'], ['10.2.0.0/16'], ['10.2.0.0/16']],
    ['subset stays', ['10.2.5.0/24'], ['10.2.0.0/16'], ['10.2.5.0/24']],
    ['disjoint is empty', ['10.9.0.0/16'], ['10.2.0.0/16'], []],
    ['two allowed prefixes', ['10.0.0.0/8'], ['10.2.0.0/16', '10.3.0.0/16'], ['10.2.0.0/16', '10.3.0.0/16']],
    ['partial overlap gives a range', ['10.2.0.0/16'], ['10.2.128.0/17', '10.1.0.0/16'], ['10.2.128.0/17']],
  ];
  for (const [name, offered, allowed, want] of cases) {
    it(name, () => {
      expect(narrow(offered.map(r), allowed.map(r)).map(rangeToString)).toEqual(want);
    });
  }

  it('round-trips through the wire form and skips inverted ranges', () => {
    const ts = [rangeToTs(r('10.1.0.0/16')), rangeToTs(ANY_V4)];
    expect(tsToRanges(ts).map(rangeToString)).toEqual(['10.1.0.0/16', '0.0.0.0/0']);
    const bad = { ...rangeToTs(r('10.1.0.0/16')), startAddress: Buffer.from([10, 2, 0, 0]), endAddress: Buffer.from([10, 1, 0, 0]) };
    expect(tsToRanges([bad])).toEqual([]);
    expect(rangeToString({ start: '10.0.0.1', end: '10.0.0.5' })).toBe('10.0.0.1-10.0.0.5');
  });

  it('rejects malformed prefixes', () => {
    for (const bad of ['10.0.0/8', '10.0.0.0/33', '300.1.1.1/8', 'x']) expect(() => cidrToRange(bad)).toThrow();
  });
});

describe('config to IKE connection specs', () => {
  const yaml = (vpnType: string, pbts = false) => `
gateway: { name: g, addressSpace: [10.1.0.0/16], publicIpAddress: 192.0.2.1, vpnType: ${vpnType} }
localNetworkGateways: [{ name: s, gatewayIpAddress: 192.0.2.2, addressPrefixes: [10.2.0.0/16, 10.4.0.0/16] }]
connections: [{ name: c, localNetworkGateway: s, sharedKey: k3y, usePolicyBasedTrafficSelectors: ${pbts} }]
`;
  it('route-based: any-to-any selectors, remote prefixes routed', () => {
    const [c] = connectionSpecs(parseConfig(yaml('RouteBased')));
    expect(c?.localTs.map(rangeToString)).toEqual(['0.0.0.0/0']);
    expect(c?.remoteTs.map(rangeToString)).toEqual(['0.0.0.0/0']);
    expect(c?.remotePrefixes.map(rangeToString)).toEqual(['10.2.0.0/16', '10.4.0.0/16']);
    expect(c?.psk.toString()).toBe('k3y');
  });
  it('policy-based (or usePolicyBasedTrafficSelectors): prefix pairs', () => {
    for (const cfg of [yaml('PolicyBased'), yaml('RouteBased', true)]) {
      const [c] = connectionSpecs(parseConfig(cfg));
      expect(c?.localTs.map(rangeToString)).toEqual(['10.1.0.0/16']);
      expect(c?.remoteTs.map(rangeToString)).toEqual(['10.2.0.0/16', '10.4.0.0/16']);
    }
  });
});
