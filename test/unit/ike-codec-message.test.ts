/**
 * encodeMessage / encodeFragments / FragmentReassembler layout with a
 * transparent SkTransform (so the bytes can be checked), and the payload
 * rules table.
 */
import { describe, expect, it } from 'vitest';
import { IntegrityError } from '../../crypto/errors.js';
import type { SkTransform } from '../../crypto/types.js';
import { ExchangeType, NotifyType, PayloadType, ProtocolId } from '../../ike/constants.js';
import { describeMessage } from '../../ike/codec/describe.js';
import {
  FragmentReassembler, MAX_FRAGMENTS, decodeMessage, encodeFragments, encodeMessage, openMessage,
} from '../../ike/codec/message.js';
import { checkPayloadRules } from '../../ike/codec/rules.js';
import type { IkeHeader, Payload } from '../../ike/codec/types.js';
import { IkeError, IkeParseError } from '../../ike/errors.js';

/** "Encrypts" by copying, with a 1-byte IV and ICV so the offsets are visible. */
const clearSk: SkTransform = {
  ivLength: 1,
  icvLength: 1,
  sealedLength: (n) => n + 2,
  seal(msg, off, pt) {
    expect(msg.length).toBe(off + pt.length + 2);
    msg[off] = 0x1f;
    pt.copy(msg, off + 1);
    msg[msg.length - 1] = 0xcc;
  },
  open(msg, off) {
    if (msg[off] !== 0x1f || msg[msg.length - 1] !== 0xcc) throw new IntegrityError('bad clear ICV');
    return Buffer.from(msg.subarray(off + 1, msg.length - 1));
  },
};

const hdr = (exchange = ExchangeType.IKE_AUTH, flags = 0x08, messageId = 1): IkeHeader => ({
  spiI: Buffer.from('1111111111111111', 'hex'), spiR: Buffer.from('2222222222222222', 'hex'),
  nextPayload: 0, version: 0x20, exchange, flags, messageId, length: 0,
});

const authPayloads: Payload[] = [
  { type: PayloadType.IDi, idType: 1, data: Buffer.from([192, 0, 2, 1]) },
  { type: PayloadType.NOTIFY, protocolId: 0, spi: Buffer.alloc(0), notifyType: NotifyType.INITIAL_CONTACT, data: Buffer.alloc(0) },
  { type: PayloadType.AUTH, method: 2, data: Buffer.alloc(32, 0xab) },
  { type: PayloadType.SA, proposals: [{ num: 1, protocolId: ProtocolId.ESP, spi: Buffer.from('01020304', 'hex'),
    transforms: [{ type: 1, id: 20, keyLength: 256 }, { type: 5, id: 0 }] }] },
  { type: PayloadType.TSi, selectors: [{ tsType: 7, ipProtocol: 0, startPort: 0, endPort: 65535,
    startAddress: Buffer.from([10, 1, 0, 0]), endAddress: Buffer.from([10, 1, 0, 255]) }] },
  { type: PayloadType.TSr, selectors: [{ tsType: 7, ipProtocol: 0, startPort: 0, endPort: 65535,
    startAddress: Buffer.from([10, 2, 0, 0]), endAddress: Buffer.from([10, 2, 0, 255]) }] },
  { type: PayloadType.CERT, encoding: 4, data: Buffer.alloc(900, 0x30) },
];

