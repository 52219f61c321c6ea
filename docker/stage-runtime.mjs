#!/usr/bin/env node
// Copy what vgwd needs at run time from a built checkout into DEST:
//   package.json, bin/, dist/, build/Release/vgw_tun.node and the PRODUCTION
//   packages of node_modules (package-lock.json marks dev-only ones "dev": true).
// Used by docker/gateway.Dockerfile for both build paths (npm ci in the image,
// or the host's build with the local base image), so the runtime stage is the same.
//
//   node docker/stage-runtime.mjs SRC DEST
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const [src, dest] = process.argv.slice(2);
if (!src || !dest) {
  process.stderr.write('usage: node docker/stage-runtime.mjs SRC DEST\n');
  process.exit(2);
}

const required = ['package.json', 'package-lock.json', 'bin/vgwd.js', 'bin/vgw.js', 'dist/daemon/main.js', 'build/Release/vgw_tun.node'];
const missing = required.filter((f) => !existsSync(path.join(src, f)));
if (missing.length) {
  process.stderr.write(`stage-runtime: missing ${missing.join(', ')} in ${src}\n` +
    '  build first: npm ci && npm run build (or use the official node image, which builds from source)\n');
  process.exit(1);
}

mkdirSync(dest, { recursive: true });
for (const f of ['package.json', 'bin', 'dist']) cpSync(path.join(src, f), path.join(dest, f), { recursive: true });
mkdirSync(path.join(dest, 'build/Release'), { recursive: true });
cpSync(path.join(src, 'build/Release/vgw_tun.node'), path.join(dest, 'build/Release/vgw_tun.node'));

const lock = JSON.parse(readFileSync(path.join(src, 'package-lock.json'), 'utf8'));
let copied = 0;
for (const [where, meta] of Object.entries(lock.packages ?? {})) {
  if (where === '' || meta.dev || meta.link) continue;
  const from = path.join(src, where);
  if (!existsSync(from)) {
    if (meta.optional) continue;
    process.stderr.write(`stage-runtime: production package ${where} is not installed; run npm ci\n`);
    process.exit(1);
  }
  cpSync(from, path.join(dest, where), { recursive: true });
  copied++;
}
process.stdout.write(`stage-runtime: staged ${copied} production packages into ${dest}\n`);
