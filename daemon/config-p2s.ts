/**
 * Point-to-site settings: `gateway.vpnClientConfiguration`, in Azure's
 * vocabulary.
 *
 *   vpnClientConfiguration:
 *     vpnClientAddressPool: [172.16.201.0/24]
 *     vpnClientProtocols: [IkeV2]
 *     vpnClientRootCertificates: [{ name: P2SRoot, publicCertData: "<base64 DER or PEM>" }]   # 1..20
 *     vpnClientRevokedCertificates: [{ name: alice-laptop, thumbprint: "<SHA-1 hex>" }]
 *     customRoutes: [10.50.0.0/16]
 *     dnsServers: [10.1.0.53]
 *     serverCertificate: { cert: /path/gw.pem, key: /path/gw.key }
 *
 * Roots and thumbprints are checked here, so `vgw config check` reports a
 * bad one with its path; the certificate files are read when the gateway starts.
 */
import { z } from 'zod';
import { normalizeThumbprint, parseRootCertData } from '../crypto/pki.js';
import { parseIpv4, parseIpv4Cidr } from './config-ipv4.js';

/** Azure's limit on uploaded root certificates. */
export const MAX_ROOT_CERTIFICATES = 20;

const prefix = z.string().transform((input, ctx): string => {
  const r = parseIpv4Cidr(input);
  if (!r.ok) {
    ctx.addIssue({ code: 'custom', message: r.reason, input });
    return z.NEVER;
  }
  return r.prefix.cidr;
});

const address = z.string().refine((s) => parseIpv4(s) !== null, {
  error: (iss) => `${JSON.stringify(iss.input)} is not an IPv4 address`,
});

const name = z.string().min(1, { error: 'must not be empty' }).max(128);

const rootCertificate = z.strictObject({
  name,
  publicCertData: z.string().transform((input, ctx): string => {
    try {
      return parseRootCertData(input).toString('base64');
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message, input: '(certificate data)' });
      return z.NEVER;
    }
  }),
});

const revokedCertificate = z.strictObject({
  name,
  thumbprint: z.string().transform((input, ctx): string => {
    try {
      return normalizeThumbprint(input);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message, input });
      return z.NEVER;
    }
  }),
});

const protocol = z.string().transform((input, ctx): 'IkeV2' => {
  if (input.toLowerCase() === 'ikev2') return 'IkeV2';
  const why = /^(openvpn|sstp)$/i.test(input) ? `${input} is not supported by this gateway` : `unknown protocol ${JSON.stringify(input)}`;
  ctx.addIssue({ code: 'custom', message: `${why}; allowed: IkeV2`, input });
  return z.NEVER;
});

export const vpnClientConfigurationSchema = z.strictObject({
  vpnClientAddressPool: z.array(prefix).min(1, { error: 'must list at least one prefix' }),
  vpnClientProtocols: z.array(protocol).min(1).default(['IkeV2']),
  vpnClientRootCertificates: z.array(rootCertificate)
    .min(1, { error: 'must list at least one root certificate' })
    .max(MAX_ROOT_CERTIFICATES, { error: `Azure allows at most ${MAX_ROOT_CERTIFICATES} root certificates` }),
  vpnClientRevokedCertificates: z.array(revokedCertificate).default([]),
  customRoutes: z.array(prefix).default([]),
  dnsServers: z.array(address).default([]),
  serverCertificate: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }),
});

export type VpnClientConfiguration = z.output<typeof vpnClientConfigurationSchema>;

/** The validated P2S settings of a loaded config, or undefined when P2S is not configured. */
export function vpnClientConfigurationOf(gateway: { vpnClientConfiguration?: unknown }): VpnClientConfiguration | undefined {
  const raw = gateway.vpnClientConfiguration;
  if (raw === undefined || raw === null) return undefined;
  // Already validated by the config schema; parsing again is cheap and gives the typed value.
  return vpnClientConfigurationSchema.parse(raw);
}
