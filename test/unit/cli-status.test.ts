import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { renderStatus, formatBytes, formatDuration } from '../../daemon/cli/render.js';
import { resolveSocketPath } from '../../daemon/cli/socket.js';
import { runCli } from '../../daemon/cli/index.js';
import { ControlServer, ControlError } from '../../daemon/control.js';
import { createLogger } from '../../daemon/log.js';
import type { GatewayStatus } from '../../daemon/status.js';

const NOW = new Date('2025-01-01T12:00:00.000Z');
const at = (secondsFromNow: number) => new Date(NOW.getTime() + secondsFromNow * 1000).toISOString();

function fixture(): GatewayStatus {
  return {
    gateway: 'vnet1-gw',
    uptimeSeconds: 133,
    connections: [
      {
        name: 'vnet1-to-site1', localNetworkGateway: 'site1', remoteAddress: '192.0.2.2', connectionMode: 'Default',
        state: 'Connected',
        ikeSa: {
          spiI: 'c7c179c7faaba50d', spiR: '89a07621e172eafd', initiator: true,
          localEndpoint: '192.0.2.1:4500', remoteEndpoint: '192.0.2.2:4500', natDetected: true,
          encryption: 'AES_GCM_16-256', integrity: 'NONE', prf: 'PRF_HMAC_SHA2_384', dhGroup: 'ECP_384',
          establishedAt: at(-120), rekeyAt: at(7 * 3600 + 57 * 60 + 10),
        },
        childSas: [{
          spiIn: '3be54835', spiOut: '26dbade7', tsLocal: ['10.1.0.0/16'], tsRemote: ['10.2.0.0/16'],
          encryption: 'AES_GCM_16-256', integrity: 'NONE', pfsGroup: 'NONE',
          establishedAt: at(-120), rekeyAt: at(7 * 3600 + 14 * 60 + 30),
          ingressBytes: 1_234_567, egressBytes: 1_100_000, ingressPackets: 980, egressPackets: 975,
        }],
        ingressBytes: 1_234_567, egressBytes: 1_100_000, ingressPackets: 980, egressPackets: 975,
        lastError: null,
      },
      {
        name: 'vnet1-to-site2', localNetworkGateway: 'site2', remoteAddress: '198.51.100.7', connectionMode: 'ResponderOnly',
        state: 'NotConnected', ikeSa: null, childSas: [],
        ingressBytes: 0, egressBytes: 0, ingressPackets: 0, egressPackets: 0,
        lastError: 'AUTHENTICATION_FAILED from 198.51.100.7',
      },
      {
        name: 'vnet1-to-site3', localNetworkGateway: 'site3', remoteAddress: '203.0.113.9', connectionMode: 'Default',
        state: 'Connected',
        ikeSa: {
          spiI: '0102030405060708', spiR: 'a1a2a3a4a5a6a7a8', initiator: false,
          localEndpoint: '192.0.2.1:500', remoteEndpoint: '203.0.113.9:500', natDetected: false,
          encryption: 'AES_CBC-256', integrity: 'HMAC_SHA2_256_128', prf: 'PRF_HMAC_SHA2_256', dhGroup: 'MODP_2048',
          establishedAt: at(-3 * 86400 - 3600), rekeyAt: at(-5),
        },
        childSas: [{
          spiIn: 'c0000001', spiOut: 'c0000002', tsLocal: ['10.1.0.0/16'], tsRemote: ['10.3.0.0/16', '10.4.0.0/24'],
          encryption: 'AES_CBC-256', integrity: 'HMAC_SHA2_256_128', pfsGroup: 'ECP_256',
          establishedAt: at(-30), rekeyAt: null,
          ingressBytes: 512, egressBytes: 0, ingressPackets: 1, egressPackets: 0,
        }],
        ingressBytes: 512, egressBytes: 0, ingressPackets: 1, egressPackets: 0,
        lastError: null,
      },
    ],
  };
}

