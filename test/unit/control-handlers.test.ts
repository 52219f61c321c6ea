import { describe, expect, it } from 'vitest';
import { controlHandlers, type ControllableGateway } from '../../daemon/control-handlers.js';
import { parseConfig } from '../../daemon/config.js';
import type { GatewayStatus } from '../../daemon/status.js';
import { parseDaemonArgs, UsageError } from '../../daemon/main.js';

const CONFIG = parseConfig(`
gateway: { name: vnet1-gw, addressSpace: [10.1.0.0/16], publicIpAddress: 192.0.2.1 }
localNetworkGateways:
  - { name: site1, gatewayIpAddress: 192.0.2.2, addressPrefixes: [10.2.0.0/16] }
  - { name: site2, gatewayIpAddress: 192.0.2.3, addressPrefixes: [10.3.0.0/16] }
connections:
  - { name: to-site1, localNetworkGateway: site1, sharedKey: k1 }
  - { name: to-site2, localNetworkGateway: site2, sharedKey: k2, connectionMode: ResponderOnly }
`);

function fakeGateway(withRekey = true) {
  const calls: string[] = [];
  const gw: ControllableGateway = {
    status: (): GatewayStatus => ({ gateway: 'vnet1-gw', uptimeSeconds: 5, connections: [] }),
    initiate: (n) => { calls.push(`initiate ${n}`); },
    terminate: async (n) => { calls.push(`terminate ${n}`); },
    ...(withRekey ? { rekey: (n: string, w: 'child' | 'ike') => { calls.push(`rekey ${n} ${w}`); } } : {}),
  };
  return { gw, calls };
}

describe('controlHandlers', () => {
  it('maps methods to the gateway', async () => {
    const { gw, calls } = fakeGateway();
    const h = controlHandlers(gw, CONFIG, 'IN_0');
    expect(await h.status!(undefined)).toEqual({ gateway: 'vnet1-gw', uptimeSeconds: 5, connections: [], instance: 'IN_0' });
    expect(await h.initiate!({ connection: 'to-site1' })).toBeNull();
    await h.terminate!({ connection: 'to-site2' });
    await h.reset!({ connection: 'to-site1' });
    await h.reset!({ connection: 'to-site2' }); // ResponderOnly: no initiate
    await h.rekey!({ connection: 'to-site1' });
    await h.rekey!({ connection: 'to-site1', what: 'ike' });
    expect(calls).toEqual([
      'initiate to-site1', 'terminate to-site2', 'terminate to-site1', 'initiate to-site1', 'terminate to-site2',
      'rekey to-site1 child', 'rekey to-site1 ike',
    ]);
  });

  it.each([
    ['initiate', undefined, 'invalid_params'],
    ['initiate', 'to-site1', 'invalid_params'],
    ['initiate', { connection: 7 }, 'invalid_params'],
    ['initiate', { connection: 'nope' }, 'not_found'],
    ['terminate', { connection: '' }, 'invalid_params'],
    ['initiate', { connection: 'to-site2' }, 'invalid_request'],
    ['rekey', { connection: 'to-site1', what: 'everything' }, 'invalid_params'],
  ])('%s(%j) fails with %s', async (method, params, code) => {
    const { gw, calls } = fakeGateway();
    await expect(controlHandlers(gw, CONFIG)[method]!(params)).rejects.toMatchObject({ code });
    expect(calls).toEqual([]);
  });

  it('names the known connections when one is missing', async () => {
    const { gw } = fakeGateway();
    await expect(controlHandlers(gw, CONFIG).terminate!({ connection: 'x' })).rejects.toThrow('no connection named "x" (known: to-site1, to-site2)');
  });

  it('refuses rekey when the gateway cannot', async () => {
    const { gw } = fakeGateway(false);
    await expect(controlHandlers(gw, CONFIG).rekey!({ connection: 'to-site1' })).rejects.toMatchObject({ code: 'method_not_found' });
  });
});

describe('parseDaemonArgs', () => {
  it('parses options', () => {
    expect(parseDaemonArgs(['--config', 'a.yaml', '--instance', 'IN_1', '--log-level', 'debug', '--socket', '/tmp/x.sock']))
      .toEqual({ configPath: 'a.yaml', instance: 'IN_1', logLevel: 'debug', socket: '/tmp/x.sock', help: false });
    expect(parseDaemonArgs(['-c', 'a.yaml'])).toMatchObject({ configPath: 'a.yaml', logLevel: undefined });
    expect(parseDaemonArgs(['--help']).help).toBe(true);
  });
  it.each([[[]], [['--config']], [['--config', 'a', '--bogus']], [['--config', 'a', '--log-level', 'loud']], [['--config', 'a', 'extra']], [['-c', 'a', '--instance', 'a/b']]])(
    'refuses %j', (args) => { expect(() => parseDaemonArgs(args)).toThrow(UsageError); });
});
