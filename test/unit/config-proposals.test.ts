import { describe, expect, it } from 'vitest';
import { DhGroup, EncrId, IntegId, PrfId } from '../../ike/constants.js';
import {
  espProposalsFor, ikeProposalsFor, saLifetimesFor, type IpsecPolicy,
} from '../../daemon/config.js';
import { parseIpv4Cidr, prefixesOverlap, ipv4Prefix } from '../../daemon/config-ipv4.js';

function policy(over: Partial<IpsecPolicy>): IpsecPolicy {
  return { ikeEncryption: 'GCMAES256', ikeIntegrity: 'SHA384', dhGroup: 'ECP384', ipsecEncryption: 'GCMAES256',
    ipsecIntegrity: 'GCMAES256', pfsGroup: 'None', saLifeTimeSeconds: 3600, saDataSizeKilobytes: 2048, ...over };
}

describe('ikeProposalsFor', () => {
  it('offers the strongSwan-compatible default set without a policy', () => {
    expect(ikeProposalsFor({ ipsecPolicies: [] })).toEqual([
      { encr: EncrId.AES_GCM_16, encrKeyBits: 256, integ: IntegId.NONE, prf: PrfId.HMAC_SHA2_384, dh: [31, 20, 19, 14] },
      { encr: EncrId.AES_GCM_16, encrKeyBits: 256, integ: IntegId.NONE, prf: PrfId.HMAC_SHA2_256, dh: [31, 20, 19, 14] },
      { encr: EncrId.AES_GCM_16, encrKeyBits: 128, integ: IntegId.NONE, prf: PrfId.HMAC_SHA2_256, dh: [31, 19, 14] },
      { encr: EncrId.AES_CBC, encrKeyBits: 256, integ: IntegId.HMAC_SHA2_256_128, prf: PrfId.HMAC_SHA2_256, dh: [31, 19, 14] },
    ]);
  });

  it('returns fresh objects the caller may modify', () => {
    const a = ikeProposalsFor({ ipsecPolicies: [] });
    a[0]!.dh.pop();
    expect(ikeProposalsFor({ ipsecPolicies: [] })[0]!.dh).toHaveLength(4);
  });

  // [policy fields, expected spec]
  const CASES: Array<[Partial<IpsecPolicy>, { encr: EncrId; bits: number; integ: IntegId; prf: PrfId; dh: DhGroup }]> = [
    [{ ikeEncryption: 'GCMAES256', ikeIntegrity: 'SHA384', dhGroup: 'ECP384' },
      { encr: EncrId.AES_GCM_16, bits: 256, integ: IntegId.NONE, prf: PrfId.HMAC_SHA2_384, dh: DhGroup.ECP_384 }],
    [{ ikeEncryption: 'GCMAES128', ikeIntegrity: 'SHA256', dhGroup: 'ECP256' },
      { encr: EncrId.AES_GCM_16, bits: 128, integ: IntegId.NONE, prf: PrfId.HMAC_SHA2_256, dh: DhGroup.ECP_256 }],
    // Azure lets GCMAES* name the integrity for GCM IKE: the PRF is then SHA256.
    [{ ikeEncryption: 'GCMAES256', ikeIntegrity: 'GCMAES256', dhGroup: 'X25519' },
      { encr: EncrId.AES_GCM_16, bits: 256, integ: IntegId.NONE, prf: PrfId.HMAC_SHA2_256, dh: DhGroup.CURVE25519 }],
    [{ ikeEncryption: 'AES256', ikeIntegrity: 'SHA256', dhGroup: 'DHGroup14' },
      { encr: EncrId.AES_CBC, bits: 256, integ: IntegId.HMAC_SHA2_256_128, prf: PrfId.HMAC_SHA2_256, dh: DhGroup.MODP_2048 }],
    [{ ikeEncryption: 'AES128', ikeIntegrity: 'SHA384', dhGroup: 'ECP384' },
      { encr: EncrId.AES_CBC, bits: 128, integ: IntegId.HMAC_SHA2_384_192, prf: PrfId.HMAC_SHA2_384, dh: DhGroup.ECP_384 }],
  ];
  it.each(CASES)('maps %o', (fields, want) => {
    expect(ikeProposalsFor({ ipsecPolicies: [policy(fields)] })).toEqual([
      { encr: want.encr, encrKeyBits: want.bits, integ: want.integ, prf: want.prf, dh: [want.dh] },
    ]);
  });
});