describe('encodeMessage with SK', () => {
  const msg = encodeMessage(hdr(), authPayloads, clearSk);

  it('lays out header, SK generic header and body', () => {
    expect(msg[16]).toBe(PayloadType.SK);
    expect(msg.readUInt32BE(24)).toBe(msg.length);
    expect(msg[28]).toBe(PayloadType.IDi);
    expect(msg[29]).toBe(0);
    expect(msg.readUInt16BE(30)).toBe(msg.length - 28);
    expect(msg[32]).toBe(0x1f);
    const raw = decodeMessage(msg);
    expect(raw.encrypted).toEqual({ firstInnerPayload: PayloadType.IDi, bodyOffset: 32 });
    expect(raw.payloads).toEqual([]);
    expect(describeMessage(raw)).toBe('IKE_AUTH request 1 [ E ]');
  });

  it('opens back to the same payloads', () => {
    const m = openMessage(decodeMessage(msg), clearSk);
    expect(m.payloads).toEqual(authPayloads.map((p) => ({ ...p, critical: false })));
    expect(describeMessage(m)).toBe('IKE_AUTH request 1 [ IDi N(INIT_CONTACT) AUTH SA TSi TSr CERT ]');
  });

  it('does not modify the caller\'s header', () => {
    const h = hdr();
    encodeMessage(h, authPayloads, clearSk);
    expect(h.nextPayload).toBe(0);
    expect(h.length).toBe(0);
  });

  it('an empty INFORMATIONAL (liveness check) has SK Next Payload 0', () => {
    const m = encodeMessage(hdr(ExchangeType.INFORMATIONAL, 0x08, 7), [], clearSk);
    expect(m.length).toBe(28 + 4 + 2);
    expect(m[28]).toBe(0);
    expect(openMessage(decodeMessage(m), clearSk).payloads).toEqual([]);
  });

  it('integrity failure surfaces as IntegrityError; other open failures are converted', () => {
    const bad = Buffer.from(msg);
    bad[bad.length - 1] = 0;
    expect(() => openMessage(decodeMessage(bad), clearSk)).toThrow(IntegrityError);
    const throwing: SkTransform = { ...clearSk, open: () => { throw new RangeError('oops'); } };
    expect(() => openMessage(decodeMessage(msg), throwing)).toThrow(IntegrityError);
  });

  it('an SK payload inside the encrypted chain is rejected', () => {
    const inner = Buffer.from('2e000004', 'hex'); // SK header claiming to be a payload
    const m = Buffer.alloc(28 + 4 + inner.length + 2);
    m.writeUInt32BE(m.length, 24); m[16] = 46; m[17] = 0x20; m[18] = 35;
    m[28] = 46; m.writeUInt16BE(m.length - 28, 30); m[32] = 0x1f; inner.copy(m, 33); m[m.length - 1] = 0xcc;
    expect(() => openMessage(decodeMessage(m), clearSk)).toThrow(IkeParseError);
  });
});

