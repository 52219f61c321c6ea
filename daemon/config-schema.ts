/**
 * Structural schema of the YAML config (zod v4). Field-level rules live here;
 * rules that relate several entries (references, overlaps, uniqueness) live in
 * config-checks.ts so they can be reported together with these.
 */
import { z } from 'zod';
import { parseIpv4, parseIpv4Cidr } from './config-ipv4.js';
import {
  DEFAULT_SA_DATA_SIZE_KILOBYTES, DEFAULT_SA_LIFETIME_SECONDS, DH_GROUP, IKE_ENCRYPTION, IKE_INTEGRITY,
  IPSEC_ENCRYPTION, IPSEC_INTEGRITY, PFS_GROUP, policyPairingProblems, resolveName, vocabulary,
  type Vocabulary,
} from './config-policy.js';
import type { ConnectionMode, LogLevel, VpnType } from './config-types.js';
import { vpnClientConfigurationSchema } from './config-p2s.js';
import { activeActiveSchema, haInstancesSchema, haProblems, privateIpAddressSchema } from './config-ha.js';
import { enableBgpSchema, gatewayBgpSchema, localNetworkGatewayBgpSchema } from './config-bgp.js';

/** A string field whose value must come from a (case-insensitive) vocabulary. */
function vocabField<T extends string>(vocab: Vocabulary<T>) {
  return z.string().transform((input, ctx): T => {
    const r = resolveName(vocab, input);
    if (!r.ok) {
      ctx.addIssue({ code: 'custom', message: r.message, input });
      return z.NEVER;
    }
    return r.value;
  });
}

function intRange(min: number, max: number, unit: string) {
  const outOfRange = (iss: { input?: unknown }) => `${String(iss.input)} is out of range; allowed ${min}..${max}${unit}`;
  return z.number()
    .int({ error: (iss) => `${String(iss.input)} must be a whole number` })
    .min(min, { error: outOfRange })
    .max(max, { error: outOfRange });
}

// Azure resource names: 1..80 chars of letters, digits, "_", ".", "-"; start alnum, end alnum or "_".
const AZURE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$/;
const resourceName = z.string().regex(AZURE_NAME, {
  error: (iss) => `${JSON.stringify(iss.input)} is not a valid name: use 1..80 letters, digits, "_", "." or "-", ` +
    'starting with a letter or digit and ending with a letter, digit or "_"',
});

const ipv4Address = z.string().refine((s) => parseIpv4(s) !== null, {
  error: (iss) => `${JSON.stringify(iss.input)} is not an IPv4 address`,
});

const ipv4Prefix = z.string().transform((input, ctx): string => {
  const r = parseIpv4Cidr(input);
  if (!r.ok) {
    ctx.addIssue({ code: 'custom', message: r.reason, input });
    return z.NEVER;
  }
  return r.prefix.cidr;
});

const VPN_TYPE = vocabulary<VpnType>({
  accepted: { RouteBased: 'RouteBased', PolicyBased: 'PolicyBased' },
  suggested: ['RouteBased', 'PolicyBased'], weak: [],
});
const CONNECTION_MODE = vocabulary<ConnectionMode>({
  accepted: { Default: 'Default', InitiatorOnly: 'InitiatorOnly', ResponderOnly: 'ResponderOnly' },
  suggested: ['Default', 'InitiatorOnly', 'ResponderOnly'], weak: [],
});
const CONNECTION_TYPE = vocabulary<'IPsec'>({
  accepted: { IPsec: 'IPsec' }, suggested: ['IPsec'], weak: [],
  refused: { Vnet2Vnet: 'model the other gateway as a localNetworkGateway and use IPsec',
    ExpressRoute: 'not a VPN connection', VPNClient: 'point-to-site is configured under gateway.vpnClientConfiguration' },
});
const CONNECTION_PROTOCOL = vocabulary<'IKEv2'>({
  accepted: { IKEv2: 'IKEv2' }, suggested: ['IKEv2'], weak: [],
  refused: { IKEv1: 'this gateway speaks IKEv2 only' },
});
const LOG_LEVEL = vocabulary<LogLevel>({
  accepted: { fatal: 'fatal', error: 'error', warn: 'warn', info: 'info', debug: 'debug', trace: 'trace', silent: 'silent' },
  suggested: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], weak: [],
});

const ipsecPolicySchema = z.strictObject({
  ikeEncryption: vocabField(IKE_ENCRYPTION),
  ikeIntegrity: vocabField(IKE_INTEGRITY),
  dhGroup: vocabField(DH_GROUP),
  ipsecEncryption: vocabField(IPSEC_ENCRYPTION),
  ipsecIntegrity: vocabField(IPSEC_INTEGRITY),
  pfsGroup: vocabField(PFS_GROUP),
  // Azure: 300..172799 s and 1024..2147483647 KB for the IPsec SA.
  saLifeTimeSeconds: intRange(300, 172799, ' seconds').default(DEFAULT_SA_LIFETIME_SECONDS),
  saDataSizeKilobytes: intRange(1024, 2147483647, ' KB').default(DEFAULT_SA_DATA_SIZE_KILOBYTES),
}).superRefine((policy, ctx) => {
  // Only reached when every vocabulary field resolved, so the names are canonical.
  for (const [field, message] of policyPairingProblems(policy)) {
    ctx.addIssue({ code: 'custom', path: [field], message, input: policy[field] });
  }
});

