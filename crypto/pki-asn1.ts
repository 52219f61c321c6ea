/**
 * Small typed layer over forge.asn1 (which speaks "binary strings") so the
 * certificate and PKCS#12 builders can work with Buffers. Only DER.
 */
import forge from 'node-forge';
import { PkiError } from './pki-errors.js';

const asn1 = forge.asn1;
const { Class, Type } = asn1;
export type Asn1 = forge.asn1.Asn1;

const bin = (b: Buffer): string => b.toString('binary');

export function seq(children: Asn1[]): Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, children);
}
export function set(children: Asn1[]): Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.SET, true, children);
}
export function oid(dotted: string): Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.OID, false, asn1.oidToDer(dotted).getBytes());
}
export function nul(): Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.NULL, false, '');
}
export function bool(v: boolean): Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.BOOLEAN, false, v ? '\xff' : '\x00');
}
export function octets(b: Buffer): Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.OCTETSTRING, false, bin(b));
}
/** BIT STRING with `unused` padding bits in the last byte. */
export function bits(b: Buffer, unused = 0): Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.BITSTRING, false, String.fromCharCode(unused) + bin(b));
}
export function utf8(s: string): Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.UTF8, false, forge.util.encodeUtf8(s));
}
/** forge takes a BMPString value as a JS string and writes UTF-16BE code units itself. */
export function bmp(s: string): Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.BMPSTRING, false, s);
}
export function ia5(s: string): Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.IA5STRING, false, s);
}
/** Non-negative INTEGER from big-endian magnitude bytes (adds the 0x00 sign byte when needed). */
export function uintBytes(b: Buffer): Asn1 {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  let v = b.subarray(i);
  if (v.length === 0) v = Buffer.from([0]);
  if ((v[0] ?? 0) & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return asn1.create(Class.UNIVERSAL, Type.INTEGER, false, bin(v));
}
export function int(n: number): Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.INTEGER, false, asn1.integerToDer(n).getBytes());
}
/** X.509 Time: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). */
export function time(d: Date): Asn1 {
  return d.getUTCFullYear() < 2050
    ? asn1.create(Class.UNIVERSAL, Type.UTCTIME, false, asn1.dateToUtcTime(d))
    : asn1.create(Class.UNIVERSAL, Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d));
}
/** [n] EXPLICIT wrapper. */
export function explicit(tag: number, inner: Asn1): Asn1 {
  return asn1.create(Class.CONTEXT_SPECIFIC, tag, true, [inner]);
}
/** [n] IMPLICIT primitive (e.g. GeneralName dNSName [2], iPAddress [7]). */
export function implicitPrimitive(tag: number, content: Buffer): Asn1 {
  return asn1.create(Class.CONTEXT_SPECIFIC, tag, false, bin(content));
}

export function toDer(node: Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}
/** Parses DER strictly; throws PkiError instead of forge's generic errors. */
export function fromDer(der: Buffer, what: string): Asn1 {
  try {
    // decodeBitStrings off: forge would otherwise turn a BIT STRING that
    // happens to hold DER (an RSA key, a signature) into a constructed node.
    const options = { strict: true, parseAllBytes: true, decodeBitStrings: false };
    return (asn1.fromDer as unknown as (b: string, o: typeof options) => Asn1)(bin(der), options);
  } catch (e) {
    throw new PkiError(`${what}: malformed DER (${(e as Error).message})`);
  }
}
/** Wraps a DER blob so it can be embedded in a tree without re-encoding. */
export function rawDer(der: Buffer, what: string): Asn1 {
  return fromDer(der, what);
}

export function children(node: Asn1, what: string): Asn1[] {
  if (!Array.isArray(node.value)) throw new PkiError(`${what}: expected a constructed value`);
  return node.value;
}
export function primitiveBytes(node: Asn1, what: string): Buffer {
  if (Array.isArray(node.value)) throw new PkiError(`${what}: expected a primitive value`);
  return Buffer.from(node.value, 'binary');
}
export function oidOf(node: Asn1, what: string): string {
  if (node.tagClass !== Class.UNIVERSAL || node.type !== Type.OID) throw new PkiError(`${what}: expected an OID`);
  return asn1.derToOid(node.value as string);
}

/** UTF-16BE with optional 00 00 terminator: PKCS#12 password and friendlyName encoding. */
export function bmpBytes(s: string, terminator: boolean): Buffer {
  const out = Buffer.alloc(s.length * 2 + (terminator ? 2 : 0));
  for (let i = 0; i < s.length; i++) out.writeUInt16BE(s.charCodeAt(i), i * 2);
  return out;
}
