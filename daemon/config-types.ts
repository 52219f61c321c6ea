/**
 * The validated, immutable gateway configuration. Field names follow Azure's
 * VPN gateway resources (VirtualNetworkGateway, LocalNetworkGateway,
 * VirtualNetworkGatewayConnection, IpsecPolicy) so an Azure user can read it.
 */
import type { HaInstanceSettings } from './config-ha.js';
import type { GatewayBgpSettings, LocalNetworkGatewayBgpSettings } from './config-bgp.js';

/** Canonical Azure policy vocabularies (aliases are folded into these at parse time). */
export type IkeEncryptionName = 'GCMAES256' | 'GCMAES128' | 'AES256' | 'AES128';
/** For GCM IKE encryption this names the PRF; GCMAES* here means PRF SHA256 (Azure accepts it). */
export type IkeIntegrityName = 'SHA384' | 'SHA256' | 'GCMAES256' | 'GCMAES128';
/** DHGroup2048 is folded into DHGroup14. X25519 is an extension beyond Azure's list. */
export type DhGroupName = 'DHGroup14' | 'ECP256' | 'ECP384' | 'X25519';
export type IpsecEncryptionName = 'GCMAES256' | 'GCMAES128' | 'AES256' | 'AES128';
export type IpsecIntegrityName = 'GCMAES256' | 'GCMAES128' | 'SHA256';
/** PFS14 is folded into PFS2048. X25519 is an extension beyond Azure's list. */
export type PfsGroupName = 'None' | 'PFS2048' | 'ECP256' | 'ECP384' | 'X25519';

export type VpnType = 'RouteBased' | 'PolicyBased';
export type ConnectionMode = 'Default' | 'InitiatorOnly' | 'ResponderOnly';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface IpsecPolicy {
  readonly ikeEncryption: IkeEncryptionName;
  readonly ikeIntegrity: IkeIntegrityName;
  readonly dhGroup: DhGroupName;
  readonly ipsecEncryption: IpsecEncryptionName;
  readonly ipsecIntegrity: IpsecIntegrityName;
  readonly pfsGroup: PfsGroupName;
  /** Child (IPsec) SA lifetime. */
  readonly saLifeTimeSeconds: number;
  /** Child (IPsec) SA volume limit. */
  readonly saDataSizeKilobytes: number;
}

export interface GatewaySettings {
  readonly name: string;
  /** IPv4 prefixes of the VNet behind this gateway, canonical "a.b.c.d/len". */
  readonly addressSpace: readonly string[];
  /** IKE/ESP endpoint and bind address. */
  readonly publicIpAddress: string;
  readonly vpnType: VpnType;
  /** BGP over the tunnels (config-bgp.ts): ASN and this gateway's peering address(es). */
  readonly bgp?: GatewayBgpSettings;
  /** HA pair (config-ha.ts): active-active, or active-standby when false/absent. */
  readonly activeActive?: boolean;
  readonly instances?: readonly HaInstanceSettings[];
  /** Active-standby: the floating VNet next hop. */
  readonly privateIpAddress?: string;
  readonly vpnClientConfiguration?: unknown;
}

export interface LocalNetworkGateway {
  readonly name: string;
  /** The on-premises device's public IPv4 address. */
  readonly gatewayIpAddress: string;
  readonly addressPrefixes: readonly string[];
  /** The on-premises BGP speaker (config-bgp.ts). */
  readonly bgp?: LocalNetworkGatewayBgpSettings;
}

export interface Connection {
  readonly name: string;
  readonly connectionType: 'IPsec';
  readonly connectionProtocol: 'IKEv2';
  /** Name of a LocalNetworkGateway in the same file (validated to exist). */
  readonly localNetworkGateway: string;
  readonly sharedKey: string;
  readonly connectionMode: ConnectionMode;
  readonly dpdTimeoutSeconds: number;
  readonly usePolicyBasedTrafficSelectors: boolean;
  /** Zero or one custom policy (Azure allows one); empty means the default proposal set. */
  readonly ipsecPolicies: readonly IpsecPolicy[];
  /** Run a BGP session with the LNG's bgp peer through this tunnel (config-bgp.ts). */
  readonly enableBgp?: boolean;
}

export interface RuntimeSettings {
  readonly tunName: string;
  readonly controlSocket: string;
  readonly logLevel: LogLevel;
  readonly mtu: number;
}

export interface GatewayConfig {
  /** Where the config came from (file path or "<string>"), for messages. */
  readonly source: string;
  readonly gateway: GatewaySettings;
  readonly localNetworkGateways: readonly LocalNetworkGateway[];
  readonly connections: readonly Connection[];
  readonly runtime: RuntimeSettings;
}
