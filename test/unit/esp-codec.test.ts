import { createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gcm } from '@noble/ciphers/aes.js';
import { describe, expect, it } from 'vitest';
import type { EspSaKeys } from '../../dataplane/backend.js';
import {
  createInboundSa,
  createOutboundSa,
  decapsulate,
  encapsulate,
  espLength,
  EspSeqExhaustedError,
  readSpi,
  type DecapResult,
} from '../../dataplane/esp.js';
import { EspKeyError } from '../../dataplane/esp-cipher.js';

interface VectorSa { capture: string; spi: string; cipher: 'aes-gcm-16' | 'aes-cbc'; encKey: string; integ: 'none' | 'hmac-sha2-256-128'; integKey: string }
interface VectorPacket {
  capture: string; frame: number; esp: string; innerSrc: string; innerDst: string; icmpType: number; icmpSeq: number;
  padLength: number; nextHeader: number; innerLength: number;
}
const vectors = JSON.parse(readFileSync(new URL('../vectors/esp-strongswan-captures.json', import.meta.url), 'utf8')) as {
  sas: VectorSa[]; packets: VectorPacket[];
};

function keysOf(sa: VectorSa): EspSaKeys {
  return {
    spi: Number.parseInt(sa.spi, 16),
    cipher: sa.cipher,
    encKey: Buffer.from(sa.encKey, 'hex'),
    integ: sa.integ,
    integKey: Buffer.from(sa.integKey, 'hex'),
  };
}

const gcmKeys = (spi = 0x11223344): EspSaKeys => ({
  spi, cipher: 'aes-gcm-16', encKey: randomBytes(36), integ: 'none', integKey: Buffer.alloc(0),
});
const cbcKeys = (spi = 0x55667788): EspSaKeys => ({
  spi, cipher: 'aes-cbc', encKey: randomBytes(16), integ: 'hmac-sha2-256-128', integKey: randomBytes(32),
});

/** A syntactically fine IPv4 packet of `length` bytes (contents don't matter to ESP). */
function innerPacket(length: number): Buffer {
  const p = randomBytes(length);
  p[0] = 0x45;
  if (length >= 4) p.writeUInt16BE(length, 2);
  return p;
}

function expectOk(r: DecapResult): asserts r is Extract<DecapResult, { ok: true }> {
  expect(r).toMatchObject({ ok: true });
}

function seal(keys: EspSaKeys, inner: Buffer, seqStart?: bigint): Buffer {
  const sa = createOutboundSa(keys, seqStart);
  const out = Buffer.alloc(espLength(sa.transform, inner.length));
  const n = encapsulate(sa, inner, out, 0);
  expect(n).toBe(out.length);
  return out;
}

