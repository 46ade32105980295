#!/usr/bin/env node
// `prepack` (npm pack, npm publish): refuses to pack a package without its prebuilt binaries. Without them,
// `npm install convkit` would compile the CPU backend from source on every user's machine (over a minute,
// and only where a compiler is installed) and never get the CUDA flavour. The binaries are
// prebuilds/<platform>-<arch>/convkit.napi.{cpu,cuda}.node, made by `npm run prebuild`: the CPU one is
// always required; the CUDA one when this machine has nvcc (prebuild builds it then). A binary older than
// any native source (csrc/, cuda/, CMakeLists.txt) is refused too: it would ship stale code.
// CONVKIT_PACK_ALLOW_MISSING=1 packs anyway (a source-only package, for testing the from-source install).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const tag = `${process.platform}-${process.arch}`;
const dir = path.join(root, 'prebuilds', tag);
const hasNvcc = fs.existsSync('/usr/local/cuda/bin/nvcc') || spawnSync('nvcc', ['--version']).status === 0;
const wanted = hasNvcc ? ['cpu', 'cuda'] : ['cpu'];

function newestSource() {
  let newest = 0;
  const visit = (f) => {
    if (!fs.existsSync(f)) return;
    const st = fs.statSync(f);
    if (st.isDirectory()) for (const e of fs.readdirSync(f)) visit(path.join(f, e));
    else newest = Math.max(newest, st.mtimeMs);
  };
  for (const f of ['csrc', 'cuda', 'CMakeLists.txt']) visit(path.join(root, f));
  return newest;
}

const problems = [];
const newest = newestSource();
for (const f of wanted) {
  const bin = path.join(dir, `convkit.napi.${f}.node`);
  const rel = path.relative(root, bin);
  if (!fs.existsSync(bin)) problems.push(`${rel} is missing`);
  else if (fs.statSync(bin).mtimeMs < newest) problems.push(`${rel} is older than the native sources (csrc/, cuda/, CMakeLists.txt)`);
}
if (!hasNvcc) console.error('[convkit prepack] no nvcc on this machine: the package will have the CPU binary only');
if (problems.length && process.env.CONVKIT_PACK_ALLOW_MISSING !== '1') {
  console.error(
    `[convkit prepack] refusing to pack without current prebuilt binaries: ${problems.join('; ')}.\n` +
      `Build them first with \`npm run prebuild\` (prebuilds/${tag}/: the CPU flavour, and the CUDA flavour when nvcc ` +
      'is installed; see "Install" in README.md), then run npm pack / npm publish again. ' +
      'CONVKIT_PACK_ALLOW_MISSING=1 packs a source-only package anyway (users then compile on install).',
  );
  process.exit(1);
}
if (problems.length) console.error(`[convkit prepack] CONVKIT_PACK_ALLOW_MISSING=1: packing without them (${problems.join('; ')})`);
