#!/usr/bin/env node
// After `tsc -p tsconfig.build.json`: removes compiled files in dist/ whose TypeScript source in lib/ is gone
// (a module moved into a folder of the same name, like lib/nn/functional.ts -> lib/nn/functional/, would
// otherwise keep shadowing it: require('./functional') finds the stale functional.js first). Only stale
// files go, after the build, so processes running from dist/ meanwhile never see a half-empty folder.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');
const lib = path.join(root, 'lib');
const COMPILED = /(\.d\.ts\.map|\.d\.ts|\.js\.map|\.js)$/;

function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      walk(p);
      if (fs.readdirSync(p).length === 0) fs.rmdirSync(p);
      continue;
    }
    const m = COMPILED.exec(e.name);
    if (!m) continue;
    const rel = path.relative(dist, p).slice(0, -m[1].length);
    if (!fs.existsSync(path.join(lib, `${rel}.ts`))) fs.rmSync(p);
  }
}
if (fs.existsSync(dist)) walk(dist);
