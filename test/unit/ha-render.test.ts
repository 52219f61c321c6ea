/** `vgw status` text: the HA block (daemon/cli/render.ts). */
import { describe, expect, it } from 'vitest';
import { haLines, renderStatus } from '../../daemon/cli/render.js';
import type { GatewayStatus, HaStatus } from '../../daemon/status.js';

const NOW = new Date('2025-01-01T12:00:00Z');
const base: HaStatus = {
  mode: 'active-standby', instance: 'vnet1-gw-1', role: 'active', epoch: 3,
  partner: { name: 'vnet1-gw-0', role: 'standby', linkUp: true, lastHeardMsAgo: 40 },
  replication: { shadowIkeSas: 0, shadowChildSas: 0, ageMs: null, lagMessages: 0 },
  floatingAddresses: ['192.0.2.1', '10.1.0.1'],
  lastFailover: {
    kind: 'unplanned', role: 'took-over', reason: 'HA link closed by the partner: partner lost (epoch 3)', at: '2025-01-01T11:58:00Z',
    epoch: 3, detectionMs: 12, takeoverMs: 41, outageMs: 51, ikeSas: 1, childSas: 1, incomplete: [],
  },
};

describe('HA block of vgw status', () => {
  it('shows both instances, roles, held addresses, replication lag and the last failover', () => {
    expect(haLines(base, NOW)).toEqual([
      'HA active-standby  epoch 3',
      '  vnet1-gw-1  active   (this instance)  holds 192.0.2.1, 10.1.0.1',
      '  vnet1-gw-0  standby  link up, heard 40 ms ago',
      '  Replication  lag 0 messages',
      '  Last failover  unplanned, took over 2m ago (epoch 3), detection 12 ms, takeover 41 ms, outage 51 ms, carried 1 IKE / 1 Child SA(s)\n' +
      '                 HA link closed by the partner: partner lost (epoch 3)',
    ]);
  });

  const cases: Array<[string, Partial<HaStatus>, RegExp]> = [
    ['standby shows its shadow', { role: 'standby', floatingAddresses: [], replication: { shadowIkeSas: 2, shadowChildSas: 3, ageMs: 80, lagMessages: null } },
      /Replication {2}shadow 2 IKE \/ 3 Child SA\(s\), last update 80 ms ago/],
    ['a lost partner', { partner: { name: 'vnet1-gw-0', role: 'unknown', linkUp: false, lastHeardMsAgo: null }, replication: { shadowIkeSas: 0, shadowChildSas: 0, ageMs: null, lagMessages: null } },
      /vnet1-gw-0 {2}unknown {2}link DOWN, never heard[\s\S]*lag — \(no standby\)/],
    ['no failover yet', { lastFailover: null }, /Last failover {2}none/],
    ['planned handover has no detection time', { lastFailover: { ...base.lastFailover!, kind: 'planned', role: 'handed-over', detectionMs: null, outageMs: null } },
      /planned, handed over 2m ago \(epoch 3\), takeover 41 ms, outage —\n/],
    ['active-active', { mode: 'active-active' }, /HA active-active[\s\S]*Replication {2}none \(active-active/],
    ['incomplete import is shown', { lastFailover: { ...base.lastFailover!, incomplete: ['conn: 1 Child SA(s) without replicated keys'] } },
      /incomplete: conn: 1 Child SA\(s\) without replicated keys/],
  ];
  for (const [name, patch, want] of cases) {
    it(name, () => { expect(haLines({ ...base, ...patch }, NOW).join('\n')).toMatch(want); });
  }

  it('renderStatus puts the HA block under the gateway line, and omits it for a single instance', () => {
    const st: GatewayStatus = { gateway: 'vnet1-gw', instance: 'vnet1-gw-1', ha: base, uptimeSeconds: 133, connections: [] };
    const text = renderStatus(st, NOW).split('\n');
    expect(text[0]).toBe('Gateway vnet1-gw  instance vnet1-gw-1  (up 2m13s)');
    expect(text[1]).toBe('HA active-standby  epoch 3');
    const { ha: _ha, ...single } = st;
    expect(renderStatus(single, NOW)).not.toContain('HA ');
  });
});
