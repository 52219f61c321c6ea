/**
 * RIB tests: best-path selection with the recorded reason (table-driven),
 * AS-path loop detection, max-prefix, withdraw-all on peer down, change events,
 * and a 100k-prefix load bound.
 */
import { describe, expect, it } from 'vitest';
import { AsPathSegmentType, Origin } from '../../bgp/constants.js';
import { Rib, compareRoutes, selectBest, type BestPathChange, type BestPathReason, type PeerInfo, type RibRoute } from '../../bgp/rib.js';
import type { PathAttributes } from '../../bgp/attributes.js';

const seq = (...asns: number[]) => [{ type: AsPathSegmentType.AsSequence, asns }];
const P = '10.0.0.0/24';

function peer(address: string, asn: number, routerId = address, ibgp = false): PeerInfo {
  return { address, asn, routerId, ibgp };
}

function route(p: PeerInfo | 'local', attrs: PathAttributes): RibRoute {
  return { prefix: P, source: p === 'local' ? 'local' : p.address, peer: p === 'local' ? undefined : p, attributes: attrs, learnedAt: 0 };
}

const A = peer('192.0.2.1', 65001, '1.1.1.1');
const B = peer('192.0.2.2', 65002, '2.2.2.2');
const B2 = peer('192.0.2.3', 65002, '3.3.3.3');
const I = peer('192.0.2.9', 65000, '0.0.0.9', true);
const base: PathAttributes = { origin: Origin.Igp, asPath: seq(65001), nextHop: '192.0.2.1' };

describe('best-path selection (RFC 4271 §9.1.2.2) records why', () => {
  const cases: [string, RibRoute, RibRoute, BestPathReason][] = [
    ['1 local origin beats anything', route('local', { origin: Origin.Incomplete, asPath: [] }), route(A, { ...base, localPref: 500 }), 'localOrigin'],
    ['2 higher LOCAL_PREF', route(B, { ...base, asPath: seq(65002, 1, 2), localPref: 200 }), route(A, base), 'localPref'],
    ['3 shorter AS_PATH', route(A, base), route(B, { ...base, asPath: seq(65002, 7) }), 'asPathLength'],
    ['4 AS_SET counts as one', route(B, { ...base, asPath: [{ type: AsPathSegmentType.AsSet, asns: [1, 2, 3, 4] }, ...seq(65002)] }), route(A, { ...base, asPath: seq(65001, 5, 6) }), 'asPathLength'],
    ['5 lower ORIGIN', route(B, { ...base, asPath: seq(65002), origin: Origin.Igp }), route(A, { ...base, origin: Origin.Incomplete }), 'origin'],
    ['6 lower MED from the same neighbour AS', route(B2, { ...base, asPath: seq(65002), med: 10 }), route(B, { ...base, asPath: seq(65002), med: 20 }), 'med'],
    ['7 missing MED counts as 0', route(B2, { ...base, asPath: seq(65002) }), route(B, { ...base, asPath: seq(65002), med: 1 }), 'med'],
    ['8 MED ignored across neighbour ASes → router id', route(A, { ...base, med: 99 }), route(B, { ...base, asPath: seq(65002), med: 1 }), 'routerId'],
    ['9 eBGP over iBGP', route(B, { ...base, asPath: seq(65002) }), route(I, { ...base, asPath: seq(65002), localPref: 100 }), 'ebgpOverIbgp'],
    ['10 lowest router id', route(A, base), route(B, { ...base, asPath: seq(65002) }), 'routerId'],
    ['11 lowest peer address', route(peer('192.0.2.4', 65001, '9.9.9.9'), base), route(peer('192.0.2.5', 65001, '9.9.9.9'), base), 'peerAddress'],
  ];
  it.each(cases)('%s', (_name, winner, loser, reason) => {
    expect(compareRoutes(winner, loser)).toMatchObject({ reason });
    expect(compareRoutes(winner, loser).order).toBeLessThan(0);
    expect(compareRoutes(loser, winner).order).toBeGreaterThan(0);
    expect(selectBest([loser, winner])).toEqual({ best: winner, reason });
    expect(selectBest([winner, loser])).toEqual({ best: winner, reason });
  });

  it('single candidate is onlyPath; with three the closest competitor gives the reason', () => {
    const a = route(A, base);
    expect(selectBest([a])?.reason).toBe('onlyPath');
    const lp = route(B, { ...base, asPath: seq(65002), localPref: 50 });
    const rid = route(peer('192.0.2.7', 65001, '7.7.7.7'), base);
    expect(selectBest([lp, rid, a])).toEqual({ best: a, reason: 'routerId' });
  });
});

