#!/usr/bin/env node
// The package's install step: a prebuilt binary for this platform means nothing to do; otherwise say
// what a source build needs and run it (node-gyp-build falls back to `node-gyp rebuild` with binding.gyp,
// the CPU-only build).
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const root = path.resolve(__dirname, '..');
try {
  const found = require('node-gyp-build').path(root);
  if (found) process.exit(0);
} catch {
  // no prebuilt binary fits: build below
}
console.error(
  `[convkit] no prebuilt binary for ${process.platform}-${process.arch} (Node-API 8); building the CPU backend from source.\n` +
    '[convkit] This needs python3, make and a C++17 compiler (g++ >= 9 or clang >= 10); with libgloo-dev installed it\n' +
    "[convkit] also builds convkit_gloo.so, ck.distributed's backend 'gloo'. For the CUDA backend, build\n" +
    '[convkit] from a clone with cmake and nvcc: `npm run build:native`.',
);
const bin = require.resolve('node-gyp-build/bin.js');
const r = spawnSync(process.execPath, [bin], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error('[convkit] the source build failed; see the compiler output above. Nothing else was changed.');
  process.exit(r.status || 1);
}
