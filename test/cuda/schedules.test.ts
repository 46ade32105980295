/**
 * Schedule fuzzing: a representative call of every CUDA kernel family runs under several orders of the
 * emulation's threads and blocks (cuda/emu/emu.h: forward, reverse, seeded random, warps interleaved at
 * warp primitives), switched at run time with native.emuSetSchedule, and every output and gradient must
 * be bit-identical to the forward schedule's. A kernel whose result depends on the order is a race. The
 * shared-memory checks (poison, race and uninitialised-read detection) are on throughout.
 *
 * Every kernel family here is deterministic by design: no float atomics (the only atomic is the
 * integer atomicMax that flags an out-of-range class index), fixed reduction trees, dropout and
 * augmentation driven by a counter-based generator / host-drawn parameters. So none is exempt.
 *
 * On a real GPU build (no emulation) emuSetSchedule throws ERR_DEVICE; the same calls then run twice
 * and must agree bit for bit run to run.
 */
import * as ck from '../../lib';
import { native } from '../../lib/binding';
import { requireCuda } from './helpers';

const F = ck.nn.functional;
const T = ck.transforms;
const { optim } = ck;
beforeAll(() => requireCuda());

const emulated = ck.info().cuda.emulated;
const SCHEDULES = emulated ? ['forward', 'reverse', 'random:1', 'random:20240607', 'warps'] : ['run 1', 'run 2'];

type Out = Float32Array | Int32Array;
function bytes(a: Out): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}
const host = (t: ck.Tensor): Out => t.cpu().dataSync() as Out;

/** Leaves on the device with gradients, from a seeded CPU draw. */
function leaves(seed: number, shapes: number[][], scale: number[] = []): ck.Tensor[] {
  ck.manualSeed(seed);
  return shapes.map((s, i) => ck.noGrad(() => ck.randn(s).mul(scale[i] ?? 1).cuda()).requiresGrad_());
}

/** Output and every leaf gradient of fn, with a non-uniform upstream gradient. */
function withGrads(xs: ck.Tensor[], fn: (...xs: ck.Tensor[]) => ck.Tensor): Out[] {
  const out = fn(...xs);
  const w = ck.noGrad(() => ck.arange(0, out.numel(), 1, { dtype: 'float32', device: 'cuda' }).reshape([...out.shape]).mul(0.37).sin());
  out.mul(w).sum().backward();
  return [host(out), ...xs.map((x) => host(x.grad!))];
}

