#!/usr/bin/env node
// `npm test`: builds what is missing, then runs these steps in order and ends with `N passed, N failed`:
//   cpu              jest test/unit + test/parity (live PyTorch) + test/integration on the cpu flavour
//   emu              jest test/cuda (the CUDA kernels on the host emulation, against the CPU kernels) + test/unit
//   types            scripts/check-types.js: the README, docs and examples compiled as a strict project
//                    against the published .d.ts, no casts; the TypeDoc API reference, warnings as errors
//   native           the test/native self-tests (scripts/native-selftests.js)
//   isa              the CPU kernels' other instruction-set paths (csrc/cpu/isa.h) on this machine: the native
//                    self-tests again under CONVKIT_CPU_ISA=baseline and avx2 (the native step ran the best
//                    path the CPU has), then the GEMM, conv, batch norm and optimizer parity tests under baseline
//   schedule-reverse jest test/cuda with CONVKIT_EMU_SCHEDULE=reverse   (a block's threads in another order;
//   schedule-random  jest test/cuda with CONVKIT_EMU_SCHEDULE=random:1   a result that changes is a race)
//   asan             jest test/cuda on build-emu-asan (the emu flavour with AddressSanitizer)
//   gpu-dry          scripts/gpu-bundle.sh + gpu-check.sh end to end on the emu build, report checked
// In the schedule and asan passes memory.test runs 30 training steps instead of 300: every step runs the
// same kernels on the same shapes, and the 300-step memory check itself is the emu step's.
// Options: --flavour cpu|emu (only that jest step), --step NAME[,NAME] (only those steps; repeatable),
// --list (the step names), --no-build, and anything after `--` goes to jest (test paths given there
// narrow each jest step to those under its roots; a jest step with none of them is left out).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const jestArgs = dash >= 0 ? argv.slice(dash + 1) : [];
const own = dash >= 0 ? argv.slice(0, dash) : argv;
const valueOf = (name) => own.flatMap((a, i) => (a === name && own[i + 1] ? own[i + 1].split(',') : []));
const only = valueOf('--flavour')[0] || null;
const wanted = valueOf('--step');
const noBuild = own.includes('--no-build');

const ASAN_BIN = path.join(root, 'build-emu-asan', 'Release', 'convkit.node');
const EXTRA_PASS_ENV = { CONVKIT_MEMORY_STEPS: '30' };
const steps = [
  { name: 'cpu', flavour: 'cpu', build: 'cpu', roots: ['test/unit', 'test/parity', 'test/integration'], env: { CONVKIT_BINARY: 'cpu' } },
  { name: 'emu', flavour: 'emu', build: 'emu', roots: ['test/cuda', 'test/unit'], env: { CONVKIT_BINARY: 'emu' } },
  { name: 'types', run: typesCheck },
  { name: 'native', run: nativeSelfTests },
  { name: 'isa', build: 'cpu', run: isaPaths },
  { name: 'schedule-reverse', build: 'emu', roots: ['test/cuda'], env: { CONVKIT_BINARY: 'emu', CONVKIT_EMU_SCHEDULE: 'reverse', ...EXTRA_PASS_ENV } },
  { name: 'schedule-random', build: 'emu', roots: ['test/cuda'], env: { CONVKIT_BINARY: 'emu', CONVKIT_EMU_SCHEDULE: 'random:1', ...EXTRA_PASS_ENV } },
  { name: 'asan', build: 'emu-asan', roots: ['test/cuda'], env: { CONVKIT_BINARY: ASAN_BIN, ...EXTRA_PASS_ENV }, before: asanEnv },
  { name: 'gpu-dry', build: 'emu', run: gpuDryRun },
];
if (own.includes('--list')) {
  for (const s of steps) console.log(s.name);
  process.exit(0);
}
for (const w of [...wanted, ...(only ? [only] : [])]) {
  if (!steps.some((s) => s.name === w)) {
    console.error(`[convkit] unknown step '${w}' (have: ${steps.map((s) => s.name).join(', ')})`);
    process.exit(2);
  }
}
const chosen = steps.filter((s) => (only || wanted.length ? s.name === only || wanted.includes(s.name) : true));

// env: added to this process's environment; a variable given as undefined is removed.
function run(cmd, args, env, opts = {}) {
  const full = { ...process.env, ...env };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: full, ...opts });
  return r.status === null ? 1 : r.status;
}
const say = (s) => console.log(`\n[convkit] ${s}`);

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

