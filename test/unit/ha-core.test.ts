import { describe, expect, it } from 'vitest';
import { Election } from '../../ha/election.js';
import { decodeFrameBody, deriveLinkKey, encodeFrame, FrameReader, HaProtocolError, type HaMessage } from '../../ha/messages.js';
import { jumpedSeq, MIN_SEQ_JUMP, ShadowStore } from '../../ha/replicator.js';
import { pickInterface } from '../../ha/floating-ip.js';
import { parseConfig } from '../../daemon/config.js';
import { haPlanFor, configForInstance, HaConfigError } from '../../daemon/config-ha.js';

const key = deriveLinkKey('gw', ['psk']);

describe('HA election', () => {
  const cases: Array<{ name: string; self: number; steps: Array<Parameters<Election['handle']>[0]>; role: string; epoch: number }> = [
    { name: 'alone: active after the init wait', self: 1, steps: [{ type: 'init-timeout' }], role: 'active', epoch: 1 },
    { name: 'partner active: standby', self: 0, steps: [{ type: 'peer-hello', role: 'active', epoch: 4, index: 1 }], role: 'standby', epoch: 4 },
    { name: 'both init: lower index goes active', self: 0, steps: [{ type: 'peer-hello', role: 'init', epoch: 0, index: 1 }], role: 'active', epoch: 1 },
    { name: 'both init: higher index waits', self: 1, steps: [{ type: 'peer-hello', role: 'init', epoch: 0, index: 0 }], role: 'init', epoch: 0 },
    { name: 'standby takes over above the epoch it saw', self: 1, steps: [{ type: 'peer-hello', role: 'active', epoch: 7, index: 0 }, { type: 'peer-lost' }], role: 'active', epoch: 8 },
    { name: 'split brain: lower epoch steps down', self: 0, steps: [{ type: 'init-timeout' }, { type: 'peer-hello', role: 'active', epoch: 3, index: 1 }], role: 'standby', epoch: 3 },
    { name: 'split brain: equal epoch, lower index stays', self: 0, steps: [{ type: 'init-timeout' }, { type: 'peer-hello', role: 'active', epoch: 1, index: 1 }], role: 'active', epoch: 1 },
    { name: 'split brain: equal epoch, higher index steps down', self: 1, steps: [{ type: 'init-timeout' }, { type: 'peer-hello', role: 'active', epoch: 1, index: 0 }], role: 'standby', epoch: 1 },
    { name: 'planned handover received', self: 1, steps: [{ type: 'peer-hello', role: 'active', epoch: 2, index: 0 }, { type: 'handover-received', epoch: 2 }], role: 'active', epoch: 3 },
    { name: 'planned handover sent', self: 0, steps: [{ type: 'init-timeout' }, { type: 'handover-sent' }], role: 'standby', epoch: 1 },
    { name: 'active ignores a lost partner', self: 0, steps: [{ type: 'init-timeout' }, { type: 'peer-lost' }], role: 'active', epoch: 1 },
    // A hello the partner sent before it saw our handover must not make us take the role back.
    { name: 'handover sent: a crossing "standby" hello is ignored', self: 0,
      steps: [{ type: 'init-timeout' }, { type: 'handover-sent' }, { type: 'peer-hello', role: 'standby', epoch: 1, index: 1 }], role: 'standby', epoch: 1 },
    { name: 'handover sent, then the partner active: normal standby', self: 0,
      steps: [{ type: 'init-timeout' }, { type: 'handover-sent' }, { type: 'peer-hello', role: 'active', epoch: 2, index: 1 }, { type: 'peer-hello', role: 'active', epoch: 2, index: 1 }], role: 'standby', epoch: 2 },
    { name: 'handover sent, partner lost before taking over: we take the role back', self: 0,
      steps: [{ type: 'init-timeout' }, { type: 'handover-sent' }, { type: 'peer-hello', role: 'standby', epoch: 1, index: 1 }, { type: 'peer-lost' }], role: 'active', epoch: 2 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const e = new Election(c.self);
      for (const s of c.steps) e.handle(s);
      expect(e.role).toBe(c.role);
      expect(e.epoch).toBe(c.epoch);
    });
  }
  it('an unconfirmed handover (cancelYield): a standby partner makes us active again', () => {
    const e = new Election(0);
    e.handle({ type: 'init-timeout' });
    e.handle({ type: 'handover-sent' });
    e.handle({ type: 'peer-hello', role: 'standby', epoch: 1, index: 1 });
    expect(e.role).toBe('standby');
    e.cancelYield();
    expect(e.handle({ type: 'peer-hello', role: 'standby', epoch: 1, index: 1 }).become).toBe('active');
  });
});

