/**
 * Codec tests against real BIRD 2.0.12 bytes (test/vectors/bgp-basic.pcap and
 * bgp-scale.pcap, copied from interop/bird/captures; see bgp-basic.summary.txt
 * there). Every BGP message in both directions is framed, decoded, checked and,
 * where our encoder should produce identical bytes, re-encoded byte for byte.
 */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { readTcpSegments, tcpStream } from '../helpers/pcap-tcp.js';
import { BgpFramer } from '../../bgp/framer.js';
import { decodeMessage, type BgpMessage } from '../../bgp/message.js';
import { AsPathSegmentType, CapabilityCode, CeaseSubcode, ErrorCode, MessageType, Origin, RouteRefreshSubtype } from '../../bgp/constants.js';
import { encodeOpen, peerAsnOf, buildLocalOpen } from '../../bgp/open.js';
import { encodeUpdate, isEndOfRib, packUpdates, END_OF_RIB_IPV4, decodeUpdate } from '../../bgp/update.js';
import { encodeNotification, shutdownCommunicationData } from '../../bgp/notification.js';
import { KEEPALIVE } from '../../bgp/keepalive.js';
import { encodeRouteRefresh } from '../../bgp/route-refresh.js';
import { formatAttributes } from '../../bgp/attributes.js';

const A = '203.0.113.1'; // io-bgpA, AS65001
const B = '203.0.113.2'; // io-bgpB, AS65002
const ctx = { fourOctetAs: true }; // both BIRDs advertised capability 65

function vector(name: string): string {
  return fileURLToPath(new URL(`../vectors/${name}`, import.meta.url));
}

function frames(file: string, src: string, dst: string): Buffer[] {
  const stream = tcpStream(readTcpSegments(vector(file)), src, dst);
  const framer = new BgpFramer();
  const out = framer.push(stream);
  expect(framer.pendingBytes).toBe(0);
  return out;
}

function decodeAll(fs: Buffer[]): BgpMessage[] {
  return fs.map((f) => decodeMessage(f, ctx));
}

/** Re-encode a decoded message with our encoders (undefined for types without a canonical form). */
function reencode(m: BgpMessage): Buffer {
  switch (m.type) {
    case MessageType.Open:
      return encodeOpen(m);
    case MessageType.Update:
      return encodeUpdate(m, ctx);
    case MessageType.Notification:
      return encodeNotification(m.code, m.subcode, m.data);
    case MessageType.Keepalive:
      return KEEPALIVE;
    case MessageType.RouteRefresh:
      return encodeRouteRefresh(m.afi, m.safi, m.subtype);
  }
}

