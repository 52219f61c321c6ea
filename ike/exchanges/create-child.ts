/**
 * CREATE_CHILD_SA (RFC 7296 §1.3): Child SA rekey, IKE SA rekey, and new Child SAs.
 *
 *   Child rekey:  HDR, SK { N(REKEY_SA), SA, Ni, [KEi], TSi, TSr }  -->
 *                                   <--  HDR, SK { SA, Nr, [KEr], TSi, TSr }
 *   IKE rekey:    HDR, SK { SA(IKE, new SPIi), Ni, KEi }            -->
 *                                   <--  HDR, SK { SA(IKE, new SPIr), Nr, KEr }
 *
 * The initiator of a rekey deletes the old SA afterwards (§2.8). When both
 * ends rekey the same SA at once, the SA created with the lowest of the four
 * nonces is redundant and is deleted by whoever created it (§2.8.1).
 */
import { ExchangeType, NotifyType, PayloadType, ProtocolId } from '../constants.js';
import type { IkeMessage, Payload } from '../codec/types.js';
import { IkeProtocolError } from '../errors.js';
import { createKeyExchange, isSupportedGroup, type KeyExchange } from '../../crypto/dh.js';
import { deriveRekeySkeyseed } from '../../crypto/ike-keys.js';
import { randomNonce, randomSpi8 } from '../../crypto/random.js';
import { buildIkeProposals, ikeSuiteAllowed, selectIkeProposal, suiteFromIkeReply } from '../proposal.js';
import { type ChildSa, ChildState } from '../child-sa.js';
import { IkeSa, IkeSaState, errorNotify, findNotify, notify, payloadOf } from '../ike-sa.js';
import { buildChildOffer, installChild, negotiateChildResponder, readChildReply } from './child-common.js';
import { installKeys } from './ike-init.js';
import { deleteChild, deleteIke } from './informational.js';

function spiBuf(spi: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(spi);
  return b;
}

/** True when `ours` holds the lowest of all four nonces (§2.8.1: our SA is the redundant one). */
export function lowestNonceIn(ours: Buffer[], theirs: Buffer[]): boolean {
  const all = [...ours.map((n) => ({ n, mine: true })), ...theirs.map((n) => ({ n, mine: false }))];
  all.sort((a, b) => Buffer.compare(a.n, b.n));
  return all[0]?.mine ?? false;
}

/** Initiator: rekeys one Child SA, with PFS when the proposal asks for it. */
export function rekeyChild(sa: IkeSa, old: ChildSa, forcedGroup?: number): void {
  if (old.state !== ChildState.Installed || sa.state !== IkeSaState.Established) return;
  old.state = ChildState.Rekeying;
  const pfs = forcedGroup ?? sa.conn.espProposals[0]?.pfs ?? 0;
  const offer = buildChildOffer(sa, pfs !== 0, { local: old.tsLocal, remote: old.tsRemote });
  const ni = randomNonce(32);
  const dh: KeyExchange | undefined = pfs !== 0 ? createKeyExchange(pfs) : undefined;
  const [saPayload, tsi, tsr] = offer.payloads;
  const payloads: Payload[] = [
    notify(NotifyType.REKEY_SA, undefined, ProtocolId.ESP, spiBuf(old.spiIn)),
    saPayload as Payload,
    { type: PayloadType.NONCE, data: ni },
  ];
  if (dh) payloads.push({ type: PayloadType.KE, group: dh.group, data: dh.publicKey });
  payloads.push(tsi as Payload, tsr as Payload);

  const onResponse = (msg: IkeMessage): void => {
    const err = errorNotify(msg);
    if (err !== undefined) {
      if (old.state === ChildState.Rekeying) old.state = ChildState.Installed;
      if (err === NotifyType.INVALID_KE_PAYLOAD) {
        const g = findNotify(msg, NotifyType.INVALID_KE_PAYLOAD)?.data;
        const group = g && g.length >= 2 ? g.readUInt16BE(0) : 0;
        if (isSupportedGroup(group) && forcedGroup === undefined) { sa.enqueue('child-rekey', () => rekeyChild(sa, old, group), true); return; }
      }
      if (err === NotifyType.CHILD_SA_NOT_FOUND) {
        sa.log.warn({ child: old.id }, 'peer does not know the Child SA we rekey; deleting it');
        deleteChildLocally(sa, old);
        return;
      }
      // TEMPORARY_FAILURE and the rest: try again a little later.
      old.rekeyAtMs = sa.host.now() + 5_000;
      sa.log.warn({ child: old.id, notify: NotifyType[err] ?? err }, 'Child SA rekey refused, will retry');
      return;
    }
    const nr = payloadOf(msg, PayloadType.NONCE)?.data;
    if (!nr) throw new Error('rekey response lacks Nr');
    const r = readChildReply(sa, msg, offer);
    let secret: Buffer | undefined;
    if (dh) {
      const ke = payloadOf(msg, PayloadType.KE);
      if (!ke || ke.group !== dh.group) throw new Error('rekey response lacks the PFS KE');
      secret = dh.computeSharedSecret(ke.data);
    }
    const fresh = installChild(sa, r.suite, offer.spiIn, r.spiOut, r.tsLocal, r.tsRemote,
      { ni, nr, weInitiated: true, ...(secret ? { sharedSecret: secret } : {}) });
    const rival = old.replacedBy && sa.children.get(old.replacedBy);
    if (old.state === ChildState.Rekeyed && rival) {
      // Both ends rekeyed `old` at once.
      if (lowestNonceIn([ni, nr], rival.nonces)) {
        sa.log.info({ child: fresh.id }, 'rekey collision lost: deleting our redundant Child SA');
        sa.enqueue('child-delete', () => deleteChild(sa, fresh));
        return;
      }
      sa.log.info({ child: fresh.id }, 'rekey collision won');
    }
    old.state = ChildState.Rekeyed;
    old.replacedBy = fresh.id;
    sa.enqueue('child-delete', () => deleteChild(sa, old), true);
  };
  sa.startRequest('child-rekey', ExchangeType.CREATE_CHILD_SA, payloads, onResponse, () => sa.fail('Child SA rekey timed out: peer dead'));
}