describe('ESP AES-GCM-16 (RFC 4106) against @noble/ciphers', () => {
  it.each([1, 2, 3, 4, 84, 1400])('our packet opens with noble: exact wire layout, inner %i bytes', (len) => {
    const keys = gcmKeys();
    const inner = innerPacket(len);
    const pkt = seal(keys, inner, 7n);
    // SPI, seq, IV = 64-bit seq
    expect(pkt.readUInt32BE(0)).toBe(keys.spi);
    expect(pkt.readUInt32BE(4)).toBe(7);
    expect(pkt.subarray(8, 16).toString('hex')).toBe('0000000000000007');
    const pad = (4 - ((len + 2) % 4)) % 4;
    expect(pkt.length).toBe(8 + 8 + len + pad + 2 + 16);
    const key = keys.encKey.subarray(0, 32);
    const nonce = Buffer.concat([keys.encKey.subarray(32), pkt.subarray(8, 16)]);
    const plain = Buffer.from(gcm(key, nonce, pkt.subarray(0, 8)).decrypt(pkt.subarray(16)));
    expect(plain.subarray(0, len).equals(inner)).toBe(true);
    const trailer = plain.subarray(len);
    expect([...trailer]).toEqual([...Array.from({ length: pad }, (_, i) => i + 1), pad, 4]);
  });

  it('noble-sealed packet decapsulates', () => {
    const keys = gcmKeys(0xdeadbeef);
    const inner = innerPacket(61); // 61 + 2 = 63 → 1 pad byte
    const header = Buffer.from('deadbeef0000002a', 'hex');
    const iv = Buffer.from('0102030405060708', 'hex'); // any unique IV is valid on receive
    const plain = Buffer.concat([inner, Buffer.from([1, 1, 4])]);
    const sealed = gcm(keys.encKey.subarray(0, 32), Buffer.concat([keys.encKey.subarray(32), iv]), header).encrypt(plain);
    const pkt = Buffer.concat([header, iv, sealed]);
    const r = decapsulate(createInboundSa(keys), pkt, 0, pkt.length);
    expectOk(r);
    expect(r).toMatchObject({ seq: 42, innerOffset: 16, innerLength: 61, nextHeader: 4 });
    expect(pkt.subarray(r.innerOffset, r.innerOffset + r.innerLength).equals(inner)).toBe(true);
  });

  it('works with AES-128-GCM keys (20 bytes incl. salt) and at an offset in a bigger buffer', () => {
    const keys: EspSaKeys = { ...gcmKeys(), encKey: randomBytes(20) };
    const inner = innerPacket(100);
    const sa = createOutboundSa(keys);
    const buf = Buffer.alloc(300);
    const n = encapsulate(sa, inner, buf, 37);
    const r = decapsulate(createInboundSa(keys), buf, 37, n);
    expectOk(r);
    expect(buf.subarray(r.innerOffset, r.innerOffset + r.innerLength).equals(inner)).toBe(true);
  });

  it('encapsulates in place when the inner packet sits right after the header room', () => {
    const keys = gcmKeys();
    const inner = innerPacket(200);
    const slab = Buffer.alloc(512);
    inner.copy(slab, 64);
    const sa = createOutboundSa(keys);
    const n = encapsulate(sa, slab.subarray(64, 264), slab, 64 - 16);
    const copy = Buffer.from(slab.subarray(48, 48 + n));
    const r = decapsulate(createInboundSa(keys), copy, 0, copy.length);
    expectOk(r);
    expect(copy.subarray(16, 216).equals(inner)).toBe(true);
  });
});

describe('ESP AES-CBC + HMAC-SHA-256-128 (RFC 3602, RFC 4868)', () => {
  it.each([1, 14, 15, 84, 1400])('round trip and independent check with node crypto, inner %i bytes', (len) => {
    const keys = cbcKeys();
    const inner = innerPacket(len);
    const pkt = seal(keys, inner);
    const pad = (16 - ((len + 2) % 16)) % 16;
    expect(pkt.length).toBe(8 + 16 + len + pad + 2 + 16);
    // ICV = first 16 bytes of HMAC-SHA-256 over SPI..ciphertext
    const icv = createHmac('sha256', keys.integKey).update(pkt.subarray(0, pkt.length - 16)).digest().subarray(0, 16);
    expect(pkt.subarray(pkt.length - 16).equals(icv)).toBe(true);
    // decrypt independently, check the trailer layout
    const dec = createDecipheriv('aes-128-cbc', keys.encKey, pkt.subarray(8, 24)).setAutoPadding(false);
    const plain = Buffer.concat([dec.update(pkt.subarray(24, pkt.length - 16)), dec.final()]);
    expect(plain.subarray(0, len).equals(inner)).toBe(true);
    expect([...plain.subarray(len)]).toEqual([...Array.from({ length: pad }, (_, i) => i + 1), pad, 4]);
    const r = decapsulate(createInboundSa(keys), pkt, 0, pkt.length);
    expectOk(r);
    expect(pkt.subarray(r.innerOffset, r.innerOffset + r.innerLength).equals(inner)).toBe(true);
  });

  it('uses a fresh IV per packet', () => {
    const keys = cbcKeys();
    const sa = createOutboundSa(keys);
    const inner = innerPacket(40);
    const a = Buffer.alloc(100);
    const b = Buffer.alloc(100);
    encapsulate(sa, inner, a, 0);
    encapsulate(sa, inner, b, 0);
    expect(a.subarray(8, 24).equals(b.subarray(8, 24))).toBe(false);
  });
});


