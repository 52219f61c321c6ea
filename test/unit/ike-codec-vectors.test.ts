/**
 * The IKE codecs against real strongSwan 5.9.8 captures (test/vectors/ike-*.pcap),
 * cross-checked with the tshark decode of the same capture (.ikemap.txt).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ExchangeType, HeaderFlag, NotifyType, PayloadType, ProtocolId, TransformType } from '../../ike/constants.js';
import { decodeMessage, encodeMessage } from '../../ike/codec/message.js';
import { payloadsOfType } from '../../ike/codec/payloads.js';
import { describeMessage } from '../../ike/codec/describe.js';
import { checkPayloadRules } from '../../ike/codec/rules.js';
import type { Payload, RawIkeMessage } from '../../ike/codec/types.js';
import { readPcapIke, type IkeDatagram } from '../helpers/pcap.js';

const VECTORS = new URL('../vectors/', import.meta.url);
export const CAPTURES = [
  's2s-psk-keylog', 's2s-psk-default-proposals-keylog', 'neg-invalid-ke', 'neg-no-proposal',
  's2s-cert-keylog', 'vendor-id', 'rw-cert-keylog', 'neg-auth-failed', 'neg-ts-unacceptable',
] as const;

function load(name: string): { dgrams: IkeDatagram[]; map: Map<number, string> } {
  const dgrams = readPcapIke(readFileSync(new URL(`ike-${name}.pcap`, VECTORS)));
  const map = new Map<number, string>();
  for (const line of readFileSync(new URL(`ike-${name}.ikemap.txt`, VECTORS), 'utf8').split('\n')) {
    const m = /^#(\d+) /.exec(line);
    if (m) map.set(Number(m[1]), line);
  }
  return { dgrams, map };
}

function decoded(name: string): { d: IkeDatagram; raw: RawIkeMessage }[] {
  return load(name).dgrams.map((d) => ({ d, raw: decodeMessage(d.ike) }));
}

const hex = (b: Buffer): string => b.toString('hex');
const notifies = (ps: Payload[]) => payloadsOfType(ps, PayloadType.NOTIFY);
const only = payloadsOfType;

describe.each(CAPTURES)('capture %s', (name) => {
  const { dgrams, map } = load(name);

  it('contains IKE messages', () => {
    expect(dgrams.length).toBeGreaterThanOrEqual(2);
  });

  it('decodes every IKE message and matches the tshark header decode', () => {
    for (const d of dgrams) {
      const raw = decodeMessage(d.ike);
      const line = map.get(d.frame);
      expect(line, `frame ${d.frame} in ikemap`).toBeDefined();
      const m = /(\w+) (request|response) flags=0x([0-9a-f]+)\S* MID=(\d+) len=(\d+) ispi=([0-9a-f:]+) rspi=([0-9a-f:]+)/
        .exec(line!);
      expect(m, line).not.toBeNull();
      const [, exch, dir, flags, mid, len, ispi, rspi] = m!;
      expect(ExchangeType[raw.header.exchange]).toBe(exch);
      expect((raw.header.flags & HeaderFlag.Response) !== 0).toBe(dir === 'response');
      expect(raw.header.flags).toBe(parseInt(flags!, 16));
      expect(raw.header.messageId).toBe(Number(mid));
      expect(raw.header.length).toBe(Number(len));
      expect(raw.bytes.length).toBe(Number(len));
      expect(hex(raw.header.spiI)).toBe(ispi!.replaceAll(':', ''));
      expect(hex(raw.header.spiR)).toBe(rspi!.replaceAll(':', ''));
      expect(raw.header.version).toBe(0x20);
    }
  });

  it('re-encodes every plain message byte for byte', () => {
    let plain = 0;
    for (const { d, raw } of decoded(name)) {
      if (raw.encrypted || raw.fragment) continue;
      plain++;
      const again = encodeMessage(raw.header, raw.payloads);
      expect(hex(again), `frame ${d.frame}`).toBe(hex(d.ike));
    }
    expect(plain).toBeGreaterThanOrEqual(2);
  });

  it('plain messages: describeMessage matches charon\'s log line and the payload rules pass', () => {
    const log = new Set(readFileSync(new URL(`ike-${name}.charon-summary.txt`, VECTORS), 'utf8')
      .split('\n').filter(Boolean).map((l) => l.replace(/^(parsed|generating) /, '')));
    for (const { d, raw } of decoded(name)) {
      if (raw.encrypted || raw.fragment) continue;
      expect(log, `frame ${d.frame}`).toContain(describeMessage(raw));
      checkPayloadRules(raw.header.exchange, (raw.header.flags & HeaderFlag.Response) !== 0, raw.payloads);
    }
  });

  it('classifies messages as plain (IKE_SA_INIT), SK or SKF', () => {
    for (const { raw } of decoded(name)) {
      if (raw.encrypted) {
        expect(raw.payloads).toEqual([]);
        expect(raw.header.nextPayload).toBe(PayloadType.SK);
        expect(raw.encrypted.bodyOffset).toBe(28 + 4);
        expect(raw.header.exchange).not.toBe(ExchangeType.IKE_SA_INIT);
      } else if (raw.fragment) {
        expect(raw.header.nextPayload).toBe(PayloadType.SKF);
      } else {
        expect(raw.header.exchange).toBe(ExchangeType.IKE_SA_INIT);
      }
    }
  });
});

/** The tshark "Encrypted and Authenticated" line following frame N, with its IV. */
function skLine(name: string, frame: number): string {
  const lines = readFileSync(new URL(`ike-${name}.ikemap.txt`, VECTORS), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.startsWith(`#${frame} `));
  return lines[i + 1] ?? '';
}

