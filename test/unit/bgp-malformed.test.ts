/**
 * Malformed-input tables (numbered, one row per RFC rule) and a bounded fuzz
 * loop over the real BIRD frames: the decoders may only ever throw
 * BgpNotificationError, and UPDATE errors get the RFC 7606 action.
 */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { BgpFramer } from '../../bgp/framer.js';
import { decodeMessage } from '../../bgp/message.js';
import { BgpNotificationError, type ErrorAction } from '../../bgp/errors.js';
import { announcedPrefixes, decodeUpdate } from '../../bgp/update.js';
import { readTcpSegments, tcpStream } from '../helpers/pcap-tcp.js';

/** Tiny wire builder for test messages. */
class Wire {
  #b: number[] = [];
  u8(...v: number[]): this {
    this.#b.push(...v);
    return this;
  }
  u16(v: number): this {
    return this.u8(v >> 8, v & 255);
  }
  u32(v: number): this {
    return this.u16(v >>> 16).u16(v & 0xffff);
  }
  bytes(b: Uint8Array | number[]): this {
    return this.u8(...b);
  }
  get length(): number {
    return this.#b.length;
  }
  build(): Buffer {
    return Buffer.from(this.#b);
  }
}

function message(type: number, body: Uint8Array | number[], lengthOverride?: number): Buffer {
  const b = Buffer.from(body);
  return new Wire().bytes(new Array(16).fill(0xff)).u16(lengthOverride ?? 19 + b.length).u8(type).bytes(b).build();
}

/** UPDATE from parts: withdrawn bytes, attribute bytes, nlri bytes. */
function update(withdrawn: number[], attrs: number[], nlri: number[]): Buffer {
  return message(2, new Wire().u16(withdrawn.length).bytes(withdrawn).u16(attrs.length).bytes(attrs).bytes(nlri).build());
}

const ORIGIN = [0x40, 1, 1, 0];
const AS_PATH = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9];
const NEXT_HOP = [0x40, 3, 4, 203, 0, 113, 1];
const GOOD = [...ORIGIN, ...AS_PATH, ...NEXT_HOP];
const NLRI = [24, 10, 65, 1];
const ctx = { fourOctetAs: true };

function expectError(f: () => unknown, code: number, subcode: number, action: ErrorAction = 'sessionReset'): BgpNotificationError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(BgpNotificationError);
    const err = e as BgpNotificationError;
    expect([err.code, err.subcode, err.action]).toEqual([code, subcode, action]);
    return err;
  }
  throw new Error('expected a BgpNotificationError');
}

describe('header and per-type length errors (RFC 4271 §6.1)', () => {
  const cases: [string, Buffer, number, number, number[]?][] = [
    ['1 bad marker', Buffer.concat([Buffer.alloc(16, 0xfe), Buffer.from([0, 19, 4])]), 1, 1],
    ['2 length 18', message(4, [], 18), 1, 2, [0, 18]],
    ['3 length 4097', message(2, new Array(4078).fill(0)), 1, 2, [0x10, 0x01]],
  ];
  it.each(cases)('framer: %s', (_n, bytes, code, subcode, data) => {
    const err = expectError(() => new BgpFramer().push(bytes), code, subcode);
    if (data) expect(Array.from(err.data)).toEqual(data);
  });

  const decodeCases: [string, Buffer, number, number, number[]?][] = [
    ['4 unknown type 9', message(9, []), 1, 3, [9]],
    ['5 KEEPALIVE of 20 octets', message(4, [0]), 1, 2, [0, 20]],
    ['6 ROUTE-REFRESH of 24 octets', message(5, [0, 1, 0, 1, 0]), 7, 1],
    ['7 UPDATE of 22 octets', message(2, [0, 0, 0]), 1, 2, [0, 22]],
    ['8 NOTIFICATION of 20 octets', message(3, [6]), 1, 2, [0, 20]],
    ['9 OPEN shorter than 29', message(1, [4, 0xfd, 0xe9, 0, 90]), 1, 2],
    ['10 OPEN opt param length mismatch', message(1, [4, 0xfd, 0xe9, 0, 90, 1, 2, 3, 4, 5, 2, 0]), 2, 0],
    ['11 OPEN optional parameter type 1 (auth)', message(1, [4, 0xfd, 0xe9, 0, 90, 1, 2, 3, 4, 2, 1, 0]), 2, 4],
    ['12 OPEN capability overruns parameter', message(1, [4, 0xfd, 0xe9, 0, 90, 1, 2, 3, 4, 4, 2, 2, 65, 4]), 2, 0],
  ];
  it.each(decodeCases)('decode: %s', (_n, bytes, code, subcode, data) => {
    expect(new BgpFramer().push(bytes)).toHaveLength(1);
    const err = expectError(() => decodeMessage(bytes, ctx), code, subcode);
    if (data) expect(Array.from(err.data)).toEqual(data);
  });
});

