/**
 * Encrypted strongSwan messages opened with the real SK keys (charon keylog)
 * through crypto/sk.ts: inner payloads, byte-exact re-encoding of the inner
 * chain, SKF reassembly and re-fragmentation, describe vs charon's log lines,
 * payload rules against real traffic.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSkTransform } from '../../crypto/sk.js';
import { IntegrityError } from '../../crypto/errors.js';
import type { SkTransform } from '../../crypto/types.js';
import { EncrId, HeaderFlag, IntegId, NotifyType, PayloadType, ProtocolId } from '../../ike/constants.js';
import { ByteWriter } from '../../ike/codec/bytes.js';
import { describeMessage } from '../../ike/codec/describe.js';
import {
  FragmentReassembler, decodeMessage, encodeFragments, encodeMessage, openMessage,
} from '../../ike/codec/message.js';
import { encodePayloadChain, payloadsOfType } from '../../ike/codec/payloads.js';
import { checkPayloadRules } from '../../ike/codec/rules.js';
import type { IkeMessage, RawIkeMessage } from '../../ike/codec/types.js';
import { readPcapIke } from '../helpers/pcap.js';

const VECTORS = new URL('../vectors/', import.meta.url);
const ENCRYPTED_CAPTURES = [
  's2s-psk-keylog', 's2s-psk-default-proposals-keylog', 'neg-invalid-ke', 's2s-cert-keylog',
  'vendor-id', 'rw-cert-keylog', 'neg-auth-failed', 'neg-ts-unacceptable',
] as const;

interface IkeKeys { proposal: string; spi_i: string; spi_r: string; Sk_ei: string; Sk_er: string; Sk_ai?: string; Sk_ar?: string }

function transformFor(k: IkeKeys, initiatorSent: boolean): SkTransform {
  const enc = Buffer.from(initiatorSent ? k.Sk_ei : k.Sk_er, 'hex');
  if (k.proposal.includes('AES_GCM_16_256')) {
    return createSkTransform(EncrId.AES_GCM_16, 256, IntegId.NONE, enc, Buffer.alloc(0));
  }
  if (k.proposal.includes('AES_CBC_128/HMAC_SHA2_256_128')) {
    const integ = Buffer.from((initiatorSent ? k.Sk_ai : k.Sk_ar)!, 'hex');
    return createSkTransform(EncrId.AES_CBC, 128, IntegId.HMAC_SHA2_256_128, enc, integ);
  }
  throw new Error(`test does not know proposal ${k.proposal}`);
}

interface Loaded { raw: RawIkeMessage; frame: number; sk?: SkTransform }

function load(name: string): { msgs: Loaded[]; logLines: Set<string> } {
  const keys = (JSON.parse(readFileSync(new URL(`ike-${name}.keys.json`, VECTORS), 'utf8')) as { ike: IkeKeys[] }).ike;
  const msgs = readPcapIke(readFileSync(new URL(`ike-${name}.pcap`, VECTORS))).map((d) => {
    const raw = decodeMessage(d.ike);
    const k = keys.find((x) => x.spi_i === raw.header.spiI.toString('hex') && x.spi_r === raw.header.spiR.toString('hex'));
    const loaded: Loaded = { raw, frame: d.frame };
    if (k) loaded.sk = transformFor(k, (raw.header.flags & HeaderFlag.Initiator) !== 0);
    return loaded;
  });
  const logLines = new Set(readFileSync(new URL(`ike-${name}.charon-summary.txt`, VECTORS), 'utf8')
    .split('\n').filter(Boolean).map((l) => l.replace(/^(parsed|generating) /, '')));
  return { msgs, logLines };
}

const hex = (b: Buffer): string => b.toString('hex');
const find = payloadsOfType;

describe.each(ENCRYPTED_CAPTURES)('encrypted messages of %s', (name) => {
  const { msgs, logLines } = load(name);
  const sealed = msgs.filter((m) => m.raw.encrypted);

  it('opens every SK message; describeMessage matches a charon log line', () => {
    expect(sealed.length).toBeGreaterThanOrEqual(2);
    for (const m of sealed) {
      expect(m.sk, `keys for frame ${m.frame}`).toBeDefined();
      const opened = openMessage(m.raw, m.sk!);
      expect(logLines, `frame ${m.frame}`).toContain(describeMessage(opened));
    }
  });

  it('re-encodes every decrypted inner chain byte for byte', () => {
    for (const m of sealed) {
      const plaintext = m.sk!.open(m.raw.bytes, m.raw.encrypted!.bodyOffset);
      const opened = openMessage(m.raw, m.sk!);
      const w = new ByteWriter();
      const first = encodePayloadChain(opened.payloads, w);
      expect(first).toBe(m.raw.encrypted!.firstInnerPayload);
      expect(hex(w.view()), `frame ${m.frame}`).toBe(hex(plaintext));
    }
  });

  it('re-seals every message with the real transform and opens it again', () => {
    for (const m of sealed) {
      const opened = openMessage(m.raw, m.sk!);
      const again = encodeMessage(opened.header, opened.payloads, m.sk!);
      if (name !== 's2s-psk-default-proposals-keylog') {
        // AEAD: no padding, so the length is strongSwan's exactly; so is everything up to the IV.
        expect(again.length).toBe(m.raw.bytes.length);
        expect(hex(again.subarray(0, 32))).toBe(hex(m.raw.bytes.subarray(0, 32)));
      }
      const reopened = openMessage(decodeMessage(again), m.sk!);
      expect(reopened.payloads).toEqual(opened.payloads);
    }
  });

  it('every message passes the payload rules of its exchange', () => {
    const fr = new FragmentReassembler();
    for (const m of msgs) {
      let full: IkeMessage | undefined;
      if (m.raw.fragment) full = fr.add(m.raw, m.sk!);
      else full = m.sk ? openMessage(m.raw, m.sk) : m.raw;
      if (!full) continue;
      expect(() => checkPayloadRules(full.header.exchange, (full.header.flags & HeaderFlag.Response) !== 0, full.payloads),
        `frame ${m.frame} ${describeMessage(full)}`).not.toThrow();
    }
  });
});

describe('s2s-psk-keylog IKE_AUTH contents (vs tshark decode)', () => {
  const { msgs } = load('s2s-psk-keylog');
  const req = openMessage(msgs.find((m) => m.frame === 3)!.raw, msgs.find((m) => m.frame === 3)!.sk!);
  const resp = openMessage(msgs.find((m) => m.frame === 4)!.raw, msgs.find((m) => m.frame === 4)!.sk!);

  it('request: IDi 192.0.2.1, INITIAL_CONTACT, IDr, AUTH PSK, ESP SA, TS', () => {
    expect(describeMessage(req)).toBe(
      'IKE_AUTH request 1 [ IDi N(INIT_CONTACT) IDr AUTH SA TSi TSr N(MOBIKE_SUP) N(ADD_4_ADDR) N(MULT_AUTH) N(EAP_ONLY) N(MSG_ID_SYN_SUP) ]',
    );
    const [idi] = find(req.payloads, PayloadType.IDi);
    expect(idi!.idType).toBe(1);
    expect([...idi!.data].join('.')).toBe('192.0.2.1');
    const [idr] = find(req.payloads, PayloadType.IDr);
    expect([...idr!.data].join('.')).toBe('192.0.2.2');
    const [auth] = find(req.payloads, PayloadType.AUTH);
    expect(auth!.method).toBe(2);
    expect(auth!.data.length).toBe(32);
    const [sa] = find(req.payloads, PayloadType.SA);
    expect(sa!.proposals).toEqual([{
      num: 1, protocolId: ProtocolId.ESP, spi: Buffer.from('4a059c59', 'hex'),
      transforms: [{ type: 1, id: 20, keyLength: 256 }, { type: 5, id: 0 }],
    }]);
    const [tsi] = find(req.payloads, PayloadType.TSi);
    const [tsr] = find(req.payloads, PayloadType.TSr);
    expect(tsi!.selectors).toEqual([{
      tsType: 7, ipProtocol: 0, startPort: 0, endPort: 65535,
      startAddress: Buffer.from([10, 1, 0, 0]), endAddress: Buffer.from([10, 1, 0, 255]),
    }]);
    expect([...tsr!.selectors[0]!.startAddress].join('.')).toBe('10.2.0.0');
    const add = find(req.payloads, PayloadType.NOTIFY).find((n) => n.notifyType === NotifyType.ADDITIONAL_IP4_ADDRESS);
    expect(hex(add!.data)).toBe('0a010001');
  });

  it('response: ESP SPI 96e4f899 and two ADDITIONAL_IP4_ADDRESS', () => {
    const [sa] = find(resp.payloads, PayloadType.SA);
    expect(hex(sa!.proposals[0]!.spi)).toBe('96e4f899');
    const adds = find(resp.payloads, PayloadType.NOTIFY).filter((n) => n.notifyType === NotifyType.ADDITIONAL_IP4_ADDRESS);
    expect(adds.map((n) => hex(n.data))).toEqual(['0a020001', 'c6336401']);
  });

  it('Delete payloads: ESP SPIs in the CREATE_CHILD_SA follow-up, IKE delete at the end', () => {
    const opened = msgs.filter((m) => m.raw.encrypted).map((m) => openMessage(m.raw, m.sk!));
    const deletes = opened.flatMap((o) => find(o.payloads, PayloadType.DELETE));
    expect(deletes.length).toBeGreaterThanOrEqual(2);
    const esp = deletes.find((d) => d.protocolId === ProtocolId.ESP)!;
    expect(esp.spiSize).toBe(4);
    expect(esp.spis.length).toBe(1);
    const ike = deletes.find((d) => d.protocolId === ProtocolId.IKE)!;
    expect(ike.spiSize).toBe(0);
    expect(ike.spis).toEqual([]);
  });

  it('IKE rekey CREATE_CHILD_SA carries an 8-byte SPI proposal', () => {
    const opened = msgs.filter((m) => m.raw.encrypted).map((m) => openMessage(m.raw, m.sk!));
    const rekey = opened.find((o) => describeMessage(o) === 'CREATE_CHILD_SA request 4 [ SA No KE ]')!;
    const [sa] = find(rekey.payloads, PayloadType.SA);
    expect(sa!.proposals[0]!.protocolId).toBe(ProtocolId.IKE);
    expect(sa!.proposals[0]!.spi.length).toBe(8);
  });
});

describe('rw-cert-keylog CP payloads', () => {
  it('CFG_REQUEST for an address and CFG_REPLY with 172.16.201.1', () => {
    const { msgs } = load('rw-cert-keylog');
    const opened = msgs.filter((m) => m.raw.encrypted).map((m) => openMessage(m.raw, m.sk!));
    const cps = opened.flatMap((o) => find(o.payloads, PayloadType.CP));
    expect(cps.map((c) => c.cfgType)).toEqual([1, 2]);
    expect(cps[0]!.attributes).toEqual([{ type: 1, value: Buffer.alloc(0) }]);
    expect([...cps[1]!.attributes[0]!.value].join('.')).toBe('172.16.201.1');
  });
});

describe('s2s-cert-keylog SKF fragments (RFC 7383)', () => {
  const { msgs, logLines } = load('s2s-cert-keylog');
  const frags = msgs.filter((m) => m.raw.fragment);
  const sk = frags[0]!.sk!;
  const expected = 'IKE_AUTH request 1 [ IDi CERT N(INIT_CONTACT) CERTREQ IDr AUTH SA TSi TSr N(MOBIKE_SUP) N(ADD_4_ADDR) N(MULT_AUTH) N(EAP_ONLY) N(MSG_ID_SYN_SUP) ]';

  it('describes the fragments like charon', () => {
    expect(frags.map((f) => describeMessage(f.raw))).toEqual(['IKE_AUTH request 1 [ EF(1/2) ]', 'IKE_AUTH request 1 [ EF(2/2) ]']);
    for (const f of frags) expect(logLines).toContain(describeMessage(f.raw));
  });

  it('reassembles in order and out of order', () => {
    for (const order of [[0, 1], [1, 0]]) {
      const fr = new FragmentReassembler();
      expect(fr.add(frags[order[0]!]!.raw, sk)).toBeUndefined();
      const full = fr.add(frags[order[1]!]!.raw, sk);
      expect(full).toBeDefined();
      expect(describeMessage(full!)).toBe(expected);
      expect(logLines).toContain(describeMessage(full!));
      const [cert] = find(full!.payloads, PayloadType.CERT);
      expect(cert!.encoding).toBe(4);
      expect(cert!.data[0]).toBe(0x30); // DER SEQUENCE
    }
  });

  it('ignores a duplicate and rejects a tampered fragment without losing state', () => {
    const fr = new FragmentReassembler();
    expect(fr.add(frags[0]!.raw, sk)).toBeUndefined();
    expect(fr.add(frags[0]!.raw, sk)).toBeUndefined();
    const bad = Buffer.from(frags[1]!.raw.bytes);
    bad[bad.length - 1]! ^= 1;
    expect(() => fr.add(decodeMessage(bad), sk)).toThrow(IntegrityError);
    expect(describeMessage(fr.add(frags[1]!.raw, sk)!)).toBe(expected);
  });

  it('encodeFragments splits exactly like strongSwan at 1248 bytes', () => {
    const fr = new FragmentReassembler();
    fr.add(frags[0]!.raw, sk);
    const full = fr.add(frags[1]!.raw, sk)!;
    const ours = encodeFragments(full.header, full.payloads, sk, 1248);
    expect(ours.map((b) => b.length)).toEqual(frags.map((f) => f.raw.bytes.length));
    ours.forEach((b, i) => {
      const theirs = frags[i]!.raw;
      // IKE header + SKF header (Next Payload, Fragment Number, Total Fragments) identical
      expect(hex(b.subarray(0, 36))).toBe(hex(theirs.bytes.subarray(0, 36)));
      const mine = decodeMessage(b);
      expect(hex(sk.open(b, mine.fragment!.bodyOffset))).toBe(hex(sk.open(theirs.bytes, theirs.fragment!.bodyOffset)));
    });
    const back = new FragmentReassembler();
    back.add(decodeMessage(ours[1]!), sk);
    expect(back.add(decodeMessage(ours[0]!), sk)!.payloads).toEqual(full.payloads);
  });

  it('encodeFragments sends one SK message when it fits', () => {
    const fr = new FragmentReassembler();
    fr.add(frags[0]!.raw, sk);
    const full = fr.add(frags[1]!.raw, sk)!;
    const one = encodeFragments(full.header, full.payloads, sk, 1600);
    expect(one).toHaveLength(1);
    expect(decodeMessage(one[0]!).encrypted).toBeDefined();
  });
});
