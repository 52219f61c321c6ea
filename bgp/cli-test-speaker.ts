/**
 * Stand-alone speaker process for interop tests (run inside a network
 * namespace with `ip netns exec NS node dist/bgp/cli-test-speaker.js CONFIG_JSON`,
 * because a node process cannot move its own sockets into another namespace).
 *
 * Control channel: one command per line on stdin, one JSON object per line on
 * stdout. Logs go to stderr.
 *   status                    → {"peers":[...], "learned": N, "routes": {"10.x/24": "65002", ...}}
 *   originate P1 P2 ...       → {"ok":true}
 *   withdraw P1 P2 ...        → {"ok":true}
 *   refresh ADDRESS           → {"ok":true|false}
 *   quit                      → {"ok":true} then exit after sending Cease
 *
 * CONFIG_JSON: {"localAsn":65001,"routerId":"...","listen":{"address":"0.0.0.0","port":179},
 *               "peers":[{"address":"...","asn":65002}], "originate":["10.200.1.0/24"], "transit":false}
 */
import { createInterface } from 'node:readline';
import { BgpSpeaker, type PeerOptions, type SpeakerOptions } from './speaker.js';

interface HarnessConfig extends SpeakerOptions {
  peers: PeerOptions[];
  originate?: string[];
}

function reply(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (!arg) {
    process.stderr.write('usage: cli-test-speaker.js CONFIG_JSON\n');
    process.exit(2);
  }
  const config = JSON.parse(arg) as HarnessConfig;
  const speaker = new BgpSpeaker(config);
  for (const p of config.peers) speaker.addPeer(p);
  if (config.originate?.length) speaker.originate(config.originate);
  speaker.on('peerState', (e) => process.stderr.write(`peerState ${JSON.stringify(e)}\n`));
  await speaker.start();
  reply({ ready: true });

  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    const [cmd, ...args] = line.trim().split(/\s+/);
    try {
      switch (cmd) {
        case 'status': {
          const routes: Record<string, string> = {};
          const learned = speaker.learnedRoutes();
          for (const r of learned) if (r.source !== 'local') routes[r.prefix] = `${r.asPath} via ${r.nextHop ?? '?'} (${r.reason})`;
          reply({ peers: speaker.peers(), learned: Object.keys(routes).length, routes, advertised: Object.fromEntries(speaker.peers().map((p) => [p.address, speaker.advertisedRoutes(p.address).length])) });
          break;
        }
        case 'originate':
          speaker.originate(args);
          reply({ ok: true });
          break;
        case 'withdraw':
          speaker.withdraw(args);
          reply({ ok: true });
          break;
        case 'refresh':
          reply({ ok: speaker.refresh(args[0] ?? '') });
          break;
        case 'quit':
          await speaker.stop('test finished');
          reply({ ok: true });
          setTimeout(() => process.exit(0), 200);
          return;
        default:
          reply({ error: `unknown command ${cmd}` });
      }
    } catch (e) {
      reply({ error: e instanceof Error ? e.message : String(e) });
    }
  }
  await speaker.stop('control channel closed');
  setTimeout(() => process.exit(0), 200);
}

main().catch((e: unknown) => {
  process.stderr.write(`fatal: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
