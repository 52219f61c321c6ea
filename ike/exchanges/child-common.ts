/**
 * Child SA negotiation shared by IKE_AUTH and CREATE_CHILD_SA: proposal
 * choice, traffic selector narrowing (RFC 7296 §2.9) and installation.
 */
import { NotifyType, PayloadType } from '../constants.js';
import type { IkeMessage, Payload } from '../codec/types.js';
import { IkeProtocolError } from '../errors.js';
import { randomSpi4 } from '../../crypto/random.js';
import type { Ipv4Range } from '../../dataplane/backend.js';
import {
  buildEspProposals, espSuiteAllowed, selectEspProposal, suiteFromEspReply, type EspSuite,
} from '../proposal.js';
import { narrow, rangeToTs, tsToRanges, rangeToString } from '../traffic-selectors.js';
import { type ChildSa, ChildState, buildInstall, nextChildId, spiHex } from '../child-sa.js';
import { type IkeSa, payloadOf } from '../ike-sa.js';
import { algName } from '../proposal.js';

/** What an initiator offers for a new Child SA. */
export interface ChildOffer {
  spiIn: number;
  tsLocal: Ipv4Range[];
  tsRemote: Ipv4Range[];
  payloads: Payload[]; // SA, TSi, TSr
}

export function buildChildOffer(sa: IkeSa, withPfs: boolean, ts?: { local: Ipv4Range[]; remote: Ipv4Range[] }): ChildOffer {
  const spiIn = randomSpi4();
  const spi = Buffer.alloc(4);
  spi.writeUInt32BE(spiIn);
  const tsLocal = ts?.local ?? sa.conn.localTs;
  const tsRemote = ts?.remote ?? sa.conn.remoteTs;
  return {
    spiIn, tsLocal, tsRemote,
    payloads: [
      { type: PayloadType.SA, proposals: buildEspProposals(sa.conn.espProposals, spi, withPfs) },
      { type: PayloadType.TSi, selectors: tsLocal.map(rangeToTs) },
      { type: PayloadType.TSr, selectors: tsRemote.map(rangeToTs) },
    ],
  };
}

function lifetimes(sa: IkeSa, now: number): { rekeyAtMs: number; expireAtMs: number } {
  const life = sa.conn.childLifetimeSec * 1000;
  // Rekey at 90 % of the lifetime minus up to 5 % jitter, so both ends rarely collide.
  const rekey = life * (0.9 - Math.random() * 0.05);
  return { rekeyAtMs: now + rekey, expireAtMs: now + life };
}

export interface KeyContext {
  ni: Buffer;
  nr: Buffer;
  sharedSecret?: Buffer;
  weInitiated: boolean;
}

/** Creates the ChildSa record, hands the keys to the dataplane and attaches it to the IKE SA. */
export function installChild(
  sa: IkeSa, suite: EspSuite, spiIn: number, spiOut: number, tsLocal: Ipv4Range[], tsRemote: Ipv4Range[], k: KeyContext,
  opts: { deferOutbound?: boolean } = {},
): ChildSa {
  const now = sa.host.now();
  const child: ChildSa = {
    id: nextChildId(sa.conn.name), state: ChildState.Installed, spiIn, spiOut, suite, tsLocal, tsRemote,
    establishedMs: now, ...lifetimes(sa, now), nonces: [k.ni, k.nr],
  };
  if (!sa.keys || !sa.suite) throw new Error('IKE SA has no keys');
  // Outbound lookup uses the configured remote prefixes within what was negotiated.
  let installRemote = narrow(tsRemote, sa.conn.remotePrefixes);
  if (installRemote.length === 0) installRemote = tsRemote;
  const install = buildInstall(child, { prf: sa.suite.prf, skD: sa.keys.skD, ...k }, sa.conn.name, sa.remote, sa.localPort, installRemote);
  if (opts.deferOutbound) install.outboundActive = false;
  sa.host.backend.installChildSa(install);
  sa.children.set(child.id, child);
  sa.log.info({
    child: child.id, spiIn: spiHex(spiIn), spiOut: spiHex(spiOut),
    esp: `${algName.encr(suite.encr, suite.encrKeyBits)}${suite.integ ? '/' + algName.integ(suite.integ) : ''}`,
    ts: `${tsLocal.map(rangeToString).join(',')} === ${tsRemote.map(rangeToString).join(',')}`,
  }, 'CHILD_SA established');
  return child;
}