describe('bgp-basic capture (BIRD <-> BIRD)', () => {
  const aToB = frames('bgp-basic.pcap', A, B);
  const bToA = frames('bgp-basic.pcap', B, A);
  const fromA = decodeAll(aToB);
  const fromB = decodeAll(bToA);

  it('has the message sequence of bgp-basic.summary.txt', () => {
    const types = (ms: BgpMessage[]): string => ms.map((m) => MessageType[m.type]).join(',');
    expect(types(fromA)).toBe(
      'Open,Keepalive,Update,Update,Keepalive,Keepalive,Keepalive,Keepalive,RouteRefresh,Keepalive,Notification',
    );
    expect(types(fromB)).toBe(
      'Open,Keepalive,Update,Update,Keepalive,Keepalive,Update,Keepalive,Update,Keepalive,RouteRefresh,Update,RouteRefresh',
    );
  });

  it('decodes the OPEN capabilities exactly as BIRD sent them', () => {
    const open = fromA[0];
    if (open?.type !== MessageType.Open) throw new Error('first message is not OPEN');
    expect(aToB[0]?.toString('hex')).toBe(
      'ffffffffffffffffffffffffffffffff003501' + '04fde90009cb00710118021601040001000102004002007841040000fde946004700',
    );
    expect(open).toMatchObject({ version: 4, myAsField: 65001, holdTime: 9, bgpId: A });
    expect(open.capabilities.map((c) => c.code)).toEqual([
      CapabilityCode.Multiprotocol,
      CapabilityCode.RouteRefresh,
      CapabilityCode.GracefulRestart,
      CapabilityCode.FourOctetAs,
      CapabilityCode.EnhancedRouteRefresh,
      CapabilityCode.LongLivedGracefulRestart,
    ]);
    expect(open.capabilities[0]).toEqual({ code: 1, afi: 1, safi: 1 });
    expect(open.capabilities[2]).toEqual({ code: 64, raw: Uint8Array.of(0x00, 0x78) }); // restart time 120, helper only
    expect(peerAsnOf(open)).toBe(65001);
    const openB = fromB[0];
    if (openB?.type !== MessageType.Open) throw new Error('B: first message is not OPEN');
    expect(openB).toMatchObject({ myAsField: 65002, holdTime: 9, bgpId: B });
  });

  it('decodes UPDATE attributes: ORIGIN IGP, AS_PATH 65001 (4-octet), NEXT_HOP, two /24s', () => {
    const u = fromA[2];
    if (u?.type !== MessageType.Update) throw new Error('not UPDATE');
    expect(aToB[2]?.length).toBe(51);
    expect(u.nlri).toEqual(['10.65.1.0/24', '10.65.2.0/24']);
    expect(u.withdrawn).toEqual([]);
    expect(u.errors).toEqual([]);
    expect(u.attributes).toEqual({
      origin: Origin.Igp,
      asPath: [{ type: AsPathSegmentType.AsSequence, asns: [65001] }],
      nextHop: A,
    });
    expect(formatAttributes(u.attributes)).toBe('ORIGIN=IGP AS_PATH=65001 NEXT_HOP=203.0.113.1');
    const ub = fromB[2];
    if (ub?.type !== MessageType.Update) throw new Error('not UPDATE');
    expect(ub.nlri).toEqual(['10.66.1.0/24', '10.66.2.0/24']);
    expect(ub.attributes.nextHop).toBe(B);
  });

  it('recognises End-of-RIB, withdraw and re-announce', () => {
    for (const ms of [fromA, fromB]) {
      const eor = ms[3];
      if (eor?.type !== MessageType.Update) throw new Error('not UPDATE');
      expect(isEndOfRib(eor)).toEqual({ afi: 1, safi: 1 });
    }
    expect(aToB[3]?.equals(END_OF_RIB_IPV4)).toBe(true);
    const withdraw = fromB[6];
    if (withdraw?.type !== MessageType.Update) throw new Error('not UPDATE');
    expect(withdraw.withdrawn).toEqual(['10.66.1.0/24', '10.66.2.0/24']);
    expect(withdraw.nlri).toEqual([]);
    expect(isEndOfRib(withdraw)).toBeUndefined();
    const again = fromB[8];
    if (again?.type !== MessageType.Update) throw new Error('not UPDATE');
    expect(again.nlri).toEqual(['10.66.1.0/24', '10.66.2.0/24']);
  });

  it('decodes ROUTE-REFRESH request, BoRR and EoRR (RFC 7313)', () => {
    expect(fromA[8]).toEqual({ type: MessageType.RouteRefresh, afi: 1, subtype: RouteRefreshSubtype.Request, safi: 1 });
    expect(fromB[10]).toMatchObject({ type: MessageType.RouteRefresh, subtype: RouteRefreshSubtype.BeginningOfRefresh });
    expect(fromB[11]).toMatchObject({ type: MessageType.Update, nlri: ['10.66.1.0/24', '10.66.2.0/24'] });
    expect(fromB[12]).toMatchObject({ type: MessageType.RouteRefresh, subtype: RouteRefreshSubtype.EndOfRefresh });
  });

  it('decodes the NOTIFICATION with the RFC 8203 shutdown communication', () => {
    const n = fromA[10];
    if (n?.type !== MessageType.Notification) throw new Error('not NOTIFICATION');
    expect(n.code).toBe(ErrorCode.Cease);
    expect(n.subcode).toBe(CeaseSubcode.AdministrativeShutdown);
    expect(n.shutdownCommunication).toBe('io-interop maintenance');
    expect(aToB[10]?.length).toBe(44);
    expect(encodeNotification(6, 2, shutdownCommunicationData('io-interop maintenance')).equals(aToB[10] as Buffer)).toBe(true);
  });

  it('re-encodes every message byte for byte', () => {
    [...aToB.map((f, i) => [f, fromA[i]] as const), ...bToA.map((f, i) => [f, fromB[i]] as const)].forEach(([frame, msg]) => {
      expect(reencode(msg as BgpMessage).toString('hex')).toBe(frame.toString('hex'));
    });
  });

  it('our own OPEN has the same layout as BIRD (MP, RR, 4-octet AS, enhanced RR)', () => {
    const ours = encodeOpen(buildLocalOpen(65001, 9, A));
    const decoded = decodeMessage(ours, ctx);
    expect(decoded).toMatchObject({ version: 4, myAsField: 65001, holdTime: 9, bgpId: A });
    expect(ours.toString('hex')).toBe('ffffffffffffffffffffffffffffffff002f0104fde90009cb007101' + '1202100104000100010200460041040000fde9');
    const big = decodeMessage(encodeOpen(buildLocalOpen(4200000001, 90, A)), ctx);
    expect(big).toMatchObject({ myAsField: 23456 });
    if (big.type === MessageType.Open) expect(peerAsnOf(big)).toBe(4200000001);
  });
});

