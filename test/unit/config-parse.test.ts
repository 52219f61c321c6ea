import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { ConfigError, loadConfig, parseConfig, localNetworkGatewayOf } from '../../daemon/config.js';

const EXAMPLE = `
gateway:
  name: vnet1-gw
  addressSpace: [10.1.0.0/16]
  publicIpAddress: 192.0.2.1
  vpnType: RouteBased
localNetworkGateways:
  - name: site1
    gatewayIpAddress: 192.0.2.2
    addressPrefixes: [10.2.0.0/16]
connections:
  - name: vnet1-to-site1
    localNetworkGateway: site1
    sharedKey: "s3cret-psk"
    connectionMode: Default
    dpdTimeoutSeconds: 45
    usePolicyBasedTrafficSelectors: false
    ipsecPolicies:
      - { ikeEncryption: GCMAES256, ikeIntegrity: SHA384, dhGroup: ECP384,
          ipsecEncryption: GCMAES256, ipsecIntegrity: GCMAES256, pfsGroup: None,
          saLifeTimeSeconds: 27000, saDataSizeKilobytes: 102400000 }
runtime:
  tunName: vgw0
  controlSocket: /run/vgw/vnet1-gw.sock
  logLevel: info
  mtu: 1400
`;

type Raw = Record<string, any>; // test-only scratch object mutated per case

function base(): Raw {
  return YAML.parse(EXAMPLE) as Raw;
}

function problemsOf(raw: Raw): string {
  try {
    parseConfig(YAML.stringify(raw), 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig: valid configs', () => {
  it('parses the documented example', () => {
    const cfg = parseConfig(EXAMPLE, 'example.yaml');
    expect(cfg.source).toBe('example.yaml');
    expect(cfg.gateway).toEqual({ name: 'vnet1-gw', addressSpace: ['10.1.0.0/16'], publicIpAddress: '192.0.2.1', vpnType: 'RouteBased' });
    expect(cfg.localNetworkGateways).toEqual([{ name: 'site1', gatewayIpAddress: '192.0.2.2', addressPrefixes: ['10.2.0.0/16'] }]);
    const conn = cfg.connections[0]!;
    expect(conn).toMatchObject({ name: 'vnet1-to-site1', localNetworkGateway: 'site1', sharedKey: 's3cret-psk',
      connectionMode: 'Default', dpdTimeoutSeconds: 45, usePolicyBasedTrafficSelectors: false,
      connectionType: 'IPsec', connectionProtocol: 'IKEv2' });
    expect(conn.ipsecPolicies).toEqual([{ ikeEncryption: 'GCMAES256', ikeIntegrity: 'SHA384', dhGroup: 'ECP384',
      ipsecEncryption: 'GCMAES256', ipsecIntegrity: 'GCMAES256', pfsGroup: 'None',
      saLifeTimeSeconds: 27000, saDataSizeKilobytes: 102400000 }]);
    expect(cfg.runtime).toEqual({ tunName: 'vgw0', controlSocket: '/run/vgw/vnet1-gw.sock', logLevel: 'info', mtu: 1400 });
    expect(localNetworkGatewayOf(cfg, 'vnet1-to-site1').gatewayIpAddress).toBe('192.0.2.2');
  });

  it('applies defaults', () => {
    const raw = base();
    delete raw.runtime;
    delete raw.gateway.vpnType;
    const c = raw.connections[0];
    for (const k of ['connectionMode', 'dpdTimeoutSeconds', 'usePolicyBasedTrafficSelectors', 'ipsecPolicies']) delete c[k];
    const cfg = parseConfig(YAML.stringify(raw));
    expect(cfg.gateway.vpnType).toBe('RouteBased');
    expect(cfg.connections[0]).toMatchObject({ connectionMode: 'Default', dpdTimeoutSeconds: 45, usePolicyBasedTrafficSelectors: false, ipsecPolicies: [] });
    expect(cfg.runtime).toEqual({ tunName: 'vgw0', controlSocket: '/run/vgw/vnet1-gw.sock', logLevel: 'info', mtu: 1400 });
  });

  it('defaults policy lifetimes and folds aliases and case', () => {
    const raw = base();
    raw.connections[0].ipsecPolicies = [{ ikeEncryption: 'aes256', ikeIntegrity: 'sha256', dhGroup: 'DHGroup2048',
      ipsecEncryption: 'AES256', ipsecIntegrity: 'SHA256', pfsGroup: 'PFS14' }];
    const p = parseConfig(YAML.stringify(raw)).connections[0]!.ipsecPolicies[0]!;
    expect(p).toEqual({ ikeEncryption: 'AES256', ikeIntegrity: 'SHA256', dhGroup: 'DHGroup14', ipsecEncryption: 'AES256',
      ipsecIntegrity: 'SHA256', pfsGroup: 'PFS2048', saLifeTimeSeconds: 27000, saDataSizeKilobytes: 102400000 });
  });

  it('returns a deep-frozen object', () => {
    const cfg = parseConfig(EXAMPLE);
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.connections[0]!.ipsecPolicies[0])).toBe(true);
    expect(Object.isFrozen(cfg.gateway.addressSpace)).toBe(true);
    expect(() => { (cfg.runtime as { mtu: number }).mtu = 9000; }).toThrow(TypeError);
  });

  it('loads the shipped example pair', () => {
    const a = loadConfig('examples/vnet1-gw.yaml');
    const b = loadConfig('examples/site1-gw.yaml');
    expect(a.localNetworkGateways[0]!.gatewayIpAddress).toBe(b.gateway.publicIpAddress);
    expect(b.localNetworkGateways[0]!.gatewayIpAddress).toBe(a.gateway.publicIpAddress);
    expect(a.localNetworkGateways[0]!.addressPrefixes).toEqual(b.gateway.addressSpace);
    expect(b.localNetworkGateways[0]!.addressPrefixes).toEqual(a.gateway.addressSpace);
    expect(a.connections[0]!.sharedKey).toBe(b.connections[0]!.sharedKey);
    expect(a.connections[0]!.ipsecPolicies).toEqual(b.connections[0]!.ipsecPolicies);
  });
});

