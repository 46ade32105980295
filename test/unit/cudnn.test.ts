/**
 * The cuDNN path where cuDNN cannot run, as in CI (the cpu and emulated builds, no libcudnn on the machine):
 * backends.cudnn says so, the loader's error names every place it searched and why each failed, 'auto'
 * runs the hand-written kernels with the same results as 'native', 'cudnn' on a CUDA tensor is an
 * ERR_CUDNN error, and settings are validated. test/cuda/cudnn.test.ts covers a machine where cuDNN loads.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ck from '../../lib';
import { binaryPath, native } from '../../lib/binding';

const F = ck.nn.functional;
const info = ck.backends.cudnn.info();
// Every CI flavour (cpu, emu) is built without real CUDA, so cuDNN can never run there, library or not.
const cannotRun = !info.compiled || info.path === null;

afterEach(() => {
  ck.backends.conv = 'auto';
  ck.backends.cudnn.benchmark = false;
  ck.backends.cudnn.allowTF32 = true;
});

/** cudnnInfo() of a fresh process (the loader runs once per process) with `env` added. */
function childInfo(env: Record<string, string>): { available: boolean; path: string | null; error: string | null; attempts: string[] } {
  const r = spawnSync(process.execPath, ['-e', `process.stdout.write(JSON.stringify(require(${JSON.stringify(binaryPath)}).cudnnInfo()))`], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('cuDNN absent', () => {
  test('the binary reports cuDNN unavailable, with no version', () => {
    expect(cannotRun).toBe(true); // this suite is for machines where cuDNN cannot run (CI)
    expect(ck.backends.cudnn.isAvailable()).toBe(false);
    expect(ck.backends.cudnn.version()).toBeNull();
    expect(ck.info().cudnn).toEqual({ available: false, version: null });
    expect(typeof info.error).toBe('string');
    if (!info.compiled) expect(info.error).toMatch(new RegExp(`'${ck.info().flavour}' build`));
  });

  test('the error lists every place the loader tried, each with its reason', () => {
    if (info.path !== null) {
      // a libcudnn exists on this machine but this build cannot use it: the error says which build
      expect(info.compiled).toBe(false);
      expect(info.error).toMatch(/needs the real CUDA build/);
      return;
    }
    expect(info.attempts.length).toBeGreaterThanOrEqual(3);
    expect(info.error).toMatch(/libcudnn\.so\.9/);
    expect(info.error).toMatch(/Tried:/);
    expect(info.error).toMatch(/CONVKIT_CUDNN_PATH/);
    for (const a of info.attempts) {
      expect(a).toMatch(/: \S/); // "candidate: reason"
      expect(info.error).toContain(a);
    }
    expect(info.attempts.some((a) => a.startsWith("libcudnn.so.9 (the dynamic loader's search path"))).toBe(true);
    expect(info.attempts.some((a) => a.includes('/usr/local/cuda/lib64/libcudnn.so.9'))).toBe(true);
    expect(info.attempts.some((a) => a.includes('nvidia/cudnn/lib'))).toBe(true);
  });

  test('CONVKIT_CUDNN_PATH pointing at a file that is not a library: tried first, with the dlopen reason', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ck-cudnn-'));
    const bogus = path.join(dir, 'libcudnn.so.9');
    fs.writeFileSync(bogus, 'this is not an ELF shared object\n'.repeat(10));
    try {
      const byFile = childInfo({ CONVKIT_CUDNN_PATH: bogus });
      expect(byFile.available).toBe(false);
      expect(byFile.attempts[0]).toMatch(new RegExp(`^CONVKIT_CUDNN_PATH=${bogus.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
      expect(byFile.attempts[0]).toMatch(/invalid ELF header|file too short|not a dynamic|cannot open/);
      expect(byFile.error).toContain(byFile.attempts[0]);
      // a directory means "libcudnn.so.9 in it"
      const byDir = childInfo({ CONVKIT_CUDNN_PATH: dir });
      expect(byDir.attempts[0]).toContain(`CONVKIT_CUDNN_PATH=${dir} (${bogus})`);
      expect(byDir.attempts[0]).toMatch(/invalid ELF header|file too short|not a dynamic|cannot open/);
      const missing = childInfo({ CONVKIT_CUDNN_PATH: path.join(dir, 'nope') });
      expect(missing.attempts[0]).toMatch(/nope: not found$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** conv2d forward and gradients on `device` with `backend`, from fixed inputs. */
function convRun(device: 'cpu' | 'cuda', backend: ck.nn.functional.Conv2dOptions['backend']) {
  return ck.tidy(() => {
    ck.manualSeed(3);
    const x = ck.randn([2, 3, 9, 9]).to(device).requiresGrad_();
    const w = ck.randn([4, 3, 3, 3]).mul(0.3).to(device).requiresGrad_();
    const b = ck.randn([4]).to(device).requiresGrad_();
    const y = F.conv2d(x, w, b, { padding: 1, stride: 2, backend });
    y.mul(y).sum().backward();
    return [y, x.grad!, w.grad!, b.grad!].map((t) => Array.from(t.cpu().dataSync()));
  });
}

describe('backend selection without cuDNN', () => {
  test("'auto' (default, per call, per layer) runs the native kernels: identical results", () => {
    for (const device of ck.cuda.isAvailable() ? (['cpu', 'cuda'] as const) : (['cpu'] as const)) {
      const want = convRun(device, 'native');
      expect(convRun(device, undefined)).toEqual(want);
      expect(convRun(device, 'auto')).toEqual(want);
      ck.backends.conv = 'native';
      expect(convRun(device, 'auto')).toEqual(want);
    }
  });

  test("'cudnn' on a CUDA tensor is ERR_CUDNN naming what was tried; on a CPU tensor it runs natively", () => {
    // PyTorch-like: the cuDNN settings only affect CUDA tensors
    const want = convRun('cpu', 'native');
    expect(convRun('cpu', 'cudnn')).toEqual(want);
    ck.backends.conv = 'cudnn';
    expect(convRun('cpu', undefined)).toEqual(want);
    if (ck.cuda.isAvailable()) {
      // the emulated build in CI: a CUDA device exists, cuDNN does not
      const x = ck.randn([1, 2, 5, 5], { device: 'cuda' });
      const w = ck.randn([3, 2, 3, 3], { device: 'cuda' });
      let err: any;
      try {
        F.conv2d(x, w);
      } catch (e) {
        err = e;
      }
      expect(err).toBeDefined();
      expect(err.code).toBe('ERR_CUDNN');
      expect(err.message).toMatch(/conv2d: backend 'cudnn' was asked for, but cuDNN is not available/);
      if (info.path === null) expect(err.message).toContain(info.attempts[0]);
      ck.backends.conv = 'auto';
      const layer = new ck.nn.Conv2d(2, 3, 3, { backend: 'cudnn' }).to('cuda');
      expect(() => layer.forward(x)).toThrow(expect.objectContaining({ code: 'ERR_CUDNN' }));
      layer.backend = 'native';
      expect(layer.forward(x).shape).toEqual([1, 3, 3, 3]);
      // the native entry points refuse as well, never crash
      const op = (t: ck.Tensor) => ({ storage: t.storage, offset: 0 });
      const params = { N: 1, C: 2, H: 5, W: 5, O: 3, KH: 3, KW: 3, OH: 3, OW: 3, sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1, groups: 1 };
      expect(() => ck.backends.cudnn.isAvailable() || native.cudnnConv2dForward(params, { input: op(x), weight: op(w), bias: null, output: op(x) })).toThrow(
        expect.objectContaining({ code: 'ERR_CUDNN' }),
      );
      for (const t of [x, w]) t.dispose();
    }
  });

  test('settings are validated', () => {
    expect(ck.backends.conv).toBe('auto');
    expect(() => {
      (ck.backends as any).conv = 'fast';
    }).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    expect(ck.backends.conv).toBe('auto');
    for (const b of ['auto', 'cudnn', 'native'] as const) {
      ck.backends.conv = b;
      expect(ck.backends.conv).toBe(b);
    }
    expect(ck.backends.cudnn.benchmark).toBe(false);
    expect(ck.backends.cudnn.allowTF32).toBe(true);
    ck.backends.cudnn.benchmark = true;
    ck.backends.cudnn.allowTF32 = false;
    expect(ck.backends.cudnn.benchmark).toBe(true);
    expect(ck.backends.cudnn.allowTF32).toBe(false);
    expect(() => {
      (ck.backends.cudnn as any).benchmark = 1;
    }).toThrow(TypeError);
    expect(() => new ck.nn.Conv2d(3, 4, 3, { backend: 'gpu' as any })).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    expect(new ck.nn.Conv2d(3, 4, 3, { backend: 'native' }).backend).toBe('native');
    expect(new ck.nn.Conv2d(3, 4, 3).backend).toBeUndefined();
    const x = ck.randn([1, 3, 5, 5]);
    const w = ck.randn([4, 3, 3, 3]);
    expect(() => F.conv2d(x, w, null, { backend: 'cuDNN' as any })).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
  });
});