describe('HA messages', () => {
  const hello: HaMessage = { v: 1, t: 'hello', from: 'a', role: 'active', epoch: 3, index: 0, applied: 5 };
  it('round-trips a sealed frame through the stream reader, split anywhere', () => {
    const f = Buffer.concat([encodeFrame(hello, key), encodeFrame({ v: 1, t: 'child-del', from: 'a', id: 'x#1' }, key)]);
    const r = new FrameReader();
    const bodies = [...r.push(f.subarray(0, 7)), ...r.push(f.subarray(7, 40)), ...r.push(f.subarray(40))];
    expect(bodies.map((b) => decodeFrameBody(b, key))).toEqual([hello, { v: 1, t: 'child-del', from: 'a', id: 'x#1' }]);
  });
  it('refuses a frame sealed with another key, a tampered frame, a bad version, an unknown type', () => {
    const body = encodeFrame(hello, key).subarray(4);
    expect(() => decodeFrameBody(body, deriveLinkKey('gw', ['other']))).toThrow(HaProtocolError);
    const t = Buffer.from(body); t[20] = (t[20] ?? 0) ^ 1;
    expect(() => decodeFrameBody(t, key)).toThrow(/authentication/);
    expect(() => decodeFrameBody(encodeFrame({ ...hello, v: 2 } as unknown as HaMessage, key).subarray(4), key)).toThrow(/version 2/);
    expect(() => decodeFrameBody(encodeFrame({ ...hello, t: 'nope' } as unknown as HaMessage, key).subarray(4), key)).toThrow(/unknown HA message type/);
    expect(() => decodeFrameBody(encodeFrame({ v: 1, t: 'seq', from: 'a', atMs: 1, seqs: [['x', '-1']] } as HaMessage, key).subarray(4), key)).toThrow(/seqs/);
    expect(() => decodeFrameBody(Buffer.alloc(10), key)).toThrow(/too short/);
  });
  it('refuses an oversized frame length', () => {
    const b = Buffer.alloc(8); b.writeUInt32BE(0xffffffff);
    expect(() => new FrameReader().push(b)).toThrow(HaProtocolError);
  });
});

describe('HA sequence number jump', () => {
  it.each([
    { last: 100n, rate: 0, age: 50, exact: false, want: 100n + MIN_SEQ_JUMP },
    { last: 100n, rate: 1_000_000, age: 400, exact: false, want: 100n + 2_000_000n },
    { last: 5000n, rate: 1e6, age: 400, exact: true, want: 5000n },
    { last: 0xffff_fff0n, rate: 0, age: 0, exact: false, want: 0xffff_ff00n },
  ])('last $last rate $rate age $age exact $exact', ({ last, rate, age, exact, want }) => {
    expect(jumpedSeq(last, rate, age, exact)).toBe(want);
  });
  it('the shadow estimates the rate from successive reports and keeps a decaying maximum', () => {
    let now = 1000;
    const s = new ShadowStore(() => now);
    s.apply({ v: 1, t: 'seq', from: 'a', atMs: 0, seqs: [['c', '1']] });
    now += 100;
    s.apply({ v: 1, t: 'seq', from: 'a', atMs: 0, seqs: [['c', '1001']] });
    expect(s.seqs.get('c')?.ratePps).toBeCloseTo(10_000);
    now += 100;
    s.apply({ v: 1, t: 'seq', from: 'a', atMs: 0, seqs: [['c', '1001']] });
    expect(s.seqs.get('c')?.ratePps).toBeCloseTo(5_000);
  });
  it('a full sync drops shadow entries the active no longer has', () => {
    const s = new ShadowStore();
    const child = { id: 'old', connection: 'c', inbound: { spi: 1, cipher: 'aes-gcm-16' as const, encKey: '00', integ: 'none' as const, integKey: '' },
      outbound: { spi: 2, cipher: 'aes-gcm-16' as const, encKey: '00', integ: 'none' as const, integKey: '' }, peer: { address: '1.2.3.4', port: 4500 }, localPort: 4500, tsLocal: [], tsRemote: [] };
    s.apply({ v: 1, t: 'child', from: 'a', child });
    s.apply({ v: 1, t: 'sync-begin', from: 'a', epoch: 1 });
    s.apply({ v: 1, t: 'child', from: 'a', child: { ...child, id: 'new' } });
    s.apply({ v: 1, t: 'sync-end', from: 'a', epoch: 1 });
    expect([...s.children.keys()]).toEqual(['new']);
  });
});