const POLICY = (over: Raw) => ({ ikeEncryption: 'GCMAES256', ikeIntegrity: 'SHA384', dhGroup: 'ECP384',
  ipsecEncryption: 'GCMAES256', ipsecIntegrity: 'GCMAES256', pfsGroup: 'None', ...over });

// [description, mutation, expected "path: message" fragment]
const BAD: Array<[string, (r: Raw) => void, string]> = [
  ['weak dhGroup', (r) => { r.connections[0].ipsecPolicies[0].dhGroup = 'DHGroup2'; },
    'connections[0].ipsecPolicies[0].dhGroup: "DHGroup2" is weak and not supported; use one of DHGroup14, ECP256, ECP384, X25519'],
  ['unknown dhGroup', (r) => { r.connections[0].ipsecPolicies[0].dhGroup = 'ECP521'; },
    'connections[0].ipsecPolicies[0].dhGroup: "ECP521" is not supported; use one of'],
  ['weak pfsGroup', (r) => { r.connections[0].ipsecPolicies[0].pfsGroup = 'PFS24'; },
    'connections[0].ipsecPolicies[0].pfsGroup: "PFS24" is weak and not supported'],
  ['weak IKE integrity', (r) => { r.connections[0].ipsecPolicies[0].ikeIntegrity = 'SHA1'; },
    'connections[0].ipsecPolicies[0].ikeIntegrity: "SHA1" is weak'],
  ['weak IPsec encryption', (r) => { r.connections[0].ipsecPolicies = [POLICY({ ipsecEncryption: 'DES3', ipsecIntegrity: 'MD5' })]; },
    'connections[0].ipsecPolicies[0].ipsecEncryption: "DES3" is weak'],
  ['IPsec encryption None', (r) => { r.connections[0].ipsecPolicies[0].ipsecEncryption = 'None'; },
    'connections[0].ipsecPolicies[0].ipsecEncryption: "None" is refused'],
  ['GCM encryption with SHA256 integrity', (r) => { r.connections[0].ipsecPolicies[0].ipsecIntegrity = 'SHA256'; },
    'connections[0].ipsecPolicies[0].ipsecIntegrity: "SHA256" does not match ipsecEncryption GCMAES256: GCM encryption carries its own integrity, so ipsecIntegrity must be GCMAES256'],
  ['GCM key size mismatch', (r) => { r.connections[0].ipsecPolicies[0].ipsecIntegrity = 'GCMAES128'; },
    'connections[0].ipsecPolicies[0].ipsecIntegrity: "GCMAES128" does not match ipsecEncryption GCMAES256'],
  ['CBC encryption with GCM integrity', (r) => { r.connections[0].ipsecPolicies[0].ipsecEncryption = 'AES256'; },
    'ipsecIntegrity must be SHA256'],
  ['CBC IKE with GCM integrity', (r) => { r.connections[0].ipsecPolicies[0].ikeEncryption = 'AES256'; r.connections[0].ipsecPolicies[0].ikeIntegrity = 'GCMAES256'; },
    'connections[0].ipsecPolicies[0].ikeIntegrity: "GCMAES256" needs GCM ikeEncryption'],
  ['lifetime too short', (r) => { r.connections[0].ipsecPolicies[0].saLifeTimeSeconds = 100; },
    'connections[0].ipsecPolicies[0].saLifeTimeSeconds: 100 is out of range; allowed 300..172799 seconds'],
  ['data size too small', (r) => { r.connections[0].ipsecPolicies[0].saDataSizeKilobytes = 10; },
    'connections[0].ipsecPolicies[0].saDataSizeKilobytes: 10 is out of range'],
  ['two policies', (r) => { r.connections[0].ipsecPolicies.push(POLICY({})); },
    'connections[0].ipsecPolicies: Azure allows at most one'],
  ['bad CIDR', (r) => { r.gateway.addressSpace = ['10.1.0.0/33']; }, 'gateway.addressSpace[0]: "10.1.0.0/33" is not an IPv4 prefix'],
  ['CIDR without length', (r) => { r.localNetworkGateways[0].addressPrefixes = ['10.2.0.0']; },
    'localNetworkGateways[0].addressPrefixes[0]: "10.2.0.0" is not an IPv4 prefix'],
  ['host bits set', (r) => { r.gateway.addressSpace = ['10.1.2.3/16']; },
    'gateway.addressSpace[0]: "10.1.2.3/16" has host bits set; did you mean 10.1.0.0/16?'],
  ['bad public IP', (r) => { r.gateway.publicIpAddress = '192.0.2.256'; }, 'gateway.publicIpAddress: "192.0.2.256" is not an IPv4 address'],
  ['unknown key', (r) => { r.gateway.publicIp = '1.2.3.4'; }, 'gateway.publicIp: unknown key; allowed here: name, addressSpace, publicIpAddress'],
  ['unknown key in policy', (r) => { r.connections[0].ipsecPolicies[0].pfs = 'None'; }, 'connections[0].ipsecPolicies[0].pfs: unknown key'],
  ['unknown top-level key', (r) => { r.tunnels = []; }, 'tunnels: unknown key'],
  ['missing sharedKey', (r) => { delete r.connections[0].sharedKey; }, 'connections[0].sharedKey: is required'],
  ['empty sharedKey', (r) => { r.connections[0].sharedKey = ''; }, 'connections[0].sharedKey: must not be empty'],
  ['sharedKey too long', (r) => { r.connections[0].sharedKey = 'x'.repeat(129); }, 'connections[0].sharedKey: is 129 characters; Azure allows at most 128'],
  ['numeric sharedKey', (r) => { r.connections[0].sharedKey = 12345; }, 'connections[0].sharedKey: expected a string, got number (quote the value in YAML)'],
  ['LNG reference missing', (r) => { r.connections[0].localNetworkGateway = 'site9'; },
    'connections[0].localNetworkGateway: "site9" is not defined in localNetworkGateways (defined: site1)'],
  ['overlapping prefixes', (r) => { r.localNetworkGateways[0].addressPrefixes = ['10.2.0.0/16', '10.1.128.0/17']; },
    'localNetworkGateways[0].addressPrefixes[1]: 10.1.128.0/17 overlaps the VNet address space 10.1.0.0/16'],
  ['overlapping VNet address space', (r) => { r.gateway.addressSpace = ['10.1.0.0/16', '10.0.0.0/8']; },
    'gateway.addressSpace[1]: 10.0.0.0/8 overlaps gateway.addressSpace[0] 10.1.0.0/16'],
  ['dpd out of range', (r) => { r.connections[0].dpdTimeoutSeconds = 5; }, 'connections[0].dpdTimeoutSeconds: 5 is out of range; allowed 9..3600 seconds'],
  ['dpd not an integer', (r) => { r.connections[0].dpdTimeoutSeconds = 45.5; }, 'connections[0].dpdTimeoutSeconds: 45.5 must be a whole number'],
  ['duplicate connection names', (r) => {
    r.localNetworkGateways.push({ name: 'site2', gatewayIpAddress: '192.0.2.3', addressPrefixes: ['10.3.0.0/16'] });
    r.connections.push({ ...r.connections[0], localNetworkGateway: 'site2' });
  }, 'connections[1].name: duplicate connection name "vnet1-to-site1" (also connections[0])'],
  ['duplicate LNG names', (r) => { r.localNetworkGateways.push({ ...r.localNetworkGateways[0], gatewayIpAddress: '192.0.2.9' }); },
    'localNetworkGateways[1].name: duplicate local network gateway name "site1"'],
  ['two connections to one address', (r) => {
    r.localNetworkGateways.push({ name: 'site1b', gatewayIpAddress: '192.0.2.2', addressPrefixes: ['10.3.0.0/16'] });
    r.connections.push({ ...r.connections[0], name: 'second', localNetworkGateway: 'site1b' });
  }, 'connections[1].localNetworkGateway: connections[0] already connects to 192.0.2.2'],
  ['LNG is our own address', (r) => { r.localNetworkGateways[0].gatewayIpAddress = '192.0.2.1'; },
    "localNetworkGateways[0].gatewayIpAddress: 192.0.2.1 is this gateway's own gateway.publicIpAddress"],
  ['bad connection mode', (r) => { r.connections[0].connectionMode = 'Passive'; },
    'connections[0].connectionMode: "Passive" is not supported; use one of Default, InitiatorOnly, ResponderOnly'],
  ['IKEv1', (r) => { r.connections[0].connectionProtocol = 'IKEv1'; }, 'connections[0].connectionProtocol: "IKEv1" is refused: this gateway speaks IKEv2 only'],
  ['bad gateway name', (r) => { r.gateway.name = 'vnet 1/gw'; }, 'gateway.name: "vnet 1/gw" is not a valid name'],
  ['missing gateway', (r) => { delete r.gateway; }, 'gateway: is required'],
  ['tunName too long', (r) => { r.runtime.tunName = 'a-very-long-interface'; }, 'runtime.tunName: "a-very-long-interface" is not a valid interface name'],
  ['relative control socket', (r) => { r.runtime.controlSocket = 'vgw.sock'; }, 'runtime.controlSocket: must be an absolute path'],
  ['mtu too small', (r) => { r.runtime.mtu = 100; }, 'runtime.mtu: 100 is out of range; allowed 576..9000 bytes'],
  ['bad log level', (r) => { r.runtime.logLevel = 'verbose'; }, 'runtime.logLevel: "verbose" is not supported'],
];

