/**
 * The gateway status document: what the control socket's `status` method
 * returns and what `vgw status --json` prints. This shape is a STABLE external
 * interface (scripts parse it); add fields, never rename or remove them.
 */
import { z } from 'zod';

export type ConnectionState = 'Connected' | 'Connecting' | 'NotConnected';

export interface IkeSaStatus {
  /** 16 hex digits each. */
  spiI: string;
  spiR: string;
  /** True when this gateway initiated the IKE SA. */
  initiator: boolean;
  /** "address:port" */
  localEndpoint: string;
  remoteEndpoint: string;
  natDetected: boolean;
  /** IANA-style transform names, e.g. "AES_GCM_16-256", "HMAC_SHA2_256_128" (or "NONE"), "PRF_HMAC_SHA2_384", "ECP_384". */
  encryption: string;
  integrity: string;
  prf: string;
  dhGroup: string;
  /** ISO 8601 timestamps. */
  establishedAt: string;
  rekeyAt: string | null;
}

export interface ChildSaStatus {
  /** 8 hex digits each. */
  spiIn: string;
  spiOut: string;
  /** CIDR prefixes or "a.b.c.d-e.f.g.h" ranges. */
  tsLocal: string[];
  tsRemote: string[];
  encryption: string;
  integrity: string;
  pfsGroup: string;
  establishedAt: string;
  rekeyAt: string | null;
  ingressBytes: number;
  egressBytes: number;
  ingressPackets: number;
  egressPackets: number;
}

export interface ConnectionStatus {
  name: string;
  localNetworkGateway: string;
  remoteAddress: string;
  connectionMode: string;
  state: ConnectionState;
  ikeSa: IkeSaStatus | null;
  childSas: ChildSaStatus[];
  ingressBytes: number;
  egressBytes: number;
  ingressPackets: number;
  egressPackets: number;
  lastError: string | null;
}

export interface GatewayStatus {
  gateway: string;
  instance?: string;
  /** HA pair state (ha/node.ts), present when the gateway has two instances. */
  ha?: HaStatus;
  uptimeSeconds: number;
  connections: ConnectionStatus[];
}

export type HaRoleName = 'init' | 'standby' | 'active';

export interface FailoverStatus {
  kind: 'planned' | 'unplanned';
  role: 'took-over' | 'handed-over';
  reason: string;
  at: string;
  epoch: number;
  detectionMs: number | null;
  takeoverMs: number;
  outageMs: number | null;
  ikeSas: number;
  childSas: number;
  incomplete: string[];
}

export interface HaStatus {
  mode: 'active-standby' | 'active-active';
  instance: string;
  role: HaRoleName;
  epoch: number;
  partner: { name: string; role: HaRoleName | 'unknown'; linkUp: boolean; lastHeardMsAgo: number | null };
  replication: { shadowIkeSas: number; shadowChildSas: number; ageMs: number | null; lagMessages: number | null };
  floatingAddresses: string[];
  lastFailover: FailoverStatus | null;
}

// Runtime validation of a status document received over the control socket,
// so the CLI reports "vgwd sent a malformed status" instead of printing garbage.
const counter = z.number().nonnegative();
const isoTime = z.string();

const ikeSaSchema = z.object({
  spiI: z.string(), spiR: z.string(), initiator: z.boolean(),
  localEndpoint: z.string(), remoteEndpoint: z.string(), natDetected: z.boolean(),
  encryption: z.string(), integrity: z.string(), prf: z.string(), dhGroup: z.string(),
  establishedAt: isoTime, rekeyAt: isoTime.nullable(),
});

const childSaSchema = z.object({
  spiIn: z.string(), spiOut: z.string(),
  tsLocal: z.array(z.string()), tsRemote: z.array(z.string()),
  encryption: z.string(), integrity: z.string(), pfsGroup: z.string(),
  establishedAt: isoTime, rekeyAt: isoTime.nullable(),
  ingressBytes: counter, egressBytes: counter, ingressPackets: counter, egressPackets: counter,
});

const connectionSchema = z.object({
  name: z.string(), localNetworkGateway: z.string(), remoteAddress: z.string(), connectionMode: z.string(),
  state: z.enum(['Connected', 'Connecting', 'NotConnected']),
  ikeSa: ikeSaSchema.nullable(),
  childSas: z.array(childSaSchema),
  ingressBytes: counter, egressBytes: counter, ingressPackets: counter, egressPackets: counter,
  lastError: z.string().nullable(),
});

const haRole = z.enum(['init', 'standby', 'active']);
const msOrNull = z.number().nullable();
const haStatusSchema = z.object({
  mode: z.enum(['active-standby', 'active-active']),
  instance: z.string(), role: haRole, epoch: z.number(),
  partner: z.object({ name: z.string(), role: z.enum(['init', 'standby', 'active', 'unknown']), linkUp: z.boolean(), lastHeardMsAgo: msOrNull }),
  replication: z.object({ shadowIkeSas: counter, shadowChildSas: counter, ageMs: msOrNull, lagMessages: msOrNull }),
  floatingAddresses: z.array(z.string()),
  lastFailover: z.object({
    kind: z.enum(['planned', 'unplanned']), role: z.enum(['took-over', 'handed-over']), reason: z.string(), at: z.string(),
    epoch: z.number(), detectionMs: msOrNull, takeoverMs: z.number(), outageMs: msOrNull,
    ikeSas: counter, childSas: counter, incomplete: z.array(z.string()),
  }).nullable(),
});

export const gatewayStatusSchema = z.object({
  gateway: z.string(),
  instance: z.string().optional(),
  ha: haStatusSchema.optional(),
  uptimeSeconds: z.number().nonnegative(),
  connections: z.array(connectionSchema),
});

// Compile-time guard that the schema and the interfaces describe the same shape.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesInterface: Same<z.output<typeof gatewayStatusSchema>, GatewayStatus> = true;
void schemaMatchesInterface;

export class StatusFormatError extends Error {
  override readonly name = 'StatusFormatError';
}

/** Validates an untrusted status document; unknown extra fields are dropped so the output is exactly GatewayStatus. */
export function parseGatewayStatus(value: unknown): GatewayStatus {
  const r = gatewayStatusSchema.safeParse(value);
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const where = first ? first.path.map(String).join('.') : '';
  throw new StatusFormatError(`malformed status from vgwd${where ? ` at ${where}` : ''}: ${first?.message ?? 'invalid'}`);
}
