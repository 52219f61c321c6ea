/**
 * Building SA payload proposals from configured specs and choosing one of a
 * peer's offers (RFC 7296 §2.7, §3.3). Pure functions.
 */
import { TransformType, ProtocolId, EncrId, IntegId, DhGroup, EsnId, PrfId } from './constants.js';
import type { Proposal, Transform } from './codec/types.js';
import type { IkeProposalSpec, EspProposalSpec } from './connection.js';

export interface IkeSuite {
  encr: number;
  encrKeyBits: number;
  integ: number;
  prf: number;
  dh: number;
}

export interface EspSuite {
  encr: number;
  encrKeyBits: number;
  integ: number;
  dh: number; // NONE when no PFS
  esn: number;
}

const isAead = (encr: number): boolean =>
  encr === EncrId.AES_GCM_16 || encr === EncrId.AES_GCM_12 || encr === EncrId.AES_GCM_8;

function encrTransform(encr: number, bits: number): Transform {
  return { type: TransformType.ENCR, id: encr, keyLength: bits };
}

/** One proposal per spec, numbered from 1. `spi` is empty in IKE_SA_INIT. */
export function buildIkeProposals(specs: readonly IkeProposalSpec[], spi: Buffer = Buffer.alloc(0), onlyGroup?: number): Proposal[] {
  return specs.map((s, i) => {
    const t: Transform[] = [encrTransform(s.encr, s.encrKeyBits)];
    if (!isAead(s.encr) && s.integ !== IntegId.NONE) t.push({ type: TransformType.INTEG, id: s.integ });
    t.push({ type: TransformType.PRF, id: s.prf });
    const groups = onlyGroup !== undefined ? [onlyGroup, ...s.dh.filter((g) => g !== onlyGroup)] : s.dh;
    for (const g of groups) if (s.dh.includes(g)) t.push({ type: TransformType.DH, id: g });
    return { num: i + 1, protocolId: ProtocolId.IKE, spi, transforms: t };
  });
}

export function buildEspProposals(specs: readonly EspProposalSpec[], spi: Buffer, withPfs: boolean): Proposal[] {
  return specs.map((s, i) => {
    const t: Transform[] = [encrTransform(s.encr, s.encrKeyBits)];
    if (!isAead(s.encr) && s.integ !== IntegId.NONE) t.push({ type: TransformType.INTEG, id: s.integ });
    if (withPfs && s.pfs !== DhGroup.NONE) t.push({ type: TransformType.DH, id: s.pfs });
    t.push({ type: TransformType.ESN, id: EsnId.NO_ESN });
    return { num: i + 1, protocolId: ProtocolId.ESP, spi, transforms: t };
  });
}

function byType(p: Proposal, type: TransformType): Transform[] {
  return p.transforms.filter((t) => t.type === type);
}

function hasEncr(p: Proposal, encr: number, bits: number): boolean {
  return byType(p, TransformType.ENCR).some((t) => t.id === encr && (t.keyLength ?? 0) === bits);
}

/**
 * Responder side: the first of OUR specs (our preference order) that one of
 * the peer's proposals can satisfy. Returns the chosen suite and the peer's
 * proposal (number and SPI are echoed back in the reply).
 */
export function selectIkeProposal(
  offered: readonly Proposal[], specs: readonly IkeProposalSpec[],
): { suite: IkeSuite; proposal: Proposal } | undefined {
  for (const s of specs) {
    for (const p of offered) {
      if (p.protocolId !== ProtocolId.IKE) continue;
      if (!hasEncr(p, s.encr, s.encrKeyBits)) continue;
      if (!byType(p, TransformType.PRF).some((t) => t.id === s.prf)) continue;
      const integs = byType(p, TransformType.INTEG);
      if (isAead(s.encr)) {
        if (integs.length > 0 && !integs.some((t) => t.id === IntegId.NONE)) continue;
      } else if (!integs.some((t) => t.id === s.integ)) continue;
      // Peer's group order first: it already sent a KE for its first choice.
      const dh = byType(p, TransformType.DH).map((t) => t.id).find((g) => s.dh.includes(g));
      if (dh === undefined) continue;
      const integ = isAead(s.encr) ? IntegId.NONE : s.integ;
      return { suite: { encr: s.encr, encrKeyBits: s.encrKeyBits, integ, prf: s.prf, dh }, proposal: p };
    }
  }
  return undefined;
}

