/** Export policy table: what each kind of best path looks like towards each kind of peer. */
import { describe, expect, it } from 'vitest';
import { AsPathSegmentType, Origin } from '../../bgp/constants.js';
import { exportAttributes, type ExportTarget } from '../../bgp/export.js';
import type { RibRoute } from '../../bgp/rib.js';
import { encodeUpdate, decodeUpdate } from '../../bgp/update.js';

const seq = (...asns: number[]) => [{ type: AsPathSegmentType.AsSequence, asns }];
const ebgp: ExportTarget = { peerAddress: '198.51.100.1', peerAsn: 65002, localAsn: 65001, localAddress: '198.51.100.2', transit: true };
const ibgp: ExportTarget = { ...ebgp, peerAddress: '10.0.0.2', peerAsn: 65001, localAddress: '10.0.0.1' };

const local: RibRoute = { prefix: '10.200.1.0/24', source: 'local', peer: undefined, attributes: { origin: Origin.Igp, asPath: [], med: 5 }, learnedAt: 0 };
const learned: RibRoute = {
  prefix: '10.66.1.0/24',
  source: '192.0.2.9',
  peer: { address: '192.0.2.9', asn: 65003, routerId: '9.9.9.9', ibgp: false },
  attributes: { origin: Origin.Egp, asPath: seq(65003, 7), nextHop: '192.0.2.9', med: 50, localPref: 300, communities: [0xfde90001], unknown: [{ flags: 0xc0, type: 99, value: Uint8Array.of(1) }, { flags: 0x80, type: 98, value: Uint8Array.of(2) }] },
  learnedAt: 0,
};

describe('exportAttributes', () => {
  it('originated → eBGP: AS_PATH = our ASN, NEXT_HOP = our session address, MED kept', () => {
    expect(exportAttributes(local, ebgp)).toEqual({ origin: Origin.Igp, asPath: seq(65001), nextHop: '198.51.100.2', med: 5 });
  });

  it('learned → eBGP (transit): prepend, next-hop self, MED and LOCAL_PREF dropped, unknown transitive gets Partial', () => {
    const out = exportAttributes(learned, ebgp);
    expect(out).toEqual({
      origin: Origin.Egp,
      asPath: seq(65001, 65003, 7),
      nextHop: '198.51.100.2',
      communities: [0xfde90001],
      unknown: [{ flags: 0xe0, type: 99, value: Uint8Array.of(1) }],
    });
    // and on the wire the Partial bit (0x20) is really set
    const wire = encodeUpdate({ attributes: out ?? {}, nlri: ['10.66.1.0/24'] }, { fourOctetAs: true });
    expect(decodeUpdate(wire, { fourOctetAs: true }).attributes.unknown).toEqual([{ flags: 0xe0, type: 99, value: Uint8Array.of(1) }]);
  });

  it('learned routes are not exported without transit', () => {
    expect(exportAttributes(learned, { ...ebgp, transit: false })).toBeUndefined();
  });

  it('never back to the source peer, never to a peer whose ASN is in the path', () => {
    expect(exportAttributes(learned, { ...ebgp, peerAddress: '192.0.2.9' })).toBeUndefined();
    expect(exportAttributes(learned, { ...ebgp, peerAsn: 7 })).toBeUndefined();
  });

  it('→ iBGP: path unchanged, LOCAL_PREF carried, learned next hop kept; no iBGP → iBGP', () => {
    expect(exportAttributes(learned, ibgp)).toMatchObject({ asPath: seq(65003, 7), nextHop: '192.0.2.9', localPref: 300, med: 50 });
    expect(exportAttributes(local, ibgp)).toMatchObject({ asPath: [], nextHop: '10.0.0.1', localPref: 100 });
    const fromIbgp: RibRoute = { ...learned, source: '10.0.0.3', peer: { address: '10.0.0.3', asn: 65001, routerId: '3.3.3.3', ibgp: true } };
    expect(exportAttributes(fromIbgp, ibgp)).toBeUndefined();
  });
});