function deleteChildLocally(sa: IkeSa, child: ChildSa): void {
  sa.host.backend.removeChildSa(child.id);
  child.state = ChildState.Deleted;
  sa.children.delete(child.id);
}

/** Initiator: rekeys the IKE SA itself (§2.18). */
export function rekeyIke(sa: IkeSa): void {
  if (sa.state !== IkeSaState.Established || !sa.suite || !sa.keys || sa.rekeyedTo) return;
  const newSpi = randomSpi8();
  const group = sa.suite.dh;
  const dh = createKeyExchange(group);
  const ni = randomNonce(32);
  const proposals = buildIkeProposals(sa.conn.ikeProposals.filter((p) => p.dh.includes(group)), newSpi, group);
  const payloads: Payload[] = [
    { type: PayloadType.SA, proposals: proposals.length > 0 ? proposals : buildIkeProposals(sa.conn.ikeProposals, newSpi) },
    { type: PayloadType.NONCE, data: ni },
    { type: PayloadType.KE, group, data: dh.publicKey },
  ];
  const onResponse = (msg: IkeMessage): void => {
    const err = errorNotify(msg);
    if (err !== undefined) {
      sa.rekeyAtMs = sa.host.now() + 10_000;
      sa.log.warn({ notify: NotifyType[err] ?? err }, 'IKE SA rekey refused, will retry');
      return;
    }
    const p = payloadOf(msg, PayloadType.SA)?.proposals[0];
    const nr = payloadOf(msg, PayloadType.NONCE)?.data;
    const ke = payloadOf(msg, PayloadType.KE);
    const suite = p ? suiteFromIkeReply(p) : undefined;
    if (!p || !nr || !ke || !suite || p.spi.length !== 8 || !ikeSuiteAllowed(suite, sa.conn.ikeProposals) || ke.group !== group) {
      throw new Error('malformed IKE rekey response');
    }
    const fresh = new IkeSa(sa.host, sa.conn, {
      initiator: true, spiI: newSpi, spiR: Buffer.from(p.spi), remote: sa.remote, localPort: sa.localPort, log: sa.log,
    });
    finishIkeRekey(sa, fresh, suite, ni, nr, dh.computeSharedSecret(ke.data));
    const rival = sa.rekeyedTo;
    if (rival && rival !== fresh && lowestNonceIn([ni, nr], rival.createdNonces)) {
      sa.log.info('IKE rekey collision lost: deleting our redundant IKE SA');
      moveChildren(fresh, rival);
      sa.host.adoptRekeyed(sa, fresh);
      fresh.enqueue('ike-delete', () => deleteIke(fresh, 'redundant after rekey collision'));
      return;
    }
    sa.rekeyedTo = fresh;
    sa.host.adoptRekeyed(sa, fresh);
    sa.enqueue('ike-delete', () => deleteIke(sa, 'rekeyed'), true);
  };
  sa.startRequest('ike-rekey', ExchangeType.CREATE_CHILD_SA, payloads, onResponse, () => sa.fail('IKE SA rekey timed out: peer dead'));
}

function moveChildren(from: IkeSa, to: IkeSa): void {
  for (const [id, c] of from.children) to.children.set(id, c);
  from.children.clear();
}

function finishIkeRekey(old: IkeSa, fresh: IkeSa, suite: NonNullable<IkeSa['suite']>, ni: Buffer, nr: Buffer, secret: Buffer): void {
  if (!old.keys || !old.suite) throw new Error('old IKE SA has no keys');
  fresh.ni = ni;
  fresh.nr = nr;
  fresh.createdNonces = [ni, nr];
  // §2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), with the old PRF.
  const skeyseed = deriveRekeySkeyseed(old.suite.prf, old.keys.skD, secret, ni, nr);
  installKeys(fresh, suite, skeyseed);
  fresh.natDetected = old.natDetected;
  moveChildren(old, fresh);
  const now = fresh.host.now();
  const life = fresh.conn.ikeLifetimeSec * 1000;
  fresh.establishedMs = now;
  fresh.rekeyAtMs = now + life * (0.9 - Math.random() * 0.05);
  fresh.expireAtMs = now + life;
  fresh.state = IkeSaState.Established;
  fresh.log.info(`IKE_SA ${fresh.name} established by rekeying ${old.name}`);
}

