/**
 * ESP payload protection transforms (the crypto half of dataplane/esp.ts).
 *
 * AES-GCM-16 (RFC 4106):                      AES-CBC + HMAC-SHA-256-128 (RFC 3602, RFC 4868):
 *   key   = encKey[0, len-4)                    key  = encKey (16/24/32), integKey 32 bytes
 *   salt  = encKey[len-4, len)                  IV   = 16 random bytes
 *   IV    = 8 bytes = the 64-bit seq number     ICV  = HMAC-SHA-256(SPI..ciphertext)[0,16)
 *   nonce = salt ‖ IV, AAD = SPI ‖ seq(32)      padding to 16 bytes
 *   ICV   = 16-byte GCM tag, padding to 4 bytes
 *
 * AES-GCM runs in the vgw_tun addon (OpenSSL EVP contexts keyed once per SA,
 * in place, no allocation per packet) when it is built; otherwise, and for
 * AES-CBC, node:crypto with one cipher object per packet (its update()/final()
 * Buffers are copied into the packet: the only per-packet allocations left).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  randomFillSync,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import type { EspCipher, EspSaKeys } from './backend.js';
import { fastPathAddon, type NativeAddon } from './native.js';

export const ESP_HEADER_LENGTH = 8; // SPI(4) + seq(4)
export const ESP_TRAILER_LENGTH = 2; // pad length(1) + next header(1)

export class EspKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EspKeyError';
  }
}

/**
 * Seals/opens the part of an ESP packet after the 8-byte header.
 * `esp` is the offset of the SPI in the buffer.
 */
export interface EspTransform {
  readonly cipher: EspCipher;
  readonly ivLength: number;
  readonly icvLength: number;
  /** The ciphertext (payload ‖ padding ‖ trailer) is padded to a multiple of this. */
  readonly padAlign: number;
  /**
   * Header (SPI, seq) is already at out[esp, esp+8) and the plaintext
   * (payload ‖ padding ‖ padLength ‖ nextHeader) at out[esp+8+ivLength, +plaintextLength).
   * Writes the IV, encrypts the plaintext in place and appends the ICV.
   */
  seal(out: Buffer, esp: number, seq: number, plaintextLength: number): void;
  /**
   * Verifies the ICV of pkt[esp, esp+length) and decrypts the ciphertext in
   * place (plaintext lands at esp + 8 + ivLength). False = ICV mismatch; the
   * buffer is left unchanged then.
   */
  open(pkt: Buffer, esp: number, length: number): boolean;
  /** Releases native key state (call when the SA is removed); the transform is unusable after. */
  dispose?(): void;
  /** 'native' = the addon's OpenSSL EVP path, 'node' = node:crypto. */
  readonly engine: 'native' | 'node';
}

/** RFC 4106 AES-GCM with a 16-byte ICV. */
class AesGcmTransform implements EspTransform {
  readonly cipher = 'aes-gcm-16' as const;
  readonly engine = 'node' as const;
  readonly ivLength = 8;
  readonly icvLength = 16;
  readonly padAlign = 4;
  private readonly algorithm: 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm';
  private readonly key: KeyObject;
  private readonly nonce = Buffer.alloc(12); // salt ‖ IV, reused (createCipheriv copies it)
  private readonly aad = Buffer.alloc(8);

  constructor(encKey: Buffer) {
    const keyLength = encKey.length - 4;
    if (keyLength !== 16 && keyLength !== 24 && keyLength !== 32) {
      throw new EspKeyError(`AES-GCM key material must be 20, 28 or 36 bytes (key + 4-byte salt), got ${encKey.length}`);
    }
    this.algorithm = keyLength === 16 ? 'aes-128-gcm' : keyLength === 24 ? 'aes-192-gcm' : 'aes-256-gcm';
    this.key = createSecretKey(encKey.subarray(0, keyLength));
    encKey.copy(this.nonce, 0, keyLength, keyLength + 4);
  }

