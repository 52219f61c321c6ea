/**
 * AUTH payload computation for shared keys (RFC 7296 §2.15):
 *
 *   InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
 *   MACedIDForI = prf(SK_pi, RestOfInitIDPayload)
 *   AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <InitiatorSignedOctets>)
 *
 * RestOfInitIDPayload is the ID payload body after the generic header:
 *
 *    0                   1                   2                   3
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |   ID Type     |                 RESERVED                      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   ~                   Identification Data                         ~
 */
import { timingSafeEqual } from 'node:crypto';
import { prf } from './prf.js';

export const KEY_PAD = 'Key Pad for IKEv2';
const KEY_PAD_BYTES = Buffer.from(KEY_PAD, 'ascii');

/** RealMessage | peer Nonce data | prf(SK_px, RestOfIDPayload). */
export function signedOctets(
  prfId: number,
  realMessage: Buffer,
  peerNonce: Buffer,
  skP: Buffer,
  idPayloadBody: Buffer,
): Buffer {
  return Buffer.concat([realMessage, peerNonce, prf(prfId, skP, idPayloadBody)]);
}

export function pskAuth(prfId: number, psk: Buffer, octets: Buffer): Buffer {
  return prf(prfId, prf(prfId, psk, KEY_PAD_BYTES), octets);
}

/**
 * Constant-time comparison of AUTH values. Different lengths are unequal, and
 * so are two empty values: an empty AUTH must never authenticate anyone.
 */
export function pskAuthEquals(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}
