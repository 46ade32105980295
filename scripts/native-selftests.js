#!/usr/bin/env node
// Builds and runs the standalone native self-tests, test/native/*_selftest.cu, on the host emulation of
// the CUDA build (no GPU needed): each checks the CPU kernels and the CUDA kernels against the naive
// double-precision references of test/reference/.
//
// Each self-test names what it links with, on a line of its header:
//   // selftest-build: cuda/conv.cu csrc/cpu/conv.cc cuda/emu/*.cc ...
// (paths from the repository root, `*` globs within one folder; the self-test itself is implied), and may
// ask for extra builds of the same sources with more definitions:
//   // selftest-variant: tiny-budgets -DCK_CONV_UNROLL_BUDGET=64 -DCK_CONV_MIN_BAND_COLS=1
// Every source compiles with g++ -std=c++17 -O2 -Wall -Wextra -Werror -DCK_CUDA_EMU -DCK_ISA_DISPATCH -Icsrc -Icuda
// (the baseline x86-64, as the addon: csrc/cpu/isa.h), and a csrc/cpu/<family>.cc brings its per-ISA files
// csrc/cpu/<family>_avx2.cc / _avx512.cc (compiled with those flags) and csrc/cpu/isa.cc along; so
// CONVKIT_CPU_ISA=baseline|avx2|avx512 picks the CPU kernels' path the self-tests check
// (.cu as C++), at most os.cpus().length compilers at a time; a variant's definitions are added for the
// sources whose own text names the macro. Objects are cached by content: an object is
// rebuilt only when the hash of its source and of every header it included (from g++ -MMD) changes, so a
// rerun with nothing changed only runs the binaries. Cache: $CONVKIT_SELFTEST_CACHE, else a folder in the
// system temporary directory named after this checkout.
//
// A self-test passes when it exits 0 and has printed `<N> checks` with N > 0 (so one that checks nothing
// fails); lines `reference checks: <family> <cpu|cuda> <N>` (test/reference/check.h) are added up per family.
//
// Usage: node scripts/native-selftests.js [name-filter ...] [--verbose]
// Prints one line per self-test (checks, time), then `native self-tests: N passed, N failed`; exit 1 on
// any failure (a compile error counts as a failure of the self-tests that needed it).
'use strict';
const { spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const verbose = args.includes('--verbose');
const filters = args.filter((a) => !a.startsWith('--'));
const jobs = Math.max(1, os.cpus().length);
const cacheDir =
  process.env.CONVKIT_SELFTEST_CACHE ||
  path.join(os.tmpdir(), `convkit-selftests-${crypto.createHash('sha1').update(root).digest('hex').slice(0, 10)}`);
const FLAGS = ['-std=c++17', '-O2', '-Wall', '-Wextra', '-Werror', '-DCK_CUDA_EMU', '-DCK_ISA_DISPATCH', '-Icsrc', '-Icuda'];
// Per-ISA kernel files, as CMakeLists.txt compiles them.
const AVX512 = ['-mavx512f', '-mavx512bw', '-mavx512dq', '-mavx512vl', '-mavx2', '-mfma'];
const ISA_FLAGS = { _avx2: ['-mavx2', '-mfma'], _avx512: AVX512, _avx512bf16: [...AVX512, '-mavx512bf16'] };
function isaFlags(src) {
  const m = /(_avx2|_avx512|_avx512bf16)\.cc$/.exec(src);
  return m ? ISA_FLAGS[m[1]] : [];
}
// csrc/cpu/<family>.cc -> itself, its csrc/cpu/<family>_<isa>.cc files, and csrc/cpu/isa.cc.
function withIsaFiles(src) {
  const m = /^csrc\/cpu\/(\w+)\.cc$/.exec(src);
  if (!m) return [src];
  const isa = Object.keys(ISA_FLAGS).map((s) => `csrc/cpu/${m[1]}${s}.cc`).filter((f) => fs.existsSync(path.join(root, f)));
  return isa.length ? [src, ...isa, 'csrc/cpu/isa.cc'] : [src];
}
const LIBS = ['-lpthread'];

const sha = (s) => crypto.createHash('sha1').update(s).digest('hex');
const fileHashes = new Map();
function hashFile(f) {
  if (!fileHashes.has(f)) {
    let h;
    try {
      h = sha(fs.readFileSync(f));
    } catch {
      h = 'missing';
    }
    fileHashes.set(f, h);
  }
  return fileHashes.get(f);
}

// `dir/*.cc` style globs (one folder, `*` only); plain paths pass through.
function expand(pattern) {
  if (!pattern.includes('*')) return [pattern];
  const dir = path.posix.dirname(pattern);
  const re = new RegExp('^' + path.posix.basename(pattern).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$');
  return fs
    .readdirSync(path.join(root, dir))
    .filter((n) => re.test(n))
    .sort()
    .map((n) => path.posix.join(dir, n));
}

function readSpec(rel) {
  const text = fs.readFileSync(path.join(root, rel), 'utf8');
  const build = [];
  const variants = [];
  for (const line of text.split('\n')) {
    let m = /^\s*\/\/\s*selftest-build:\s*(.*)$/.exec(line);
    if (m) build.push(...m[1].trim().split(/\s+/).filter(Boolean));
    m = /^\s*\/\/\s*selftest-variant:\s*(\S+)\s*(.*)$/.exec(line);
    if (m) variants.push({ name: m[1], defs: m[2].trim().split(/\s+/).filter(Boolean) });
  }
  if (build.length === 0) return { error: `${rel}: no '// selftest-build:' line` };
  const sources = [rel];
  for (const p of build) for (const e of expand(p)) for (const f of withIsaFiles(e)) if (!sources.includes(f)) sources.push(f);
  const missing = sources.filter((f) => !fs.existsSync(path.join(root, f)));
  if (missing.length) return { error: `${rel}: missing sources ${missing.join(', ')}` };
  return { sources, variants };
}

// ---- a tiny job pool --------------------------------------------------------------------------------
let running = 0;
const queue = [];
function pooled(fn) {
  return new Promise((resolve, reject) => {
    queue.push(() => fn().then(resolve, reject));
    pump();
  });
}
function pump() {
  while (running < jobs && queue.length) {
    const start = queue.shift();
    running++;
    start().finally(() => {
      running--;
      pump();
    });
  }
}
function exec(cmd, argv) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(cmd, argv, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (e) => resolve({ code: 127, out: String(e), ms: Date.now() - t0 }));
    child.on('close', (code, signal) => resolve({ code: code === null ? `signal ${signal}` : code, out, ms: Date.now() - t0 }));
  });
}