describe('encodeFragments / FragmentReassembler', () => {
  const plainLength = encodeMessage(hdr(), authPayloads).length - 28;

  it('returns one SK message when it fits', () => {
    const out = encodeFragments(hdr(), authPayloads, clearSk, 5000);
    expect(out).toHaveLength(1);
    expect(out[0]!.equals(encodeMessage(hdr(), authPayloads, clearSk))).toBe(true);
  });

  it('splits into fragments that each fit and carry number/total', () => {
    const out = encodeFragments(hdr(), authPayloads, clearSk, 300);
    const chunk = 300 - 28 - 8 - 2;
    expect(out).toHaveLength(Math.ceil(plainLength / chunk));
    out.forEach((b, i) => {
      expect(b.length).toBeLessThanOrEqual(300);
      expect(b[16]).toBe(PayloadType.SKF);
      expect(b[28]).toBe(i === 0 ? PayloadType.IDi : 0);
      expect(b.readUInt16BE(32)).toBe(i + 1);
      expect(b.readUInt16BE(34)).toBe(out.length);
      expect(b.readUInt16BE(30)).toBe(b.length - 28);
    });
    expect(out[0]!.length).toBe(300);
    const fr = new FragmentReassembler();
    let result;
    for (const b of [...out].reverse()) result = fr.add(decodeMessage(b), clearSk);
    expect(result!.payloads).toEqual(authPayloads.map((p) => ({ ...p, critical: false })));
  });

  it('refuses sizes that leave no room or need too many fragments', () => {
    expect(() => encodeFragments(hdr(), authPayloads, clearSk, 36)).toThrow(RangeError);
    expect(() => encodeFragments(hdr(), authPayloads, clearSk, 28 + 8 + 2 + 10)).toThrow(/limit of 64/);
  });

  const frags = (mid: number, size: number, flags = 0x08) =>
    encodeFragments(hdr(ExchangeType.IKE_AUTH, flags, mid), authPayloads, clearSk, size).map((b) => decodeMessage(b));

  it('a larger Total Fragments restarts collection, a smaller one is ignored (RFC 7383 §2.6.1)', () => {
    const small = frags(1, 600);   // fewer, bigger fragments
    const big = frags(1, 300);     // more, smaller fragments
    expect(big.length).toBeGreaterThan(small.length);
    const fr = new FragmentReassembler();
    expect(fr.add(small[0]!, clearSk)).toBeUndefined();
    for (const f of big.slice(0, -1)) expect(fr.add(f, clearSk)).toBeUndefined();
    expect(fr.add(small[1]!, clearSk)).toBeUndefined(); // stale total: dropped
    expect(fr.add(big[big.length - 1]!, clearSk)?.payloads).toHaveLength(authPayloads.length);
  });

  it('a fragment of another message discards the collection in progress', () => {
    const a = frags(1, 300);
    const b = frags(2, 300);
    const fr = new FragmentReassembler();
    fr.add(a[0]!, clearSk);
    for (const f of b.slice(0, -1)) fr.add(f, clearSk);
    expect(fr.add(a[1]!, clearSk)).toBeUndefined();
    const fr2 = new FragmentReassembler();
    const results = b.map((f) => fr2.add(f, clearSk));
    expect(results.slice(0, -1).every((r) => r === undefined)).toBe(true);
    expect(results[results.length - 1]?.header.messageId).toBe(2);
    // the responder's fragments with the same Message ID are a different message
    const resp = frags(1, 300, 0x20);
    const fr3 = new FragmentReassembler();
    for (const f of a.slice(0, -1)) fr3.add(f, clearSk);
    fr3.add(resp[0]!, clearSk);
    expect(fr3.add(a[a.length - 1]!, clearSk)).toBeUndefined();
  });

  it(`refuses more than ${MAX_FRAGMENTS} fragments and passes plain SK messages through`, () => {
    const f = frags(1, 300)[0]!;
    const huge = { ...f, fragment: { ...f.fragment!, number: 1, total: MAX_FRAGMENTS + 1 } };
    const fr = new FragmentReassembler();
    expect(() => fr.add(huge, clearSk)).toThrow(IkeError);
    const whole = decodeMessage(encodeMessage(hdr(), authPayloads, clearSk));
    expect(fr.add(whole, clearSk)?.payloads).toHaveLength(authPayloads.length);
  });

  it('openMessage refuses a fragment', () => {
    expect(() => openMessage(frags(1, 300)[0]!, clearSk)).toThrow(IkeError);
  });
});