describe('UPDATE errors (RFC 4271 §6.3 with RFC 7606 actions)', () => {
  const sessionReset: [string, Buffer, number][] = [
    ['13 withdrawn length overruns message', message(2, [0, 50, 0, 0]), 1],
    ['14 total attribute length overruns message', update([], [], []).fill(0x20, 21, 22), 1],
    ['15 NLRI prefix length 33', update([], GOOD, [33, 1, 2, 3, 4, 5]), 10],
    ['16 NLRI prefix overruns message', update([], GOOD, [24, 10, 65]), 10],
    ['17 withdrawn prefix length 40', update([40, 1, 2, 3, 4, 5], [], []), 10],
    ['18 duplicate MP_REACH_NLRI', update([], [0x80, 14, 5, 0, 2, 1, 0, 0, 0x80, 14, 5, 0, 2, 1, 0, 0], []) /* IPv6 (ignored) twice */, 1],
    ['19 unrecognized well-known attribute 99', update([], [...GOOD, 0x40, 99, 1, 0], NLRI), 2],
    ['20 MP_REACH IPv4 with 16-octet next hop', update([], [0x80, 14, 21, 0, 1, 1, 16, ...new Array(16).fill(1), 0], []), 9],
    ['21 MP_UNREACH prefix overrun', update([], [0x80, 15, 5, 0, 1, 1, 24, 10], []), 10],
  ];
  it.each(sessionReset)('session reset: %s', (_n, bytes, subcode) => {
    expectError(() => decodeUpdate(bytes, ctx), 3, subcode);
  });

  const soft: [string, number[], number[], ErrorAction, number][] = [
    ['22 ORIGIN value 3', [0x40, 1, 1, 3, ...AS_PATH, ...NEXT_HOP], NLRI, 'treatAsWithdraw', 6],
    ['23 ORIGIN length 2', [0x40, 1, 2, 0, 0, ...AS_PATH, ...NEXT_HOP], NLRI, 'treatAsWithdraw', 5],
    ['24 AS_PATH segment type 3', [...ORIGIN, 0x40, 2, 6, 3, 1, 0, 0, 0xfd, 0xe9, ...NEXT_HOP], NLRI, 'treatAsWithdraw', 11],
    ['25 AS_PATH zero-length segment', [...ORIGIN, 0x40, 2, 2, 2, 0, ...NEXT_HOP], NLRI, 'treatAsWithdraw', 11],
    ['26 AS_PATH segment overruns attribute', [...ORIGIN, 0x40, 2, 4, 2, 2, 0, 0, ...NEXT_HOP], NLRI, 'treatAsWithdraw', 11],
    ['27 NEXT_HOP 0.0.0.0', [...ORIGIN, ...AS_PATH, 0x40, 3, 4, 0, 0, 0, 0], NLRI, 'treatAsWithdraw', 8],
    ['28 NEXT_HOP multicast', [...ORIGIN, ...AS_PATH, 0x40, 3, 4, 224, 0, 0, 5], NLRI, 'treatAsWithdraw', 8],
    ['29 NEXT_HOP length 5', [...ORIGIN, ...AS_PATH, 0x40, 3, 5, 1, 2, 3, 4, 5], NLRI, 'treatAsWithdraw', 5],
    ['30 missing NEXT_HOP with NLRI', [...ORIGIN, ...AS_PATH], NLRI, 'treatAsWithdraw', 3],
    ['31 missing ORIGIN with NLRI', [...AS_PATH, ...NEXT_HOP], NLRI, 'treatAsWithdraw', 3],
    ['32 ORIGIN flagged optional', [0xc0, 1, 1, 0, ...AS_PATH, ...NEXT_HOP], NLRI, 'treatAsWithdraw', 4],
    ['33 MED length 3', [...GOOD, 0x80, 4, 3, 0, 0, 1], NLRI, 'treatAsWithdraw', 5],
    ['34 LOCAL_PREF length 2', [...GOOD, 0x40, 5, 2, 0, 1], NLRI, 'treatAsWithdraw', 5],
    ['35 COMMUNITIES length 3', [...GOOD, 0xc0, 8, 3, 0, 0, 1], NLRI, 'treatAsWithdraw', 9],
    ['36 attribute overruns the attribute list', [...GOOD, 0xc0, 8, 9, 0, 0, 1], NLRI, 'treatAsWithdraw', 1],
    ['37 ATOMIC_AGGREGATE length 1', [...GOOD, 0x40, 6, 1, 0], NLRI, 'attributeDiscard', 5],
    ['38 AGGREGATOR length 5', [...GOOD, 0xc0, 7, 5, 0, 0, 1, 2, 3], NLRI, 'attributeDiscard', 5],
    ['39 duplicate ORIGIN (first kept)', [...GOOD, 0x40, 1, 1, 2], NLRI, 'attributeDiscard', 1],
    ['40 AS4_PATH malformed', [...GOOD, 0xc0, 17, 3, 2, 1, 0], NLRI, 'attributeDiscard', 11],
  ];
  it.each(soft)('%s → %s', (_n, attrs, nlri, action, subcode) => {
    const u = decodeUpdate(update([], attrs, nlri), ctx);
    expect(u.errors.map((e) => [e.code, e.subcode, e.action])).toContainEqual([3, subcode, action]);
    expect(u.treatAsWithdraw).toBe(action === 'treatAsWithdraw');
    expect(u.nlri).toEqual(['10.65.1.0/24']); // NLRI still located, so it can be withdrawn
    if (action === 'attributeDiscard') expect(u.attributes.origin).toBe(0);
  });
});