/** Responder: picks a proposal and narrows selectors; throws the notify to send back. */
export function negotiateChildResponder(sa: IkeSa, msg: IkeMessage, requireDh: number | undefined): {
  suite: EspSuite; spiOut: number; spiIn: number; tsLocal: Ipv4Range[]; tsRemote: Ipv4Range[]; reply: Payload[];
} {
  const saP = payloadOf(msg, PayloadType.SA);
  const tsi = payloadOf(msg, PayloadType.TSi);
  const tsr = payloadOf(msg, PayloadType.TSr);
  if (!saP || !tsi || !tsr) throw new IkeProtocolError(NotifyType.INVALID_SYNTAX, 'Child SA request lacks SA, TSi or TSr');
  const chosen = selectEspProposal(saP.proposals, sa.conn.espProposals, requireDh);
  if (!chosen) throw new IkeProtocolError(NotifyType.NO_PROPOSAL_CHOSEN, 'no acceptable ESP proposal offered');
  // TSi is the initiator's side: our remote. TSr: our local.
  const tsRemote = narrow(tsToRanges(tsi.selectors), sa.conn.remoteTs);
  const tsLocal = narrow(tsToRanges(tsr.selectors), sa.conn.localTs);
  if (tsRemote.length === 0 || tsLocal.length === 0) {
    throw new IkeProtocolError(NotifyType.TS_UNACCEPTABLE,
      `traffic selectors ${tsToRanges(tsi.selectors).map(rangeToString).join(',')} === ${tsToRanges(tsr.selectors).map(rangeToString).join(',')} do not match the configuration`);
  }
  const spiIn = randomSpi4();
  const spi = Buffer.alloc(4);
  spi.writeUInt32BE(spiIn);
  const replyProposal = buildEspProposals([{ encr: chosen.suite.encr, encrKeyBits: chosen.suite.encrKeyBits, integ: chosen.suite.integ, pfs: chosen.suite.dh }], spi, chosen.suite.dh !== 0 && requireDh !== undefined)[0];
  if (!replyProposal) throw new IkeProtocolError(NotifyType.NO_PROPOSAL_CHOSEN, 'no proposal');
  replyProposal.num = chosen.proposal.num;
  return {
    suite: requireDh === undefined ? { ...chosen.suite, dh: 0 } : chosen.suite,
    spiOut: chosen.proposal.spi.readUInt32BE(0),
    spiIn, tsLocal, tsRemote,
    reply: [
      { type: PayloadType.SA, proposals: [replyProposal] },
      { type: PayloadType.TSi, selectors: tsRemote.map(rangeToTs) },
      { type: PayloadType.TSr, selectors: tsLocal.map(rangeToTs) },
    ],
  };
}

/** Initiator: reads the responder's SA/TS choice for our offer. Throws on a choice we did not offer. */
export function readChildReply(sa: IkeSa, msg: IkeMessage, offer: ChildOffer): {
  suite: EspSuite; spiOut: number; tsLocal: Ipv4Range[]; tsRemote: Ipv4Range[];
} {
  const saP = payloadOf(msg, PayloadType.SA);
  const tsi = payloadOf(msg, PayloadType.TSi);
  const tsr = payloadOf(msg, PayloadType.TSr);
  const p = saP?.proposals[0];
  if (!saP || saP.proposals.length !== 1 || !p || !tsi || !tsr) throw new Error('Child SA response lacks SA, TSi or TSr');
  const suite = suiteFromEspReply(p);
  if (!suite || !espSuiteAllowed(suite, sa.conn.espProposals)) throw new Error('responder chose an ESP proposal we did not offer');
  const tsLocal = tsToRanges(tsi.selectors);
  const tsRemote = tsToRanges(tsr.selectors);
  // The responder may only narrow (§2.9).
  const within = (got: Ipv4Range[], offered: Ipv4Range[]): boolean =>
    got.length > 0 && narrow(got, offered).length === got.length;
  if (!within(tsLocal, offer.tsLocal) || !within(tsRemote, offer.tsRemote)) throw new Error('responder widened the traffic selectors');
  return { suite, spiOut: p.spi.readUInt32BE(0), tsLocal, tsRemote };
}
