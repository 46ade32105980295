#!/usr/bin/env node
// Builds the native addon with cmake-js. Usage: node scripts/build-native.js [auto|cpu|cuda|emu ...] [--werror]
//   auto (default): CUDA when nvcc is found, else CPU; output build/Release/convkit.node (node-gyp-build's place)
//   cpu | cuda | emu: output build-<flavour>/Release/convkit.node, loadable with CONVKIT_BINARY=<flavour>
//   emu-asan: the emu flavour with AddressSanitizer, output build-emu-asan/Release/convkit.node; load it with
//     CONVKIT_BINARY=<that path> and LD_PRELOAD=$(g++ -print-file-name=libasan.so) (see scripts/run-tests.js)
// Every flavour also builds convkit_gloo.so beside convkit.node when libgloo-dev is installed (ck.distributed's
// Gloo half, loaded at run time); CONVKIT_GLOO=AUTO (default), ON (fail without Gloo) or OFF sets that.
'use strict';
const { spawnSync } = require('child_process');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const werror = args.includes('--werror') || process.env.CONVKIT_WERROR === '1';
const flavours = args.filter((a) => !a.startsWith('--'));
if (flavours.length === 0) flavours.push('auto');

const defs = {
  auto: [],
  cpu: ['--CDCONVKIT_CUDA=OFF', '--CDCONVKIT_CUDA_EMU=OFF'],
  cuda: ['--CDCONVKIT_CUDA=ON', '--CDCONVKIT_CUDA_EMU=OFF'],
  emu: ['--CDCONVKIT_CUDA_EMU=ON'],
  'emu-asan': ['--CDCONVKIT_CUDA_EMU=ON', '--CDCONVKIT_ASAN=ON'],
};
// Explicit for the others too, since cmake-js keeps a build folder's cached values.
for (const f of ['auto', 'cpu', 'cuda', 'emu']) defs[f].push('--CDCONVKIT_ASAN=OFF');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
for (const f of flavours) {
  if (!defs[f]) {
    console.error(`unknown flavour '${f}' (expected auto, cpu, cuda, emu or emu-asan)`);
    process.exit(2);
  }
  const out = f === 'auto' ? 'build' : `build-${f}`;
  const extra = [...defs[f]];
  // Always explicit: cmake-js reuses the build folder's cache, which would keep an earlier run's values.
  if (f === 'cuda' || f === 'auto') extra.push(`--CDCONVKIT_CUDA_ARCHS=${process.env.CONVKIT_CUDA_ARCHS || '75;80;86;89;90'}`);
  extra.push(`--CDCONVKIT_WERROR=${werror ? 'ON' : 'OFF'}`);
  extra.push(`--CDCONVKIT_GLOO=${process.env.CONVKIT_GLOO || 'AUTO'}`);
  console.log(`[convkit] building ${f} -> ${out}/Release/convkit.node`);
  const env = { ...process.env };
  if (f !== 'emu' && f !== 'emu-asan' && f !== 'auto') delete env.CONVKIT_CUDA_EMU;
  // `cmake-js build` skips configuring an already-configured folder, and with it the -D values; so
  // configure explicitly every time (cheap when nothing changed), then build.
  for (const step of [['configure', '--out', out, ...extra], ['build', '--out', out, '--parallel', String(os.cpus().length)]]) {
    const r = spawnSync(process.execPath, [cmakeJs, ...step], { cwd: root, stdio: 'inherit', env });
    if (r.status !== 0) {
      console.error(`[convkit] the ${f} build failed at ${step[0]} (exit ${r.status})`);
      process.exit(r.status || 1);
    }
  }
}