describe('real strongSwan ESP packets (libipsec captures)', () => {
  it.each(vectors.packets.map((p) => [`${p.capture} frame ${p.frame}`, p] as const))('%s decapsulates', (_name, p) => {
    const pkt = Buffer.from(p.esp, 'hex');
    const spi = readSpi(pkt, 0);
    const saVector = vectors.sas.find((s) => s.capture === p.capture && Number.parseInt(s.spi, 16) === spi);
    expect(saVector, 'key for SPI').toBeDefined();
    const sa = createInboundSa(keysOf(saVector!));
    const r = decapsulate(sa, pkt, 0, pkt.length);
    expectOk(r);
    expect(r.nextHeader).toBe(p.nextHeader);
    expect(r.innerLength).toBe(p.innerLength);
    const inner = pkt.subarray(r.innerOffset, r.innerOffset + r.innerLength);
    expect(inner[0]).toBe(0x45);
    expect(inner[9]).toBe(1); // ICMP
    expect(inner.subarray(12, 16).join('.')).toBe(p.innerSrc);
    expect(inner.subarray(16, 20).join('.')).toBe(p.innerDst);
    expect(inner[20]).toBe(p.icmpType);
    expect(inner.readUInt16BE(26)).toBe(p.icmpSeq);
    // padding 1, 2, ... and pad length as tshark decoded it
    const padAt = r.innerOffset + r.innerLength;
    expect([...pkt.subarray(padAt, padAt + p.padLength + 2)]).toEqual([
      ...Array.from({ length: p.padLength }, (_, i) => i + 1), p.padLength, 4,
    ]);
  });

  it('the captures cover both GCM (pad 01 02) and CBC', () => {
    expect(vectors.packets.some((p) => p.capture === 's2s-psk-keylog' && p.padLength === 2)).toBe(true);
    expect(vectors.sas.some((s) => s.cipher === 'aes-cbc')).toBe(true);
    expect(vectors.packets.some((p) => p.capture.includes('default-proposals'))).toBe(true);
  });

  it('a tampered real packet fails the ICV', () => {
    const p = vectors.packets[0]!;
    const pkt = Buffer.from(p.esp, 'hex');
    pkt[30] = pkt[30]! ^ 1;
    const sa = createInboundSa(keysOf(vectors.sas.find((s) => Number.parseInt(s.spi, 16) === readSpi(pkt, 0))!));
    expect(decapsulate(sa, pkt, 0, pkt.length)).toEqual({ ok: false, error: 'icv' });
  });
});

