/**
 * Loads the native addon. CONVKIT_BINARY (a flavour name: cpu, cuda, emu, or a path) decides when set;
 * CONVKIT_BINARY=cuda without a usable GPU is an error naming what is missing. Otherwise: the CUDA
 * binary (prebuilt, or build-cuda/) when an NVIDIA driver is present and a child process could load it
 * and see a GPU; then the CPU binary (prebuilt, or a local build); then whatever node-gyp-build finds.
 * Passing over the CUDA binary is said once on stderr with the reason (CONVKIT_QUIET=1 silences it). If
 * nothing loads, one error lists every attempt and what to do.
 */
import * as fs from 'fs';
import * as path from 'path';
import { isMainThread, workerData } from 'worker_threads';
import { ckError } from './errors';

export interface NativeStorage {
  dispose(): void;
  readonly disposed: boolean;
  readonly bytes: number;
  readonly device: number;
}

export type Layout = number[];

export interface Native {
  Storage: unknown;
  alloc(device: number, bytes: number): NativeStorage;
  upload(s: NativeStorage, byteOffset: number, src: ArrayBufferView): void;
  download(s: NativeStorage, byteOffset: number, dst: ArrayBufferView): void;
  copyBytes(dst: NativeStorage, dstOff: number, src: NativeStorage, srcOff: number, bytes: number): void;
  unary(op: number, inDt: number, outDt: number, x: NativeStorage, xl: Layout, y: NativeStorage, a: number, b: number): void;
  binary(op: number, inDt: number, outDt: number, a: NativeStorage, al: Layout, b: NativeStorage, bl: Layout, y: NativeStorage): void;
  reduce(op: number, dt: number, x: NativeStorage, xOff: number, y: NativeStorage, outer: number, inner: number, correction: number): void;
  copy(src: NativeStorage, sl: Layout, dst: NativeStorage, dl: Layout): void;
  fill(dt: number, s: NativeStorage, offset: number, n: number, value: number): void;
  random(kind: number, dt: number, s: NativeStorage, n: number, seedHi: number, seedLo: number, offset: number, a: number, b: number): void;
  gemm(
    batch: number, M: number, N: number, K: number, alpha: number,
    A: NativeStorage, offA: number, sAb: number, rsA: number, csA: number,
    B: NativeStorage, offB: number, sBb: number, rsB: number, csB: number,
    beta: number, C: NativeStorage, offC: number, sCb: number, ldc: number,
  ): void;
  buildInfo(): { flavour: string; cudaArchs: string; cudaCompiled: boolean; cudaEmulated: boolean };
  cudaInfo(): { available: boolean; emulated: boolean; deviceCount: number; devices: string[]; runtime: string };
  synchronize(): void;
  memoryStats(): { device: number; live: number; bytes: number; peakBytes: number; cachedBytes: number }[];
  emptyCache(): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  /** The machine's measured peaks (benchmarks' fraction-of-peak column): FMA GF/s and triad GB/s. */
  measurePeak(device: 'cpu' | 'cuda', seconds: number, bytes: number, reps: number): { gflops: number; gbps: number };
  /** CUDA events around work on convkit's stream: start, then stop returns the milliseconds between. */
  cudaTimerStart(): void;
  cudaTimerStop(): number;
  /**
   * Emulated builds only (else ERR_DEVICE): the order in which the host emulation runs threads and blocks
   * ('forward' | 'reverse' | 'random' | 'random:<seed>' | 'warps', see cuda/emu/emu.h); returns the previous one.
   */
  emuSetSchedule(spec: string): string;
  /** Emulated builds only (else ERR_DEVICE): the shared-memory poison/race/initialisation checks; returns the previous setting. */
  emuSetChecks(on: boolean): boolean;
  [name: string]: any;
}

const root = path.resolve(__dirname, '..');
const FLAVOURS = ['cpu', 'cuda', 'emu'];
const PREBUILDS = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);