describe('renderStatus', () => {
  it('renders the swanctl-like text form', () => {
    expect(renderStatus(fixture(), NOW)).toBe([
      'Gateway vnet1-gw  (up 2m13s)',
      'Connection vnet1-to-site1  Connected  → site1 192.0.2.2:4500 (NAT-T)',
      '  IKE SA  c7c179c7faaba50d_i* 89a07621e172eafd_r  AES_GCM_16-256/PRF_HMAC_SHA2_384/ECP_384  established 2m ago, rekey in 7h57m',
      '  Child   in 3be54835  out 26dbade7  ESP AES_GCM_16-256  10.1.0.0/16 === 10.2.0.0/16',
      '          in 1.2 MB (980 pkts)  out 1.1 MB (975 pkts)  rekey in 7h14m',
      '  Last error: —',
      'Connection vnet1-to-site2  NotConnected  → site2 198.51.100.7  [ResponderOnly]',
      '  IKE SA  none',
      '  Last error: AUTHENTICATION_FAILED from 198.51.100.7',
      'Connection vnet1-to-site3  Connected  → site3 203.0.113.9:500',
      '  IKE SA  0102030405060708_i a1a2a3a4a5a6a7a8_r*  AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048  established 3d1h ago, rekey due',
      '  Child   in c0000001  out c0000002  ESP AES_CBC-256/HMAC_SHA2_256_128/ECP_256  10.1.0.0/16 === 10.3.0.0/16,10.4.0.0/24',
      '          in 512 B (1 pkt)  out 0 B (0 pkts)',
      '  Last error: —',
      '',
    ].join('\n'));
  });

  it('says an IKE SA is being negotiated while Connecting', () => {
    const st = fixture();
    st.connections = [{ ...st.connections[1]!, state: 'Connecting', connectionMode: 'Default', lastError: null }];
    expect(renderStatus(st, NOW)).toBe('Gateway vnet1-gw  (up 2m13s)\n' +
      'Connection vnet1-to-site2  Connecting  → site2 198.51.100.7\n  IKE SA  negotiating\n  Last error: —\n');
  });

  it('shows the instance and an empty gateway', () => {
    expect(renderStatus({ gateway: 'g', instance: 'IN_1', uptimeSeconds: 0, connections: [] }, NOW))
      .toBe('Gateway g  instance IN_1  (up 0s)\n  no connections configured\n');
  });
});

describe('formatters', () => {
  it.each([[0, '0s'], [59, '59s'], [60, '1m'], [133, '2m13s'], [3600, '1h'], [28_630, '7h57m'], [90_000, '1d1h'], [86_400 * 2, '2d'], [-5, '0s']])(
    'formatDuration(%d) = %s', (s, want) => expect(formatDuration(s)).toBe(want));
  it.each([[0, '0 B'], [999, '999 B'], [1000, '1.0 kB'], [1_234_567, '1.2 MB'], [999_999, '1.0 MB'], [5e12, '5.0 TB']])(
    'formatBytes(%d) = %s', (b, want) => expect(formatBytes(b)).toBe(want));
});

describe('resolveSocketPath', () => {
  let dir: string;
  let servers: ControlServer[];
  const silent = createLogger({ level: 'silent', name: 't', destination: new Writable({ write(_c, _e, cb) { cb(); } }) });
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'vgw-cli-')); servers = []; });
  afterEach(async () => {
    for (const s of servers) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const listen = async (path: string) => { const s = new ControlServer(path, {}, silent); await s.start(); servers.push(s); };

  it('prefers --socket, then $VGW_SOCKET, then the only socket, then vgw.sock', async () => {
    expect(resolveSocketPath({ socket: '/x.sock' }, { VGW_SOCKET: '/env.sock' }, dir)).toBe('/x.sock');
    expect(resolveSocketPath({}, { VGW_SOCKET: '/env.sock' }, dir)).toBe('/env.sock');
    expect(resolveSocketPath({}, {}, dir)).toBe(join(dir, 'vgw.sock'));
    writeFileSync(join(dir, 'not-a-socket.sock'), '');
    await listen(join(dir, 'vnet1-gw.sock'));
    expect(resolveSocketPath({}, {}, dir)).toBe(join(dir, 'vnet1-gw.sock'));
    await listen(join(dir, 'site1-gw.sock'));
    expect(() => resolveSocketPath({}, {}, dir)).toThrow(/several gateways are running .*choose one with --socket/);
    expect(resolveSocketPath({}, {}, join(dir, 'missing'))).toBe(join(dir, 'missing', 'vgw.sock'));
  });

  it('takes the socket from --config', () => {
    expect(resolveSocketPath({ config: 'examples/vnet1-gw.yaml' }, {}, dir)).toBe('/run/vgw/vnet1-gw.sock');
  });
});

