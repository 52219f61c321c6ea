/**
 * High-availability part of the gateway config: the instance pair.
 *
 *   gateway:
 *     activeActive: false              # active-standby (default) or active-active
 *     publicIpAddress: 192.0.2.1       # active-standby: floats to the active instance
 *     privateIpAddress: 10.1.0.1       # the VNet's next hop; floats with it
 *     instances:
 *       - { name: vnet1-gw-0, haAddress: 10.1.255.4 }
 *       - { name: vnet1-gw-1, haAddress: 10.1.255.5 }
 *       # active-active: each instance has its own publicIpAddress and privateIpAddress
 *       #   (gateway.publicIpAddress must then be the first instance's)
 *
 * The schema pieces are plugged into daemon/config-schema.ts; `haPlanFor`
 * resolves what one instance (`vgwd --instance NAME`) has to do.
 */
import { z } from 'zod';
import { parseIpv4 } from './config-ipv4.js';
import type { GatewayConfig } from './config-types.js';

const ipv4 = z.string().refine((s) => parseIpv4(s) !== null, {
  error: (iss) => `${JSON.stringify(iss.input)} is not an IPv4 address`,
});

const INSTANCE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export const haInstanceSchema = z.strictObject({
  name: z.string().regex(INSTANCE_NAME, { error: 'must be 1..64 letters, digits, "_", "." or "-" (it is the --instance argument)' }),
  /** Where this instance listens for its partner (heartbeats and state replication). */
  haAddress: ipv4,
  /** Active-active only. */
  publicIpAddress: ipv4.optional(),
  /** Active-active only. */
  privateIpAddress: ipv4.optional(),
});

export const haInstancesSchema = z.array(haInstanceSchema).length(2, { error: 'a gateway has exactly 2 instances' });
export const activeActiveSchema = z.boolean({ error: 'must be true or false' });
export const privateIpAddressSchema = ipv4;

export type HaInstanceSettings = z.output<typeof haInstanceSchema>;

interface GatewayLike {
  publicIpAddress?: unknown;
  activeActive?: boolean | undefined;
  privateIpAddress?: string | undefined;
  instances?: readonly HaInstanceSettings[] | undefined;
}

/** Rules that relate the HA fields to each other; [path, message] pairs relative to `gateway`. */
export function haProblems(gw: GatewayLike): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const inst = gw.instances;
  if (!inst) {
    if (gw.activeActive) out.push(['instances', 'activeActive needs the two instances listed under gateway.instances']);
    return out;
  }
  const [a, b] = inst;
  if (!a || !b) return out;
  if (a.name === b.name) out.push(['instances[1].name', `duplicates instances[0].name "${a.name}"`]);
  if (a.haAddress === b.haAddress) out.push(['instances[1].haAddress', `duplicates instances[0].haAddress ${a.haAddress}`]);
  if (gw.activeActive) {
    inst.forEach((i, n) => {
      if (!i.publicIpAddress) out.push([`instances[${n}].publicIpAddress`, 'is required in active-active mode (each instance has its own)']);
      if (!i.privateIpAddress) out.push([`instances[${n}].privateIpAddress`, 'is required in active-active mode (each instance has its own)']);
    });
    if (a.publicIpAddress && a.publicIpAddress === b.publicIpAddress) out.push(['instances[1].publicIpAddress', 'must differ from instances[0].publicIpAddress']);
    if (a.privateIpAddress && a.privateIpAddress === b.privateIpAddress) out.push(['instances[1].privateIpAddress', 'must differ from instances[0].privateIpAddress']);
    if (a.publicIpAddress && gw.publicIpAddress !== a.publicIpAddress) {
      out.push(['publicIpAddress', `in active-active mode must be the first instance's publicIpAddress (${a.publicIpAddress})`]);
    }
    if (gw.privateIpAddress !== undefined) out.push(['privateIpAddress', 'is per instance in active-active mode; set instances[].privateIpAddress']);
  } else {
    if (gw.privateIpAddress === undefined) out.push(['privateIpAddress', 'is required for an active-standby pair (the VNet next hop that follows the active instance)']);
    inst.forEach((i, n) => {
      if (i.publicIpAddress) out.push([`instances[${n}].publicIpAddress`, 'is only for active-active; the active-standby pair shares gateway.publicIpAddress']);
      if (i.privateIpAddress) out.push([`instances[${n}].privateIpAddress`, 'is only for active-active; the active-standby pair shares gateway.privateIpAddress']);
    });
  }
  return out;
}

export interface HaMember {
  name: string;
  index: number;
  haAddress: string;
  /** Addresses this member owns while it is active (active-active: its own, always). */
  publicIpAddress: string;
  privateIpAddress: string;
}

export interface HaPlan {
  mode: 'active-standby' | 'active-active';
  self: HaMember;
  peer: HaMember;
}

export class HaConfigError extends Error {
  override readonly name = 'HaConfigError';
}

/** What instance `name` runs; undefined when the gateway is a single instance. Throws HaConfigError for an unknown name. */
export function haPlanFor(config: GatewayConfig, name: string | undefined): HaPlan | undefined {
  const gw = config.gateway;
  const inst = gw.instances;
  if (!inst) return undefined;
  if (name === undefined) {
    throw new HaConfigError(`this gateway has two instances (${inst.map((i) => i.name).join(', ')}): start vgwd with --instance NAME`);
  }
  const idx = inst.findIndex((i) => i.name === name);
  if (idx < 0) throw new HaConfigError(`--instance ${name}: not one of ${inst.map((i) => i.name).join(', ')}`);
  const member = (i: number): HaMember => {
    const s = inst[i] as HaInstanceSettings;
    return {
      name: s.name, index: i, haAddress: s.haAddress,
      publicIpAddress: gw.activeActive ? (s.publicIpAddress ?? gw.publicIpAddress) : gw.publicIpAddress,
      privateIpAddress: gw.activeActive ? (s.privateIpAddress ?? '') : (gw.privateIpAddress ?? ''),
    };
  };
  return { mode: gw.activeActive ? 'active-active' : 'active-standby', self: member(idx), peer: member(1 - idx) };
}

/** The config as this instance sees it: in active-active mode its own public address is the IKE endpoint. */
export function configForInstance(config: GatewayConfig, plan: HaPlan | undefined): GatewayConfig {
  if (!plan || plan.mode !== 'active-active') return config;
  return { ...config, gateway: { ...config.gateway, publicIpAddress: plan.self.publicIpAddress } };
}