const prebuilt = (flavour: string) => path.join(PREBUILDS, `convkit.napi.${flavour}.node`);
const localBuild = (flavour: string) => path.join(root, `build-${flavour}`, 'Release', 'convkit.node');

export let binaryPath = '';
/** Why this binary was chosen (and what was passed over), for info(). */
export let loadReason = '';

function say(line: string): void {
  if (process.env.CONVKIT_QUIET !== '1') process.stderr.write(`[convkit] ${line}\n`);
}

// The kernel module's version file, or a loadable libcuda: without either the CUDA runtime cannot start.
function nvidiaDriver(): { ok: boolean; why: string } {
  if (process.platform !== 'linux') return { ok: false, why: `no CUDA binary for ${process.platform}` };
  if (fs.existsSync('/proc/driver/nvidia/version')) return { ok: true, why: '' };
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/nvidia/lib64', '/usr/lib/wsl/lib',
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)];
  if (dirs.some((d) => fs.existsSync(path.join(d, 'libcuda.so.1')))) return { ok: true, why: '' };
  return { ok: false, why: 'no NVIDIA driver found (no /proc/driver/nvidia/version, no libcuda.so.1)' };
}

// Loads a CUDA binary in a child process first: a broken driver may crash the loader, and that must
// not take the user's process with it.
function testLoadCuda(p: string): { ok: boolean; why: string } {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { spawnSync } = require('child_process') as typeof import('child_process');
  const r = spawnSync(process.execPath, ['-e', `process.stdout.write(JSON.stringify(require(${JSON.stringify(p)}).cudaInfo()))`], {
    timeout: 30000,
    encoding: 'utf8',
  });
  if (r.error) return { ok: false, why: `test load failed: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, why: `test load ${r.signal ? `was killed by ${r.signal}` : `exited with ${r.status}`}: ${(r.stderr || '').trim().split('\n').pop()}` };
  try {
    const info = JSON.parse(r.stdout) as { available: boolean; runtime: string };
    return info.available ? { ok: true, why: '' } : { ok: false, why: `no usable GPU: ${info.runtime}` };
  } catch {
    return { ok: false, why: 'test load printed nothing' };
  }
}

function tryRequire(p: string, attempts: string[]): Native | null {
  if (!fs.existsSync(p)) {
    attempts.push(`  ${p}: not found`);
    return null;
  }
  try {
    return require(p) as Native;
  } catch (e) {
    attempts.push(`  ${p}: ${(e as Error).message.split('\n')[0]}`);
    return null;
  }
}

function fail(attempts: string[], extra = ''): never {
  throw ckError(
    'ERR_BINDING',
    'convkit: could not load the native addon. Tried:\n' + attempts.join('\n') +
      '\nTo fix: reinstall convkit so the prebuilt binary for ' + `${process.platform}-${process.arch}` +
      ' is used, or build from a clone with `npm run build:native` (cmake, a C++17 compiler; nvcc for CUDA).' + extra,
  );
}

function loadExplicit(want: string): Native {
  const attempts: string[] = [];
  // A local build is the developer's newest; the prebuilt is what an installed package has.
  const paths = FLAVOURS.includes(want) ? [localBuild(want), prebuilt(want)] : [path.resolve(want)];
  for (const p of paths) {
    const m = tryRequire(p, attempts);
    if (!m) continue;
    binaryPath = p;
    loadReason = `CONVKIT_BINARY=${want}`;
    if (want === 'cuda' && !m.cudaInfo().available) {
      const drv = nvidiaDriver();
      throw ckError(
        'ERR_DEVICE',
        `CONVKIT_BINARY=cuda: the CUDA binary loaded but cannot use a GPU: ${drv.ok ? m.cudaInfo().runtime : drv.why}. ` +
          'It needs an NVIDIA GPU and the NVIDIA driver (580 or newer for the CUDA 13 runtime); unset CONVKIT_BINARY to use the CPU binary.',
      );
    }
    return m;
  }
  return fail(attempts, `\nCONVKIT_BINARY is set to '${want}'.`);
}

// Newest first: in a checkout a local build is usually newer than the prebuilt, in an installed
// package only the prebuilt exists.
function newestFirst(paths: string[]): string[] {
  const t = (p: string) => (fs.existsSync(p) ? fs.statSync(p).mtimeMs : -1);
  return paths.filter((p) => fs.existsSync(p)).sort((a, b) => t(b) - t(a));
}

function loadAuto(): Native {
  const attempts: string[] = [];
  const passedOver: string[] = [];
  const cudaCandidates = newestFirst([prebuilt('cuda'), localBuild('cuda')]);
  if (cudaCandidates.length) {
    const drv = nvidiaDriver();
    for (const p of cudaCandidates) {
      const t = drv.ok ? testLoadCuda(p) : drv;
      if (t.ok) {
        const m = tryRequire(p, attempts);
        if (m) {
          binaryPath = p;
          loadReason = 'CUDA binary: an NVIDIA driver and GPU are present';
          return m;
        }
      } else passedOver.push(`${path.relative(root, p)}: ${t.why}`);
    }
  }
  const cpuCandidates = [...newestFirst([prebuilt('cpu'), path.join(root, 'build', 'Release', 'convkit.node'), localBuild('cpu')]), localBuild('emu')];
  for (const p of cpuCandidates) {
    const m = tryRequire(p, attempts);
    if (!m) continue;
    binaryPath = p;
    loadReason = passedOver.length ? `CUDA binary not used (${passedOver.join('; ')})` : 'the only binary present';
    if (passedOver.length) say(`using the CPU binary, not the CUDA one: ${passedOver[0].split(': ').slice(1).join(': ')}`);
    return m;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const p = (require('node-gyp-build') as { path(dir: string): string }).path(root);
    const m = require(p) as Native;
    binaryPath = p;
    loadReason = 'found by node-gyp-build';
    return m;
  } catch (e) {
    attempts.push(`  node-gyp-build: ${(e as Error).message.split('\n')[0]}`);
  }
  return fail(attempts, passedOver.length ? `\nCUDA binaries passed over: ${passedOver.join('; ')}` : '');
}

// DataLoader worker threads (lib/data/worker_pool.ts marks their workerData) must never load the addon: a
// worker terminated by close() while the addon registers itself aborts the whole process. Their entry
// imports only host-array code (transforms/lazy_tensor.ts); an import chain that reaches this module from
// there is a bug, and it fails here, loudly, instead of loading.
if (!isMainThread && (workerData as { convkitLoaderWorker?: unknown } | null)?.convkitLoaderWorker === true) {
  throw ckError('ERR_BINDING', 'convkit: the native addon was required inside a DataLoader worker thread; ' +
    'workers must only import host-array modules (lib/data/worker.ts). Stack of the import:\n' + new Error().stack);
}

export const native: Native = process.env.CONVKIT_BINARY ? loadExplicit(process.env.CONVKIT_BINARY) : loadAuto();

/** ck.distributed's native entries (csrc/binding/dist_ops.cc): one default process group per process. */
export interface NativeDist {
  distInfo(): { gloo: boolean; glooError: string; nccl: boolean; initialized: boolean };
  distInit(o: { rank: number; worldSize: number; masterAddr: string; masterPort: number; timeoutMs: number; hostname: string; iface: string }): void;
  distDestroy(): void;
  /** kind: 0 allReduce, 1 broadcast, 2 allGather, 3 reduceScatter, 4 barrier; op: 0 sum, 1 avg, 2 max, 3 min, 4 product. */
  distSubmit(kind: number, dtype: number, op: number, root: number, count: number, input: NativeStorage | null, inputOffset: number): number;
  distWait(work: number, output: NativeStorage | null, outputOffset: number): void;
  distPoll(work: number): boolean;
}