/** Responder side of CREATE_CHILD_SA. */
export function respondCreateChild(sa: IkeSa, msg: IkeMessage): Payload[] {
  if (sa.state !== IkeSaState.Established) throw new IkeProtocolError(NotifyType.TEMPORARY_FAILURE, 'IKE SA not established');
  const saP = payloadOf(msg, PayloadType.SA);
  const ni = payloadOf(msg, PayloadType.NONCE)?.data;
  const ke = payloadOf(msg, PayloadType.KE);
  if (!saP || !ni) throw new IkeProtocolError(NotifyType.INVALID_SYNTAX, 'CREATE_CHILD_SA lacks SA or Nonce');
  if (ni.length < 16 || ni.length > 256) throw new IkeProtocolError(NotifyType.INVALID_SYNTAX, 'bad nonce length');
  const nr = randomNonce(32);

  if (saP.proposals[0]?.protocolId === ProtocolId.IKE) {
    if (sa.rekeyedTo) throw new IkeProtocolError(NotifyType.TEMPORARY_FAILURE, 'IKE SA already rekeyed');
    const chosen = selectIkeProposal(saP.proposals, sa.conn.ikeProposals);
    if (!chosen || chosen.proposal.spi.length !== 8) throw new IkeProtocolError(NotifyType.NO_PROPOSAL_CHOSEN, 'no acceptable IKE rekey proposal');
    if (!ke || ke.group !== chosen.suite.dh) {
      const d = Buffer.alloc(2);
      d.writeUInt16BE(chosen.suite.dh);
      throw new IkeProtocolError(NotifyType.INVALID_KE_PAYLOAD, 'IKE rekey KE group mismatch', d);
    }
    const dh = createKeyExchange(chosen.suite.dh);
    const spiR = randomSpi8();
    const fresh = new IkeSa(sa.host, sa.conn, {
      initiator: false, spiI: Buffer.from(chosen.proposal.spi), spiR, remote: sa.remote, localPort: sa.localPort, log: sa.log,
    });
    finishIkeRekey(sa, fresh, chosen.suite, ni, nr, dh.computeSharedSecret(ke.data));
    // If we are rekeying too, our own response handler resolves the collision.
    sa.rekeyedTo = fresh;
    sa.host.adoptRekeyed(sa, fresh);
    const reply = buildIkeProposals([{ ...chosen.suite, dh: [chosen.suite.dh] }], spiR)[0];
    if (!reply) throw new IkeProtocolError(NotifyType.NO_PROPOSAL_CHOSEN, 'no proposal');
    reply.num = chosen.proposal.num;
    return [
      { type: PayloadType.SA, proposals: [reply] },
      { type: PayloadType.NONCE, data: nr },
      { type: PayloadType.KE, group: dh.group, data: dh.publicKey },
    ];
  }

  const rekey = findNotify(msg, NotifyType.REKEY_SA);
  let old: ChildSa | undefined;
  if (rekey) {
    const spi = rekey.spi.length === 4 ? rekey.spi.readUInt32BE(0) : -1;
    old = [...sa.children.values()].find((c) => c.spiOut === spi && c.state !== ChildState.Deleted);
    if (!old) throw new IkeProtocolError(NotifyType.CHILD_SA_NOT_FOUND, `no Child SA with SPI ${spi.toString(16)}`);
  }
  let secret: Buffer | undefined;
  let dh: KeyExchange | undefined;
  if (ke) {
    if (!isSupportedGroup(ke.group)) {
      const d = Buffer.alloc(2);
      d.writeUInt16BE(sa.conn.espProposals.find((p) => p.pfs !== 0)?.pfs ?? sa.suite?.dh ?? 0);
      throw new IkeProtocolError(NotifyType.INVALID_KE_PAYLOAD, `unsupported PFS group ${ke.group}`, d);
    }
    dh = createKeyExchange(ke.group);
    secret = dh.computeSharedSecret(ke.data);
  }
  const c = negotiateChildResponder(sa, msg, ke?.group);
  // As rekey responder keep sending on the old SA until the initiator has the
  // new one (it installs it when our answer arrives): no packet lost in between.
  const fresh = installChild(sa, c.suite, c.spiIn, c.spiOut, c.tsLocal, c.tsRemote,
    { ni, nr, weInitiated: false, ...(secret ? { sharedSecret: secret } : {}) }, { deferOutbound: old !== undefined });
  if (old) {
    // If we are rekeying `old` ourselves, our response handler compares nonces.
    old.state = ChildState.Rekeyed;
    old.replacedBy = fresh.id;
  }
  const [saReply, tsi, tsr] = c.reply;
  const reply: Payload[] = [saReply as Payload, { type: PayloadType.NONCE, data: nr }];
  if (dh) reply.push({ type: PayloadType.KE, group: dh.group, data: dh.publicKey });
  reply.push(tsi as Payload, tsr as Payload);
  return reply;
}
