/**
 * Malformed input: every defect is reported as an IkeError subclass with the
 * right notify, never as a crash or a foreign exception. Mutations start from
 * real strongSwan messages.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NotifyType, PayloadType } from '../../ike/constants.js';
import { ByteReader, ByteWriter } from '../../ike/codec/bytes.js';
import { decodeMessage, encodeMessage } from '../../ike/codec/message.js';
import { decodeDelete } from '../../ike/codec/delete.js';
import { decodeSa } from '../../ike/codec/sa.js';
import { decodeTs, encodeTs } from '../../ike/codec/ts.js';
import { decodeCp } from '../../ike/codec/cp.js';
import { decodeNotify } from '../../ike/codec/notify.js';
import { decodeKe } from '../../ike/codec/ke.js';
import type { IkeHeader, Payload } from '../../ike/codec/types.js';
import {
  IkeError, IkeParseError, InvalidMajorVersionError, UnsupportedCriticalPayloadError,
} from '../../ike/errors.js';
import { readPcapIke } from '../helpers/pcap.js';

const VECTORS = new URL('../vectors/', import.meta.url);
const ike = (name: string) => readPcapIke(readFileSync(new URL(`ike-${name}.pcap`, VECTORS))).map((d) => d.ike);

/** s2s-psk-keylog #1: SA at 28 (proposal at 32, 3 transforms from 40), then KE, No, 5 × N. */
const INIT_REQ = ike('s2s-psk-keylog')[0]!;
/** neg-no-proposal #2: header + N(NO_PROPOSAL_CHOSEN), 36 bytes. */
const NO_PROP = ike('neg-no-proposal')[1]!;
/** s2s-psk-keylog #3: IKE_AUTH request with SK at 28. */
const AUTH_REQ = ike('s2s-psk-keylog')[2]!;
/** s2s-cert-keylog #3: SKF 1/2. */
const FRAG_1 = ike('s2s-cert-keylog')[2]!;

function mutate(buf: Buffer, edit: (b: Buffer) => void): Buffer {
  const b = Buffer.from(buf);
  edit(b);
  return b;
}

const header = (): IkeHeader => ({
  spiI: Buffer.from('0102030405060708', 'hex'), spiR: Buffer.alloc(8), nextPayload: 0, version: 0x20,
  exchange: 34, flags: 0x08, messageId: 0, length: 0,
});

