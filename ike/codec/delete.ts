/**
 * Delete payload (RFC 7296 §3.11).
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Protocol ID   |   SPI Size    |          Num of SPIs          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~               Security Parameter Index(es) (SPI)              ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * IKE SA deletion: protocol 1, SPI size 0, no SPIs. Child SAs: protocol
 * 2/3, SPI size 4. The body must be exactly Num of SPIs × SPI Size long.
 */
import { PayloadType } from '../constants.js';
import { IkeParseError } from '../errors.js';
import { ByteReader, ByteWriter } from './bytes.js';
import type { KnownPayload } from './known.js';

export function decodeDelete(body: Buffer, critical: boolean): KnownPayload<PayloadType.DELETE> {
  const r = new ByteReader(body, 0, body.length, 'Delete payload');
  const protocolId = r.u8('protocol id');
  const spiSize = r.u8('SPI size');
  const count = r.u16('number of SPIs');
  if (spiSize === 0 && count !== 0) {
    throw new IkeParseError(`Delete payload: ${count} SPIs of size 0`);
  }
  if (r.remaining !== spiSize * count) {
    throw new IkeParseError(`Delete payload: ${count} SPIs of ${spiSize} bytes but ${r.remaining} bytes of SPI data`);
  }
  const spis: Buffer[] = [];
  for (let i = 0; i < count; i++) spis.push(r.bytes(spiSize, 'SPI'));
  return { type: PayloadType.DELETE, critical, protocolId, spiSize, spis };
}

export function encodeDelete(p: KnownPayload<PayloadType.DELETE>, w: ByteWriter): void {
  for (const spi of p.spis) {
    if (spi.length !== p.spiSize) throw new RangeError(`Delete: SPI of ${spi.length} bytes, SPI size is ${p.spiSize}`);
  }
  w.u8(p.protocolId).u8(p.spiSize).u16(p.spis.length);
  for (const spi of p.spis) w.bytes(spi);
}