describe('floating address placement', () => {
  const addrs = [
    { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
    { ifname: 'lan0', addr_info: [{ family: 'inet', local: '10.1.0.10', prefixlen: 24 }, { family: 'inet', local: '10.1.0.1', prefixlen: 32 }] },
    { ifname: 'wan0', addr_info: [{ family: 'inet', local: '192.0.2.10', prefixlen: 24 }] },
    { ifname: 'wide', addr_info: [{ family: 'inet', local: '10.0.0.1', prefixlen: 8 }] },
  ];
  it.each([['192.0.2.1', 'wan0'], ['10.1.0.1', 'lan0'], ['10.9.0.1', 'wide'], ['198.51.100.1', undefined]])('%s → %s', (ip, want) => {
    expect(pickInterface(addrs, ip)).toBe(want);
  });
});

describe('HA config', () => {
  const base = (gw: string): string => `
gateway:
  name: gwA
  addressSpace: [10.1.0.0/24]
  publicIpAddress: 192.0.2.1
${gw}
`;
  it('accepts an active-standby pair and plans each instance', () => {
    const cfg = parseConfig(base(`  privateIpAddress: 10.1.0.1
  instances:
    - { name: gw-0, haAddress: 10.1.0.10 }
    - { name: gw-1, haAddress: 10.1.0.11 }`));
    const p = haPlanFor(cfg, 'gw-1');
    expect(p).toMatchObject({ mode: 'active-standby', self: { name: 'gw-1', index: 1, publicIpAddress: '192.0.2.1', privateIpAddress: '10.1.0.1' }, peer: { name: 'gw-0' } });
    expect(() => haPlanFor(cfg, undefined)).toThrow(HaConfigError);
    expect(() => haPlanFor(cfg, 'gw-9')).toThrow(/not one of gw-0, gw-1/);
  });
  it('active-active: each instance its own addresses; the instance config uses its own public address', () => {
    const cfg = parseConfig(base(`  activeActive: true
  instances:
    - { name: gw-0, haAddress: 10.1.0.10, publicIpAddress: 192.0.2.1, privateIpAddress: 10.1.0.1 }
    - { name: gw-1, haAddress: 10.1.0.11, publicIpAddress: 192.0.2.3, privateIpAddress: 10.1.0.3 }`));
    const p = haPlanFor(cfg, 'gw-1');
    expect(configForInstance(cfg, p).gateway.publicIpAddress).toBe('192.0.2.3');
  });
  it.each([
    ['  instances:\n    - { name: a, haAddress: 10.1.0.10 }', /exactly 2 instances/],
    ['  instances:\n    - { name: a, haAddress: 10.1.0.10 }\n    - { name: b, haAddress: 10.1.0.11 }', /privateIpAddress: is required for an active-standby pair/],
    ['  privateIpAddress: 10.1.0.1\n  instances:\n    - { name: a, haAddress: 10.1.0.10 }\n    - { name: a, haAddress: 10.1.0.10 }', /duplicates instances\[0\]\.name/],
    ['  activeActive: true\n  instances:\n    - { name: a, haAddress: 10.1.0.10 }\n    - { name: b, haAddress: 10.1.0.11 }', /instances\[0\]\.publicIpAddress: is required in active-active/],
    ['  activeActive: true', /activeActive needs the two instances/],
    ['  privateIpAddress: 10.1.0.1\n  instances:\n    - { name: a, haAddress: 10.1.0.10, publicIpAddress: 192.0.2.9 }\n    - { name: b, haAddress: 10.1.0.11 }', /only for active-active/],
  ])('refuses %#', (gw, msg) => {
    expect(() => parseConfig(base(gw))).toThrow(msg);
  });
});