const built = new Map(); // flavour -> '' (ok) or why it is unusable
function ensureBuilt(flavour) {
  if (built.has(flavour)) return built.get(flavour);
  const bin = path.join(root, `build-${flavour}`, 'Release', 'convkit.node');
  let why = '';
  if (!noBuild) {
    const st = run(process.execPath, [path.join(__dirname, 'build-native.js'), flavour]);
    if (st !== 0) why = `the ${flavour} build failed`;
  } else if (!fs.existsSync(bin)) why = `no binary at ${path.relative(root, bin)}`;
  built.set(flavour, why);
  return why;
}

// Paths given after `--` (existing files or folders, or anything under test/) narrow the jest steps.
const isPathArg = (a, i) => !a.startsWith('-') && (a.startsWith('test/') || fs.existsSync(path.join(root, a))) &&
  !(i > 0 && /^-(t|-testNamePattern|-maxWorkers|-testTimeout|c|-config)$/.test(jestArgs[i - 1]));
const pathArgs = jestArgs.filter(isPathArg);
const otherJestArgs = jestArgs.filter((a, i) => !isPathArg(a, i));

function jestStep(step) {
  let targets = step.roots.filter((r) => fs.existsSync(path.join(root, r)));
  if (pathArgs.length) {
    targets = pathArgs.filter((p) => step.roots.some((r) => p === r || p.startsWith(r + '/')));
    if (!targets.length) return { skip: `none of ${pathArgs.join(' ')} is under ${step.roots.join(' ')}` };
  }
  const env = { ...step.env };
  if (step.before) {
    const why = step.before(env);
    if (why) return { ok: false, note: why };
  }
  say(`${step.name}: jest ${targets.join(' ')}${Object.entries(step.env).map(([k, v]) => ` ${k}=${v}`).join('')}`);
  const st = run(process.execPath, [require.resolve('jest/bin/jest'), '--maxWorkers=2', ...targets, ...otherJestArgs], env);
  return { ok: st === 0, note: st === 0 ? '' : `jest exited ${st}` };
}

