/**
 * Security Association payload (RFC 7296 §3.3).
 *
 * SA body: one or more Proposal substructures.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Last Substruc |   RESERVED    |         Proposal Length       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                        SPI (variable)                         ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                        <Transforms>                           ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   Last Substruc: 0 = last proposal, 2 = more follow.
 *
 * Transform substructure (§3.3.2):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Last Substruc |   RESERVED    |        Transform Length       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Transform Type |   RESERVED    |          Transform ID         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                      Transform Attributes                     ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   Last Substruc: 0 = last transform, 3 = more follow.
 *
 * Transform attribute (§3.3.5):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |A|       Attribute Type        |    AF=0  Attribute Length     |
 * |F|                             |    AF=1  Attribute Value      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                   AF=0  Attribute Value                       |
 * |                   AF=1  Not Transmitted                       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   Key Length (14) is TV (AF=1): 0x800E followed by the key size in bits.
 *   Unknown attributes (TV or TLV) are skipped.
 */
import { PayloadType, TRANSFORM_ATTR_KEY_LENGTH } from '../constants.js';
import type { ProtocolId, TransformType } from '../constants.js';
import { IkeParseError } from '../errors.js';
import { ByteReader, ByteWriter } from './bytes.js';
import type { KnownPayload } from './known.js';
import type { Proposal, Transform } from './types.js';

const LAST = 0;
const MORE_PROPOSALS = 2;
const MORE_TRANSFORMS = 3;
const PROPOSAL_HEADER_LENGTH = 8;
const TRANSFORM_HEADER_LENGTH = 8;
const ATTR_FORMAT_TV = 0x8000;

export function decodeSa(body: Buffer, critical: boolean): KnownPayload<PayloadType.SA> {
  const r = new ByteReader(body, 0, body.length, 'SA payload');
  const proposals: Proposal[] = [];
  if (r.atEnd) throw new IkeParseError('SA payload: no proposals');
  for (;;) {
    const marker = r.u8('proposal Last Substruc');
    r.skip(1);
    const length = r.u16('proposal length');
    if (length < PROPOSAL_HEADER_LENGTH) {
      throw new IkeParseError(`SA payload: proposal length ${length} < ${PROPOSAL_HEADER_LENGTH}`);
    }
    // The proposal reader starts after the 4 bytes already read.
    const p = r.sub(length - 4, `proposal #${proposals.length + 1}`);
    proposals.push(decodeProposal(p));
    if (marker === LAST) {
      if (!r.atEnd) throw new IkeParseError(`SA payload: ${r.remaining} bytes after the last proposal`);
      break;
    }
    if (marker !== MORE_PROPOSALS) {
      throw new IkeParseError(`SA payload: proposal Last Substruc ${marker} is neither 0 nor 2`);
    }
    if (r.atEnd) throw new IkeParseError('SA payload: proposal says more follow but none does');
  }
  return { type: PayloadType.SA, critical, proposals };
}

function decodeProposal(r: ByteReader): Proposal {
  const num = r.u8('proposal number');
  const protocolId = r.u8('protocol id') as ProtocolId;
  const spiSize = r.u8('SPI size');
  const count = r.u8('transform count');
  const spi = r.bytes(spiSize, 'SPI');
  const transforms: Transform[] = [];
  for (let i = 0; i < count; i++) {
    const marker = r.u8('transform Last Substruc');
    const isLast = i === count - 1;
    if (marker !== (isLast ? LAST : MORE_TRANSFORMS)) {
      throw new IkeParseError(
        `${r.what}: transform ${i + 1}/${count} has Last Substruc ${marker}, expected ${isLast ? LAST : MORE_TRANSFORMS}`,
      );
    }
    r.skip(1);
    const length = r.u16('transform length');
    if (length < TRANSFORM_HEADER_LENGTH) {
      throw new IkeParseError(`${r.what}: transform length ${length} < ${TRANSFORM_HEADER_LENGTH}`);
    }
    transforms.push(decodeTransform(r.sub(length - 4, `${r.what} transform ${i + 1}`)));
  }
  if (!r.atEnd) {
    throw new IkeParseError(`${r.what}: ${r.remaining} bytes after ${count} transforms (transform count mismatch)`);
  }
  return { num, protocolId, spi, transforms };
}

function decodeTransform(r: ByteReader): Transform {
  const type = r.u8('transform type') as TransformType;
  r.skip(1);
  const id = r.u16('transform id');
  const t: Transform = { type, id };
  while (!r.atEnd) {
    const typeField = r.u16('attribute type');
    const attrType = typeField & 0x7fff;
    if (typeField & ATTR_FORMAT_TV) {
      const value = r.u16('attribute value');
      if (attrType === TRANSFORM_ATTR_KEY_LENGTH) t.keyLength = value;
    } else {
      // TLV: no TLV attribute is defined for IKEv2 transforms; skip it.
      const len = r.u16('attribute length');
      r.skip(len, 'attribute value');
    }
  }
  return t;
}

export function encodeSa(p: KnownPayload<PayloadType.SA>, w: ByteWriter): void {
  if (p.proposals.length === 0) throw new RangeError('SA payload needs at least one proposal');
  p.proposals.forEach((prop, i) => {
    const start = w.length;
    w.u8(i === p.proposals.length - 1 ? LAST : MORE_PROPOSALS).u8(0);
    const lenAt = w.reserveU16();
    w.u8(prop.num).u8(prop.protocolId).u8(prop.spi.length).u8(prop.transforms.length);
    w.bytes(prop.spi);
    prop.transforms.forEach((t, j) => {
      const tStart = w.length;
      w.u8(j === prop.transforms.length - 1 ? LAST : MORE_TRANSFORMS).u8(0);
      const tLenAt = w.reserveU16();
      w.u8(t.type).u8(0).u16(t.id);
      if (t.keyLength !== undefined) w.u16(ATTR_FORMAT_TV | TRANSFORM_ATTR_KEY_LENGTH).u16(t.keyLength);
      w.patchU16(tLenAt, w.length - tStart);
    });
    w.patchU16(lenAt, w.length - start);
  });
}