describe('UPDATE features', () => {
  it('keeps an unknown optional transitive attribute with its flags', () => {
    const u = decodeUpdate(update([], [...GOOD, 0xc0, 99, 2, 0xab, 0xcd], NLRI), ctx);
    expect(u.errors).toEqual([]);
    expect(u.attributes.unknown).toEqual([{ flags: 0xc0, type: 99, value: Uint8Array.of(0xab, 0xcd) }]);
  });

  it('merges AS4_PATH on a 2-octet session (RFC 6793 §4.2.3)', () => {
    const asPath2 = [0x40, 2, 8, 2, 3, 0xfd, 0xf2, 0x5b, 0xa0, 0xfd, 0xea]; // 65010 23456 65002
    const as4 = [0xc0, 17, 10, 2, 2, 0xfa, 0x56, 0xea, 0x01, 0, 0, 0xfd, 0xea]; // 4200000001 65002
    const u = decodeUpdate(update([], [...ORIGIN, ...asPath2, ...NEXT_HOP, ...as4], NLRI), { fourOctetAs: false });
    expect(u.attributes.asPath).toEqual([{ type: 2, asns: [65010, 4200000001, 65002] }]);
    expect(u.attributes.as4Path).toBeUndefined();
  });

  it('decodes IPv4 unicast in MP_REACH_NLRI (RFC 4760) and extended-length attributes', () => {
    const mp = [0x80, 14, 13, 0, 1, 1, 4, 198, 51, 100, 1, 0, 24, 10, 9, 9];
    const comms = new Array(80).fill(0).flatMap((_v, i) => [0xfd, 0xe9, 0, i]);
    const ext = [0xd0, 8, 1, 64, ...comms]; // 320 octets of communities, Extended Length
    const u = decodeUpdate(update([], [...ORIGIN, ...AS_PATH, ...mp, ...ext], []), ctx);
    expect(u.errors).toEqual([]);
    expect(announcedPrefixes(u)).toEqual(['10.9.9.0/24']);
    expect(u.attributes.mpReach?.nextHop).toBe('198.51.100.1');
    expect(u.attributes.communities).toHaveLength(80);
  });
});

describe('bounded fuzz: only BgpNotificationError ever escapes', () => {
  const file = fileURLToPath(new URL('../vectors/bgp-basic.pcap', import.meta.url));
  const segs = readTcpSegments(file);
  const seeds = [
    ...new BgpFramer().push(tcpStream(segs, '203.0.113.1', '203.0.113.2')),
    ...new BgpFramer().push(tcpStream(segs, '203.0.113.2', '203.0.113.1')),
    update([], [...GOOD, 0xc0, 8, 4, 0, 1, 0, 2, 0x80, 14, 12, 0, 1, 1, 4, 1, 2, 3, 4, 0, 24, 10, 9, 9], NLRI),
  ];
  let state = 0x12345678;
  const rnd = (n: number): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };

  it('5000 mutated messages through framer + decoder', () => {
    let decoded = 0;
    let rejected = 0;
    for (let i = 0; i < 5000; i++) {
      const seed = seeds[rnd(seeds.length)] as Buffer;
      const m = Buffer.from(seed);
      const kind = rnd(4);
      if (kind === 0) {
        for (let k = 0; k <= rnd(4); k++) {
          const at = 19 + rnd(Math.max(1, m.length - 19));
          if (at < m.length) m[at] = (m[at] as number) ^ (1 << rnd(8));
        }
      }
      else if (kind === 1) m[19 + rnd(Math.max(1, m.length - 19))] = rnd(256);
      const bytes = kind === 2 ? m.subarray(0, 19 + rnd(m.length - 18)) : m;
      if (kind === 2) bytes.writeUInt16BE(bytes.length, 16);
      if (kind === 3) bytes.writeUInt16BE(19 + rnd(Math.max(1, m.length - 18)), 16);
      for (const ctx of [{ fourOctetAs: true }, { fourOctetAs: false }]) {
        try {
          for (const f of new BgpFramer().push(bytes)) decodeMessage(f, ctx);
          decoded++;
        } catch (e) {
          if (!(e instanceof BgpNotificationError)) throw e;
          rejected++;
        }
      }
    }
    expect(decoded).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });
});