// Node is not instrumented, so the ASan runtime is preloaded; leaks are not checked (Node's own
// allocations at exit would drown them), every other error aborts the jest worker and fails the step.
function asanEnv(env) {
  const nm = spawnSync('nm', ['-D', '--undefined-only', ASAN_BIN], { encoding: 'utf8' });
  if (nm.status !== 0 || !/__asan_report_/.test(nm.stdout)) return `${path.relative(root, ASAN_BIN)} is not built with AddressSanitizer`;
  const cxx = process.env.CXX || 'g++';
  const lib = spawnSync(cxx, ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout.trim();
  if (!lib || !path.isAbsolute(lib) || !fs.existsSync(lib)) return `${cxx} -print-file-name=libasan.so found no ASan runtime`;
  env.LD_PRELOAD = lib;
  env.ASAN_OPTIONS = ['detect_leaks=0', 'halt_on_error=1', 'abort_on_error=0', 'exitcode=86', 'detect_stack_use_after_return=0',
    process.env.ASAN_OPTIONS || ''].filter(Boolean).join(':');
  return '';
}

function typesCheck() {
  say('types: node scripts/check-types.js');
  const st = run(process.execPath, [path.join(__dirname, 'check-types.js')]);
  return { ok: st === 0, note: st === 0 ? '' : `exited ${st}` };
}

function nativeSelfTests() {
  const script = path.join(__dirname, 'native-selftests.js');
  if (!fs.existsSync(script)) return { skip: 'scripts/native-selftests.js is not in this checkout' };
  say('native: node scripts/native-selftests.js');
  const st = run(process.execPath, [script]);
  return { ok: st === 0, note: st === 0 ? '' : `exited ${st}` };
}

// The kernel-level checks on the paths the other steps do not take (test/unit/isa.test.ts, in the cpu step,
// checks the dispatch itself). The self-tests' objects come from the native step's cache.
const ISA_PARITY = ['test/parity/tensor_ops.test.ts', 'test/parity/conv.test.ts', 'test/parity/batchnorm.test.ts', 'test/parity/pool.test.ts', 'test/parity/optim.test.ts'];
function isaPaths() {
  const problems = [];
  for (const isa of ['baseline', 'avx2']) {
    say(`isa: node scripts/native-selftests.js with CONVKIT_CPU_ISA=${isa}`);
    const st = run(process.execPath, [path.join(__dirname, 'native-selftests.js')], { CONVKIT_CPU_ISA: isa });
    if (st !== 0) problems.push(`native self-tests (${isa}) exited ${st}`);
  }
  const r = jestStep({ name: 'isa', roots: ISA_PARITY, env: { CONVKIT_BINARY: 'cpu', CONVKIT_CPU_ISA: 'baseline' } });
  if (!r.skip && !r.ok) problems.push(`parity (baseline): ${r.note}`);
  return { ok: problems.length === 0, note: problems.join('; ') };
}

// The GPU check's dry run: the bundle made from the emu build, gpu-check.sh run on it with the benchmark
// cut to one tiny case, and the report it writes checked file by file.
function gpuDryRun() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-gpu-dry-'));
  const bundle = path.join(tmp, 'bundle');
  const report = path.join(tmp, 'report');
  say(`gpu-dry: scripts/gpu-bundle.sh (emu build) and gpu-check.sh in ${tmp}`);
  const clean = { CONVKIT_BINARY: undefined, LD_PRELOAD: undefined, CONVKIT_EMU_SCHEDULE: undefined };
  let st = run('bash', [path.join(__dirname, 'gpu-bundle.sh'), bundle], { ...clean, CONVKIT_BUNDLE_FLAVOUR: 'emu', CONVKIT_BUNDLE_BUILD: '0' });
  if (st !== 0) return { ok: false, note: `gpu-bundle.sh exited ${st} (files kept in ${tmp})` };
  st = run('bash', [path.join(bundle, 'gpu-check.sh'), report], { ...clean, CONVKIT_GPU_BENCH: 'dry', CONVKIT_GPU_CAP_SCALE: '5' });
  const problems = [];
  if (st !== 0) problems.push(`gpu-check.sh exited ${st}`);
  const files = ['environment.txt', 'cuda-tests.json', 'cuda-tests.log', 'two-gpu.log', 'nccl.log', 'bench.log', 'sanitizer-summary.txt', 'summary.json',
    ...['memcheck', 'racecheck', 'synccheck', 'initcheck'].map((t) => `sanitizer-${t}.log`)];
  for (const f of files) if (!fs.existsSync(path.join(report, f))) problems.push(`no ${f}`);
  if (!fs.readdirSync(report).some((f) => /-cuda-dry-matmul\.json$/.test(f))) problems.push('no benchmark report');
  try {
    const sum = JSON.parse(fs.readFileSync(path.join(report, 'summary.json'), 'utf8'));
    const phase = (n) => sum.phases.find((p) => p.name === n) || { status: 'missing' };
    const want = { environment: 'passed', 'cuda-tests': 'passed', 'two-gpu': 'passed', nccl: 'passed', bench: 'passed',
      'sanitizer-memcheck': 'absent', 'sanitizer-racecheck': 'absent', 'sanitizer-synccheck': 'absent', 'sanitizer-initcheck': 'absent' };
    for (const [n, s] of Object.entries(want)) if (phase(n).status !== s) problems.push(`summary: ${n} is ${phase(n).status}, expected ${s}`);
    if (sum.flavour !== 'emu' || sum.ok !== true) problems.push(`summary: flavour ${sum.flavour}, ok ${sum.ok}`);
    const tests = JSON.parse(fs.readFileSync(path.join(report, 'cuda-tests.json'), 'utf8'));
    if (!(tests.passed > 0 && tests.failed === 0)) problems.push(`cuda-tests.json: ${tests.passed} passed, ${tests.failed} failed`);
    if (!/^driver: none/m.test(fs.readFileSync(path.join(report, 'environment.txt'), 'utf8'))) problems.push('environment.txt does not record the missing driver');
  } catch (e) {
    problems.push(`reading the report: ${e.message}`);
  }
  if (problems.length) return { ok: false, note: `${problems.join('; ')} (report kept in ${report})` };
  console.log(`[convkit] gpu-dry: all ${files.length + 1} report files present, summary as expected`);
  fs.rmSync(tmp, { recursive: true, force: true });
  return { ok: true, note: '' };
}

const results = [];
if (!noBuild && chosen.some((s) => s.name === 'cpu') && prebuiltStale()) {
  const t0 = Date.now();
  const st = run(process.execPath, [path.join(__dirname, 'prebuild.js')]);
  results.push({ name: 'prebuild', ok: st === 0, seconds: (Date.now() - t0) / 1000, note: st === 0 ? '' : `exited ${st}` });
}
for (const step of chosen) {
  const t0 = Date.now();
  let r;
  const why = step.build ? ensureBuilt(step.build) : '';
  if (why) r = { ok: false, note: why };
  else r = step.run ? step.run() : jestStep(step);
  results.push({ name: step.name, seconds: (Date.now() - t0) / 1000, ...r });
}

console.log('\n[convkit] steps:');
for (const r of results) {
  const status = r.skip ? 'not run' : r.ok ? 'passed' : 'FAILED';
  console.log(`  ${r.name.padEnd(17)} ${status.padEnd(8)} ${r.seconds.toFixed(0).padStart(5)} s${r.skip || r.note ? `  ${r.skip || r.note}` : ''}`);
}
const ran = results.filter((r) => !r.skip);
const failed = ran.filter((r) => !r.ok).length;
console.log(`${ran.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
