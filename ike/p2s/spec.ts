/**
 * ConnectionSpecs for point-to-site: the gateway's single responder spec that
 * every remote-access client lands on, and the initiator spec of `vgw client`.
 */
import type { ConnectionSpec, EspProposalSpec, IkeProposalSpec } from '../connection.js';
import type { Ipv4Range } from '../../dataplane/backend.js';
import { ANY_V4 } from '../traffic-selectors.js';
import { clientInitPayloads, gatewayInitPayloads } from '../exchanges/ike-auth-cert.js';
import type { CertClientAuth, P2sPolicy } from './types.js';

export const P2S_CONNECTION_NAME = 'point-to-site';

export interface P2sResponderOptions {
  localAddress: string;
  policy: P2sPolicy;
  ikeProposals: IkeProposalSpec[];
  espProposals: EspProposalSpec[];
  name?: string;
  dpdTimeoutSec?: number;
  ikeLifetimeSec?: number;
  childLifetimeSec?: number;
}

/** The gateway's responder spec; per-SA copies get narrowed to one client (ike-auth-cert.ts). */
export function p2sResponderSpec(o: P2sResponderOptions): ConnectionSpec {
  const pool: Ipv4Range[] = [ANY_V4];
  return {
    name: o.name ?? P2S_CONNECTION_NAME,
    remoteName: 'vpn-clients',
    localAddress: o.localAddress,
    remoteAddress: '0.0.0.0',
    psk: Buffer.alloc(0),
    mode: 'ResponderOnly',
    ikeProposals: o.ikeProposals,
    espProposals: o.espProposals,
    localTs: [...o.policy.routes],
    remoteTs: pool,
    remotePrefixes: pool,
    routeBased: true,
    ikeLifetimeSec: o.ikeLifetimeSec ?? 28_800,
    childLifetimeSec: o.childLifetimeSec ?? 10_800,
    childLifetimeBytes: 0,
    dpdTimeoutSec: o.dpdTimeoutSec ?? 45,
    p2s: o.policy,
    initExtras: () => gatewayInitPayloads(o.policy),
  };
}

export interface CertClientOptions {
  name: string;
  localAddress: string;
  gatewayAddress: string;
  auth: CertClientAuth;
  ikeProposals: IkeProposalSpec[];
  espProposals: EspProposalSpec[];
  /** What the client asks to reach (TSr); default everything, the gateway narrows it. */
  remoteTs?: Ipv4Range[];
  dpdTimeoutSec?: number;
}

export function certClientSpec(o: CertClientOptions): ConnectionSpec {
  return {
    name: o.name,
    remoteName: o.gatewayAddress,
    localAddress: o.localAddress,
    remoteAddress: o.gatewayAddress,
    psk: Buffer.alloc(0),
    mode: 'InitiatorOnly',
    ikeProposals: o.ikeProposals,
    espProposals: o.espProposals,
    localTs: [ANY_V4],
    remoteTs: o.remoteTs ?? [ANY_V4],
    remotePrefixes: [ANY_V4],
    routeBased: true,
    ikeLifetimeSec: 28_800,
    childLifetimeSec: 10_800,
    childLifetimeBytes: 0,
    dpdTimeoutSec: o.dpdTimeoutSec ?? 30,
    certClient: o.auth,
    initExtras: clientInitPayloads,
  };
}
