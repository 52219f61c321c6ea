/**
 * ESP packet codec (RFC 4303), sans-IO. ESP-in-UDP (RFC 3948) puts this
 * directly after the UDP header on port 4500.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ ----
 * |               Security Parameters Index (SPI)                 | ^Int.
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |Cov-
 * |                      Sequence Number                          | |ered
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ | ----
 * |               IV (8 bytes GCM / 16 bytes CBC)                 | |   ^
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |   |
 * ~           Payload Data: the inner IPv4/IPv6 packet            ~ |Conf.
 * +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |Cov-
 * |               |     Padding 1, 2, 3, ... (0-255 bytes)        | |ered
 * +-+-+-+-+-+-+-+-+               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |   |
 * |                               |  Pad Length   | Next Header   | v   v
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ ------
 * |         Integrity Check Value-ICV (16 bytes)                  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Next header: 4 = IPv4, 41 = IPv6 (tunnel mode), 59 = dummy packet (§2.6).
 * 32-bit sequence numbers (no ESN): the outbound SA refuses to wrap.
 */
import type { EspSaKeys } from './backend.js';
import { createEspTransform, ESP_HEADER_LENGTH, ESP_TRAILER_LENGTH, type EspTransform } from './esp-cipher.js';
import { ReplayWindow } from './replay-window.js';

export const NEXT_HEADER_IPV4 = 4;
export const NEXT_HEADER_IPV6 = 41;
/** RFC 4303 §2.6: a dummy packet, to be discarded silently by the receiver. */
export const NEXT_HEADER_NONE = 59;
const MAX_SEQ = 0xffff_ffff;

export type EspError = 'badLength' | 'unknownSpi' | 'replay' | 'icv' | 'badPadding' | 'badNextHeader';

export type DecapResult =
  | { ok: true; seq: number; innerOffset: number; innerLength: number; nextHeader: number }
  | { ok: false; error: EspError };

export class EspSeqExhaustedError extends Error {
  readonly code = 'seqExhausted';
  constructor(readonly spi: number) {
    super(`ESP SA 0x${spi.toString(16).padStart(8, '0')}: 32-bit sequence number space exhausted; rekey required`);
    this.name = 'EspSeqExhaustedError';
  }
}

export interface OutboundEspSa {
  readonly spi: number;
  readonly transform: EspTransform;
  /** Next sequence number to send; > 0xffffffff = exhausted. */
  nextSeq: number;
}

export interface InboundEspSa {
  readonly spi: number;
  readonly transform: EspTransform;
  readonly replay: ReplayWindow;
}

export function createOutboundSa(keys: EspSaKeys, seqStart: bigint = 1n): OutboundEspSa {
  if (seqStart < 1n || seqStart > BigInt(MAX_SEQ) + 1n) throw new RangeError(`outbound seq start ${seqStart} out of range 1..2^32`);
  return {
    spi: keys.spi >>> 0,
    transform: createEspTransform(keys),
    nextSeq: Number(seqStart),
  };
}

export function createInboundSa(keys: EspSaKeys): InboundEspSa {
  return { spi: keys.spi >>> 0, transform: createEspTransform(keys), replay: new ReplayWindow() };
}

/** Padding needed so that payload ‖ padding ‖ trailer is a multiple of `align`. */
function padLengthFor(payloadLength: number, align: number): number {
  const r = (payloadLength + ESP_TRAILER_LENGTH) % align;
  return r === 0 ? 0 : align - r;
}

/** Bytes of ESP (header through ICV) for an inner packet of `innerLength` bytes. */
export function espLength(transform: EspTransform, innerLength: number): number {
  return (
    ESP_HEADER_LENGTH +
    transform.ivLength +
    innerLength +
    padLengthFor(innerLength, transform.padAlign) +
    ESP_TRAILER_LENGTH +
    transform.icvLength
  );
}

/** Bytes the ESP header + IV take in front of the inner packet (for in-place encapsulation). */
export function espPrefixLength(transform: EspTransform): number {
  return ESP_HEADER_LENGTH + transform.ivLength;
}

export function seqExhausted(sa: OutboundEspSa): boolean {
  return sa.nextSeq > MAX_SEQ;
}

/**
 * Encapsulates `inner` into out[outOffset, outOffset + returned length).
 * When `inner` is already a view of `out` at outOffset + espPrefixLength()
 * (the TUN slab with headroom), nothing is copied; otherwise it is copied
 * there first, and the cipher then works in place. Throws
 * EspSeqExhaustedError when the SA has used seq 2^32-1, RangeError when out is too small.
 */
