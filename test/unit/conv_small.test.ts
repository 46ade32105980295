/**
 * The shallow-input direct convolution (csrc/cpu/conv_small.cc: 1-4 input channels, stride 1, taken by the auto
 * rule; on the SSE2 baseline path for 1-channel 3x3 only) on every ISA path
 * (CONVKIT_CPU_ISA=baseline|avx2|avx512, each in a child process: test/helpers/conv_small_probe.js) against float64 loops and against the im2col GEMM path (setConvAlgo('direct')):
 * 1-4 input channels, widths 5-40 (odd ones and ones that are no multiple of the vector width), kernels 3x3,
 * 5x5, 3x5, 2x4 and 1x1, paddings 0-4 (beyond the kernel and the image), with and without bias, the eval-mode batch norm + ReLU epilogue fused in registers
 * and the one with a residual; the same bits on 1 and 3 threads. In process: auto and 'direct' agree on the
 * CIFAR-10 CNN's stem through the public conv2d.
 */
import * as ck from '../../lib';
import { expectedIsa, runIsaProbe } from '../helpers/isa_child';

interface Row { shape: number[]; fwd: number; gemm: number; vsGemm: number; epilogue: number; residual: number }
interface Probe { isa: string; cases: Row[]; threadsSame: boolean }

const run = (isa: string): Probe => runIsaProbe<Probe>('conv_small_probe.js', isa);

// float32 sums of at most 100 products, relative to the largest output: measured <= 3e-7 on every path.
const TOL = 2e-6;

describe('shallow-input direct convolution', () => {
  test.each(['baseline', 'avx2', 'avx512'])('%s path: forward and epilogues against float64 and the GEMM', (isa) => {
    const r = run(isa);
    expect(r.isa).toBe(expectedIsa(isa));
    expect(r.cases.length).toBe(16);
    for (const c of r.cases) {
      for (const k of ['fwd', 'gemm', 'vsGemm', 'epilogue', 'residual'] as const) {
        if (!(c[k] < TOL)) throw new Error(`${isa} ${c.shape.join('x')} ${k}: error ${c[k]} >= ${TOL}`);
      }
    }
    expect(r.threadsSame).toBe(true);
  });

  test('conv2d on a 3-channel stem: auto equals the GEMM path', () => {
    const before = ck.getConvAlgo();
    ck.manualSeed(3);
    const x = ck.randn([2, 3, 13, 13]);
    const w = ck.randn([10, 3, 3, 3]);
    const b = ck.randn([10]);
    try {
      ck.setConvAlgo('auto');
      const ya = ck.nn.functional.conv2d(x, w, b, { padding: 1 }).toArray() as number[][][][];
      ck.setConvAlgo('direct');
      const yd = ck.nn.functional.conv2d(x, w, b, { padding: 1 }).toArray() as number[][][][];
      expect(ya.flat(3).length).toBe(2 * 10 * 13 * 13);
      const da = ya.flat(3), dd = yd.flat(3);
      let e = 0;
      for (let i = 0; i < da.length; i++) e = Math.max(e, Math.abs(da[i] - dd[i]));
      expect(e).toBeLessThan(1e-5);
    } finally {
      ck.setConvAlgo(before);
    }
  });
});