export function selectEspProposal(
  offered: readonly Proposal[], specs: readonly EspProposalSpec[], requireDh: number | undefined,
): { suite: EspSuite; proposal: Proposal } | undefined {
  for (const s of specs) {
    for (const p of offered) {
      if (p.protocolId !== ProtocolId.ESP || p.spi.length !== 4) continue;
      if (!hasEncr(p, s.encr, s.encrKeyBits)) continue;
      const integs = byType(p, TransformType.INTEG);
      if (isAead(s.encr)) {
        if (integs.length > 0 && !integs.some((t) => t.id === IntegId.NONE)) continue;
      } else if (!integs.some((t) => t.id === s.integ)) continue;
      const esns = byType(p, TransformType.ESN);
      if (esns.length > 0 && !esns.some((t) => t.id === EsnId.NO_ESN)) continue;
      const dhs = byType(p, TransformType.DH).map((t) => t.id);
      let dh: number = DhGroup.NONE;
      if (requireDh !== undefined) {
        // CREATE_CHILD_SA with KE: the peer's proposal must list the KE's group.
        if (!dhs.includes(requireDh)) continue;
        dh = requireDh;
      } else if (dhs.length > 0 && !dhs.includes(DhGroup.NONE)) {
        // IKE_AUTH never carries a KE: a DH-only proposal is fine, PFS applies on rekey.
        dh = dhs[0] ?? DhGroup.NONE;
      }
      const integ = isAead(s.encr) ? IntegId.NONE : s.integ;
      return { suite: { encr: s.encr, encrKeyBits: s.encrKeyBits, integ, dh, esn: EsnId.NO_ESN }, proposal: p };
    }
  }
  return undefined;
}

/** Initiator side: the suite the responder picked from the single proposal it returned. */
export function suiteFromIkeReply(p: Proposal): IkeSuite | undefined {
  const encr = byType(p, TransformType.ENCR)[0];
  const prf = byType(p, TransformType.PRF)[0];
  const dh = byType(p, TransformType.DH)[0];
  if (!encr || !prf || !dh || p.protocolId !== ProtocolId.IKE) return undefined;
  const integ = byType(p, TransformType.INTEG)[0]?.id ?? IntegId.NONE;
  return { encr: encr.id, encrKeyBits: encr.keyLength ?? 0, integ, prf: prf.id, dh: dh.id };
}

export function suiteFromEspReply(p: Proposal): EspSuite | undefined {
  const encr = byType(p, TransformType.ENCR)[0];
  if (!encr || p.protocolId !== ProtocolId.ESP || p.spi.length !== 4) return undefined;
  return {
    encr: encr.id,
    encrKeyBits: encr.keyLength ?? 0,
    integ: byType(p, TransformType.INTEG)[0]?.id ?? IntegId.NONE,
    dh: byType(p, TransformType.DH)[0]?.id ?? DhGroup.NONE,
    esn: byType(p, TransformType.ESN)[0]?.id ?? EsnId.NO_ESN,
  };
}

/** Checks the responder's choice was one we offered (RFC 7296 §3.3.6 MUST). */
export function ikeSuiteAllowed(s: IkeSuite, specs: readonly IkeProposalSpec[]): boolean {
  return specs.some((x) => x.encr === s.encr && x.encrKeyBits === s.encrKeyBits && x.prf === s.prf &&
    (isAead(s.encr) ? s.integ === IntegId.NONE : x.integ === s.integ) && x.dh.includes(s.dh));
}

export function espSuiteAllowed(s: EspSuite, specs: readonly EspProposalSpec[]): boolean {
  return specs.some((x) => x.encr === s.encr && x.encrKeyBits === s.encrKeyBits &&
    (isAead(s.encr) ? s.integ === IntegId.NONE : x.integ === s.integ));
}

export { isAead };

const ENCR_NAMES: Record<number, string> = { [EncrId.AES_CBC]: 'AES_CBC', [EncrId.AES_GCM_16]: 'AES_GCM_16' };
const INTEG_NAMES: Record<number, string> = {
  [IntegId.NONE]: 'NONE', [IntegId.HMAC_SHA2_256_128]: 'HMAC_SHA2_256_128',
  [IntegId.HMAC_SHA2_384_192]: 'HMAC_SHA2_384_192', [IntegId.HMAC_SHA2_512_256]: 'HMAC_SHA2_512_256',
};
const PRF_NAMES: Record<number, string> = {
  [PrfId.HMAC_SHA2_256]: 'PRF_HMAC_SHA2_256', [PrfId.HMAC_SHA2_384]: 'PRF_HMAC_SHA2_384', [PrfId.HMAC_SHA2_512]: 'PRF_HMAC_SHA2_512',
};
const DH_NAMES: Record<number, string> = {
  [DhGroup.NONE]: 'NONE', [DhGroup.MODP_2048]: 'MODP_2048', [DhGroup.ECP_256]: 'ECP_256',
  [DhGroup.ECP_384]: 'ECP_384', [DhGroup.CURVE25519]: 'CURVE_25519',
};

/** strongSwan-style names, e.g. AES_GCM_16-256, for logs and status. */
export const algName = {
  encr: (id: number, bits: number): string => `${ENCR_NAMES[id] ?? `ENCR_${id}`}-${bits}`,
  integ: (id: number): string => INTEG_NAMES[id] ?? `INTEG_${id}`,
  prf: (id: number): string => PRF_NAMES[id] ?? `PRF_${id}`,
  dh: (id: number): string => DH_NAMES[id] ?? `DH_${id}`,
};
