/** The P2S address pool, and CP payload building/reading (through the real codec). */
import { describe, expect, it } from 'vitest';
import { AddressPool, PoolExhaustedError } from '../../ike/p2s/address-pool.js';
import { buildCfgReply, buildCfgRequest, rangeToSubnets, readCfgReply, readCfgRequest } from '../../ike/exchanges/config-payload.js';
import { decodeCp, encodeCp } from '../../ike/codec/cp.js';
import { ByteWriter } from '../../ike/codec/bytes.js';
import { CfgAttr, CfgType, PayloadType } from '../../ike/constants.js';
import { cidrToRange, rangeToString } from '../../ike/traffic-selectors.js';

describe('AddressPool', () => {
  it.each([
    ['172.16.201.0/24', 254, '172.16.201.1', '172.16.201.254'],
    ['10.9.0.0/30', 2, '10.9.0.1', '10.9.0.2'],
    ['10.9.0.4/31', 2, '10.9.0.4', '10.9.0.5'],
    ['10.9.0.7/32', 1, '10.9.0.7', '10.9.0.7'],
  ])('%s has %i usable addresses from %s to %s', (cidr, size, firstAddr, lastAddr) => {
    const p = new AddressPool([cidr]);
    expect(p.size).toBe(size);
    const got = Array.from({ length: size }, (_, i) => p.allocate(`u${i}`).address);
    expect(got[0]).toBe(firstAddr);
    expect(got[size - 1]).toBe(lastAddr);
    expect(new Set(got).size).toBe(size);
    expect(() => p.allocate('one-too-many')).toThrow(PoolExhaustedError);
  });

  it('is stable per identity while leased and after a release, until the pool needs the address', () => {
    const p = new AddressPool(['10.0.0.0/29']); // 6 addresses
    const a = p.allocate('alice').address;
    expect(p.allocate('alice').address).toBe(a);
    p.release('alice');
    expect(p.leaseOf('alice')).toBeUndefined();
    for (let i = 0; i < 5; i++) p.allocate(`x${i}`);
    expect(p.allocate('alice').address).toBe(a); // still earmarked
    p.release('alice');
    expect(p.allocate('bob').address).toBe(a); // pool dry: reclaimed
    expect(() => p.allocate('alice')).toThrow(PoolExhaustedError);
  });

  it('spans several blocks', () => {
    const p = new AddressPool(['10.0.0.0/30', '10.1.0.0/30']);
    expect([0, 1, 2, 3].map((i) => p.allocate(`u${i}`).address)).toEqual(['10.0.0.1', '10.0.0.2', '10.1.0.1', '10.1.0.2']);
    expect(p.contains('10.1.0.2')).toBe(true);
    expect(p.contains('10.1.0.3')).toBe(false);
  });
});

function roundTrip(p: ReturnType<typeof buildCfgReply>) {
  if (p.type !== PayloadType.CP || !('attributes' in p)) throw new Error('not CP');
  const w = new ByteWriter(64);
  encodeCp(p, w);
  return decodeCp(w.toBuffer(), false);
}

describe('configuration payload', () => {
  it('CFG_REPLY carries address, DNS and subnets and reads back', () => {
    const reply = roundTrip(buildCfgReply({ address: '172.16.201.7', dns: ['10.1.0.53'], subnets: [cidrToRange('10.1.0.0/24'), cidrToRange('10.50.0.0/16')] }));
    expect(reply.cfgType).toBe(CfgType.CFG_REPLY);
    expect(reply.attributes.map((a) => a.type)).toEqual([CfgAttr.INTERNAL_IP4_ADDRESS, CfgAttr.INTERNAL_IP4_DNS, CfgAttr.INTERNAL_IP4_SUBNET, CfgAttr.INTERNAL_IP4_SUBNET]);
    expect(reply.attributes[2]!.value.toString('hex')).toBe('0a010000ffffff00');
    const cfg = readCfgReply(reply);
    expect(cfg).toEqual({ address: '172.16.201.7', dns: ['10.1.0.53'], subnets: [cidrToRange('10.1.0.0/24'), cidrToRange('10.50.0.0/16')] });
  });

  it('a CFG_REQUEST like strongSwan\'s (empty INTERNAL_IP4_ADDRESS) asks for an address', () => {
    const req = roundTrip(buildCfgRequest());
    expect(readCfgRequest(req)).toEqual({ wantsAddress: true, requestedAddress: undefined, wantsDns: true });
    expect(readCfgRequest({ attributes: [{ type: CfgAttr.INTERNAL_IP4_ADDRESS, value: Buffer.from([10, 0, 0, 9]) }] }).requestedAddress).toBe('10.0.0.9');
  });

  it('a reply without an address, or with a non-contiguous netmask, is handled', () => {
    expect(() => readCfgReply({ attributes: [] })).toThrow(/no INTERNAL_IP4_ADDRESS/);
    const cfg = readCfgReply({ attributes: [
      { type: CfgAttr.INTERNAL_IP4_ADDRESS, value: Buffer.from([10, 0, 0, 2]) },
      { type: CfgAttr.INTERNAL_IP4_SUBNET, value: Buffer.from([10, 1, 0, 0, 255, 0, 255, 0]) },
    ] });
    expect(cfg.subnets).toEqual([]);
  });

  it.each([
    ['10.0.0.0', '10.0.0.255', ['10.0.0.0/24']],
    ['10.0.0.1', '10.0.0.6', ['10.0.0.1/32', '10.0.0.2/31', '10.0.0.4/31', '10.0.0.6/32']],
    ['0.0.0.0', '255.255.255.255', ['0.0.0.0/0']],
  ])('range %s-%s as subnets', (start, end, want) => {
    expect(rangeToSubnets({ start, end }).map((s) => rangeToString(cidrToRange(`${s.address}/${32 - Math.log2(2 ** 32 - (s.mask.split('.').reduce((v, o) => v * 256 + Number(o), 0)))}`)))).toEqual(want);
  });
});