describe('decodeMessage rejects malformed messages', () => {
  const cases: [string, Buffer, new (...a: never[]) => IkeError, RegExp?][] = [
    ['empty datagram', Buffer.alloc(0), IkeParseError, /truncated/],
    ['truncated header', NO_PROP.subarray(0, 20), IkeParseError, /truncated/],
    ['length field larger than datagram', mutate(NO_PROP, (b) => b.writeUInt32BE(37, 24)), IkeParseError, /length 37/],
    ['length field smaller than datagram', mutate(NO_PROP, (b) => b.writeUInt32BE(35, 24)), IkeParseError],
    ['datagram cut short', NO_PROP.subarray(0, 34), IkeParseError],
    ['major version 3', mutate(NO_PROP, (b) => { b[17] = 0x30; }), InvalidMajorVersionError],
    ['major version 1 (IKEv1)', mutate(NO_PROP, (b) => { b[17] = 0x10; }), InvalidMajorVersionError],
    ['payload length < 4', mutate(NO_PROP, (b) => b.writeUInt16BE(3, 30)), IkeParseError, /< 4/],
    ['payload length past end', mutate(NO_PROP, (b) => b.writeUInt16BE(9, 30)), IkeParseError, /past the end/],
    ['payload shorter than its fields', mutate(NO_PROP, (b) => b.writeUInt16BE(6, 30)), IkeParseError],
    ['chain ends before the message', mutate(INIT_REQ, (b) => { b[28 + b.readUInt16BE(30)] = 0; }), IkeParseError],
    ['next payload claims more than there is', mutate(NO_PROP, (b) => { b[28] = PayloadType.NOTIFY; }), IkeParseError],
    ['proposal Last Substruc 1', mutate(INIT_REQ, (b) => { b[32] = 1; }), IkeParseError, /neither 0 nor 2/],
    ['proposal says more follow, none does', mutate(INIT_REQ, (b) => { b[32] = 2; }), IkeParseError, /none does/],
    ['proposal length < 8', mutate(INIT_REQ, (b) => b.writeUInt16BE(4, 34)), IkeParseError],
    ['proposal length past the SA', mutate(INIT_REQ, (b) => b.writeUInt16BE(200, 34)), IkeParseError],
    ['transform count too small', mutate(INIT_REQ, (b) => { b[39] = 2; }), IkeParseError, /Last Substruc|mismatch/],
    ['transform count too large', mutate(INIT_REQ, (b) => { b[39] = 4; }), IkeParseError, /Last Substruc/],
    ['transform Last Substruc 2', mutate(INIT_REQ, (b) => { b[40] = 2; }), IkeParseError],
    ['transform length past the proposal', mutate(INIT_REQ, (b) => b.writeUInt16BE(100, 42)), IkeParseError],
    ['TLV attribute length past the transform', mutate(INIT_REQ, (b) => { b[48] = 0x00; b[50] = 0x00; b[51] = 0x20; }), IkeParseError],
    ['SPI size past the proposal', mutate(INIT_REQ, (b) => { b[38] = 200; }), IkeParseError],
    ['SK not last', mutate(AUTH_REQ, (b) => b.writeUInt16BE(b.readUInt16BE(30) - 4, 30)), IkeParseError, /not the last/],
    ['SKF fragment number 0', mutate(FRAG_1, (b) => b.writeUInt16BE(0, 32)), IkeParseError],
    ['SKF fragment number > total', mutate(FRAG_1, (b) => b.writeUInt16BE(3, 32)), IkeParseError],
    ['SKF total 0', mutate(FRAG_1, (b) => b.writeUInt16BE(0, 34)), IkeParseError],
  ];

  it.each(cases)('%s', (_name, buf, errorClass, message) => {
    let thrown: unknown;
    try { decodeMessage(buf); } catch (e) { thrown = e; }
    expect(thrown).toBeInstanceOf(errorClass);
    expect(thrown).toBeInstanceOf(IkeError);
    if (message) expect((thrown as Error).message).toMatch(message);
  });

  it('IkeParseError answers INVALID_SYNTAX, version errors INVALID_MAJOR_VERSION', () => {
    expect(() => decodeMessage(NO_PROP.subarray(0, 10))).toThrow(expect.objectContaining({ notify: NotifyType.INVALID_SYNTAX }));
    expect(() => decodeMessage(mutate(NO_PROP, (b) => { b[17] = 0x30; })))
      .toThrow(expect.objectContaining({ notify: NotifyType.INVALID_MAJOR_VERSION }));
  });

  it('accepts a higher minor version (RFC 7296 §2.5)', () => {
    expect(decodeMessage(mutate(NO_PROP, (b) => { b[17] = 0x21; })).header.version).toBe(0x21);
  });

  it('ignores the reserved bits of the generic payload header', () => {
    const raw = decodeMessage(mutate(NO_PROP, (b) => { b[29] = 0x7f; }));
    expect(raw.payloads[0]!.critical).toBe(false);
  });
});

describe('unknown payloads', () => {
  const vendorish: Payload = { type: 200, unknown: true, critical: false, body: Buffer.from('hello') };

  it('an unknown non-critical payload is kept opaque and re-encoded as is', () => {
    const bytes = encodeMessage(header(), [vendorish, { type: PayloadType.NONCE, data: Buffer.alloc(16, 7) }]);
    const raw = decodeMessage(bytes);
    expect(raw.payloads[0]).toEqual(vendorish);
    expect(raw.payloads[1]!.type).toBe(PayloadType.NONCE);
    expect(encodeMessage(raw.header, raw.payloads).equals(bytes)).toBe(true);
  });

  it('an unknown critical payload throws UNSUPPORTED_CRITICAL_PAYLOAD with the type as data', () => {
    const bytes = encodeMessage(header(), [{ ...vendorish, critical: true }]);
    let thrown: unknown;
    try { decodeMessage(bytes); } catch (e) { thrown = e; }
    expect(thrown).toBeInstanceOf(UnsupportedCriticalPayloadError);
    expect((thrown as IkeError).notify).toBe(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD);
    expect((thrown as IkeError).notifyData).toEqual(Buffer.from([200]));
  });

  it('a known payload with the critical bit keeps the flag and decodes', () => {
    const bytes = encodeMessage(header(), [{ type: PayloadType.NONCE, critical: true, data: Buffer.alloc(16) }]);
    expect(bytes[29]).toBe(0x80);
    expect(decodeMessage(bytes).payloads[0]!.critical).toBe(true);
  });
});

