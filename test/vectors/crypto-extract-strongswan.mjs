#!/usr/bin/env node
// Regenerates crypto-strongswan-kat.json and copies the pcapng captures from
// the strongSwan interop captures (level-4 charon logs, pcapng, keys.json,
// tshark-decrypted dissections). Run from the repo root:
//   node test/vectors/crypto-extract-strongswan.mjs [captures-dir]
// Tests never read the captures directory; they read only the files written here.
import { readFileSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const capDir = process.argv[2] ?? join(here, '../../../shared/interop/strongswan/captures');
const CAPTURES = ['s2s-psk-keylog', 's2s-psk-default-proposals-keylog'];

/** Hex dumps of a charon log: [{ label, bytes(hex), line }] in log order. */
function charonDumps(path) {
  const lines = readFileSync(path, 'utf8').split('\n');
  const dumps = [];
  for (let i = 0; i < lines.length; i++) {
    const head = /\] <[^>]*> (.*) => (\d+) bytes @ 0x[0-9a-f]+$/.exec(lines[i]);
    if (!head) continue;
    const [, label, lenText] = head;
    const len = Number(lenText);
    let hex = '';
    for (let j = i + 1; hex.length < 2 * len && j < lines.length; j++) {
      const row = /\] <[^>]*> +(\d+): (.{48})/.exec(lines[j]) ?? /\] <[^>]*> +(\d+): (.*)$/.exec(lines[j]);
      if (!row) break;
      hex += row[2].trim().split(/\s+/).join('').slice(0, 32);
    }
    if (hex.length !== 2 * len) throw new Error(`${path}:${i + 1}: ${label}: got ${hex.length / 2} of ${len} bytes`);
    dumps.push({ label, hex: hex.toLowerCase(), line: i + 1 });
  }
  return dumps;
}

/** UDP payloads of IKE packets in a pcapng (Ethernet/IPv4/UDP), marker stripped. */
function pcapngIke(path) {
  const buf = readFileSync(path);
  if (buf.readUInt32LE(0) !== 0x0a0d0d0a || buf.readUInt32LE(8) !== 0x1a2b3c4d) throw new Error('not little-endian pcapng');
  const linktypes = [];
  const out = [];
  let frame = 0;
  for (let off = 0; off < buf.length; ) {
    const type = buf.readUInt32LE(off);
    const blockLen = buf.readUInt32LE(off + 4);
    if (type === 1) linktypes.push(buf.readUInt16LE(off + 8));
    if (type === 6) {
      frame++;
      const ifId = buf.readUInt32LE(off + 8);
      if (linktypes[ifId] !== 1) throw new Error(`frame ${frame}: linktype ${linktypes[ifId]} is not Ethernet`);
      const capLen = buf.readUInt32LE(off + 20);
      const pkt = buf.subarray(off + 28, off + 28 + capLen);
      if (pkt.readUInt16BE(12) === 0x0800 && pkt[23] === 17) {
        const ip = pkt.subarray(14);
        const udp = ip.subarray((ip[0] & 0x0f) * 4);
        const sport = udp.readUInt16BE(0), dport = udp.readUInt16BE(2);
        let payload = udp.subarray(8, udp.readUInt16BE(4));
        let ike = false;
        if (sport === 500 || dport === 500) ike = true;
        else if ((sport === 4500 || dport === 4500) && payload.length >= 4 && payload.readUInt32BE(0) === 0) {
          payload = payload.subarray(4);
          ike = true;
        }
        if (ike) out.push({ frame, exchange: payload[18], messageId: payload.readUInt32BE(20), flags: payload[19], hex: payload.toString('hex') });
      }
    }
    off += blockLen;
  }
  return out;
}

/** Nonce DATA values by frame number from the tshark decrypted dissection. */
function tsharkNonces(path) {
  const byFrame = {};
  let frame = 0;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const f = /^Frame (\d+):/.exec(line);
    if (f) frame = Number(f[1]);
    const n = /Nonce DATA: ([0-9a-f]+)/.exec(line);
    if (n) (byFrame[frame] ??= []).push(n[1]);
  }
  return byFrame;
}

function take(dumps, label, from = 0) {
  const idx = dumps.findIndex((d, i) => i >= from && d.label === label);
  if (idx < 0) throw new Error(`no "${label}" dump after index ${from}`);
  return { idx, hex: dumps[idx].hex, line: dumps[idx].line };
}

function ikeKeys(dumps, from) {
  const r = {};
  let at = from;
  for (const [key, label] of [['sharedSecret', 'shared Diffie Hellman secret'], ['skeyseed', 'SKEYSEED'], ['skD', 'Sk_d secret']]) {
    const t = take(dumps, label, at); r[key] = t.hex; at = t.idx; r.logLine ??= t.line;
  }
  for (const [key, label] of [['skAi', 'Sk_ai secret'], ['skAr', 'Sk_ar secret']]) {
    const t = dumps.findIndex((d, i) => i > at && i < at + 3 && d.label === label);
    r[key] = t >= 0 ? dumps[t].hex : '';
  }
  for (const [key, label] of [['skEi', 'Sk_ei secret'], ['skEr', 'Sk_er secret'], ['skPi', 'Sk_pi secret'], ['skPr', 'Sk_pr secret']]) {
    const t = take(dumps, label, at); r[key] = t.hex; at = t.idx;
  }
  return { keys: r, next: at + 1 };
}

