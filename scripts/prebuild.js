#!/usr/bin/env node
// `npm run prebuild`: the binaries that ship in the package, under prebuilds/<platform>-<arch>/:
//   convkit.napi.cuda.node  CUDA flavour: static CUDA runtime, SASS for sm_75/80/86/89/90 + PTX for
//                           sm_90 so newer GPUs JIT (CONVKIT_CUDA_ARCHS overrides the list)
//   convkit.napi.cpu.node   CPU flavour
//   convkit_gloo.so         ck.distributed's Gloo half (built when libgloo-dev is installed), for both
//                           flavours: convkit.node dlopen()s it from its own directory on the first gloo
//                           process group, so the binaries load without libgloo0 and only backend 'gloo'
//                           needs it. node-gyp-build only picks *.node files, so it never mistakes it for one.
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
// Never ship a convkit_gloo.so from an earlier run: it must come from the same sources as the binaries.
const glooOut = path.join(dir, 'convkit_gloo.so');
fs.rmSync(glooOut, { force: true });
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
  const gloo = path.join(root, `build-${f}`, 'Release', 'convkit_gloo.so');
  if (fs.existsSync(gloo)) {
    fs.copyFileSync(gloo, glooOut);
    spawnSync('strip', ['--strip-unneeded', glooOut]);
  }
}
if (fs.existsSync(glooOut)) {
  console.log(`[prebuild] ${path.relative(root, glooOut)}: ${(fs.statSync(glooOut).size / 2 ** 10).toFixed(0)} KiB (needs libgloo0 at run time)`);
} else {
  console.log("[prebuild] WARNING: no libgloo-dev here, so no convkit_gloo.so: the package's backend 'gloo' will say it is unavailable");
}
