/**
 * Configuration payload use for remote access (RFC 7296 §2.19, §3.15):
 *
 *   Initiator                               Responder
 *   HDR, SK { IDi, CERT, [CERTREQ,] AUTH,
 *             CP(CFG_REQUEST), SAi2, TSi, TSr } -->
 *                      <-- HDR, SK { IDr, CERT, AUTH, CP(CFG_REPLY), SAr2, TSi, TSr }
 *
 * The reply carries INTERNAL_IP4_ADDRESS (from the pool), INTERNAL_IP4_DNS
 * (when configured) and one INTERNAL_IP4_SUBNET per pushed route (§3.15.1:
 * address | netmask, 8 octets).
 */
import { CfgAttr, CfgType, PayloadType } from '../constants.js';
import type { CfgAttribute, IkeMessage, Payload } from '../codec/types.js';
import type { Ipv4Range } from '../../dataplane/backend.js';
import { intToIp, ipToInt } from '../traffic-selectors.js';
import type { ClientConfig } from '../p2s/types.js';

export class ConfigPayloadError extends Error {
  override readonly name = 'ConfigPayloadError';
}

const ip4 = (s: string): Buffer => Buffer.from(s.split('.').map(Number));
const ip4s = (b: Buffer, at = 0): string => [...b.subarray(at, at + 4)].join('.');

/** The CP payload of a message with the given type, if any. */
export function findCp(msg: IkeMessage, cfgType: CfgType): { cfgType: number; attributes: CfgAttribute[] } | undefined {
  for (const p of msg.payloads) {
    if (p.type === PayloadType.CP && 'cfgType' in p && p.cfgType === cfgType) return p;
  }
  return undefined;
}

/** What the client asks for: an IPv4 address (the one thing we must answer), DNS, subnets. */
export interface CfgRequest {
  wantsAddress: boolean;
  /** A specific address the client asks to get back (non-empty INTERNAL_IP4_ADDRESS). */
  requestedAddress: string | undefined;
  wantsDns: boolean;
}

export function readCfgRequest(p: { attributes: CfgAttribute[] }): CfgRequest {
  const addr = p.attributes.find((a) => a.type === CfgAttr.INTERNAL_IP4_ADDRESS);
  return {
    wantsAddress: addr !== undefined,
    requestedAddress: addr && addr.value.length === 4 && !addr.value.equals(Buffer.alloc(4)) ? ip4s(addr.value) : undefined,
    wantsDns: p.attributes.some((a) => a.type === CfgAttr.INTERNAL_IP4_DNS),
  };
}

/** A range as address + netmask; ranges that are not prefixes are split into prefixes. */
export function rangeToSubnets(r: Ipv4Range): Array<{ address: string; mask: string }> {
  const out: Array<{ address: string; mask: string }> = [];
  let s = ipToInt(r.start);
  const e = ipToInt(r.end);
  while (s <= e) {
    let size = 1;
    while (size < 2 ** 32 && s % (size * 2) === 0 && s + size * 2 - 1 <= e) size *= 2;
    const len = 32 - Math.log2(size);
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    out.push({ address: intToIp(s), mask: intToIp(mask) });
    s += size;
  }
  return out;
}

export function buildCfgReply(cfg: ClientConfig): Payload {
  const attributes: CfgAttribute[] = [{ type: CfgAttr.INTERNAL_IP4_ADDRESS, value: ip4(cfg.address) }];
  for (const d of cfg.dns) attributes.push({ type: CfgAttr.INTERNAL_IP4_DNS, value: ip4(d) });
  for (const r of cfg.subnets) {
    for (const sn of rangeToSubnets(r)) {
      attributes.push({ type: CfgAttr.INTERNAL_IP4_SUBNET, value: Buffer.concat([ip4(sn.address), ip4(sn.mask)]) });
    }
  }
  return { type: PayloadType.CP, cfgType: CfgType.CFG_REPLY, attributes };
}

/** Our client's request: an address, DNS servers and the routes to install. */
export function buildCfgRequest(): Payload {
  return {
    type: PayloadType.CP,
    cfgType: CfgType.CFG_REQUEST,
    attributes: [
      { type: CfgAttr.INTERNAL_IP4_ADDRESS, value: Buffer.alloc(0) },
      { type: CfgAttr.INTERNAL_IP4_DNS, value: Buffer.alloc(0) },
      { type: CfgAttr.INTERNAL_IP4_SUBNET, value: Buffer.alloc(0) },
    ],
  };
}

/** Reads a CFG_REPLY. Throws ConfigPayloadError when it carries no usable IPv4 address. */
export function readCfgReply(p: { attributes: CfgAttribute[] }): ClientConfig {
  const addr = p.attributes.find((a) => a.type === CfgAttr.INTERNAL_IP4_ADDRESS && a.value.length >= 4);
  if (!addr) throw new ConfigPayloadError('CFG_REPLY carries no INTERNAL_IP4_ADDRESS');
  const address = ip4s(addr.value);
  if (address === '0.0.0.0') throw new ConfigPayloadError('CFG_REPLY assigned 0.0.0.0');
  const dns = p.attributes.filter((a) => a.type === CfgAttr.INTERNAL_IP4_DNS && a.value.length === 4).map((a) => ip4s(a.value));
  const subnets: Ipv4Range[] = [];
  for (const a of p.attributes) {
    if (a.type !== CfgAttr.INTERNAL_IP4_SUBNET || a.value.length !== 8) continue;
    const base = a.value.readUInt32BE(0);
    const mask = a.value.readUInt32BE(4);
    // A netmask must be contiguous ones; anything else is ignored rather than guessed.
    if (((~mask >>> 0) & ((~mask >>> 0) + 1)) !== 0) continue;
    const start = (base & mask) >>> 0;
    subnets.push({ start: intToIp(start), end: intToIp((start | (~mask >>> 0)) >>> 0) });
  }
  return { address, dns, subnets };
}
