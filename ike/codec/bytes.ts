/**
 * Bounded big-endian reader and growable writer for the IKE codecs.
 *
 * A ByteReader is bound to one slice [start, end) of a buffer: a payload's
 * reader can never read into the next payload, whatever its length fields say.
 * Every overrun throws IkeParseError (answered with INVALID_SYNTAX).
 * Byte strings are returned as zero-copy views of the input.
 */
import { IkeParseError } from '../errors.js';

export class ByteReader {
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    private readonly start = 0,
    private readonly end = buf.length,
    /** What is being read, for error messages ("SA payload", "proposal"...). */
    readonly what = 'data',
  ) {
    if (start < 0 || end > buf.length || start > end) {
      throw new IkeParseError(`${what}: bad bounds [${start}, ${end}) of ${buf.length}`);
    }
    this.pos = start;
  }

  /** Absolute offset in the underlying buffer. */
  get offset(): number { return this.pos; }
  /** Bytes consumed so far, relative to the slice start. */
  get consumed(): number { return this.pos - this.start; }
  get remaining(): number { return this.end - this.pos; }
  get atEnd(): boolean { return this.pos === this.end; }

  private need(n: number, field: string): void {
    if (n > this.end - this.pos) {
      throw new IkeParseError(
        `${this.what}: ${field} needs ${n} bytes at +${this.pos - this.start}, only ${this.end - this.pos} left`,
      );
    }
  }

  u8(field = 'u8'): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }

  u16(field = 'u16'): number {
    this.need(2, field);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(field = 'u32'): number {
    this.need(4, field);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A zero-copy view of the next n bytes. */
  bytes(n: number, field = 'bytes'): Buffer {
    if (n < 0) throw new IkeParseError(`${this.what}: ${field} has negative length ${n}`);
    this.need(n, field);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** Everything left in the slice. */
  rest(): Buffer {
    return this.bytes(this.remaining, 'rest');
  }

  skip(n: number, field = 'skip'): void {
    this.need(n, field);
    this.pos += n;
  }

  /** A child reader bound to the next n bytes; this reader advances past them. */
  sub(n: number, what: string): ByteReader {
    this.need(n, what);
    const child = new ByteReader(this.buf, this.pos, this.pos + n, what);
    this.pos += n;
    return child;
  }

  /** Throws unless the slice has been consumed exactly. */
  expectEnd(): void {
    if (this.pos !== this.end) {
      throw new IkeParseError(`${this.what}: ${this.end - this.pos} unexpected trailing bytes`);
    }
  }
}

/** Growable big-endian writer with back-patching of length fields. */
export class ByteWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialCapacity = 512) {
    this.buf = Buffer.alloc(Math.max(16, initialCapacity));
  }

  get length(): number { return this.pos; }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = Buffer.alloc(cap);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): this {
    checkRange(v, 0xff, 'u8');
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  u16(v: number): this {
    checkRange(v, 0xffff, 'u16');
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }

  u32(v: number): this {
    checkRange(v, 0xffffffff, 'u32');
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return this;
  }

  /** Writes a placeholder u16 and returns its offset for patchU16. */
  reserveU16(): number {
    const at = this.pos;
    this.u16(0);
    return at;
  }

  patchU8(at: number, v: number): void {
    checkRange(v, 0xff, 'u8');
    if (at < 0 || at + 1 > this.pos) throw new RangeError(`patch offset ${at} outside written data`);
    this.buf[at] = v;
  }

  patchU16(at: number, v: number): void {
    checkRange(v, 0xffff, 'u16 (length field)');
    if (at < 0 || at + 2 > this.pos) throw new RangeError(`patch offset ${at} outside written data`);
    this.buf.writeUInt16BE(v, at);
  }

  patchU32(at: number, v: number): void {
    checkRange(v, 0xffffffff, 'u32');
    if (at < 0 || at + 4 > this.pos) throw new RangeError(`patch offset ${at} outside written data`);
    this.buf.writeUInt32BE(v, at);
  }

  /** A view of the bytes written so far (shares memory with the writer). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** A copy of the bytes written so far. */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

/** Encoding a value that does not fit is a programming error, not bad input. */
function checkRange(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`${what} value ${v} out of range 0..${max}`);
  }
}
