#!/usr/bin/env node
// vgw: the operator CLI (compiled by `npm run build` into dist/).
import { runCli } from '../dist/daemon/cli/index.js';

process.exitCode = await runCli(process.argv);
