/**
 * A point-to-site client profile (`vgw client connect --profile FILE`):
 *
 *   gateway: 192.0.2.1            # gateway public address
 *   gatewayId: gw.example.com     # optional: identity the gateway certificate must carry
 *   caCert: ca.pem                # root CA that signed the gateway certificate
 *   clientCert: alice.pem         # our certificate (PEM, chain allowed)
 *   clientKey: alice.key          # our private key (PEM)
 *   identity: alice               # optional IKE identity; default from the certificate
 *   dpdTimeoutSeconds: 30         # optional liveness timeout before reconnecting
 *   tunName: vgwc0                # optional
 *   controlSocket: /run/vgw/client.sock   # optional
 *
 * Relative paths are relative to the profile file.
 */
import { readFileSync } from 'node:fs';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { dirname, isAbsolute, resolve } from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { pemToDers } from '../../crypto/pki.js';
import { parseIpv4 } from '../config-ipv4.js';

export class ProfileError extends Error {
  override readonly name = 'ProfileError';
}

const profileSchema = z.strictObject({
  gateway: z.string().refine((s) => parseIpv4(s) !== null, { error: 'must be an IPv4 address' }),
  gatewayId: z.string().min(1).optional(),
  caCert: z.string().min(1),
  clientCert: z.string().min(1),
  clientKey: z.string().min(1),
  identity: z.string().min(1).optional(),
  dpdTimeoutSeconds: z.number().int().min(3).max(3600).default(30),
  tunName: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/).default('vgwc0'),
  controlSocket: z.string().startsWith('/').optional(),
  localAddress: z.string().refine((s) => parseIpv4(s) !== null, { error: 'must be an IPv4 address' }).default('0.0.0.0'),
});

export type ProfileSettings = z.output<typeof profileSchema>;

export interface ClientProfile extends ProfileSettings {
  source: string;
  caDer: Buffer[];
  clientChainDer: Buffer[];
  key: KeyObject;
}

export const DEFAULT_CLIENT_SOCKET = '/run/vgw/client.sock';

export function parseProfileText(text: string, source: string): ProfileSettings {
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (e) {
    throw new ProfileError(`${source}: YAML: ${(e as Error).message}`);
  }
  const r = profileSchema.safeParse(raw);
  if (!r.success) {
    throw new ProfileError(`${source}: ${r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`);
  }
  return r.data;
}

export function loadProfile(path: string): ClientProfile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ProfileError(`${path}: cannot read profile: ${(e as Error).message}`);
  }
  const s = parseProfileText(text, path);
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(dirname(path), p));
  const read = (p: string, what: string): string => {
    try {
      return readFileSync(at(p), 'utf8');
    } catch (e) {
      throw new ProfileError(`${path}: ${what} ${p}: ${(e as Error).message}`);
    }
  };
  const caDer = pemToDers(read(s.caCert, 'caCert'));
  const clientChainDer = pemToDers(read(s.clientCert, 'clientCert'));
  if (caDer.length === 0) throw new ProfileError(`${path}: caCert ${s.caCert} holds no certificate`);
  if (clientChainDer.length === 0) throw new ProfileError(`${path}: clientCert ${s.clientCert} holds no certificate`);
  let key: KeyObject;
  try {
    key = createPrivateKey(read(s.clientKey, 'clientKey'));
  } catch (e) {
    if (e instanceof ProfileError) throw e;
    throw new ProfileError(`${path}: clientKey ${s.clientKey}: ${(e as Error).message}`);
  }
  return { ...s, source: path, caDer, clientChainDer, key };
}
