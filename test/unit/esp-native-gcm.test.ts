import { randomBytes } from 'node:crypto';
import { gcm } from '@noble/ciphers/aes.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { EspSaKeys } from '../../dataplane/backend.js';
import { createEspTransform, EspKeyError, type EspTransform } from '../../dataplane/esp-cipher.js';
import { fastPathAddon } from '../../dataplane/native.js';

// The addon's AES-GCM (OpenSSL GCM128 + AES-NI, or EVP with VGW_GCM_EVP=1)
// must produce exactly what node:crypto and @noble/ciphers produce.
const addon = fastPathAddon();
const skip = addon === undefined ? ' (skipped: vgw_tun addon not built)' : '';

function gcmKeys(keyBytes: 16 | 24 | 32): EspSaKeys {
  return { spi: 0x01020304, cipher: 'aes-gcm-16', integ: 'none', encKey: randomBytes(keyBytes + 4), integKey: Buffer.alloc(0) };
}

/** ESP packet skeleton: header (SPI, seq) + room for IV, plaintext, ICV. */
function packet(spi: number, seq: number, plaintext: Buffer, at = 0): Buffer {
  const buf = Buffer.alloc(at + 16 + plaintext.length + 16 + 7);
  buf.writeUInt32BE(spi, at);
  buf.writeUInt32BE(seq, at + 4);
  plaintext.copy(buf, at + 16);
  return buf;
}

const created: EspTransform[] = [];
function make(keys: EspSaKeys, engine: 'native' | 'node', evp = false): EspTransform {
  if (evp) process.env['VGW_GCM_EVP'] = '1';
  try {
    const t = createEspTransform(keys, { engine });
    created.push(t);
    return t;
  } finally {
    delete process.env['VGW_GCM_EVP'];
  }
}
afterEach(() => {
  for (const t of created.splice(0)) t.dispose?.();
});

describe.each([
  ['GCM128 + AES-NI', false],
  ['EVP', true],
])(`native AES-GCM-16 (%s) vs node:crypto${skip}`, (_name, evp) => {
  it.skipIf(!addon).each([16, 24, 32] as const)('seals byte-identically and opens the other engine’s output (%i-byte key)', (keyBytes) => {
    const keys = gcmKeys(keyBytes);
    const native = make(keys, 'native', evp);
    const node = make(keys, 'node');
    expect(native.engine).toBe('native');
    expect(node.engine).toBe('node');
    for (const len of [4, 16, 17, 64, 255, 1400, 1438, 4000]) {
      const pt = randomBytes(len);
      const seq = 1 + len * 7;
      const a = packet(keys.spi, seq, pt, 3);
      const b = packet(keys.spi, seq, pt, 3);
      native.seal(a, 3, seq, len);
      node.seal(b, 3, seq, len);
      expect(a.equals(b)).toBe(true);
      // independent check: @noble/ciphers with nonce = salt ‖ IV, AAD = SPI ‖ seq
      const salt = keys.encKey.subarray(keyBytes);
      const nonce = Buffer.concat([salt, a.subarray(11, 19)]);
      const expected = gcm(keys.encKey.subarray(0, keyBytes), nonce, a.subarray(3, 11)).encrypt(pt);
      expect(Buffer.from(a.subarray(19, 19 + len + 16)).equals(Buffer.from(expected))).toBe(true);
      // each engine opens the other's packet
      expect(node.open(a, 3, 8 + 8 + len + 16)).toBe(true);
      expect(a.subarray(19, 19 + len).equals(pt)).toBe(true);
      expect(native.open(b, 3, 8 + 8 + len + 16)).toBe(true);
      expect(b.subarray(19, 19 + len).equals(pt)).toBe(true);
    }
  });

  it.skipIf(!addon)('rejects a flipped bit anywhere (header, IV, ciphertext, ICV)', () => {
    const keys = gcmKeys(32);
    const native = make(keys, 'native', evp);
    const pt = randomBytes(100);
    const sealed = packet(keys.spi, 5, pt);
    native.seal(sealed, 0, 5, pt.length);
    const total = 16 + pt.length + 16;
    for (const at of [0, 5, 8, 15, 16, 60, total - 17, total - 16, total - 1]) {
      const bad = Buffer.from(sealed);
      bad[at]! ^= 0x01;
      expect(native.open(bad, 0, total)).toBe(false);
    }
    expect(native.open(Buffer.from(sealed), 0, total)).toBe(true);
    // too short to hold IV + ICV
    expect(native.open(Buffer.from(sealed), 0, 31)).toBe(false);
  });
});

describe(`native AES-GCM lifetime${skip}`, () => {
  it.skipIf(!addon)('keeps many SAs apart (handles survive table growth) and refuses use after dispose', () => {
    // Regression: the handle table grows past 16/32/64; each SA's key must stay put.
    const sas = Array.from({ length: 80 }, () => {
      const keys = gcmKeys(32);
      return { keys, native: make(keys, 'native'), node: make(keys, 'node') };
    });
    for (const [i, sa] of sas.entries()) {
      const pt = randomBytes(50 + i);
      const a = packet(sa.keys.spi, i + 1, pt);
      const b = packet(sa.keys.spi, i + 1, pt);
      sa.native.seal(a, 0, i + 1, pt.length);
      sa.node.seal(b, 0, i + 1, pt.length);
      expect(a.equals(b)).toBe(true);
    }
    const first = sas[0]!.native;
    first.dispose?.();
    expect(() => first.seal(Buffer.alloc(64), 0, 1, 4)).toThrow(EspKeyError);
    expect(first.open(Buffer.alloc(64), 0, 40)).toBe(false);
    first.dispose?.(); // idempotent
  });

  it.skipIf(!addon)('refuses bad key sizes and out-of-range offsets with typed errors', () => {
    expect(() => createEspTransform({ ...gcmKeys(16), encKey: Buffer.alloc(19) }, { engine: 'native' })).toThrow(EspKeyError);
    const t = make(gcmKeys(16), 'native');
    expect(() => t.seal(Buffer.alloc(40), 0, 1, 100)).toThrow(RangeError);
    expect(t.open(Buffer.alloc(40), 0, 100)).toBe(false);
  });
});
