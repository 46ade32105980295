/**
 * The cuDNN convolution path against the hand-written CUDA kernels and the CPU reference, on the conv
 * shapes of test/cuda/conv.test.ts, forward and every gradient (backward-data, backward-filter, bias), FP32
 * with TF32 off, with cuDNN's heuristics and with benchmark mode (search once per shape, cached).
 * Where cuDNN cannot run (CI: the emulated build, no libcudnn), the '[cuDNN absent]' suite runs instead
 * and asserts exactly that: unavailable, with the loader's reason, and 'cudnn' refused with ERR_CUDNN.
 * Tolerance |a - b| <= atol + rtol*|b|, as conv.test.ts. Runs under jest and under scripts/mini-jest.js.
 */
import * as ck from '../../lib';
import { expectClose } from '../helpers/compare';
import { CONV_CASES, TOL, requireCuda } from './helpers';

const F = ck.nn.functional;
beforeAll(() => requireCuda());
const present = ck.backends.cudnn.isAvailable();

const cases = CONV_CASES;

/** Output and the gradient of every leaf of conv2d on `device` with `backend`, from the same inputs. */
function run(shapes: number[][], o: ck.nn.functional.Conv2dOptions, device: 'cpu' | 'cuda', backend: 'native' | 'cudnn') {
  return ck.tidy(() => {
    ck.manualSeed(1);
    const scale = [1, 0.3, 1];
    const xs = shapes.map((s, i) => ck.noGrad(() => ck.randn(s).mul(scale[i]).to(device)).requiresGrad_());
    const out = F.conv2d(xs[0], xs[1], xs[2] ?? null, { ...o, backend });
    const w = ck.noGrad(() => ck.arange(0, out.numel(), 1, { dtype: 'float32', device }).reshape([...out.shape]).mul(0.01).sin().add(0.5));
    out.mul(w).sum().backward();
    return { out: out.cpu(), grads: xs.map((x) => x.grad!.cpu()) };
  });
}

function withSettings(benchmark: boolean, fn: () => void): void {
  const before = { conv: ck.backends.conv, benchmark: ck.backends.cudnn.benchmark, tf32: ck.backends.cudnn.allowTF32 };
  ck.backends.cudnn.benchmark = benchmark;
  ck.backends.cudnn.allowTF32 = false;
  try {
    fn();
  } finally {
    ck.backends.conv = before.conv;
    ck.backends.cudnn.benchmark = before.benchmark;
    ck.backends.cudnn.allowTF32 = before.tf32;
  }
}

if (present) {
  describe('[cuDNN present] conv2d through cuDNN = native CUDA = CPU (FP32, TF32 off)', () => {
    test('cuDNN reports a 9.x version and the library path', () => {
      const v = ck.backends.cudnn.version()!;
      expect(v >= 90000 && v < 100000).toBe(true);
      expect(typeof ck.backends.cudnn.info().path).toBe('string');
      expect(ck.info().cudnn.available).toBe(true);
    });
    for (const benchmark of [false, true]) {
      for (const [name, xs, ws, o, bias] of cases) {
        test(`${name}${benchmark ? ' (benchmark mode)' : ''}`, () => {
          withSettings(benchmark, () => {
            const shapes = bias ? [xs, ws, [ws[0]]] : [xs, ws];
            const cpu = run(shapes, o, 'cpu', 'native');
            const nat = run(shapes, o, 'cuda', 'native');
            const dnn = run(shapes, o, 'cuda', 'cudnn');
            const dnn2 = run(shapes, o, 'cuda', 'cudnn'); // second call: the cached algorithm
            for (const [ref, label] of [[cpu, 'cpu'], [nat, 'native cuda']] as const) {
              expectClose(dnn.out, ref.out, TOL, `${name}: cudnn vs ${label}: output`);
              ref.grads.forEach((g, i) => expectClose(dnn.grads[i], g, TOL, `${name}: cudnn vs ${label}: grad ${['input', 'weight', 'bias'][i]}`));
            }
            expectClose(dnn2.out, dnn.out, TOL, `${name}: cached algorithm: output`);
          });
        });
      }
    }
    test("'auto' picks cuDNN; a layer's backend: 'native' overrides it", () => {
      withSettings(false, () => {
        const x = ck.randn([2, 3, 8, 8], { device: 'cuda' });
        const a = new ck.nn.Conv2d(3, 4, 3, { padding: 1 }).to('cuda');
        const b = new ck.nn.Conv2d(3, 4, 3, { padding: 1, backend: 'native' }).to('cuda');
        b.loadStateDict(a.stateDict());
        expectClose(a.forward(x).cpu(), b.forward(x).cpu(), TOL, 'auto (cudnn) vs native layer');
      });
    });
  });
} else {
  describe('[cuDNN absent] (CI: emulated build or no libcudnn.so.9): asserted unavailable, not skipped', () => {
    test('backends.cudnn says unavailable, with the loader reason', () => {
      const i = ck.backends.cudnn.info();
      expect(ck.backends.cudnn.isAvailable()).toBe(false);
      expect(ck.backends.cudnn.version()).toBeNull();
      expect(typeof i.error).toBe('string');
      expect(/cuDNN/.test(i.error!)).toBe(true);
      // either this build cannot run cuDNN, or no libcudnn.so.9 loaded and every attempt is listed
      expect(!i.compiled || (i.path === null && i.attempts.length > 0)).toBe(true);
      for (const a of i.attempts) expect(i.error!).toContain(a);
    });
    test("'auto' runs the native CUDA kernels, 'cudnn' is ERR_CUDNN", () => {
      withSettings(false, () => {
        const [name, xs, ws, o] = cases[0];
        const shapes = [xs, ws, [ws[0]]];
        const nat = run(shapes, o, 'cuda', 'native');
        ck.backends.conv = 'auto';
        const auto = ck.tidy(() => {
          ck.manualSeed(1);
          const x = ck.randn(xs).to('cuda');
          const w = ck.randn(ws).mul(0.3).to('cuda');
          const b = ck.randn([ws[0]]).to('cuda');
          return F.conv2d(x, w, b, o).cpu();
        });
        expectClose(auto, nat.out, { atol: 0, rtol: 0 }, `${name}: auto = native`);
        expect(() => run(shapes, o, 'cuda', 'cudnn')).toThrow(ck.backends.cudnn.info().error!.split('\n')[0]);
        let code = '';
        try {
          run(shapes, o, 'cuda', 'cudnn');
        } catch (e) {
          code = (e as { code: string }).code;
        }
        expect(code).toBe('ERR_CUDNN');
      });
    });
  });
}