describe('parseConfig: refused configs name the field', () => {
  it.each(BAD)('%s', (_desc, mutate, expected) => {
    const raw = base();
    mutate(raw);
    expect(problemsOf(raw)).toContain(expected);
  });

  it('reports every problem at once, schema and cross-checks together', () => {
    const raw = base();
    raw.connections[0].ipsecPolicies[0].dhGroup = 'DHGroup1';
    raw.connections[0].dpdTimeoutSeconds = 4000;
    raw.connections[0].localNetworkGateway = 'nowhere';
    raw.gateway.extra = 1;
    const msg = problemsOf(raw);
    expect(msg).toMatch(/^test\.yaml: 4 problems\n/);
    expect(msg).toContain('connections[0].ipsecPolicies[0].dhGroup: "DHGroup1" is weak');
    expect(msg).toContain('connections[0].dpdTimeoutSeconds: 4000 is out of range');
    expect(msg).toContain('connections[0].localNetworkGateway: "nowhere" is not defined');
    expect(msg).toContain('gateway.extra: unknown key');
  });

  it('exposes problems as data', () => {
    const raw = base();
    raw.connections[0].ipsecPolicies[0].dhGroup = 'DHGroup24';
    try {
      parseConfig(YAML.stringify(raw));
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).problems).toEqual([{ path: 'connections[0].ipsecPolicies[0].dhGroup',
        message: '"DHGroup24" is weak and not supported; use one of DHGroup14, ECP256, ECP384, X25519' }]);
    }
  });

  it('reports YAML syntax errors with a position', () => {
    expect(() => parseConfig('gateway:\n  name: [unclosed\n', 'x.yaml')).toThrow(/x\.yaml: 1 problem\n  line \d+, column \d+: YAML:/);
  });

  it('refuses duplicate YAML keys', () => {
    expect(() => parseConfig(EXAMPLE.replace('  vpnType: RouteBased', '  vpnType: RouteBased\n  vpnType: PolicyBased'))).toThrow(ConfigError);
  });

  it('refuses an empty file and a non-mapping root', () => {
    expect(() => parseConfig('')).toThrow(/empty/);
    expect(() => parseConfig('- a\n- b\n')).toThrow(/expected a mapping, got a list/);
  });

  it('turns file errors into ConfigError', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vgw-config-'));
    try {
      expect(() => loadConfig(join(dir, 'missing.yaml'))).toThrow(/cannot read config: no such file/);
      const big = join(dir, 'big.yaml');
      writeFileSync(big, '#'.repeat(1024 * 1024 + 1));
      expect(() => loadConfig(big)).toThrow(/refused/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