describe('vgw commands', () => {
  let dir: string;
  let server: ControlServer | null;
  let out: string;
  let err: string;
  const calls: Array<[string, unknown]> = [];
  const io = () => ({ out: (t: string) => { out += t; }, err: (t: string) => { err += t; }, env: {}, runDir: dir });
  const silent = createLogger({ level: 'silent', name: 't', destination: new Writable({ write(_c, _e, cb) { cb(); } }) });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vgw-cmd-'));
    out = '';
    err = '';
    calls.length = 0;
    const record = (method: string) => async (params: unknown) => {
      calls.push([method, params]);
      const name = (params as { connection?: unknown } | undefined)?.connection;
      if (name !== 'vnet1-to-site1') throw new ControlError('not_found', `no connection named "${String(name)}"`);
      return null;
    };
    server = new ControlServer(join(dir, 'vnet1-gw.sock'), {
      status: async () => ({ ...fixture(), futureField: 'dropped' }),
      initiate: record('initiate'), terminate: record('terminate'), reset: record('reset'), rekey: record('rekey'),
    }, silent);
    await server.start();
  });
  afterEach(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('status --json prints exactly the GatewayStatus document', async () => {
    expect(await runCli(['node', 'vgw', 'status', '--json'], io())).toBe(0);
    expect(JSON.parse(out)).toEqual(fixture());
  });

  it('status prints text and can filter one connection', async () => {
    expect(await runCli(['node', 'vgw', 'status', 'vnet1-to-site2'], io())).toBe(0);
    expect(out).toContain('Connection vnet1-to-site2  NotConnected');
    expect(out).not.toContain('vnet1-to-site1');
    expect(await runCli(['node', 'vgw', 'status', 'nope'], io())).toBe(1);
    expect(err).toContain('vgw: no connection named "nope"');
  });

  it('initiate / terminate / reset / rekey call the control methods', async () => {
    expect(await runCli(['node', 'vgw', 'initiate', 'vnet1-to-site1'], io())).toBe(0);
    expect(await runCli(['node', 'vgw', 'terminate', 'vnet1-to-site1'], io())).toBe(0);
    expect(await runCli(['node', 'vgw', 'reset', 'vnet1-to-site1'], io())).toBe(0);
    expect(await runCli(['node', 'vgw', 'rekey', '--ike', 'vnet1-to-site1'], io())).toBe(0);
    expect(calls).toEqual([
      ['initiate', { connection: 'vnet1-to-site1' }], ['terminate', { connection: 'vnet1-to-site1' }],
      ['reset', { connection: 'vnet1-to-site1' }], ['rekey', { connection: 'vnet1-to-site1', what: 'ike' }],
    ]);
    expect(out).toBe('vnet1-to-site1: initiating\nvnet1-to-site1: terminated\nvnet1-to-site1: reset\nvnet1-to-site1: IKE SA rekey started\n');
    expect(await runCli(['node', 'vgw', 'initiate', 'other'], io())).toBe(1);
    expect(err).toBe('vgw: no connection named "other"\n');
  });

  it('explains a missing daemon', async () => {
    const path = join(dir, 'none.sock');
    expect(await runCli(['node', 'vgw', '--socket', path, 'status'], io())).toBe(1);
    expect(err).toBe(`vgw: cannot connect to ${path}: is vgwd running?\n`);
  });

  it('rejects a malformed status document', async () => {
    await server!.close();
    server = new ControlServer(join(dir, 'vnet1-gw.sock'), { status: async () => ({ gateway: 'g', connections: 'many' }) }, silent);
    await server.start();
    expect(await runCli(['node', 'vgw', 'status'], io())).toBe(1);
    expect(err).toMatch(/^vgw: malformed status from vgwd/);
  });

  it('config check prints OK or every problem', async () => {
    expect(await runCli(['node', 'vgw', 'config', 'check', 'examples/vnet1-gw.yaml'], io())).toBe(0);
    expect(out).toBe('OK: examples/vnet1-gw.yaml (gateway vnet1-gw, 1 local network gateway, 1 connection)\n');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'gateway: { name: g, addressSpace: [10.0.0.1/8], publicIpAddress: 192.0.2.1, colour: blue }\n');
    expect(await runCli(['node', 'vgw', 'config', 'check', bad], io())).toBe(1);
    expect(err).toContain(`${bad}: 2 problems`);
    expect(err).toContain('gateway.addressSpace[0]: "10.0.0.1/8" has host bits set');
    expect(err).toContain('gateway.colour: unknown key');
  });

  it('config show hides shared keys', async () => {
    expect(await runCli(['node', 'vgw', 'config', 'show', 'examples/vnet1-gw.yaml'], io())).toBe(0);
    expect(out).toContain('sharedKey: (hidden)');
    expect(out).not.toContain('s3cret');
    expect(out).toContain('controlSocket: /run/vgw/vnet1-gw.sock');
  });

  it('unknown commands are usage errors', async () => {
    expect(await runCli(['node', 'vgw', 'frobnicate'], io())).not.toBe(0);
    expect(err).toContain("unknown command 'frobnicate'");
  });
});