describe('SK and SKF layout', () => {
  it('SK IV sits at bodyOffset and the first inner payload is IDi/IDr (s2s-psk-keylog)', () => {
    const msgs = decoded('s2s-psk-keylog').filter((x) => x.raw.encrypted);
    expect(msgs.length).toBeGreaterThanOrEqual(10);
    for (const { d, raw } of msgs) {
      const iv = /iv=([0-9a-f]+)/.exec(skLine('s2s-psk-keylog', d.frame))![1]!;
      const off = raw.encrypted!.bodyOffset;
      expect(hex(raw.bytes.subarray(off, off + iv.length / 2))).toBe(iv);
    }
    const authReq = msgs.find((x) => x.raw.header.exchange === ExchangeType.IKE_AUTH && !(x.raw.header.flags & 0x20))!;
    expect(authReq.raw.encrypted!.firstInnerPayload).toBe(PayloadType.IDi);
    const authResp = msgs.find((x) => x.raw.header.exchange === ExchangeType.IKE_AUTH && (x.raw.header.flags & 0x20))!;
    expect(authResp.raw.encrypted!.firstInnerPayload).toBe(PayloadType.IDr);
    const del = msgs.find((x) => x.d.frame === 13)!; // INFORMATIONAL MID 3 [ D ]
    expect(del.raw.encrypted!.firstInnerPayload).toBe(PayloadType.DELETE);
    const dpd = msgs.find((x) => x.d.frame === 27)!; // INFORMATIONAL [ ] (liveness)
    expect(dpd.raw.encrypted!.firstInnerPayload).toBe(PayloadType.NONE);
  });

  it('SKF fragments 1/2 and 2/2 of the s2s-cert IKE_AUTH request', () => {
    const frags = decoded('s2s-cert-keylog').filter((x) => x.raw.fragment);
    expect(frags.map((x) => [x.raw.fragment!.number, x.raw.fragment!.total])).toEqual([[1, 2], [2, 2]]);
    const [f1, f2] = frags;
    expect(f1!.raw.header.nextPayload).toBe(PayloadType.SKF);
    expect(f1!.raw.fragment!.firstInnerPayload).toBe(PayloadType.IDi);
    expect(f2!.raw.fragment!.firstInnerPayload).toBe(PayloadType.NONE);
    expect(f1!.raw.fragment!.bodyOffset).toBe(28 + 8);
    expect(f1!.raw.bytes.length).toBe(1248); // strongSwan fragment_size 1280 − IP/UDP − marker
    for (const { d, raw } of frags) {
      const iv = /iv=([0-9a-f]+)/.exec(skLine('s2s-cert-keylog', d.frame))![1]!;
      const off = raw.fragment!.bodyOffset;
      expect(hex(raw.bytes.subarray(off, off + 8))).toBe(iv);
    }
  });
});

