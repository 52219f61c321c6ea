/**
 * Export policy: which best path goes to which peer, with which attributes.
 *
 *  - originated prefixes always; routes learned from other peers only when
 *    the speaker is configured as `transit`;
 *  - never back to the peer it came from, never iBGP → iBGP (RFC 4271 §9.2.1, no reflection);
 *  - eBGP: AS_PATH prepended with our ASN, NEXT_HOP = our address on that
 *    session, MED only for our own routes (RFC 4271 §5.1.4), no LOCAL_PREF;
 *    not sent when the peer's ASN is already in the path (it would drop it);
 *  - iBGP: AS_PATH unchanged, LOCAL_PREF included, next hop kept for learned routes;
 *  - unrecognized optional transitive attributes are passed on with the
 *    Partial bit set (RFC 4271 §5), non-transitive ones are dropped.
 */
import { AttrFlag, DEFAULT_LOCAL_PREF, Origin } from './constants.js';
import { asPathContains, prependAs, type PathAttributes } from './attributes.js';
import { LOCAL_SOURCE, type RibRoute } from './rib.js';

export interface ExportTarget {
  peerAddress: string;
  peerAsn: number;
  localAsn: number;
  /** Our address on the session (NEXT_HOP for eBGP). */
  localAddress: string | undefined;
  transit: boolean;
}

export function exportAttributes(best: RibRoute, t: ExportTarget): PathAttributes | undefined {
  const ibgpPeer = t.peerAsn === t.localAsn;
  const local = best.source === LOCAL_SOURCE;
  if (best.source === t.peerAddress) return undefined;
  if (!local && !t.transit) return undefined;
  if (!local && ibgpPeer && best.peer?.ibgp) return undefined;
  const a = best.attributes;
  const out: PathAttributes = { origin: a.origin ?? Origin.Incomplete };
  if (ibgpPeer) {
    out.asPath = a.asPath ?? [];
    const nh = local || !a.nextHop ? t.localAddress : a.nextHop;
    if (nh !== undefined) out.nextHop = nh;
    out.localPref = a.localPref ?? DEFAULT_LOCAL_PREF;
    if (a.med !== undefined) out.med = a.med;
  } else {
    if (asPathContains(a.asPath, t.peerAsn)) return undefined;
    out.asPath = prependAs(a.asPath, t.localAsn);
    if (t.localAddress !== undefined) out.nextHop = t.localAddress;
    if (local && a.med !== undefined) out.med = a.med;
  }
  if (a.communities) out.communities = a.communities;
  if (a.atomicAggregate) out.atomicAggregate = true;
  if (a.aggregator) out.aggregator = a.aggregator;
  const unknown = (a.unknown ?? []).filter((u) => u.flags & AttrFlag.Transitive).map((u) => ({ ...u, flags: u.flags | AttrFlag.Partial }));
  if (unknown.length) out.unknown = unknown;
  return out;
}