function auth(dumps, from) {
  const id = take(dumps, "IDx'", from);
  const skp = take(dumps, 'SK_p', id.idx);
  const oct = take(dumps, "octets = message + nonce + prf(Sk_px, IDx')", skp.idx);
  const psk = take(dumps, 'secret', oct.idx);
  const padded = take(dumps, 'prf(secret, keypad)', psk.idx);
  const a = take(dumps, 'AUTH = prf(prf(secret, keypad), octets)', padded.idx);
  return {
    v: { logLine: id.line, idPayloadBody: id.hex, skP: skp.hex, octets: oct.hex, psk: psk.hex, prfPskKeyPad: padded.hex, auth: a.hex },
    next: a.idx + 1,
  };
}

function child(dumps, from) {
  const seed = take(dumps, 'seed', from);
  const v = { logLine: seed.line, seed: seed.hex };
  let at = seed.idx;
  for (const [key, label] of [['encI', 'encryption initiator key'], ['encR', 'encryption responder key'], ['integI', 'integrity initiator key'], ['integR', 'integrity responder key']]) {
    const i = dumps.findIndex((d, k) => k > at && k < at + 5 && d.label === label);
    v[key] = i >= 0 ? dumps[i].hex : '';
  }
  return { v, next: at + 1 };
}

const out = {
  description:
    'Known-answer values from real strongSwan 6 runs (initiator gwA, charon level-4 log) plus the raw IKE messages from the pcapng. Generated by crypto-extract-strongswan.mjs.',
  captures: {},
};
for (const name of CAPTURES) {
  const logFile = `${name}.io-gwA.charon.log`;
  const dumps = charonDumps(join(capDir, logFile));
  const keysJson = JSON.parse(readFileSync(join(capDir, `${name}.keys/keys.json`), 'utf8'));
  const messages = pcapngIke(join(capDir, `${name}.pcap`));
  const nonces = tsharkNonces(join(capDir, `${name}.decrypted.txt`));
  const pcapCopy = join(here, `crypto-strongswan-${name}.pcapng`);
  copyFileSync(join(capDir, `${name}.pcap`), pcapCopy);
  chmodSync(pcapCopy, 0o644);

  const init = ikeKeys(dumps, 0);
  const authI = auth(dumps, init.next);
  const authR = auth(dumps, authI.next);
  const child1 = child(dumps, authR.next);
  const ike = keysJson.ike[0];
  const cap = {
    sources: { log: logFile, pcap: `${name}.pcap`, keys: `${name}.keys/keys.json`, decrypted: `${name}.decrypted.txt` },
    proposal: ike.proposal,
    spiI: ike.spi_i,
    spiR: ike.spi_r,
    messages: messages.map((m) => ({ source: `${name}.pcap frame ${m.frame}`, ...m })),
    ikeSa: { source: `${logFile}:${init.keys.logLine}`, ...init.keys },
    authInitiator: { source: `${logFile}:${authI.v.logLine}`, ...authI.v },
    authResponder: { source: `${logFile}:${authR.v.logLine}`, ...authR.v },
    child: { source: `${logFile}:${child1.v.logLine}`, ...child1.v },
  };
  // s2s-psk-keylog also rekeys the CHILD_SA (no PFS) and the IKE SA.
  if (dumps.filter((d) => d.label === 'seed').length > 1) {
    const c2 = child(dumps, child1.next);
    cap.childRekey = { source: `${logFile}:${c2.v.logLine}`, ...c2.v };
  }
  if (dumps.filter((d) => d.label === 'SKEYSEED').length > 1) {
    const r = ikeKeys(dumps, init.next);
    const rekeyFrames = messages.filter((m) => m.exchange === 36 && nonces[m.frame]).map((m) => m.frame);
    // The IKE rekey is the last CREATE_CHILD_SA pair with nonces (the first is the CHILD rekey).
    const [fi, fr] = rekeyFrames.slice(-2);
    const newIke = keysJson.ike[1];
    cap.ikeRekey = {
      source: `${logFile}:${r.keys.logLine}; nonces from ${name}.decrypted.txt frames ${fi},${fr}; SPIs from keys.json`,
      requestFrame: fi,
      responseFrame: fr,
      ni: nonces[fi][0],
      nr: nonces[fr][0],
      spiI: newIke.spi_i,
      spiR: newIke.spi_r,
      ...r.keys,
    };
  }
  out.captures[name] = cap;
}
writeFileSync(join(here, 'crypto-strongswan-kat.json'), JSON.stringify(out, null, 1) + '\n');
console.log('wrote', join(here, 'crypto-strongswan-kat.json'));
