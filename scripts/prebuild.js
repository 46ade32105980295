#!/usr/bin/env node
// `npm run prebuild`: the binaries that ship in the package, under prebuilds/<platform>-<arch>/:
//   convkit.napi.cuda.node  CUDA flavour: static CUDA runtime, SASS for sm_75/80/86/89/90 + PTX for
//                           sm_90 so newer GPUs JIT (CONVKIT_CUDA_ARCHS overrides the list)
//   convkit.napi.cpu.node   CPU flavour
// Both are built through cmake-js (scripts/build-native.js). The names carry node-gyp-build's `napi`
// tag, so `npm install` finds a prebuilt binary and runs no build.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const hasNvcc = fs.existsSync('/usr/local/cuda/bin/nvcc') || spawnSync('nvcc', ['--version']).status === 0;
const flavours = process.argv.slice(2).length ? process.argv.slice(2) : hasNvcc ? ['cpu', 'cuda'] : ['cpu'];
if (!hasNvcc) console.log('[prebuild] no nvcc: building the CPU flavour only');

fs.mkdirSync(dir, { recursive: true });
for (const f of flavours) {
  const env = { ...process.env };
  if (f === 'cuda' && !env.CONVKIT_CUDA_ARCHS) env.CONVKIT_CUDA_ARCHS = '75;80;86;89;90';
  const r = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js'), f], { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) process.exit(r.status || 1);
  const out = path.join(dir, `convkit.napi.${f}.node`);
  fs.copyFileSync(path.join(root, `build-${f}`, 'Release', 'convkit.node'), out);
  // Symbols are for debugging the build tree; the shipped copy drops them.
  spawnSync('strip', ['--strip-unneeded', out]);
  console.log(`[prebuild] ${path.relative(root, out)}: ${(fs.statSync(out).size / 2 ** 20).toFixed(1)} MiB`);
}