describe('espProposalsFor', () => {
  it('offers GCM-256, GCM-128, CBC-256/SHA256 without PFS by default', () => {
    expect(espProposalsFor({ ipsecPolicies: [] })).toEqual([
      { encr: EncrId.AES_GCM_16, encrKeyBits: 256, integ: IntegId.NONE, pfs: DhGroup.NONE },
      { encr: EncrId.AES_GCM_16, encrKeyBits: 128, integ: IntegId.NONE, pfs: DhGroup.NONE },
      { encr: EncrId.AES_CBC, encrKeyBits: 256, integ: IntegId.HMAC_SHA2_256_128, pfs: DhGroup.NONE },
    ]);
  });

  const CASES: Array<[Partial<IpsecPolicy>, { encr: EncrId; bits: number; integ: IntegId; pfs: DhGroup }]> = [
    [{ ipsecEncryption: 'GCMAES256', ipsecIntegrity: 'GCMAES256', pfsGroup: 'None' },
      { encr: EncrId.AES_GCM_16, bits: 256, integ: IntegId.NONE, pfs: DhGroup.NONE }],
    [{ ipsecEncryption: 'GCMAES128', ipsecIntegrity: 'GCMAES128', pfsGroup: 'ECP256' },
      { encr: EncrId.AES_GCM_16, bits: 128, integ: IntegId.NONE, pfs: DhGroup.ECP_256 }],
    [{ ipsecEncryption: 'AES256', ipsecIntegrity: 'SHA256', pfsGroup: 'PFS2048' },
      { encr: EncrId.AES_CBC, bits: 256, integ: IntegId.HMAC_SHA2_256_128, pfs: DhGroup.MODP_2048 }],
    [{ ipsecEncryption: 'AES128', ipsecIntegrity: 'SHA256', pfsGroup: 'ECP384' },
      { encr: EncrId.AES_CBC, bits: 128, integ: IntegId.HMAC_SHA2_256_128, pfs: DhGroup.ECP_384 }],
  ];
  it.each(CASES)('maps %o', (fields, want) => {
    expect(espProposalsFor({ ipsecPolicies: [policy(fields)] })).toEqual([
      { encr: want.encr, encrKeyBits: want.bits, integ: want.integ, pfs: want.pfs },
    ]);
  });
});

describe('saLifetimesFor', () => {
  it('uses Azure defaults without a policy and the policy values with one', () => {
    expect(saLifetimesFor({ ipsecPolicies: [] })).toEqual({ ikeSaLifetimeSeconds: 28800, childSaLifetimeSeconds: 27000, childSaDataSizeKilobytes: 102400000 });
    expect(saLifetimesFor({ ipsecPolicies: [policy({})] })).toEqual({ ikeSaLifetimeSeconds: 28800, childSaLifetimeSeconds: 3600, childSaDataSizeKilobytes: 2048 });
  });
});

describe('IPv4 prefixes', () => {
  const CASES: Array<[string, string | null]> = [
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['192.0.2.7/32', '192.0.2.7/32'],
    ['255.255.255.255/32', '255.255.255.255/32'],
    ['10.0.0.1/8', null],
    ['10.0.0.0/-1', null],
    ['10.0.0.0/08x', null],
    ['010.0.0.0/8', null],
    ['10.0.0/8', null],
    ['256.0.0.0/8', null],
    ['10.0.0.0', null],
    ['', null],
  ];
  it.each(CASES)('%s', (text, want) => {
    const r = parseIpv4Cidr(text);
    expect(r.ok ? r.prefix.cidr : null).toBe(want);
  });

  it('computes ranges and overlap', () => {
    const a = ipv4Prefix('10.1.0.0/16');
    expect([a.first, a.last]).toEqual([0x0a010000, 0x0a01ffff]);
    expect(prefixesOverlap(a, ipv4Prefix('10.1.255.0/24'))).toBe(true);
    expect(prefixesOverlap(a, ipv4Prefix('10.2.0.0/16'))).toBe(false);
    expect(prefixesOverlap(ipv4Prefix('0.0.0.0/0'), a)).toBe(true);
  });
});
