/**
 * Certificate and Certificate Request payloads (RFC 7296 §3.6, §3.7).
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Cert Encoding |                                               |
 * +-+-+-+-+-+-+-+-+                                               |
 * ~       Certificate Data / Certification Authority              ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * For CERTREQ with X.509 encoding the data is a concatenation of 20-byte
 * SHA-1 hashes of CA public keys; splitting it is the engine's business.
 */
import { PayloadType } from '../constants.js';
import { ByteReader, ByteWriter } from './bytes.js';
import type { KnownPayload } from './known.js';

export type CertPayload = KnownPayload<PayloadType.CERT | PayloadType.CERTREQ>;

export function decodeCert(
  body: Buffer,
  critical: boolean,
  type: PayloadType.CERT | PayloadType.CERTREQ = PayloadType.CERT,
): CertPayload {
  const r = new ByteReader(body, 0, body.length, type === PayloadType.CERT ? 'CERT payload' : 'CERTREQ payload');
  const encoding = r.u8('cert encoding');
  return { type, critical, encoding, data: r.rest() };
}

export function encodeCert(p: CertPayload, w: ByteWriter): void {
  w.u8(p.encoding).bytes(p.data);
}
