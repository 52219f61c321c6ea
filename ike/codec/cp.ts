/**
 * Configuration payload (RFC 7296 §3.15).
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C| RESERVED    |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   CFG Type    |                    RESERVED                   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                   Configuration Attributes                    ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Configuration attribute (§3.15.1):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |R|         Attribute Type      |            Length             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                             Value                             ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { PayloadType } from '../constants.js';
import { ByteReader, ByteWriter } from './bytes.js';
import type { KnownPayload } from './known.js';
import type { CfgAttribute } from './types.js';

export function decodeCp(body: Buffer, critical: boolean): KnownPayload<PayloadType.CP> {
  const r = new ByteReader(body, 0, body.length, 'CP payload');
  const cfgType = r.u8('CFG type');
  r.skip(3, 'reserved');
  const attributes: CfgAttribute[] = [];
  while (!r.atEnd) {
    const type = r.u16('attribute type') & 0x7fff; // R bit is reserved: ignore on receipt
    const length = r.u16('attribute length');
    attributes.push({ type, value: r.bytes(length, `attribute ${type} value`) });
  }
  return { type: PayloadType.CP, critical, cfgType, attributes };
}

export function encodeCp(p: KnownPayload<PayloadType.CP>, w: ByteWriter): void {
  w.u8(p.cfgType).zeros(3);
  for (const a of p.attributes) {
    if (a.type > 0x7fff) throw new RangeError(`CP attribute type ${a.type} > 32767`);
    w.u16(a.type).u16(a.value.length).bytes(a.value);
  }
}
