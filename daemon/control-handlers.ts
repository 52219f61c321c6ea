/**
 * Control-socket methods of vgwd, mapped onto the gateway. Parameters arrive
 * as untrusted JSON, so each is checked and a bad one becomes a typed error
 * (invalid_params / not_found), never an exception inside the gateway.
 */
import type { GatewayConfig } from './config.js';
import { ControlError, type ControlHandler } from './control.js';
import type { GatewayStatus } from './status.js';
import { bgpControlHandlers, type BgpControlTarget } from './bgp-control.js';

/** What the handlers need from the gateway (the real Gateway satisfies this). */
export interface ControllableGateway {
  status(): GatewayStatus;
  initiate(name: string): void | Promise<void>;
  terminate(name: string): void | Promise<void>;
  rekey?(name: string, what: 'child' | 'ike'): void | Promise<void>;
  /** BGP over the tunnels (daemon/bgp-control.ts); undefined when not configured. */
  bgpService?(): BgpControlTarget | undefined;
  /** Planned switchover to the partner instance of an HA pair. */
  failover?(): Promise<unknown>;
  /** Re-read the config file and apply what can change live (point-to-site). */
  reload?(): unknown;
  /** Connected point-to-site clients. */
  p2sStatus?(): unknown;
}

function record(params: unknown): Record<string, unknown> {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new ControlError('invalid_params', 'params must be an object like {"connection": "<name>"}');
  }
  return params as Record<string, unknown>;
}

export function controlHandlers(gw: ControllableGateway, config: GatewayConfig, instance?: string): Record<string, ControlHandler> {
  const connectionParam = (params: unknown) => {
    const name = record(params).connection;
    if (typeof name !== 'string' || name === '') {
      throw new ControlError('invalid_params', 'params.connection must be a connection name');
    }
    const conn = config.connections.find((c) => c.name === name);
    if (!conn) {
      const known = config.connections.map((c) => c.name).join(', ') || 'none';
      throw new ControlError('not_found', `no connection named "${name.slice(0, 128)}" (known: ${known})`);
    }
    return conn;
  };

  return {
    ...bgpControlHandlers(() => gw.bgpService?.()),
    status: async () => {
      const status = gw.status();
      return instance !== undefined && status.instance === undefined ? { ...status, instance } : status;
    },
    initiate: async (params) => {
      const conn = connectionParam(params);
      if (conn.connectionMode === 'ResponderOnly') {
        throw new ControlError('invalid_request', `connection "${conn.name}" is ResponderOnly; it waits for the peer to initiate`);
      }
      await gw.initiate(conn.name);
      return null;
    },
    terminate: async (params) => {
      await gw.terminate(connectionParam(params).name);
      return null;
    },
    // Azure's "reset connection": tear down, then come back up (a ResponderOnly side waits for the peer).
    reset: async (params) => {
      const conn = connectionParam(params);
      await gw.terminate(conn.name);
      if (conn.connectionMode !== 'ResponderOnly') await gw.initiate(conn.name);
      return null;
    },
    reload: async () => {
      if (!gw.reload) throw new ControlError('method_not_found', 'this gateway cannot reload its configuration');
      try {
        return await gw.reload();
      } catch (e) {
        throw new ControlError('invalid_request', `reload failed, configuration unchanged: ${(e as Error).message}`);
      }
    },
    'p2s-status': async () => {
      if (!gw.p2sStatus) throw new ControlError('method_not_found', 'this gateway has no point-to-site support');
      return gw.p2sStatus();
    },
    failover: async () => {
      if (!gw.failover) throw new ControlError('method_not_found', 'this gateway cannot fail over');
      try {
        return await gw.failover();
      } catch (e) {
        throw new ControlError('invalid_request', `failover refused: ${(e as Error).message}`);
      }
    },
    rekey: async (params) => {
      const conn = connectionParam(params);
      const what = record(params).what ?? 'child';
      if (what !== 'child' && what !== 'ike') throw new ControlError('invalid_params', 'params.what must be "child" or "ike"');
      if (!gw.rekey) throw new ControlError('method_not_found', 'this gateway cannot rekey on request');
      await gw.rekey(conn.name, what);
      return null;
    },
  };
}