export function encapsulate(sa: OutboundEspSa, inner: Uint8Array, out: Buffer, outOffset: number, nextHeader = NEXT_HEADER_IPV4): number {
  if (sa.nextSeq > MAX_SEQ) throw new EspSeqExhaustedError(sa.spi);
  const t = sa.transform;
  const padLength = padLengthFor(inner.length, t.padAlign);
  const total = espLength(t, inner.length);
  if (outOffset < 0 || outOffset + total > out.length) {
    throw new RangeError(`ESP output needs ${total} bytes at offset ${outOffset}, buffer has ${out.length}`);
  }
  const payloadAt = outOffset + ESP_HEADER_LENGTH + t.ivLength;
  if (inner.buffer !== out.buffer || inner.byteOffset !== out.byteOffset + payloadAt) {
    out.set(inner, payloadAt); // TypedArray.set copies correctly even when the ranges overlap
  }
  const seq = sa.nextSeq++;
  out.writeUInt32BE(sa.spi, outOffset);
  out.writeUInt32BE(seq, outOffset + 4);
  let at = payloadAt + inner.length;
  for (let i = 1; i <= padLength; i++) out[at++] = i; // RFC 4303 §2.4: 1, 2, 3, ...
  out[at++] = padLength;
  out[at++] = nextHeader;
  t.seal(out, outOffset, seq, at - payloadAt);
  return total;
}

const FAIL: { readonly [E in EspError]: { ok: false; error: E } } = {
  badLength: { ok: false, error: 'badLength' },
  unknownSpi: { ok: false, error: 'unknownSpi' },
  replay: { ok: false, error: 'replay' },
  icv: { ok: false, error: 'icv' },
  badPadding: { ok: false, error: 'badPadding' },
  badNextHeader: { ok: false, error: 'badNextHeader' },
};

/** SPI of the ESP packet at pkt[offset]; call only after checking length ≥ 8. */
export function readSpi(pkt: Buffer, offset: number): number {
  return pkt.readUInt32BE(offset);
}

/** Smallest ESP packet this transform can have produced. */
function minLength(t: EspTransform): number {
  // CBC needs at least one block; GCM at least the 2-byte trailer.
  return ESP_HEADER_LENGTH + t.ivLength + (t.padAlign === 16 ? 16 : ESP_TRAILER_LENGTH) + t.icvLength;
}

/**
 * Verifies and decrypts pkt[offset, offset+length) in place. The caller has
 * looked the SPI up (readSpi) to find `sa`. Order: bounds → replay check →
 * ICV + decrypt → replay commit → padding and next header.
 */
export function decapsulate(sa: InboundEspSa, pkt: Buffer, offset: number, length: number): DecapResult {
  const t = sa.transform;
  if (offset < 0 || length < minLength(t) || offset + length > pkt.length) return FAIL.badLength;
  const ctLength = length - ESP_HEADER_LENGTH - t.ivLength - t.icvLength;
  if (t.padAlign === 16 && ctLength % 16 !== 0) return FAIL.badLength; // CBC works on whole blocks
  if (pkt.readUInt32BE(offset) !== sa.spi) return FAIL.unknownSpi;
  const seq = pkt.readUInt32BE(offset + 4);
  if (sa.replay.check(seq) !== 'ok') return FAIL.replay;
  if (!t.open(pkt, offset, length)) return FAIL.icv;
  if (sa.replay.commit(seq) !== 'ok') return FAIL.replay;

  const ctAt = offset + ESP_HEADER_LENGTH + t.ivLength;
  const trailerAt = ctAt + ctLength - ESP_TRAILER_LENGTH;
  const padLength = pkt[trailerAt]!;
  const nextHeader = pkt[trailerAt + 1]!;
  if (padLength > ctLength - ESP_TRAILER_LENGTH) return FAIL.badPadding;
  const padAt = trailerAt - padLength;
  for (let i = 0; i < padLength; i++) {
    if (pkt[padAt + i] !== i + 1) return FAIL.badPadding;
  }
  if (nextHeader !== NEXT_HEADER_IPV4 && nextHeader !== NEXT_HEADER_IPV6 && nextHeader !== NEXT_HEADER_NONE) {
    return FAIL.badNextHeader;
  }
  return { ok: true, seq, innerOffset: ctAt, innerLength: padAt - ctAt, nextHeader };
}