const FAMILIES: [string, () => Out[]][] = [
  ['conv2d native forward/backward (groups, stride, padding)', () => {
    const before = { conv: ck.backends.conv, tf32: ck.backends.cudnn.allowTF32 };
    ck.backends.conv = 'native';
    ck.backends.cudnn.allowTF32 = false;
    try {
      const [x, w, b] = leaves(1, [[2, 4, 9, 10], [6, 2, 3, 3], [6]], [1, 0.3, 1]);
      const a = withGrads([x, w, b], (x, w, b) => F.conv2d(x, w, b, { stride: 2, padding: 1, groups: 2 }));
      const [x2, w2] = leaves(2, [[3, 5, 7, 7], [4, 5, 1, 1]], [1, 0.3]);
      return [...a, ...withGrads([x2, w2], (x, w) => F.conv2d(x, w, null))];
    } finally {
      ck.backends.conv = before.conv;
      ck.backends.cudnn.allowTF32 = before.tf32;
    }
  }],
  ['batch norm training forward/backward and running stats', () => {
    const [x, g, b] = leaves(3, [[5, 3, 11, 13], [3], [3]], [2, 1, 1]);
    const rm = ck.zeros([3], { device: 'cuda' });
    const rv = ck.ones([3], { device: 'cuda' });
    const outs = withGrads([x, g, b], (x, g, b) => F.batchNorm(x, rm, rv, g, b, { training: true, momentum: 0.2 }));
    return [...outs, host(rm), host(rv)];
  }],
  ['pooling: max, avg, adaptive (forward/backward)', () => {
    const [x] = leaves(4, [[2, 3, 17, 15]]);
    return [
      ...withGrads([x], (x) => F.maxPool2d(x, 3, { stride: 2, padding: 1 })),
      ...withGrads(leaves(5, [[2, 3, 17, 15]]), (x) => F.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false })),
      ...withGrads(leaves(6, [[2, 3, 17, 15]]), (x) => F.adaptiveAvgPool2d(x, [4, 5])),
      ...withGrads(leaves(7, [[2, 40, 9, 9]]), (x) => F.adaptiveAvgPool2d(x, 1)),
    ];
  }],
  ['softmax, log-softmax, cross-entropy, NLL (forward/backward)', () => {
    const t = ck.tensor([0, 3, 9, 1, 4, 7, 2, 8, 5, 6, 0, 2], { dtype: 'int32', device: 'cuda' });
    return [
      ...withGrads(leaves(8, [[12, 10]]), (x) => F.crossEntropy(x, t)),
      ...withGrads(leaves(9, [[12, 10]]), (x) => F.nllLoss(F.logSoftmax(x, 1), t)),
      ...withGrads(leaves(10, [[5, 700]]), (x) => F.softmax(x, 1)),
      ...withGrads(leaves(11, [[700, 3]]), (x) => F.logSoftmax(x, 0)),
    ];
  }],
  ['reductions: sum, mean, max, var, argmax', () => {
    ck.manualSeed(12);
    const x = ck.randn([7, 300, 5]).cuda();
    return [
      host(x.sum()), host(x.sum(1)), host(x.mean([0, 2])), host(x.max()), host(x.max(1).values), host(x.var(1)),
      host(x.argmax(1)), host(x.sum(2)), host(ck.randn([70000]).cuda().sum()),
    ];
  }],
  ['gemm / matmul (plain, transposed, batched)', () => {
    ck.manualSeed(13);
    const a = ck.randn([70, 45]).cuda();
    const b = ck.randn([45, 90]).cuda();
    const c = ck.randn([3, 33, 20]).cuda();
    const d = ck.randn([3, 20, 17]).cuda();
    return [host(a.matmul(b)), host(b.t().matmul(a.t())), host(c.matmul(d)), host(F.linear(a, ck.randn([31, 45]).cuda(), ck.randn([31]).cuda()))];
  }],
  ['elementwise, fused bias+ReLU and add+ReLU, strided copy', () => {
    ck.manualSeed(14);
    const x = ck.randn([4, 6, 5, 7]).cuda();
    const y = ck.randn([4, 6, 5, 7]).cuda();
    const b = ck.randn([6]).cuda();
    return [
      host(x.add(y).mul(0.5).exp().sub(y.abs().sqrt())), host(x.sigmoid()), host(x.tanh()), host(x.relu()),
      host(F.biasRelu(x, b)), host(F.addRelu(x, y)), host(x.permute(3, 1, 0, 2).contiguous()), host(x.clamp(-0.5, 0.5)),
    ];
  }],
  ['optimizer steps: SGD (momentum, nesterov), Adam (amsgrad), AdamW', () => {
    const outs: Out[] = [];
    const cases: [string, Record<string, unknown>][] = [
      ['SGD', { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }],
      ['Adam', { lr: 1e-2, weightDecay: 0.1, amsgrad: true }],
      ['AdamW', { lr: 1e-2, betas: [0.8, 0.99], eps: 1e-6 }],
    ];
    for (const [name, o] of cases) {
      ck.manualSeed(15);
      const ps = [ck.randn([20000]), ck.randn([3, 5]), ck.randn([7])].map((p) => p.cuda().requiresGrad_());
      const opt = new (optim as any)[name](ps, o);
      for (let k = 0; k < 3; k++) {
        ck.manualSeed(16 + k);
        ps.forEach((p) => {
          p.grad?.dispose();
          p.grad = ck.randn([...p.shape]).cuda();
        });
        opt.step();
      }
      outs.push(...ps.map(host));
    }
    return outs;
  }],
  ['dropout (fixed seed)', () => {
    ck.manualSeed(17);
    const x = ck.randn([6, 1000]).cuda();
    ck.manualSeed(18);
    return [host(F.dropout(x, 0.3, true))];
  }],
  ['batch augmentation (crop, flip, normalise)', () => {
    ck.manualSeed(19);
    const x = ck.randn([4, 3, 12, 12]);
    const opts = { padding: 2, crop: 12, mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] };
    const params = T.batchAugmentParams([...x.shape], opts);
    return [host(T.batchAugment(x.cuda(), opts, params))];
  }],
];