describe('ESP inbound errors', () => {
  for (const [name, makeKeys] of [['GCM', gcmKeys], ['CBC', cbcKeys]] as const) {
    describe(name, () => {
      it('tampered ciphertext, ICV, IV or header → icv, and the window does not advance', () => {
        const keys = makeKeys();
        const inner = innerPacket(50);
        const good = seal(keys, inner, 5n);
        for (const at of [0 + 5, 10, 30, good.length - 1]) {
          const sa = createInboundSa(keys);
          const bad = Buffer.from(good);
          bad[at] = bad[at]! ^ 0x40;
          const r = decapsulate(sa, bad, 0, bad.length);
          expect(r, `byte ${at}`).toEqual({ ok: false, error: 'icv' });
          expect(sa.replay.highestSeq).toBe(0);
          // the genuine packet with the same seq is still accepted afterwards
          expectOk(decapsulate(sa, Buffer.from(good), 0, good.length));
        }
      });

      it('replayed packet → replay', () => {
        const keys = makeKeys();
        const sa = createInboundSa(keys);
        const pkt = seal(keys, innerPacket(60));
        expectOk(decapsulate(sa, Buffer.from(pkt), 0, pkt.length));
        expect(decapsulate(sa, Buffer.from(pkt), 0, pkt.length)).toEqual({ ok: false, error: 'replay' });
      });

      it('truncated packets → badLength', () => {
        const keys = makeKeys();
        const sa = createInboundSa(keys);
        const pkt = seal(keys, innerPacket(60));
        for (const len of [0, 7, 8, 20, 33]) expect(decapsulate(sa, pkt, 0, len)).toEqual({ ok: false, error: 'badLength' });
        expect(decapsulate(sa, pkt, 10, pkt.length)).toEqual({ ok: false, error: 'badLength' });
      });

      it('SPI mismatch → unknownSpi', () => {
        const keys = makeKeys();
        const pkt = seal(keys, innerPacket(60));
        const other = createInboundSa({ ...keys, spi: keys.spi + 1 });
        expect(decapsulate(other, pkt, 0, pkt.length)).toEqual({ ok: false, error: 'unknownSpi' });
      });
    });
  }

  /** Seals an arbitrary plaintext (incl. a hand-made trailer) with GCM via noble. */
  function gcmWithPlaintext(keys: EspSaKeys, seq: number, plain: Buffer): Buffer {
    const header = Buffer.alloc(8);
    header.writeUInt32BE(keys.spi, 0);
    header.writeUInt32BE(seq, 4);
    const iv = Buffer.alloc(8);
    iv.writeUInt32BE(seq, 4);
    const sealed = gcm(keys.encKey.subarray(0, 32), Buffer.concat([keys.encKey.subarray(32), iv]), header).encrypt(plain);
    return Buffer.concat([header, iv, sealed]);
  }

  it.each([
    ['non-monotonic padding', [0x45, 0, 0, 0, 0, 0, 1, 3, 2, 4], 'badPadding'],
    ['padding not starting at 1', [0x45, 0, 0, 0, 2, 3, 2, 4], 'badPadding'],
    ['pad length longer than the payload', [0x45, 0, 200, 4], 'badPadding'],
    ['next header 6 (TCP: transport mode is not supported)', [0x45, 0, 0, 0, 0, 0, 0, 6], 'badNextHeader'],
    ['next header 0', [0x45, 0, 0, 0, 0, 0, 0, 0], 'badNextHeader'],
  ] as const)('%s → %s, and the seq was consumed (ICV was fine)', (_n, plain, error) => {
    const keys = gcmKeys();
    const sa = createInboundSa(keys);
    const pkt = gcmWithPlaintext(keys, 9, Buffer.from(plain));
    expect(decapsulate(sa, pkt, 0, pkt.length)).toEqual({ ok: false, error });
    expect(sa.replay.highestSeq).toBe(9);
  });

  it('accepts IPv6 (41) and dummy (59) next headers', () => {
    const keys = gcmKeys();
    const sa = createInboundSa(keys);
    const v6 = gcmWithPlaintext(keys, 1, Buffer.from([0x60, 0, 0, 0, 0, 0, 0, 41]));
    const r = decapsulate(sa, v6, 0, v6.length);
    expectOk(r);
    expect(r.nextHeader).toBe(41);
    const dummy = gcmWithPlaintext(keys, 2, Buffer.from([0, 59]));
    const d = decapsulate(sa, dummy, 0, dummy.length);
    expectOk(d);
    expect(d).toMatchObject({ nextHeader: 59, innerLength: 0 });
  });
});

describe('ESP outbound sequence numbers', () => {
  it('start at 1 by default and increase by one', () => {
    const sa = createOutboundSa(gcmKeys());
    const out = Buffer.alloc(200);
    encapsulate(sa, innerPacket(20), out, 0);
    expect(out.readUInt32BE(4)).toBe(1);
    encapsulate(sa, innerPacket(20), out, 0);
    expect(out.readUInt32BE(4)).toBe(2);
  });

  it('refuses to wrap past 2^32-1 (seqExhausted)', () => {
    const sa = createOutboundSa(gcmKeys(), 0xffff_fffen);
    const out = Buffer.alloc(200);
    encapsulate(sa, innerPacket(20), out, 0);
    encapsulate(sa, innerPacket(20), out, 0);
    expect(out.readUInt32BE(4)).toBe(0xffff_ffff);
    expect(() => encapsulate(sa, innerPacket(20), out, 0)).toThrow(EspSeqExhaustedError);
    try {
      encapsulate(sa, innerPacket(20), out, 0);
    } catch (err) {
      expect((err as EspSeqExhaustedError).code).toBe('seqExhausted');
    }
  });

  it('rejects an output buffer that is too small', () => {
    const sa = createOutboundSa(gcmKeys());
    expect(() => encapsulate(sa, innerPacket(100), Buffer.alloc(120), 0)).toThrow(RangeError);
    expect(sa.nextSeq).toBe(1); // no seq burnt
  });

  it('rejects bad key sizes with EspKeyError', () => {
    expect(() => createOutboundSa({ ...gcmKeys(), encKey: randomBytes(32) })).toThrow(EspKeyError);
    expect(() => createOutboundSa({ ...cbcKeys(), integKey: randomBytes(20) })).toThrow(EspKeyError);
    expect(() => createOutboundSa({ ...cbcKeys(), integ: 'none' })).toThrow(EspKeyError);
  });
});
