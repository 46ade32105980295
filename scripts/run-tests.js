#!/usr/bin/env node
// `npm test`: builds what is missing, then runs the jest suites against each native flavour:
//   cpu flavour : test/unit + test/parity (live PyTorch) + test/integration
//   emu flavour : test/cuda (the CUDA kernels on the host emulation, against the CPU kernels) + test/unit
// Options: --flavour cpu|emu (only one), --no-build, and anything after `--` goes to jest.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const jestArgs = dash >= 0 ? argv.slice(dash + 1) : [];
const own = dash >= 0 ? argv.slice(0, dash) : argv;
const only = own.includes('--flavour') ? own[own.indexOf('--flavour') + 1] : null;
const noBuild = own.includes('--no-build');

const plans = [
  { flavour: 'cpu', roots: ['test/unit', 'test/parity', 'test/integration'] },
  { flavour: 'emu', roots: ['test/cuda', 'test/unit'] },
].filter((p) => !only || p.flavour === only);

function run(cmd, args, env) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  return r.status === null ? 1 : r.status;
}

let failed = [];
// test/integration installs the packed package, which ships the prebuilt binaries: build them when missing
// or older than any native source (a checkout that kept old prebuilds would otherwise test stale code).
const prebuiltCpu = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'convkit.napi.cpu.node');
function newestSource() {
  let newest = fs.statSync(path.join(root, 'CMakeLists.txt')).mtimeMs;
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const f = path.join(dir, e.name);
      if (e.isDirectory()) walk(f);
      else newest = Math.max(newest, fs.statSync(f).mtimeMs);
    }
  };
  for (const d of ['csrc', 'cuda']) walk(path.join(root, d));
  return newest;
}
const prebuiltStale = () => !fs.existsSync(prebuiltCpu) || fs.statSync(prebuiltCpu).mtimeMs < newestSource();
if (!noBuild && plans.some((p) => p.flavour === 'cpu') && prebuiltStale()) {
  if (run(process.execPath, [path.join(__dirname, 'prebuild.js')]) !== 0) failed.push('prebuild');
}
for (const plan of plans) {
  const bin = path.join(root, `build-${plan.flavour}`, 'Release', 'convkit.node');
  if (!noBuild) {
    const st = run(process.execPath, [path.join(__dirname, 'build-native.js'), plan.flavour]);
    if (st !== 0) {
      failed.push(`${plan.flavour} build`);
      continue;
    }
  } else if (!fs.existsSync(bin)) {
    failed.push(`${plan.flavour} (no binary at ${bin})`);
    continue;
  }
  const roots = plan.roots.filter((r) => fs.existsSync(path.join(root, r)));
  console.log(`\n[convkit] ${plan.flavour} flavour: jest ${roots.join(' ')}`);
  const st = run(process.execPath, [require.resolve('jest/bin/jest'), '--maxWorkers=2', ...roots, ...jestArgs], {
    CONVKIT_BINARY: plan.flavour,
  });
  if (st !== 0) failed.push(`${plan.flavour} tests`);
}
if (failed.length) {
  console.error(`\n[convkit] FAILED: ${failed.join(', ')}`);
  process.exit(1);
}
console.log('\n[convkit] all suites passed');