describe('every kernel family gives bit-identical results under every emulation schedule', () => {
  let previous = 'forward';
  beforeAll(() => {
    if (emulated) {
      previous = native.emuSetSchedule('forward');
      native.emuSetChecks(true);
    }
  });
  afterAll(() => {
    if (emulated) native.emuSetSchedule(previous);
  });

  for (const [name, run] of FAMILIES) {
    test(name, () => {
      let ref: Buffer[] | null = null;
      for (const sc of SCHEDULES) {
        if (emulated) native.emuSetSchedule(sc);
        const got = ck.tidy(() => run().map(bytes).map((b) => Buffer.from(b)));
        if (!ref) {
          ref = got;
          expect(got.length).toBeGreaterThan(0);
          continue;
        }
        expect(got.length).toBe(ref.length);
        got.forEach((b, i) => {
          if (!b.equals(ref![i])) throw new Error(`${name}: output ${i} under schedule '${sc}' differs from '${SCHEDULES[0]}'`);
        });
      }
    });
  }
});

describe('emuSetSchedule / emuSetChecks', () => {
  if (emulated) {
    test('returns the previous setting, rejects an unknown schedule with ERR_ARG', () => {
      const before = native.emuSetSchedule('random:5');
      expect(native.emuSetSchedule('warps')).toBe('random:5');
      expect(native.emuSetSchedule(before)).toBe('warps');
      expect(() => native.emuSetSchedule('sideways')).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
      const checks = native.emuSetChecks(false);
      expect(native.emuSetChecks(checks)).toBe(false);
    });
  } else {
    test('a build that does not emulate CUDA throws ERR_DEVICE', () => {
      expect(() => native.emuSetSchedule('reverse')).toThrow(expect.objectContaining({ code: 'ERR_DEVICE' }));
      expect(() => native.emuSetChecks(true)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE' }));
    });
  }
});

describe('overlapping copies behave the same on the CPU and the CUDA device', () => {
  for (const device of ['cpu', 'cuda'] as const) {
    test(`${device}: interleaved views copy a snapshot, dense partial overlap and stride-0 targets are ERR_ARG`, () => {
      ck.tidy(() => {
        const base = ck.arange(0, 24, 1, { dtype: 'float32', device }).reshape([4, 6]);
        // not dense: column 1..4 <- column 0..3 of the same rows (overlapping extents, shifted by one)
        const x = base.clone();
        ck.noGrad(() => x.narrow(1, 1, 4).copy_(x.narrow(1, 0, 4)));
        const want = Array.from(base.cpu().dataSync());
        for (let r = 0; r < 4; r++) for (let c = 1; c <= 4; c++) want[r * 6 + c] = r * 6 + c - 1;
        expect(Array.from(x.cpu().dataSync())).toEqual(want);
        // interleaved without intersecting: even columns <- odd columns
        const v = base.clone();
        ck.noGrad(() => v.reshape([4, 3, 2]).select(2, 0).copy_(v.reshape([4, 3, 2]).select(2, 1)));
        expect(Array.from(v.cpu().dataSync())).toEqual(want.map((_, i) => (i % 2 ? i : i + 1)));
        // a square matrix onto its own transpose: dense, same range, other strides: rejected as in PyTorch
        const y = ck.arange(0, 16, 1, { dtype: 'float32', device }).reshape([4, 4]);
        expect(() => ck.noGrad(() => y.copy_(y.t()))).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
        // the same view: a no-op
        const z = base.clone();
        ck.noGrad(() => z.copy_(z));
        expect(Array.from(z.cpu().dataSync())).toEqual(Array.from(base.cpu().dataSync()));
        // dense and partially overlapping (x[1:] = x[:-1] on a flat tensor): rejected as in PyTorch
        const f = ck.arange(0, 10, 1, { dtype: 'float32', device });
        expect(() => ck.noGrad(() => f.narrow(0, 1, 9).copy_(f.narrow(0, 0, 9)))).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
        expect(Array.from(f.cpu().dataSync())).toEqual(Array.from(ck.arange(0, 10).dataSync()));
        // a destination whose elements share memory
        const e = ck.zeros([1, 3], { device }).expand([4, 3]);
        expect(() => ck.noGrad(() => e.copy_(ck.ones([4, 3], { device })))).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
        return undefined;
      });
    });
  }
});
