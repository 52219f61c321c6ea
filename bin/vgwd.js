#!/usr/bin/env node
// vgwd: the gateway daemon (compiled by `npm run build` into dist/).
import { runDaemon } from '../dist/daemon/main.js';

await runDaemon(process.argv);