describe('Rib', () => {
  function setup(max = 4000) {
    const rib = new Rib({ localAsn: 65000, now: () => 0 });
    const events: BestPathChange[] = [];
    rib.subscribe((c) => events.push(...c));
    rib.addPeer(A, max);
    rib.addPeer(B, max);
    return { rib, events };
  }

  it('emits added / changed / removed as the best path moves', () => {
    const { rib, events } = setup();
    rib.applyUpdate(A.address, [P], base, []);
    rib.applyUpdate(B.address, [P], { ...base, asPath: seq(65002), localPref: 200 }, []);
    rib.applyUpdate(B.address, [], {}, [P]);
    rib.applyUpdate(A.address, [], {}, [P]);
    expect(events.map((e) => `${e.kind}:${e.best?.source ?? '-'}:${e.reason ?? '-'}`)).toEqual([
      `added:${A.address}:onlyPath`,
      `changed:${B.address}:localPref`,
      `changed:${A.address}:onlyPath`,
      'removed:-:-',
    ]);
    expect(rib.size).toBe(0);
  });

  it('drops routes whose AS_PATH contains our ASN (loop) and withdraws a previously accepted one', () => {
    const { rib } = setup();
    rib.applyUpdate(A.address, [P], base, []);
    const r = rib.applyUpdate(A.address, [P, '10.0.1.0/24'], { ...base, asPath: seq(65001, 65000, 7) }, []);
    expect(r).toMatchObject({ accepted: 0, looped: 2 });
    expect(rib.best(P)).toBeUndefined();
    expect(rib.peerStats(A.address)).toEqual({ received: 2, accepted: 0 });
  });

  it('max-prefix: an update exceeding the limit is refused as a whole and reported', () => {
    const { rib } = setup(3);
    expect(rib.applyUpdate(A.address, ['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24'], base, []).maxPrefixExceeded).toBeUndefined();
    // re-announcing a known prefix does not count
    expect(rib.applyUpdate(A.address, ['10.0.2.0/24'], base, []).maxPrefixExceeded).toBeUndefined();
    // withdraw + announce in one UPDATE nets out
    expect(rib.applyUpdate(A.address, ['10.0.3.0/24'], base, ['10.0.0.0/24']).maxPrefixExceeded).toBeUndefined();
    const r = rib.applyUpdate(A.address, ['10.0.9.0/24'], base, []);
    expect(r.maxPrefixExceeded).toEqual({ limit: 3, count: 4 });
    expect(rib.best('10.0.9.0/24')).toBeUndefined();
    expect(rib.peerStats(A.address).received).toBe(3);
  });

  it('peerDown withdraws everything from that peer and falls back to the other path', () => {
    const { rib, events } = setup();
    rib.applyUpdate(A.address, [P, '10.0.1.0/24'], base, []);
    rib.applyUpdate(B.address, [P], { ...base, asPath: seq(65002, 1) }, []);
    events.length = 0;
    expect(rib.peerDown(A.address)).toBe(2);
    expect(events.map((e) => `${e.kind}:${e.prefix}`).sort()).toEqual(['changed:10.0.0.0/24', 'removed:10.0.1.0/24']);
    expect(rib.best(P)?.route.source).toBe(B.address);
  });

  it('originated routes win and can be withdrawn', () => {
    const { rib } = setup();
    rib.applyUpdate(A.address, [P], base, []);
    rib.originate([P], { origin: Origin.Igp, asPath: [] });
    expect(rib.best(P)).toMatchObject({ route: { source: 'local' }, reason: 'localOrigin' });
    rib.withdrawLocal([P]);
    expect(rib.best(P)?.route.source).toBe(A.address);
  });

  it('handles 100k prefixes from two peers within a bounded time', () => {
    const { rib } = setup(200_000);
    const prefixes: string[] = [];
    for (let i = 0; i < 100_000; i++) prefixes.push(`10.${(i >> 8) & 255}.${i & 255}.0/24`.replace(/^10\./, `${10 + (i >> 16)}.`));
    const t0 = performance.now();
    for (let i = 0; i < prefixes.length; i += 1000) rib.applyUpdate(A.address, prefixes.slice(i, i + 1000), base, []);
    for (let i = 0; i < prefixes.length; i += 1000) rib.applyUpdate(B.address, prefixes.slice(i, i + 1000), { ...base, asPath: seq(65002, 1) }, []);
    rib.peerDown(A.address);
    const ms = performance.now() - t0;
    expect(rib.size).toBe(100_000);
    expect(rib.best('10.0.5.0/24')?.route.source).toBe(B.address);
    expect(ms).toBeLessThan(5_000);
  });
});
