#!/usr/bin/env node
// The load-benchmark harness's command: the compiled bench/harness/cli.ts.
import '../dist/cli.js';