describe('bgp-scale capture (1002 prefixes)', () => {
  const aToB = frames('bgp-scale.pcap', A, B);
  const fromA = decodeAll(aToB);

  it('carries 1002 prefixes in 4 UPDATEs of 256/256/256/234, then End-of-RIB, then Cease', () => {
    const updates = fromA.filter((m) => m.type === MessageType.Update);
    const counts = updates.map((u) => (u.type === MessageType.Update ? u.nlri.length : -1));
    expect(counts).toEqual([256, 256, 256, 234, 0]);
    const all = updates.flatMap((u) => (u.type === MessageType.Update ? u.nlri : []));
    expect(new Set(all).size).toBe(1002);
    expect(all).toContain('10.100.0.0/24');
    expect(all).toContain('10.103.231.0/24');
    expect(aToB.filter((f) => f[18] === MessageType.Update).slice(0, 3).map((f) => f.length)).toEqual([1067, 1067, 1067]);
    const last = fromA[fromA.length - 1];
    expect(last).toMatchObject({ type: MessageType.Notification, code: 6, subcode: 2 });
    expect(aToB[aToB.length - 1]?.length).toBe(21);
  });

  it('re-encodes every scale message byte for byte, and packUpdates fits 4096', () => {
    aToB.forEach((frame, i) => expect(reencode(fromA[i] as BgpMessage).equals(frame)).toBe(true));
    const first = fromA.find((m) => m.type === MessageType.Update);
    if (first?.type !== MessageType.Update) throw new Error('no UPDATE');
    const all = fromA.flatMap((u) => (u.type === MessageType.Update ? u.nlri : []));
    const packed = packUpdates([], [{ attributes: first.attributes, nlri: all }], ctx);
    expect(packed.every((b) => b.length <= 4096)).toBe(true);
    expect(packed.length).toBe(1); // 23 + 20 attribute octets + 1002 x 4 = 4051 <= 4096
    expect(packed[0]?.length).toBe(4051);
    const back = packed.flatMap((b) => decodeUpdate(b, ctx).nlri);
    expect(back).toEqual(all);
  });
});