// Printable ASCII like Azure; a YAML number would lose leading zeros, so strings only.
const sharedKey = z.string()
  .min(1, { error: 'must not be empty' })
  .max(128, { error: (iss) => `is ${String((iss.input as string).length)} characters; Azure allows at most 128` })
  .regex(/^[\x20-\x7e]*$/, { error: 'must be printable ASCII characters' });

const gatewaySchema = z.strictObject({
  name: resourceName,
  addressSpace: z.array(ipv4Prefix).min(1, { error: 'must list at least one prefix' }),
  publicIpAddress: ipv4Address,
  vpnType: vocabField(VPN_TYPE).default('RouteBased'),
  // Defined by later features (BGP, active-active, point-to-site); accepted untyped for now.
  bgp: gatewayBgpSchema.optional(),
  activeActive: activeActiveSchema.optional(),
  instances: haInstancesSchema.optional(),
  privateIpAddress: privateIpAddressSchema.optional(),
  vpnClientConfiguration: vpnClientConfigurationSchema.optional(),
}).superRefine((gw, ctx) => {
  // HA fields relate to each other (config-ha.ts).
  for (const [path, message] of haProblems(gw)) ctx.addIssue({ code: 'custom', path: path.split(/\.|\[|\]/).filter(Boolean).map((p) => (/^\d+$/.test(p) ? Number(p) : p)), message });
});

const localNetworkGatewaySchema = z.strictObject({
  name: resourceName,
  gatewayIpAddress: ipv4Address,
  addressPrefixes: z.array(ipv4Prefix).default([]),
  bgp: localNetworkGatewayBgpSchema.optional(),
});

const connectionSchema = z.strictObject({
  name: resourceName,
  connectionType: vocabField(CONNECTION_TYPE).default('IPsec'),
  connectionProtocol: vocabField(CONNECTION_PROTOCOL).default('IKEv2'),
  localNetworkGateway: z.string(),
  sharedKey,
  connectionMode: vocabField(CONNECTION_MODE).default('Default'),
  dpdTimeoutSeconds: intRange(9, 3600, ' seconds').default(45),
  usePolicyBasedTrafficSelectors: z.boolean().default(false),
  ipsecPolicies: z.array(ipsecPolicySchema)
    .max(1, { error: 'Azure allows at most one IPsec/IKE policy per connection' })
    .default([]),
  enableBgp: enableBgpSchema,
});

// Linux IFNAMSIZ is 16 including the NUL.
const tunName = z.string().regex(/^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,14}$/, {
  error: (iss) => `${JSON.stringify(iss.input)} is not a valid interface name (1..15 letters, digits, "_", "-", ".")`,
});

// sun_path is 108 bytes including the NUL on Linux.
const socketPath = z.string()
  .refine((s) => s.startsWith('/'), { error: 'must be an absolute path' })
  .refine((s) => Buffer.byteLength(s) <= 107, { error: 'is too long for a unix socket path (max 107 bytes)' });

const runtimeSchema = z.strictObject({
  tunName: tunName.default('vgw0'),
  controlSocket: socketPath.optional(),
  logLevel: vocabField(LOG_LEVEL).default('info'),
  mtu: intRange(576, 9000, ' bytes').default(1400),
});

export const configSchema = z.strictObject({
  gateway: gatewaySchema,
  localNetworkGateways: z.array(localNetworkGatewaySchema).default([]),
  connections: z.array(connectionSchema).default([]),
  runtime: runtimeSchema.prefault({}),
});

export type ParsedConfig = z.output<typeof configSchema>;

/** Error map: turns zod's generic wording into messages a network engineer can act on. */
export const configErrorMap: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case 'invalid_type': {
      if (iss.input === undefined) return 'is required';
      const got = iss.input === null ? 'null' : Array.isArray(iss.input) ? 'a list' : typeof iss.input;
      const want = iss.expected === 'object' ? 'a mapping' : iss.expected === 'array' ? 'a list' : `a ${iss.expected}`;
      const hint = iss.expected === 'string' && (typeof iss.input === 'number' || typeof iss.input === 'boolean')
        ? ' (quote the value in YAML)' : '';
      return `expected ${want}, got ${got}${hint}`;
    }
    case 'unrecognized_keys': {
      const inst = iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined;
      const allowed = Object.keys(inst?._zod?.def?.shape ?? {});
      // The formatter puts each key into the path; the message only needs the alternatives.
      return 'unknown key' + (allowed.length ? `; allowed here: ${allowed.join(', ')}` : '');
    }
    default:
      return undefined;
  }
};