describe('checkPayloadRules', () => {
  const N = (notifyType: number): Payload => ({ type: PayloadType.NOTIFY, protocolId: 0, spi: Buffer.alloc(0), notifyType, data: Buffer.alloc(0) });
  const P = (type: PayloadType): Payload => {
    const found = authPayloads.find((p) => p.type === type);
    if (found) return found;
    if (type === PayloadType.KE) return { type, group: 31, data: Buffer.alloc(32) };
    if (type === PayloadType.NONCE) return { type, data: Buffer.alloc(32) };
    if (type === PayloadType.IDr) return { type, idType: 1, data: Buffer.alloc(4) };
    if (type === PayloadType.DELETE) return { type, protocolId: 1, spiSize: 0, spis: [] };
    if (type === PayloadType.CP) return { type, cfgType: 1, attributes: [] };
    throw new Error(`no sample for ${type}`);
  };
  const { SA, KE, NONCE, IDi, IDr, AUTH, TSi, TSr, DELETE, CP, CERT } = PayloadType;
  const I = ExchangeType.IKE_SA_INIT, A = ExchangeType.IKE_AUTH, C = ExchangeType.CREATE_CHILD_SA, INF = ExchangeType.INFORMATIONAL;
  const ok: [string, ExchangeType, boolean, Payload[]][] = [
    ['IKE_SA_INIT request', I, false, [P(SA), P(KE), P(NONCE), N(16388), N(16389)]],
    ['IKE_SA_INIT response INVALID_KE only', I, true, [N(NotifyType.INVALID_KE_PAYLOAD)]],
    ['IKE_SA_INIT response NO_PROPOSAL_CHOSEN only', I, true, [N(NotifyType.NO_PROPOSAL_CHOSEN)]],
    ['IKE_SA_INIT response COOKIE only', I, true, [N(NotifyType.COOKIE)]],
    ['IKE_AUTH request', A, false, [P(IDi), P(CERT), P(IDr), P(AUTH), P(CP), P(SA), P(TSi), P(TSr)]],
    ['IKE_AUTH request childless', A, false, [P(IDi), P(AUTH)]],
    ['IKE_AUTH response AUTH_FAILED', A, true, [N(NotifyType.AUTHENTICATION_FAILED)]],
    ['IKE_AUTH response TS_UNACCEPTABLE without SA', A, true, [P(IDr), P(AUTH), N(NotifyType.TS_UNACCEPTABLE)]],
    ['CREATE_CHILD_SA IKE rekey', C, false, [P(SA), P(NONCE), P(KE)]],
    ['CREATE_CHILD_SA child rekey', C, false, [N(NotifyType.REKEY_SA), P(SA), P(NONCE), P(TSi), P(TSr)]],
    ['CREATE_CHILD_SA response NO_ADDITIONAL_SAS', C, true, [N(NotifyType.NO_ADDITIONAL_SAS)]],
    ['INFORMATIONAL liveness', INF, false, []],
    ['INFORMATIONAL delete', INF, true, [P(DELETE), P(DELETE)]],
    ['unknown non-critical payload ignored', INF, false, [{ type: 99, unknown: true, critical: false, body: Buffer.alloc(0) }]],
  ];
  it.each(ok)('accepts %s', (_n, ex, resp, ps) => {
    expect(() => checkPayloadRules(ex, resp, ps)).not.toThrow();
  });

  const bad: [string, ExchangeType, boolean, Payload[], RegExp][] = [
    ['IKE_SA_INIT request without KE', I, false, [P(SA), P(NONCE)], /missing KE/],
    ['IKE_SA_INIT request with two SAs', I, false, [P(SA), P(SA), P(KE), P(NONCE)], /2 SA payloads/],
    ['IKE_SA_INIT request with only an error notify', I, false, [N(NotifyType.NO_PROPOSAL_CHOSEN)], /missing SA/],
    ['IKE_SA_INIT response with AUTH', I, true, [P(SA), P(KE), P(NONCE), P(AUTH)], /AUTH not allowed/],
    ['IKE_AUTH request SA without TSr', A, false, [P(IDi), P(AUTH), P(SA), P(TSi)], /without TSr/],
    ['IKE_AUTH request with KE', A, false, [P(IDi), P(AUTH), P(KE)], /KE not allowed/],
    ['CREATE_CHILD_SA without nonce', C, false, [P(SA), P(TSi), P(TSr)], /missing NONCE/],
    ['CREATE_CHILD_SA TSi alone', C, false, [P(SA), P(NONCE), P(TSi)], /without TSr/],
    ['INFORMATIONAL with SA', INF, false, [P(SA)], /SA not allowed/],
  ];
  it.each(bad)('rejects %s', (_n, ex, resp, ps, msg) => {
    expect(() => checkPayloadRules(ex, resp, ps)).toThrow(IkeParseError);
    expect(() => checkPayloadRules(ex, resp, ps)).toThrow(msg);
  });
});
