/**
 * Traffic Selector payloads TSi / TSr (RFC 7296 §3.13).
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Number of TSs |                 RESERVED                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                       <Traffic Selectors>                     ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Traffic Selector (§3.13.1):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   TS Type     |IP Protocol ID*|       Selector Length         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Start Port*         |           End Port*           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                         Starting Address*                     ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                         Ending Address*                       ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   TS_IPV4_ADDR_RANGE (7): length 16; TS_IPV6_ADDR_RANGE (8): length 40.
 *
 * Semantics (start > end, port ranges for ICMP...) are the engine's call;
 * the codec only enforces structure. Unknown TS types are rejected because
 * silently dropping a selector would change what the peer asked for.
 */
import { PayloadType, TsType } from '../constants.js';
import { IkeParseError } from '../errors.js';
import { ByteReader, ByteWriter } from './bytes.js';
import type { KnownPayload } from './known.js';
import type { TrafficSelector } from './types.js';

export type TsPayload = KnownPayload<PayloadType.TSi | PayloadType.TSr>;

const SELECTOR_HEADER_LENGTH = 8;

function addressLength(tsType: number): number | undefined {
  if (tsType === TsType.IPV4_ADDR_RANGE) return 4;
  if (tsType === TsType.IPV6_ADDR_RANGE) return 16;
  return undefined;
}

export function decodeTs(
  body: Buffer,
  critical: boolean,
  type: PayloadType.TSi | PayloadType.TSr = PayloadType.TSi,
): TsPayload {
  const r = new ByteReader(body, 0, body.length, type === PayloadType.TSi ? 'TSi payload' : 'TSr payload');
  const count = r.u8('number of TSs');
  r.skip(3, 'reserved');
  const selectors: TrafficSelector[] = [];
  for (let i = 0; i < count; i++) {
    const tsType = r.u8('TS type');
    const ipProtocol = r.u8('IP protocol');
    const length = r.u16('selector length');
    const addrLen = addressLength(tsType);
    if (addrLen === undefined) throw new IkeParseError(`${r.what}: unsupported TS type ${tsType}`);
    if (length !== SELECTOR_HEADER_LENGTH + 2 * addrLen) {
      throw new IkeParseError(`${r.what}: TS type ${tsType} with selector length ${length}`);
    }
    const s = r.sub(length - 4, `${r.what} selector ${i + 1}`);
    selectors.push({
      tsType: tsType as TsType,
      ipProtocol,
      startPort: s.u16('start port'),
      endPort: s.u16('end port'),
      startAddress: s.bytes(addrLen, 'start address'),
      endAddress: s.bytes(addrLen, 'end address'),
    });
  }
  if (!r.atEnd) throw new IkeParseError(`${r.what}: ${r.remaining} bytes after ${count} selectors`);
  return { type, critical, selectors };
}

export function encodeTs(p: TsPayload, w: ByteWriter): void {
  w.u8(p.selectors.length).zeros(3);
  for (const s of p.selectors) {
    const addrLen = addressLength(s.tsType);
    if (addrLen === undefined || s.startAddress.length !== addrLen || s.endAddress.length !== addrLen) {
      throw new RangeError(`TS type ${s.tsType} with ${s.startAddress.length}/${s.endAddress.length}-byte addresses`);
    }
    w.u8(s.tsType).u8(s.ipProtocol).u16(SELECTOR_HEADER_LENGTH + 2 * addrLen)
      .u16(s.startPort).u16(s.endPort).bytes(s.startAddress).bytes(s.endAddress);
  }
}