// ---- objects, cached by the content of everything they include -----------------------------------
const objects = new Map(); // key -> Promise<{ ok, obj, stamp, log }>
let compiled = 0;
let reused = 0;

function depsOf(depFile) {
  const text = fs.readFileSync(depFile, 'utf8').replace(/\\\n/g, ' ');
  const colon = text.indexOf(': ');
  return text
    .slice(colon + 2)
    .split(/\s+/)
    .filter(Boolean)
    .map((f) => path.resolve(root, f));
}
function stampOf(deps, flags) {
  return sha(flags.join(' ') + '\n' + deps.map((f) => `${f} ${hashFile(f)}`).join('\n'));
}

function object(src, defs) {
  const flags = [...FLAGS, ...isaFlags(src), ...defs];
  const key = sha(src + '\n' + flags.join(' '));
  if (objects.has(key)) return objects.get(key);
  const base = path.join(cacheDir, 'obj', `${path.basename(src).replace(/[^\w.-]/g, '_')}.${key.slice(0, 12)}`);
  const obj = base + '.o';
  const dep = base + '.d';
  const stampFile = base + '.stamp';
  const p = (async () => {
    try {
      const stamp = fs.readFileSync(stampFile, 'utf8');
      if (fs.existsSync(obj) && stamp === stampOf(depsOf(dep), flags)) {
        reused++;
        return { ok: true, obj, stamp };
      }
    } catch {
      /* not cached yet */
    }
    const lang = src.endsWith('.cu') ? ['-x', 'c++'] : [];
    const r = await pooled(() => exec('g++', [...flags, '-MMD', '-MF', dep, '-c', ...lang, src, '-o', obj]));
    if (r.code !== 0) {
      try {
        fs.unlinkSync(stampFile);
      } catch {
        /* none */
      }
      return { ok: false, log: `g++ ${src} ${defs.join(' ')} failed (${r.code}):\n${r.out}` };
    }
    compiled++;
    const stamp = stampOf(depsOf(dep), flags);
    fs.writeFileSync(stampFile, stamp);
    return { ok: true, obj, stamp };
  })();
  objects.set(key, p);
  return p;
}

