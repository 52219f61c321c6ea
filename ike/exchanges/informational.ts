/**
 * INFORMATIONAL (RFC 7296 §1.4): DELETE of Child and IKE SAs, and liveness
 * checks (an empty request, §2.4) used as dead peer detection.
 *
 *   HDR, SK { D(ESP, SPIs...) }  -->   <--  HDR, SK { D(ESP, our SPIs of the pairs) }
 *   HDR, SK { D(IKE) }           -->   <--  HDR, SK { }
 *   HDR, SK { }                  -->   <--  HDR, SK { }
 */
import { ExchangeType, PayloadType, ProtocolId } from '../constants.js';
import type { IkeMessage, Payload } from '../codec/types.js';
import { type ChildSa, ChildState, removeFromBackend, spiHex } from '../child-sa.js';
import { type IkeSa, IkeSaState } from '../ike-sa.js';

function spiBuf(spi: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(spi);
  return b;
}

export function deleteChild(sa: IkeSa, child: ChildSa): void {
  if (child.state === ChildState.Deleted) return;
  child.state = ChildState.Deleting;
  const done = (): void => {
    removeFromBackend(sa.host.backend, child);
    sa.children.delete(child.id);
    sa.log.info({ child: child.id, spiIn: spiHex(child.spiIn), spiOut: spiHex(child.spiOut) }, 'CHILD_SA deleted');
  };
  sa.startRequest('child-delete', ExchangeType.INFORMATIONAL,
    [{ type: PayloadType.DELETE, protocolId: ProtocolId.ESP, spiSize: 4, spis: [spiBuf(child.spiIn)] }],
    done, () => { done(); sa.fail('no response to Child SA delete: peer dead'); });
}

/** Sends DELETE for the IKE SA; closes it on the answer or after a short wait. */
export function deleteIke(sa: IkeSa, reason: string): void {
  if (sa.state === IkeSaState.Closed) return;
  sa.setState(IkeSaState.Deleting);
  sa.startRequest('ike-delete', ExchangeType.INFORMATIONAL,
    [{ type: PayloadType.DELETE, protocolId: ProtocolId.IKE, spiSize: 0, spis: [] }],
    () => sa.close(reason), () => sa.close(reason), 3_000);
}

export function sendDpd(sa: IkeSa): void {
  sa.startRequest('dpd', ExchangeType.INFORMATIONAL, [], () => undefined,
    () => {
      sa.lastError = `peer dead: no answer to DPD within ${sa.conn.dpdTimeoutSec} s`;
      sa.fail(sa.lastError);
    });
}

export function respondInformational(sa: IkeSa, msg: IkeMessage): Payload[] {
  const reply: Payload[] = [];
  const ourSpis: Buffer[] = [];
  for (const p of msg.payloads) {
    if (p.type !== PayloadType.DELETE || !('spis' in p)) continue;
    if (p.protocolId === ProtocolId.IKE) {
      sa.log.info(`received DELETE for IKE_SA ${sa.name}`);
      sa.afterRespond = (): void => sa.close('deleted by peer');
      return [];
    }
    if (p.protocolId !== ProtocolId.ESP) continue;
    for (const spi of p.spis) {
      if (spi.length !== 4) continue;
      const v = spi.readUInt32BE(0);
      const child = [...sa.children.values()].find((c) => c.spiOut === v && c.state !== ChildState.Deleted);
      if (!child) continue;
      // If we are deleting it too, both deletes cross; answer with nothing for it (§1.4.1).
      if (child.state !== ChildState.Deleting) ourSpis.push(spiBuf(child.spiIn));
      // The rekey initiator deletes the old SA once it uses the new one.
      if (child.replacedBy) sa.host.backend.activateOutbound?.(child.replacedBy);
      removeFromBackend(sa.host.backend, child);
      sa.children.delete(child.id);
      sa.log.info({ child: child.id, spiIn: spiHex(child.spiIn), spiOut: spiHex(v) }, 'CHILD_SA deleted by peer');
    }
  }
  if (ourSpis.length > 0) reply.push({ type: PayloadType.DELETE, protocolId: ProtocolId.ESP, spiSize: 4, spis: ourSpis });
  return reply;
}
