/**
 * What the IKE engine needs to know about one configured connection. The
 * daemon maps its YAML config onto this; ike/ never reads config files.
 */
import type { Ipv4Range } from '../dataplane/backend.js';
import type { Payload } from './codec/types.js';
import type { CertClientAuth, P2sPolicy } from './p2s/types.js';

export type ConnectionMode = 'Default' | 'InitiatorOnly' | 'ResponderOnly';

export interface IkeProposalSpec {
  encr: number;
  encrKeyBits: number;
  integ: number; // IntegId.NONE for AEAD
  prf: number;
  dh: number[];  // acceptable groups, preferred first
}

export interface EspProposalSpec {
  encr: number;
  encrKeyBits: number;
  integ: number;
  pfs: number;   // DhGroup.NONE = no PFS
}

export interface ConnectionSpec {
  name: string;
  /** Name of the remote site (Azure: local network gateway). */
  remoteName: string;
  localAddress: string;
  remoteAddress: string;
  psk: Buffer;
  mode: ConnectionMode;
  ikeProposals: IkeProposalSpec[];
  espProposals: EspProposalSpec[];
  /** Selectors we offer / accept. Route-based: 0.0.0.0/0 on both sides. */
  localTs: Ipv4Range[];
  remoteTs: Ipv4Range[];
  /** Prefixes routed into the tunnel; the dataplane's outbound lookup uses them (route-based). */
  remotePrefixes: Ipv4Range[];
  routeBased: boolean;
  ikeLifetimeSec: number;
  childLifetimeSec: number;
  childLifetimeBytes: number; // 0 = no byte limit
  dpdTimeoutSec: number;
  /**
   * Point-to-site responder (gateway): IKE_SA_INIT from any address, clients
   * authenticated by certificate and given an address from the pool. Each
   * P2S IKE SA gets its own shallow copy of this spec (its TS are per client).
   */
  p2s?: P2sPolicy;
  /** Certificate client (`vgw client`): AUTH method 14 and a CP request instead of PSK. */
  certClient?: CertClientAuth;
  /** Extra payloads for our IKE_SA_INIT request or response (notifies, CERTREQ). */
  initExtras?: () => Payload[];
}
