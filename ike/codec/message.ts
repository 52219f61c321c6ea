/**
 * Whole IKE messages: header + payload chain, SK (RFC 7296 §3.14) and SKF
 * (RFC 7383 §2.5) handling.
 *
 * Encrypted payload (SK, 46):
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     Initialization Vector                     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                    Encrypted IKE Payloads                     ~
 * +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |               |             Padding (0-255 octets)            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                               |  Pad Length   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                    Integrity Checksum Data                    ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Encrypted Fragment payload (SKF, 53):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |        Fragment Number        |        Total Fragments        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     Initialization Vector                     |
 * ~                      Encrypted content                        ~
 * ~                    Integrity Checksum Data                    ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The IV/padding/ICV layout is the SkTransform's business (crypto/sk.ts);
 * this module only places the body and hands over offsets.
 */
import { IntegrityError } from '../../crypto/errors.js';
import type { SkTransform } from '../../crypto/types.js';
import {
  GENERIC_PAYLOAD_HEADER_LENGTH, IKE_HEADER_LENGTH, PayloadType,
} from '../constants.js';
import { IkeError, IkeParseError, InvalidMajorVersionError } from '../errors.js';
import { ByteWriter } from './bytes.js';
import { decodeHeader, encodeHeaderInto } from './header.js';
import { encodePayloadChain, walkPayloadChain } from './payloads.js';
import type { IkeHeader, IkeMessage, Payload, RawIkeMessage } from './types.js';

const IKE_MAJOR_VERSION = 2;
const SKF_HEADER_LENGTH = GENERIC_PAYLOAD_HEADER_LENGTH + 4;
const MAX_PAYLOAD_LENGTH = 0xffff;
/** RFC 7383 leaves the limit to implementations; 64 × ~1.2 kB is far beyond any sane IKE_AUTH. */
export const MAX_FRAGMENTS = 64;

/**
 * Decodes the header and the plain payloads; records where SK / SKF is.
 * Throws InvalidMajorVersionError for a major version other than 2 and
 * IkeParseError for anything malformed (including Length ≠ datagram size).
 */
export function decodeMessage(buf: Buffer): RawIkeMessage {
  const header = decodeHeader(buf);
  if (header.version >> 4 !== IKE_MAJOR_VERSION) throw new InvalidMajorVersionError(header.version);
  if (header.length !== buf.length) {
    throw new IkeParseError(`IKE header length ${header.length} but datagram has ${buf.length} bytes`);
  }
  const chain = walkPayloadChain(header.nextPayload, buf, IKE_HEADER_LENGTH, buf.length);
  const raw: RawIkeMessage = { header, payloads: chain.payloads, bytes: buf };
  const stop = chain.stop;
  if (!stop) return raw;

  // SK / SKF must be the last payload (RFC 7296 §3.14, RFC 7383 §2.5).
  if (stop.offset + stop.length !== buf.length) {
    throw new IkeParseError(`${stop.type === PayloadType.SK ? 'SK' : 'SKF'} payload is not the last payload`);
  }
  if (stop.type === PayloadType.SK) {
    raw.encrypted = {
      firstInnerPayload: stop.nextPayload,
      bodyOffset: stop.offset + GENERIC_PAYLOAD_HEADER_LENGTH,
    };
    return raw;
  }
  if (stop.length < SKF_HEADER_LENGTH) throw new IkeParseError(`SKF payload length ${stop.length} < 8`);
  const number = buf.readUInt16BE(stop.offset + 4);
  const total = buf.readUInt16BE(stop.offset + 6);
  if (number === 0 || total === 0 || number > total) {
    throw new IkeParseError(`SKF fragment ${number} of ${total}`);
  }
  raw.fragment = {
    // RFC 7383 §2.5: Next Payload is meaningful in fragment 1 only.
    firstInnerPayload: number === 1 ? stop.nextPayload : PayloadType.NONE,
    number,
    total,
    bodyOffset: stop.offset + SKF_HEADER_LENGTH,
  };
  return raw;
}

/**
 * Verifies and decrypts the SK payload and decodes the inner chain.
 * Result payloads: the plain ones followed by the inner ones. A message
 * without SK is returned as is. Fragments go through FragmentReassembler.
 * Throws IntegrityError (ICV failure: drop silently) or IkeError.
 */
