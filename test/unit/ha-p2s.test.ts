/**
 * Point-to-site state across an HA failover: the pool adopting a partner's
 * lease, and the `p2s` part of the replicated IKE SA record.
 */
import { describe, expect, it } from 'vitest';
import { AddressPool, PoolConflictError } from '../../ike/p2s/address-pool.js';
import { decodeFrameBody, deriveLinkKey, encodeFrame, type HaMessage, type IkeRecord, type P2sClientRecord } from '../../ha/messages.js';

describe('AddressPool.adopt (HA takeover of a lease)', () => {
  const cases: Array<[string, (p: AddressPool) => void, string, string, RegExp | null]> = [
    ['a free address', () => undefined, 'alice', '172.16.201.7', null],
    ['the identity\'s own lease again (idempotent)', (p) => p.adopt('alice', '172.16.201.7'), 'alice', '172.16.201.7', null],
    ['an address earmarked for someone who left', (p) => { p.adopt('bob', '172.16.201.7'); p.release('bob'); }, 'alice', '172.16.201.7', null],
    ['an address leased to another client', (p) => p.adopt('bob', '172.16.201.7'), 'alice', '172.16.201.7', /already leased/],
    ['an address outside the pool', () => undefined, 'alice', '10.0.0.1', /not in the address pool/],
    ['the network address of the block', () => undefined, 'alice', '172.16.201.0', /not in the address pool/],
  ];
  for (const [name, setup, who, addr, err] of cases) {
    it(name, () => {
      const p = new AddressPool(['172.16.201.0/24']);
      setup(p);
      if (err) {
        expect(() => p.adopt(who, addr)).toThrow(PoolConflictError);
        expect(() => p.adopt(who, addr)).toThrow(err);
        return;
      }
      p.adopt(who, addr);
      expect(p.leaseOf(who)).toBe(addr);
      expect(p.allocate(who).address).toBe(addr);
    });
  }

  it('an adopted address is never handed to a new client, and moves with a re-adopt', () => {
    const p = new AddressPool(['172.16.201.0/30']); // .1 and .2
    p.adopt('alice', '172.16.201.1');
    expect(p.allocate('bob').address).toBe('172.16.201.2');
    expect(() => p.allocate('carol')).toThrow(/exhausted/);
    p.release('bob');
    p.adopt('alice', '172.16.201.2'); // the partner re-leased alice elsewhere
    expect(p.leaseOf('alice')).toBe('172.16.201.2');
    expect(p.allocate('carol').address).toBe('172.16.201.1');
  });
});

describe('HA ike record with a point-to-site client', () => {
  const key = deriveLinkKey('gw', ['k']);
  const client: P2sClientRecord = {
    identity: 'alice.p2s.test', address: '172.16.201.2', thumbprint: 'AB12', subject: 'CN=alice', leafDer: '3082', intermediatesDer: [],
    connectedMs: 1, localTs: [{ start: '10.1.0.0', end: '10.1.0.255' }],
  };
  const sa: IkeRecord = {
    conn: 'point-to-site', initiator: false, spiI: '0011223344556677', spiR: '8899aabbccddeeff', remote: { address: '192.0.2.50', port: 4500 },
    localPort: 4500, suite: { encr: 20, encrKeyBits: 256, integ: 0, prf: 5, dh: 31 },
    keys: { skD: '00', skAi: '', skAr: '', skEi: '01', skEr: '02', skPi: '03', skPr: '04' }, ni: 'aa', nr: 'bb', natDetected: false,
    nextMidOut: 0, nextMidIn: 2, establishedMs: 1, rekeyAtMs: 2, expireAtMs: 3, createdNonces: [], children: [], p2s: client,
  };
  const roundTrip = (m: HaMessage): HaMessage => decodeFrameBody(encodeFrame(m, key).subarray(4), key);

  it('round-trips the client record', () => {
    const m: HaMessage = { v: 1, t: 'ike', from: 'a', sa };
    expect(roundTrip(m)).toEqual(m);
  });

  const bad: Array<[string, Partial<P2sClientRecord> | string]> = [
    ['address not IPv4', { address: 'nope' }],
    ['certificate not hex', { leafDer: 'zz' }],
    ['intermediates not hex', { intermediatesDer: ['0g'] }],
    ['selectors malformed', { localTs: [{ start: '10.1.0.0' }] as unknown as P2sClientRecord['localTs'] }],
    ['not an object', 'x'],
  ];
  for (const [name, patch] of bad) {
    it(`refuses a record with ${name}`, () => {
      const p2s = typeof patch === 'string' ? patch : { ...client, ...patch };
      expect(() => roundTrip({ v: 1, t: 'ike', from: 'a', sa: { ...sa, p2s } as unknown as IkeRecord })).toThrow(/p2s/);
    });
  }
});