describe('payload body codecs', () => {
  it('TS with start > end is structurally fine (the engine decides)', () => {
    const w = new ByteWriter();
    encodeTs({
      type: PayloadType.TSi,
      selectors: [{ tsType: 7, ipProtocol: 6, startPort: 500, endPort: 10,
        startAddress: Buffer.from([10, 0, 0, 9]), endAddress: Buffer.from([10, 0, 0, 1]) }],
    }, w);
    const ts = decodeTs(w.toBuffer(), false, PayloadType.TSi);
    expect(ts.selectors[0]!.startPort).toBe(500);
    expect([...ts.selectors[0]!.endAddress]).toEqual([10, 0, 0, 1]);
  });

  it('TS IPv6 range round-trips; wrong selector length or type is rejected', () => {
    const v6 = Buffer.concat([
      Buffer.from('01000000', 'hex'), Buffer.from('08000028', 'hex'), Buffer.from('0000ffff', 'hex'),
      Buffer.from('20010db8000000000000000000000000', 'hex'), Buffer.from('20010db8ffffffffffffffffffffffff', 'hex'),
    ]);
    const ts = decodeTs(v6, false, PayloadType.TSr);
    expect(ts.type).toBe(PayloadType.TSr);
    expect(ts.selectors[0]!.startAddress.toString('hex')).toBe('20010db8000000000000000000000000');
    const w = new ByteWriter();
    encodeTs(ts, w);
    expect(w.toBuffer().equals(v6)).toBe(true);
    expect(() => decodeTs(mutate(v6, (b) => b.writeUInt16BE(16, 6)), false)).toThrow(IkeParseError);
    expect(() => decodeTs(mutate(v6, (b) => { b[4] = 9; }), false)).toThrow(/unsupported TS type 9/);
    expect(() => decodeTs(mutate(v6, (b) => { b[0] = 2; }), false)).toThrow(IkeParseError);
    expect(() => decodeTs(Buffer.concat([v6, Buffer.alloc(1)]), false)).toThrow(/bytes after/);
  });

  it('Delete: SPI count must match the body', () => {
    expect(decodeDelete(Buffer.from('03040002aaaaaaaabbbbbbbb', 'hex'), false).spis.map((s) => s.toString('hex')))
      .toEqual(['aaaaaaaa', 'bbbbbbbb']);
    expect(() => decodeDelete(Buffer.from('03040003aaaaaaaabbbbbbbb', 'hex'), false)).toThrow(IkeParseError);
    expect(() => decodeDelete(Buffer.from('03040001aaaaaaaabbbbbbbb', 'hex'), false)).toThrow(IkeParseError);
    expect(() => decodeDelete(Buffer.from('01000001', 'hex'), false)).toThrow(IkeParseError);
    expect(() => decodeDelete(Buffer.from('0104', 'hex'), false)).toThrow(IkeParseError);
  });

  it('SA: unknown TLV and TV attributes are skipped, key length kept', () => {
    // proposal 1 ESP, SPI 4, 1 transform ENCR 20 with [TLV type 99 len 3] [TV 0x8063] [key length 128]
    const body = Buffer.from('0000001c0103040100000000' + '00000010010000140063000301020380630007800e0080', 'hex');
    body.writeUInt16BE(body.length, 2);
    body.writeUInt16BE(body.length - 12, 14);
    const sa = decodeSa(body, false);
    expect(sa.proposals[0]!.transforms).toEqual([{ type: 1, id: 20, keyLength: 128 }]);
  });

  it('CP: attribute length past the payload', () => {
    expect(decodeCp(Buffer.from('0100000000010000', 'hex'), false).attributes).toEqual([{ type: 1, value: Buffer.alloc(0) }]);
    expect(() => decodeCp(Buffer.from('010000000001000400', 'hex'), false)).toThrow(IkeParseError);
  });

  it('Notify with an SPI; SPI size past the body', () => {
    const n = decodeNotify(Buffer.from('03044009aabbccdd', 'hex'), false);
    expect(n.spi.toString('hex')).toBe('aabbccdd');
    expect(n.notifyType).toBe(NotifyType.REKEY_SA);
    expect(() => decodeNotify(Buffer.from('03084009aabbccdd', 'hex'), false)).toThrow(IkeParseError);
  });

  it('KE shorter than its fixed fields', () => {
    expect(() => decodeKe(Buffer.from('001f00', 'hex'), false)).toThrow(IkeParseError);
  });

  it('ByteReader never reads past its slice, even with bytes beyond it', () => {
    const buf = Buffer.from('0102030405060708', 'hex');
    const r = new ByteReader(buf, 2, 4, 'slice');
    expect(r.u16()).toBe(0x0304);
    expect(() => r.u8()).toThrow(IkeParseError);
    const parent = new ByteReader(buf, 0, 8, 'parent');
    const child = parent.sub(3, 'child');
    expect(() => child.u32()).toThrow(IkeParseError);
    expect(parent.u8()).toBe(4);
    expect(() => parent.sub(10, 'big')).toThrow(IkeParseError);
    expect(() => new ByteReader(buf, 4, 20)).toThrow(IkeParseError);
  });

  it('ByteWriter grows and back-patches lengths', () => {
    const w = new ByteWriter(16);
    const at = w.reserveU16();
    for (let i = 0; i < 100; i++) w.u32(i);
    w.patchU16(at, w.length);
    const b = w.toBuffer();
    expect(b.length).toBe(402);
    expect(b.readUInt16BE(0)).toBe(402);
    expect(b.readUInt32BE(398)).toBe(99);
    expect(() => w.u8(256)).toThrow(RangeError);
    expect(() => w.patchU16(1000, 1)).toThrow(RangeError);
  });
});