describe('decoded contents match the tshark decode', () => {
  it('s2s-psk-keylog IKE_SA_INIT request: SA, KE, nonce, notifies', () => {
    const { raw } = decoded('s2s-psk-keylog')[0]!;
    expect(raw.payloads.map((p) => p.type)).toEqual([
      PayloadType.SA, PayloadType.KE, PayloadType.NONCE, ...Array(5).fill(PayloadType.NOTIFY),
    ]);
    const [sa] = only(raw.payloads, PayloadType.SA);
    expect(sa!.proposals).toHaveLength(1);
    const prop = sa!.proposals[0]!;
    expect(prop.num).toBe(1);
    expect(prop.protocolId).toBe(ProtocolId.IKE);
    expect(prop.spi.length).toBe(0);
    expect(prop.transforms).toEqual([
      { type: TransformType.ENCR, id: 20, keyLength: 256 },
      { type: TransformType.PRF, id: 5 },
      { type: TransformType.DH, id: 31 },
    ]);
    const [ke] = only(raw.payloads, PayloadType.KE);
    expect(ke!.group).toBe(31);
    expect(ke!.data.length).toBe(32);
    expect(only(raw.payloads, PayloadType.NONCE)[0]!.data.length).toBe(32);
    const ns = notifies(raw.payloads);
    expect(ns.map((n) => n.notifyType)).toEqual([
      NotifyType.NAT_DETECTION_SOURCE_IP, NotifyType.NAT_DETECTION_DESTINATION_IP,
      NotifyType.IKEV2_FRAGMENTATION_SUPPORTED, NotifyType.SIGNATURE_HASH_ALGORITHMS,
      NotifyType.REDIRECT_SUPPORTED,
    ]);
    expect(ns.map((n) => n.data.length)).toEqual([20, 20, 0, 8, 0]);
    expect(hex(ns[3]!.data)).toBe('0002000300040005');
    for (const n of ns) {
      expect(n.protocolId).toBe(0);
      expect(n.spi.length).toBe(0);
    }
  });

  it('s2s-psk-keylog IKE_SA_INIT response: CHILDLESS and MULTIPLE_AUTH', () => {
    const { raw } = decoded('s2s-psk-keylog')[1]!;
    expect(raw.header.flags).toBe(HeaderFlag.Response);
    expect(notifies(raw.payloads).map((n) => n.notifyType).slice(-2)).toEqual([
      NotifyType.CHILDLESS_IKEV2_SUPPORTED, NotifyType.MULTIPLE_AUTH_SUPPORTED,
    ]);
  });

  it('neg-invalid-ke: INVALID_KE_PAYLOAD with data 0x0013, then a retry with group 19 (64 bytes)', () => {
    const msgs = decoded('neg-invalid-ke');
    const first = msgs[0]!.raw;
    expect(only(first.payloads, PayloadType.SA)[0]!.proposals[0]!.transforms.map((t) => t.id)).toEqual([20, 5, 31, 19]);
    const reject = msgs[1]!.raw;
    expect(reject.header.length).toBe(38);
    expect(reject.payloads).toHaveLength(1);
    const [n] = notifies(reject.payloads);
    expect(n!.notifyType).toBe(NotifyType.INVALID_KE_PAYLOAD);
    expect(hex(n!.data)).toBe('0013');
    const retry = msgs[2]!.raw;
    const [ke] = only(retry.payloads, PayloadType.KE);
    expect(ke!.group).toBe(19);
    expect(ke!.data.length).toBe(64);
    const accept = msgs[3]!.raw;
    expect(only(accept.payloads, PayloadType.SA)[0]!.proposals[0]!.transforms.map((t) => t.id)).toEqual([20, 5, 19]);
  });

  it('neg-no-proposal: NO_PROPOSAL_CHOSEN response with responder SPI 0', () => {
    const msgs = decoded('neg-no-proposal');
    expect(msgs).toHaveLength(2);
    const resp = msgs[1]!.raw;
    expect(resp.header.length).toBe(36);
    expect(hex(resp.header.spiR)).toBe('0000000000000000');
    expect(notifies(resp.payloads).map((n) => [n.notifyType, n.data.length])).toEqual([[NotifyType.NO_PROPOSAL_CHOSEN, 0]]);
  });

  it('s2s-psk-default-proposals: the 34-transform default IKE proposal', () => {
    const msgs = decoded('s2s-psk-default-proposals-keylog');
    const sa = only(msgs[0]!.raw.payloads, PayloadType.SA)[0]!;
    const lines = readFileSync(new URL('ike-s2s-psk-default-proposals-keylog.ikemap.txt', VECTORS), 'utf8').split('\n');
    // Transforms listed by tshark between "#1" and "Key Exchange".
    const end = lines.findIndex((l) => l.includes('Key Exchange (34)'));
    const expected = lines.slice(0, end).flatMap((l) => {
      const m = /Transform \(3\) \{ .*\((\d+)\)(?:, keylen=(\d+))? \}/.exec(l);
      return m ? [{ id: Number(m[1]), keyLength: m[2] ? Number(m[2]) : undefined }] : [];
    });
    const proposalLines = lines.slice(0, end).filter((l) => l.includes('Proposal (2)'));
    expect(sa.proposals.length).toBe(proposalLines.length);
    const all = sa.proposals.flatMap((p) => p.transforms);
    expect(all.map((t) => ({ id: t.id, keyLength: t.keyLength }))).toEqual(expected);
    const counts = proposalLines.map((l) => Number(/ntransforms=(\d+)/.exec(l)![1]));
    expect(sa.proposals.map((p) => p.transforms.length)).toEqual(counts);
    expect(counts).toContain(34);
    expect(sa.proposals.map((p) => p.num)).toEqual(sa.proposals.map((_, i) => i + 1));
  });

  it('vendor-id: the strongSwan vendor ID', () => {
    const msgs = decoded('vendor-id');
    for (const { raw } of msgs.slice(0, 2)) {
      const [v] = only(raw.payloads, PayloadType.VENDOR);
      expect(hex(v!.data)).toBe('882fe56d6fd20dbc2251613b2ebe5beb');
    }
  });

  it('s2s-cert-keylog: CERTREQ in the IKE_SA_INIT response', () => {
    const resp = decoded('s2s-cert-keylog')[1]!.raw;
    const [cr] = only(resp.payloads, PayloadType.CERTREQ);
    expect(cr!.encoding).toBe(4);
    expect(cr!.data.length % 20).toBe(0);
    expect(cr!.data.length).toBeGreaterThan(0);
  });
});