  seal(out: Buffer, esp: number, seq: number, plaintextLength: number): void {
    const ivAt = esp + ESP_HEADER_LENGTH;
    const ctAt = ivAt + 8;
    // IV = 64-bit sequence number: unique per SA, never repeats (RFC 4106 §3.1).
    out.writeUInt32BE(0, ivAt);
    out.writeUInt32BE(seq, ivAt + 4);
    out.copy(this.nonce, 4, ivAt, ivAt + 8);
    out.copy(this.aad, 0, esp, esp + 8);
    const cipher = createCipheriv(this.algorithm, this.key, this.nonce, { authTagLength: 16 });
    cipher.setAAD(this.aad);
    const ct = cipher.update(out.subarray(ctAt, ctAt + plaintextLength));
    cipher.final();
    ct.copy(out, ctAt);
    cipher.getAuthTag().copy(out, ctAt + plaintextLength);
  }

  open(pkt: Buffer, esp: number, length: number): boolean {
    const ivAt = esp + ESP_HEADER_LENGTH;
    const ctAt = ivAt + 8;
    const icvAt = esp + length - 16;
    pkt.copy(this.nonce, 4, ivAt, ivAt + 8);
    pkt.copy(this.aad, 0, esp, esp + 8);
    const decipher = createDecipheriv(this.algorithm, this.key, this.nonce, { authTagLength: 16 });
    decipher.setAAD(this.aad);
    decipher.setAuthTag(pkt.subarray(icvAt, icvAt + 16));
    const plain = decipher.update(pkt.subarray(ctAt, icvAt));
    try {
      decipher.final();
    } catch {
      return false;
    }
    plain.copy(pkt, ctAt);
    return true;
  }
}

/** Frees native GCM contexts of transforms that were dropped without dispose(). */
const gcmFinalizer = new FinalizationRegistry<{ addon: NativeAddon; handle: number; freed: boolean }>((h) => {
  if (!h.freed) h.addon.gcmFree(h.handle);
});

/** RFC 4106 AES-GCM-16 in the addon: same wire format as AesGcmTransform. */
class NativeAesGcmTransform implements EspTransform {
  readonly cipher = 'aes-gcm-16' as const;
  readonly engine = 'native' as const;
  readonly ivLength = 8;
  readonly icvLength = 16;
  readonly padAlign = 4;
  private readonly state: { addon: NativeAddon; handle: number; freed: boolean };

  constructor(
    private readonly addon: NativeAddon,
    encKey: Buffer,
  ) {
    const keyLength = encKey.length - 4;
    if (keyLength !== 16 && keyLength !== 24 && keyLength !== 32) {
      throw new EspKeyError(`AES-GCM key material must be 20, 28 or 36 bytes (key + 4-byte salt), got ${encKey.length}`);
    }
    const handle = addon.gcmCreate(encKey.subarray(0, keyLength), encKey.subarray(keyLength));
    this.state = { addon, handle, freed: false };
    gcmFinalizer.register(this, this.state, this);
  }

  seal(out: Buffer, esp: number, seq: number, plaintextLength: number): void {
    if (this.state.freed) throw new EspKeyError('ESP transform used after dispose()');
    this.addon.gcmSeal(this.state.handle, out, esp, seq, plaintextLength);
  }

  open(pkt: Buffer, esp: number, length: number): boolean {
    if (this.state.freed) return false;
    return this.addon.gcmOpen(this.state.handle, pkt, esp, length);
  }

  dispose(): void {
    if (this.state.freed) return;
    this.state.freed = true;
    gcmFinalizer.unregister(this);
    this.addon.gcmFree(this.state.handle);
  }
}

/** Pool of random bytes for CBC IVs: one RNG call per 256 packets instead of per packet. */
const ivPool = Buffer.alloc(4096);
let ivPoolUsed = ivPool.length;
function fillRandomIv(out: Buffer, at: number): void {
  if (ivPoolUsed + 16 > ivPool.length) {
    randomFillSync(ivPool);
    ivPoolUsed = 0;
  }
  ivPool.copy(out, at, ivPoolUsed, ivPoolUsed + 16);
  ivPoolUsed += 16;
}