// A variant's definitions go only to the sources whose own text names one of them (the tuning knobs live in
// the .cc/.cu file they tune), so a variant recompiles a file or two rather than everything.
function defsFor(src, defs) {
  if (defs.length === 0) return defs;
  const text = fs.readFileSync(path.join(root, src), 'utf8');
  return defs.some((d) => text.includes(d.replace(/^-D/, '').split('=')[0])) ? defs : [];
}

async function buildAndRun(test) {
  const objs = await Promise.all(test.sources.map((s) => object(s, defsFor(s, test.defs))));
  const bad = objs.filter((o) => !o.ok);
  if (bad.length) return { ...test, ok: false, summary: 'compile error', log: bad.map((b) => b.log).join('\n') };
  const bin = path.join(cacheDir, 'bin', test.name);
  const binStamp = sha(objs.map((o) => o.obj + ' ' + o.stamp).join('\n') + LIBS.join(' '));
  let fresh = false;
  try {
    fresh = fs.readFileSync(bin + '.stamp', 'utf8') === binStamp && fs.existsSync(bin);
  } catch {
    /* not linked yet */
  }
  if (!fresh) {
    const r = await pooled(() => exec('g++', [...objs.map((o) => o.obj), ...LIBS, '-o', bin]));
    if (r.code !== 0) return { ...test, ok: false, summary: 'link error', log: r.out };
    fs.writeFileSync(bin + '.stamp', binStamp);
  }
  const r = await pooled(() => exec(bin, []));
  const m = [...r.out.matchAll(/(\d+) checks/g)].pop();
  const checks = m ? Number(m[1]) : null;
  const ok = r.code === 0 && checks !== null && checks > 0;
  const families = [...r.out.matchAll(/^reference checks: (\S+) (cpu|cuda) (\d+)$/gm)].map((x) => ({
    family: x[1],
    device: x[2],
    n: Number(x[3]),
  }));
  const why = r.code !== 0 ? `exit ${r.code}` : checks === null ? 'no "N checks" line' : checks === 0 ? '0 checks' : '';
  return { ...test, ok, checks, ms: r.ms, families, summary: why, log: r.out };
}

async function main() {
  const t0 = Date.now();
  fs.mkdirSync(path.join(cacheDir, 'obj'), { recursive: true });
  fs.mkdirSync(path.join(cacheDir, 'bin'), { recursive: true });
  const files = fs
    .readdirSync(path.join(root, 'test/native'))
    .filter((f) => f.endsWith('_selftest.cu'))
    .sort()
    .map((f) => `test/native/${f}`);
  const tests = [];
  const broken = [];
  for (const f of files) {
    const spec = readSpec(f);
    const name = path.basename(f, '.cu');
    if (spec.error) {
      broken.push({ name, ok: false, summary: spec.error, log: '' });
      continue;
    }
    tests.push({ name, sources: spec.sources, defs: [] });
    for (const v of spec.variants) tests.push({ name: `${name}[${v.name}]`, sources: spec.sources, defs: v.defs });
  }
  const chosen = tests.filter((t) => filters.length === 0 || filters.some((x) => t.name.includes(x)));
  const wanted = (t) => filters.length === 0 || filters.some((x) => t.name.includes(x));
  const results = [...broken.filter(wanted), ...(await Promise.all(chosen.map(buildAndRun)))];
  const perFamily = new Map();
  for (const r of results) {
    const secs = r.ms !== undefined ? `${(r.ms / 1000).toFixed(2)} s` : '';
    const checks = r.checks !== undefined && r.checks !== null ? `${r.checks} checks` : '';
    console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name.padEnd(44)} ${checks.padStart(14)} ${secs.padStart(9)}${r.summary ? '  ' + r.summary : ''}`);
    if (!r.ok || verbose) console.log(r.log.replace(/^/gm, '     | '));
    for (const f of r.families || []) {
      const e = perFamily.get(f.family) || { cpu: 0, cuda: 0 };
      e[f.device] += f.n;
      perFamily.set(f.family, e);
    }
  }
  if (perFamily.size) {
    const list = [...perFamily].map(([k, v]) => `${k} ${v.cpu}/${v.cuda}`).join(', ');
    console.log(`reference checks (cpu/emulated cuda): ${list}`);
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  console.log(
    `(${compiled} objects compiled, ${reused} reused from ${cacheDir}; ${((Date.now() - t0) / 1000).toFixed(1)} s)`,
  );
  console.log(`native self-tests: ${passed} passed, ${failed} failed`);
  process.exit(failed || results.length === 0 ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  console.log('native self-tests: 0 passed, 1 failed');
  process.exit(1);
});
