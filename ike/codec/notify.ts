/**
 * Notify payload (RFC 7296 §3.10).
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Protocol ID  |   SPI Size    |      Notify Message Type      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                Security Parameter Index (SPI)                 ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                       Notification Data                       ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { PayloadType } from '../constants.js';
import { ByteReader, ByteWriter } from './bytes.js';
import type { KnownPayload } from './known.js';

export function decodeNotify(body: Buffer, critical: boolean): KnownPayload<PayloadType.NOTIFY> {
  const r = new ByteReader(body, 0, body.length, 'Notify payload');
  const protocolId = r.u8('protocol id');
  const spiSize = r.u8('SPI size');
  const notifyType = r.u16('notify type');
  const spi = r.bytes(spiSize, 'SPI');
  return { type: PayloadType.NOTIFY, critical, protocolId, spi, notifyType, data: r.rest() };
}

export function encodeNotify(p: KnownPayload<PayloadType.NOTIFY>, w: ByteWriter): void {
  w.u8(p.protocolId).u8(p.spi.length).u16(p.notifyType).bytes(p.spi).bytes(p.data);
}
