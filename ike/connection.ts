/**
 * What the IKE engine needs to know about one configured connection. The
 * daemon maps its YAML config onto this; ike/ never reads config files.
 */
import type { Ipv4Range } from '../dataplane/backend.js';

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
}