/** Deterministic PRNG (mulberry32) so a failure is reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('fuzz: mutated real messages only ever raise IkeError', () => {
  const corpus = [
    ...ike('s2s-psk-keylog'), ...ike('s2s-psk-default-proposals-keylog'), ...ike('neg-invalid-ke'),
    ...ike('neg-no-proposal'), ...ike('vendor-id'), ...ike('s2s-cert-keylog').slice(0, 4),
  ];

  it('2000 mutations', () => {
    const rand = rng(0x1ce5eed);
    const pick = (n: number) => Math.floor(rand() * n);
    let decoded = 0;
    let rejected = 0;
    for (let i = 0; i < 2000; i++) {
      const src = corpus[pick(corpus.length)]!;
      let b = Buffer.from(src);
      const edits = 1 + pick(4);
      for (let e = 0; e < edits; e++) {
        const op = pick(5);
        if (op === 0) b[pick(b.length)] = pick(256);
        else if (op === 1) b[pick(b.length)]! ^= 1 << pick(8);
        else if (op === 2) b = b.subarray(0, pick(b.length + 1));
        else if (op === 3) b = Buffer.concat([b, Buffer.alloc(pick(8), pick(256))]);
        else if (b.length > 32) b.writeUInt16BE(pick(0x10000) & (pick(2) ? 0xff : 0xffff), 28 + pick(b.length - 30));
      }
      // Half the time repair the header length so mutations reach the payloads.
      if (b.length >= 28 && pick(2)) b.writeUInt32BE(b.length, 24);
      try {
        const raw = decodeMessage(b);
        decoded++;
        if (!raw.encrypted && !raw.fragment) {
          // Whatever decodes must encode again and decode to the same thing.
          const again = decodeMessage(encodeMessage(raw.header, raw.payloads));
          expect(again.payloads).toEqual(raw.payloads);
        }
      } catch (err) {
        if (!(err instanceof IkeError)) throw new Error(`mutation ${i} raised ${String(err)}: ${b.toString('hex')}`);
        rejected++;
      }
    }
    expect(decoded + rejected).toBe(2000);
    expect(rejected).toBeGreaterThan(100);
    expect(decoded).toBeGreaterThan(100);
  });
});