/** RFC 3602 AES-CBC with RFC 4868 HMAC-SHA-256-128 (encrypt-then-MAC). */
class AesCbcHmacTransform implements EspTransform {
  readonly cipher = 'aes-cbc' as const;
  readonly engine = 'node' as const;
  readonly ivLength = 16;
  readonly icvLength = 16;
  readonly padAlign = 16;
  private readonly algorithm: 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc';
  private readonly key: KeyObject;
  private readonly integKey: KeyObject;

  constructor(encKey: Buffer, integKey: Buffer) {
    const n = encKey.length;
    if (n !== 16 && n !== 24 && n !== 32) throw new EspKeyError(`AES-CBC key must be 16, 24 or 32 bytes, got ${n}`);
    if (integKey.length !== 32) throw new EspKeyError(`HMAC-SHA-256-128 key must be 32 bytes (RFC 4868), got ${integKey.length}`);
    this.algorithm = n === 16 ? 'aes-128-cbc' : n === 24 ? 'aes-192-cbc' : 'aes-256-cbc';
    this.key = createSecretKey(encKey);
    this.integKey = createSecretKey(integKey);
  }

  seal(out: Buffer, esp: number, _seq: number, plaintextLength: number): void {
    const ivAt = esp + ESP_HEADER_LENGTH;
    const ctAt = ivAt + 16;
    fillRandomIv(out, ivAt);
    const cipher = createCipheriv(this.algorithm, this.key, out.subarray(ivAt, ivAt + 16));
    cipher.setAutoPadding(false); // ESP does its own padding
    const ct = cipher.update(out.subarray(ctAt, ctAt + plaintextLength));
    const last = cipher.final(); // empty: the plaintext is whole blocks
    const at = ctAt + ct.copy(out, ctAt);
    const end = at + last.copy(out, at);
    const mac = createHmac('sha256', this.integKey).update(out.subarray(esp, end)).digest();
    mac.copy(out, end, 0, 16);
  }

  open(pkt: Buffer, esp: number, length: number): boolean {
    const ivAt = esp + ESP_HEADER_LENGTH;
    const ctAt = ivAt + 16;
    const icvAt = esp + length - 16;
    const mac = createHmac('sha256', this.integKey).update(pkt.subarray(esp, icvAt)).digest();
    if (!timingSafeEqual(mac.subarray(0, 16), pkt.subarray(icvAt, icvAt + 16))) return false;
    const decipher = createDecipheriv(this.algorithm, this.key, pkt.subarray(ivAt, ivAt + 16));
    decipher.setAutoPadding(false);
    const plain = decipher.update(pkt.subarray(ctAt, icvAt));
    const last = decipher.final();
    const at = ctAt + plain.copy(pkt, ctAt);
    last.copy(pkt, at);
    return true;
  }
}

export interface CreateTransformOptions {
  /** 'auto' (default): the addon when built, else node:crypto. */
  engine?: 'auto' | 'native' | 'node';
}

/** Builds the transform for one direction of a Child SA; throws EspKeyError on bad key sizes. */
export function createEspTransform(keys: EspSaKeys, opts: CreateTransformOptions = {}): EspTransform {
  if (keys.cipher === 'aes-gcm-16') {
    if (keys.integ !== 'none') throw new EspKeyError(`AES-GCM is AEAD: integ must be 'none', got '${keys.integ}'`);
    const engine = opts.engine ?? 'auto';
    if (engine !== 'node') {
      const addon = fastPathAddon();
      if (addon) return new NativeAesGcmTransform(addon, keys.encKey);
      if (engine === 'native') throw new EspKeyError('native AES-GCM requested but the vgw_tun addon is not built');
    }
    return new AesGcmTransform(keys.encKey);
  }
  if (keys.cipher === 'aes-cbc') {
    if (keys.integ !== 'hmac-sha2-256-128') throw new EspKeyError(`AES-CBC needs integrity; got '${keys.integ}'`);
    return new AesCbcHmacTransform(keys.encKey, keys.integKey);
  }
  throw new EspKeyError(`unsupported ESP cipher '${String(keys.cipher)}'`);
}
