import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger, subsystemLogger, REDACTED } from '../../daemon/log.js';
import { parseConfig } from '../../daemon/config.js';

const SECRET = 'Sup3r-S3cret-PSK-value';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) { lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)); cb(); },
  });
  return { stream, lines, text: () => lines.join('\n') };
}

describe('createLogger', () => {
  it('writes JSON lines with level label, name, time and child bindings', () => {
    const out = capture();
    const log = createLogger({ level: 'debug', name: 'vnet1-gw', destination: out.stream });
    subsystemLogger(log, 'ike', 'vnet1-to-site1').debug({ spi: 'c7c1' }, 'IKE_SA_INIT sent');
    const rec = JSON.parse(out.lines[0]!) as Record<string, unknown>;
    expect(rec).toMatchObject({ level: 'debug', name: 'vnet1-gw', subsys: 'ike', conn: 'vnet1-to-site1', spi: 'c7c1', msg: 'IKE_SA_INIT sent' });
    expect(typeof rec.time).toBe('string');
    expect(Number.isNaN(Date.parse(rec.time as string))).toBe(false);
  });

  it('respects the level', () => {
    const out = capture();
    const log = createLogger({ level: 'warn', name: 't', destination: out.stream });
    log.info('hidden');
    log.warn('shown');
    expect(out.lines).toHaveLength(1);
  });

  it('never writes secrets, whatever shape they are logged in', () => {
    const out = capture();
    const log = createLogger({ level: 'trace', name: 't', destination: out.stream, secrets: [SECRET] });
    const cfg = parseConfig(`
gateway: { name: g, addressSpace: [10.1.0.0/16], publicIpAddress: 192.0.2.1 }
localNetworkGateways: [{ name: s, gatewayIpAddress: 192.0.2.2, addressPrefixes: [10.2.0.0/16] }]
connections: [{ name: c, localNetworkGateway: s, sharedKey: "${SECRET}" }]
`);
    log.info({ sharedKey: SECRET }, 'top-level field');
    log.info({ psk: SECRET, key: SECRET, secret: SECRET }, 'other names');
    log.info({ conn: { sharedKey: SECRET } }, 'one level deep');
    log.info({ config: cfg }, 'whole config, several levels deep');
    log.info({ keys: { sk_ei: SECRET, SK_ar: SECRET, skeyseed: SECRET } }, 'keying material');
    log.info({ note: `peer sent ${SECRET}` }, 'secret inside a string field');
    log.info(`message mentions ${SECRET}`);
    log.info('printf %s style', SECRET);
    log.error({ err: new Error(`failed with ${SECRET}`) }, 'error object');
    log.child({ subsys: 'ike' }).child({ conn: 'c' }).info({ policy: [{ sharedKey: SECRET }] }, 'from a grandchild');
    log.child({ sharedKey: SECRET }).info('child binding');

    expect(out.lines.length).toBe(11);
    expect(out.text()).not.toContain(SECRET);
    expect(out.text()).toContain(REDACTED);
    // Non-secret data around the secret survives.
    const whole = JSON.parse(out.lines[3]!) as { config: { connections: Array<Record<string, unknown>> } };
    expect(whole.config.connections[0]).toMatchObject({ name: 'c', sharedKey: REDACTED, localNetworkGateway: 's' });
    expect(out.lines[5]).toContain(`peer sent ${REDACTED}`);
  });

  it('censors secret field names at any depth even without known secret values', () => {
    const out = capture();
    const log = createLogger({ level: 'info', name: 't', destination: out.stream });
    log.info({ sharedKey: SECRET, psk: SECRET, key: SECRET, secret: SECRET }, 'top');
    log.info({ conn: { sharedKey: SECRET }, a: { b: { c: [{ sharedKey: SECRET, password: SECRET }] } } }, 'deep');
    log.child({ subsys: 'ike' }).info({ sa: { sk_ei: SECRET, skeyseed: SECRET } }, 'keys');
    expect(out.lines).toHaveLength(3);
    expect(out.text()).not.toContain(SECRET);
    expect(JSON.parse(out.lines[1]!)).toMatchObject({ conn: { sharedKey: REDACTED }, a: { b: { c: [{ sharedKey: REDACTED }] } } });
  });

  it('does not mutate the object that was logged', () => {
    const out = capture();
    const log = createLogger({ level: 'info', name: 't', destination: out.stream });
    const obj = { conn: { sharedKey: SECRET } };
    log.info(obj, 'x');
    expect(obj.conn.sharedKey).toBe(SECRET);
  });
});
