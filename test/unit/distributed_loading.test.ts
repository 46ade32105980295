/**
 * convkit.node never needs libgloo to load: the Gloo code is convkit_gloo.so beside it (its own CMake
 * target, the C ABI of csrc/distributed/gloo_abi.h), dlopen()ed on the first gloo process group. So a
 * binary built on a machine with libgloo-dev (CI, the prebuilds) still loads everywhere, and only
 * backend 'gloo' says what is missing. Children run the compiled library, since the load happens once per
 * process.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { binaryPath } from '../../lib/binding';
import { childEnv, compiledLib } from '../helpers/compiled_lib';

const root = path.resolve(__dirname, '..', '..');
const glooLib = path.join(path.dirname(binaryPath), 'convkit_gloo.so');
fs.mkdirSync(path.join(root, 'tmp'), { recursive: true });

/** The NEEDED entries of an ELF file, through readelf (binutils; a missing readelf fails the test). */
function needed(file: string): string[] {
  const r = spawnSync('readelf', ['-d', file], { encoding: 'utf8' });
  if (r.error) throw new Error(`readelf could not run (${r.error.message}); install binutils`);
  expect(r.status).toBe(0);
  return [...r.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
}

/**
 * In a fresh process: whether gloo is available, then a world of one (its error, or an allReduce result),
 * and a non-distributed op, which must work whatever happened to Gloo.
 */
function child(env: Record<string, string>): { available: boolean; init: { code?: string; message?: string; sum?: number[] }; ones: number } {
  const script = `
    const ck = require(${JSON.stringify(compiledLib().index)});
    const available = ck.distributed.isGlooAvailable();
    let init;
    try {
      ck.distributed.initProcessGroup({ backend: 'gloo', worldSize: 1, rank: 0, initMethod: 'tcp://127.0.0.1:0', timeoutMs: 10000 });
      const t = ck.tensor([1, 2, 3]);
      ck.distributed.allReduce(t);
      init = { sum: [...t.dataSync()] };
      ck.distributed.destroyProcessGroup();
    } catch (e) {
      init = { code: e.code, message: e.message };
    }
    const ones = ck.ones([2, 3]).sum().item();
    process.stdout.write(JSON.stringify({ available, init, ones }));
  `;
  const r = spawnSync(process.execPath, ['-e', script], { env: childEnv(env), encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) throw new Error(`child exited ${r.status} ${r.signal ?? ''}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('convkit.node does not link libgloo; convkit_gloo.so beside it does', () => {
  const main = needed(binaryPath);
  expect(main).toContain('libc.so.6'); // readelf did read the dynamic section
  expect(main.filter((n) => /gloo/i.test(n))).toEqual([]);
  // CI installs libgloo-dev, so the build made the Gloo half, and only it needs libgloo.
  expect(fs.existsSync(glooLib)).toBe(true);
  expect(needed(glooLib)).toContain('libgloo.so.0');
});

test('CONVKIT_GLOO_LIB=/nonexistent: backend gloo is a coded error with the loader\'s reason; the rest works', () => {
  const r = child({ CONVKIT_GLOO_LIB: '/nonexistent' });
  expect(r.available).toBe(false);
  expect(r.init.code).toBe('ERR_DIST');
  expect(r.init.message).toMatch(/CONVKIT_GLOO_LIB=\/nonexistent could not be loaded: \/nonexistent: cannot open shared object file/);
  expect(r.init.message).toMatch(/apt-get install libgloo0.*apt-get install libgloo-dev.*npm run build:native/);
  expect(r.ones).toBe(6);
});

test('libgloo missing at run time: convkit.node loads, backend gloo names the missing library', () => {
  // convkit_gloo.so as on a machine without Debian's libgloo0: its NEEDED entry renamed to a library
  // that exists nowhere (same length, so the ELF stays valid).
  const bytes = fs.readFileSync(glooLib);
  const from = Buffer.from('libgloo.so.0\0');
  const at = bytes.indexOf(from);
  expect(at).toBeGreaterThan(0);
  expect(bytes.indexOf(from, at + 1)).toBe(-1);
  Buffer.from('libglox.so.0\0').copy(bytes, at);
  const dir = fs.mkdtempSync(path.join(root, 'tmp', 'gloo-missing-'));
  try {
    const lib = path.join(dir, 'convkit_gloo.so');
    fs.writeFileSync(lib, bytes);
    expect(needed(lib)).toContain('libglox.so.0');
    const r = child({ CONVKIT_GLOO_LIB: lib });
    expect(r.available).toBe(false);
    expect(r.init.code).toBe('ERR_DIST');
    expect(r.init.message).toMatch(/could not be loaded: libglox\.so\.0: cannot open shared object file.*apt-get install libgloo0/);
    expect(r.ones).toBe(6);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a convkit.node with no convkit_gloo.so beside it says it was built without Gloo', () => {
  const dir = fs.mkdtempSync(path.join(root, 'tmp', 'gloo-absent-'));
  try {
    const bin = path.join(dir, 'convkit.node');
    fs.copyFileSync(binaryPath, bin);
    const r = child({ CONVKIT_BINARY: bin });
    expect(r.available).toBe(false);
    expect(r.init.code).toBe('ERR_DIST');
    expect(r.init.message).toContain(`built without Gloo (no convkit_gloo.so beside it in ${dir})`);
    expect(r.init.message).toMatch(/apt-get install libgloo-dev.*npm run build:native/);
    expect(r.ones).toBe(6);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('found beside convkit.node, and through CONVKIT_GLOO_LIB: a world of one all-reduces', () => {
  expect(child({}).init).toEqual({ sum: [1, 2, 3] });
  const r = child({ CONVKIT_GLOO_LIB: glooLib });
  expect(r.available).toBe(true);
  expect(r.init).toEqual({ sum: [1, 2, 3] });
});