export function openMessage(raw: RawIkeMessage, sk: SkTransform): IkeMessage {
  if (raw.fragment) throw new IkeError(undefined, 'SKF fragment: use FragmentReassembler');
  if (!raw.encrypted) return { header: raw.header, payloads: raw.payloads };
  const plaintext = openBody(sk, raw.bytes, raw.encrypted.bodyOffset);
  const inner = decodeInnerChain(raw.encrypted.firstInnerPayload, plaintext);
  return { header: raw.header, payloads: [...raw.payloads, ...inner] };
}

function openBody(sk: SkTransform, msg: Buffer, bodyOffset: number): Buffer {
  try {
    return sk.open(msg, bodyOffset);
  } catch (err) {
    // Anything the transform chokes on in attacker-controlled bytes is a failed check.
    if (err instanceof IntegrityError) throw err;
    throw new IntegrityError(`SK body does not open: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function decodeInnerChain(firstType: number, plaintext: Buffer): Payload[] {
  const chain = walkPayloadChain(firstType, plaintext, 0, plaintext.length);
  if (chain.stop) throw new IkeParseError('SK/SKF payload inside an encrypted payload');
  return chain.payloads;
}

function writeHeader(buf: Buffer, header: IkeHeader, nextPayload: number): void {
  encodeHeaderInto(buf, 0, { ...header, nextPayload, length: buf.length });
}

/**
 * Encodes a message. Without `sk` the payloads form a plain chain; with `sk`
 * all of them go inside one SK payload which is sealed last. The caller's
 * header is not modified: Next Payload and Length are computed here.
 */
export function encodeMessage(header: IkeHeader, payloads: Payload[], sk?: SkTransform): Buffer {
  if (!sk) {
    const w = new ByteWriter(1024);
    w.zeros(IKE_HEADER_LENGTH);
    const first = encodePayloadChain(payloads, w);
    const msg = w.toBuffer();
    writeHeader(msg, header, first);
    return msg;
  }
  const { first, plaintext } = encodeInner(payloads);
  return sealInto(header, PayloadType.SK, first, GENERIC_PAYLOAD_HEADER_LENGTH, plaintext, sk, () => {});
}

function encodeInner(payloads: Payload[]): { first: number; plaintext: Buffer } {
  const w = new ByteWriter(1024);
  const first = encodePayloadChain(payloads, w);
  return { first, plaintext: w.view() };
}

/** Lays out header + SK/SKF header, then lets sk.seal fill in the body. */
function sealInto(
  header: IkeHeader,
  outerType: PayloadType.SK | PayloadType.SKF,
  innerFirst: number,
  outerHeaderLength: number,
  plaintext: Buffer,
  sk: SkTransform,
  writeExtra: (msg: Buffer, at: number) => void,
): Buffer {
  const sealed = sk.sealedLength(plaintext.length);
  const payloadLength = outerHeaderLength + sealed;
  if (payloadLength > MAX_PAYLOAD_LENGTH) throw new RangeError(`encrypted payload of ${payloadLength} bytes is too large`);
  const msg = Buffer.alloc(IKE_HEADER_LENGTH + payloadLength);
  writeHeader(msg, header, outerType);
  msg[IKE_HEADER_LENGTH] = innerFirst;
  msg[IKE_HEADER_LENGTH + 1] = 0;
  msg.writeUInt16BE(payloadLength, IKE_HEADER_LENGTH + 2);
  writeExtra(msg, IKE_HEADER_LENGTH + GENERIC_PAYLOAD_HEADER_LENGTH);
  sk.seal(msg, IKE_HEADER_LENGTH + outerHeaderLength, plaintext);
  return msg;
}

/**
 * RFC 7383 fragmentation. `maxMessageSize` is the largest IKE message (from
 * the IKE header on, without IP/UDP headers and the non-ESP marker). When the
 * SK message fits, returns [that message]; otherwise splits the inner
 * plaintext into SKF fragments that each fit.
 */
export function encodeFragments(
  header: IkeHeader,
  payloads: Payload[],
  sk: SkTransform,
  maxMessageSize: number,
): Buffer[] {
  const { first, plaintext } = encodeInner(payloads);
  const whole = IKE_HEADER_LENGTH + GENERIC_PAYLOAD_HEADER_LENGTH + sk.sealedLength(plaintext.length);
  if (whole <= maxMessageSize) {
    return [sealInto(header, PayloadType.SK, first, GENERIC_PAYLOAD_HEADER_LENGTH, plaintext, sk, () => {})];
  }
  const chunk = largestChunk(sk, maxMessageSize - IKE_HEADER_LENGTH - SKF_HEADER_LENGTH);
  if (chunk < 1) throw new RangeError(`maxMessageSize ${maxMessageSize} leaves no room for fragment data`);
  const total = Math.ceil(plaintext.length / chunk);
  if (total > MAX_FRAGMENTS) throw new RangeError(`${total} fragments exceed the limit of ${MAX_FRAGMENTS}`);
  const out: Buffer[] = [];
  for (let i = 0; i < total; i++) {
    const part = plaintext.subarray(i * chunk, Math.min(plaintext.length, (i + 1) * chunk));
    out.push(sealInto(
      header, PayloadType.SKF, i === 0 ? first : PayloadType.NONE, SKF_HEADER_LENGTH, part, sk,
      (msg, at) => { msg.writeUInt16BE(i + 1, at); msg.writeUInt16BE(total, at + 2); },
    ));
  }
  return out;
}

/** Largest plaintext length whose sealed size fits in `room` bytes (0 if none). */
function largestChunk(sk: SkTransform, room: number): number {
  let n = room - sk.ivLength - sk.icvLength;
  while (n > 0 && sk.sealedLength(n) > room) n--;
  return Math.max(0, n);
}

/**
 * Collects the SKF fragments of one message (RFC 7383 §2.6). Each fragment is
 * verified with sk.open before it is kept. A fragment of a different message
 * (Message ID or direction) discards the collection in progress; a larger
 * Total Fragments restarts it, a smaller one is ignored (§2.6.1). Feed only
 * fragments that passed the engine's Message ID window check.
 */
export class FragmentReassembler {
  private messageId = -1;
  private response = false;
  private total = 0;
  private received = 0;
  private parts: (Buffer | undefined)[] = [];
  private first: RawIkeMessage | undefined;

  /**
   * Returns the whole message once every fragment is in, otherwise undefined
   * (incomplete, duplicate or stale fragment). A raw message that is not a
   * fragment is simply opened. Throws IntegrityError for a fragment that does
   * not verify and IkeError (no notify: drop) for one beyond MAX_FRAGMENTS.
   */
  add(raw: RawIkeMessage, sk: SkTransform): IkeMessage | undefined {
    const frag = raw.fragment;
    if (!frag) return openMessage(raw, sk);
    if (frag.total > MAX_FRAGMENTS) {
      throw new IkeError(undefined, `message in ${frag.total} fragments exceeds the limit of ${MAX_FRAGMENTS}`);
    }
    const plaintext = openBody(sk, raw.bytes, frag.bodyOffset);

    const response = (raw.header.flags & 0x20) !== 0;
    if (raw.header.messageId !== this.messageId || response !== this.response || frag.total > this.total) {
      this.start(raw.header.messageId, response, frag.total);
    } else if (frag.total < this.total) {
      return undefined;
    }
    if (this.parts[frag.number - 1]) return undefined;
    this.parts[frag.number - 1] = plaintext;
    this.received++;
    if (frag.number === 1) this.first = raw;
    if (this.received < this.total || !this.first?.fragment) return undefined;

    const first = this.first;
    const firstInner = this.first.fragment.firstInnerPayload;
    const whole = Buffer.concat(this.parts as Buffer[]);
    this.reset();
    const inner = decodeInnerChain(firstInner, whole);
    return { header: first.header, payloads: [...first.payloads, ...inner] };
  }

  /** Drops whatever is being collected. */
  reset(): void {
    this.start(-1, false, 0);
  }

  private start(messageId: number, response: boolean, total: number): void {
    this.messageId = messageId;
    this.response = response;
    this.total = total;
    this.received = 0;
    this.parts = new Array<Buffer | undefined>(total).fill(undefined);
    this.first = undefined;
  }
}
