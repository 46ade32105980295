/**
 * The direct 3x3 convolution kernel (csrc/cpu/conv_direct.cc, ck.setConvAlgo('direct3x3')) on every ISA path
 * (CONVKIT_CPU_ISA=baseline|avx2|avx512, each in a child process: test/helpers/conv_direct_probe.js) against
 * float64 loops: forward with bias, forward with the eval-mode batch norm + residual + ReLU epilogue,
 * backward-data (the kernel on dy with flipped, transposed weights) and backward-weight, on odd shapes (channel
 * counts no multiple of the vector width, widths 7, 8, 13, 14, paddings 0-2, batches 1-3); the same bits on 1
 * and 3 threads; and the auto rule taking the kernel for a 64-channel 7x7 layer on the AVX-512 path only.
 * In process: the name round-trips through setConvAlgo/getConvAlgo.
 */
import * as ck from '../../lib';
import { expectedIsa, runIsaProbe } from '../helpers/isa_child';

interface Row { shape: number[]; fwd: number; epilogue: number; bwdData: number; bwdWeight: number }
interface Probe { isa: string; cases: Row[]; threadsSame: boolean; autoAlgo: string }

const run = (isa: string): Probe => runIsaProbe<Probe>('conv_direct_probe.js', isa);

// float32 sums over at most 33*9 products, relative to the largest output: measured <= 8e-7 on every path.
const TOL = 4e-6;

describe('direct 3x3 convolution', () => {
  test.each(['baseline', 'avx2', 'avx512'])('%s path: forward, epilogue, backward-data and -weight against float64', (isa) => {
    const r = run(isa);
    // A path above the CPU's is clamped to the best supported one (cpu/isa.h).
    expect(r.isa).toBe(expectedIsa(isa));
    expect(r.cases.length).toBe(8);
    for (const c of r.cases) {
      for (const k of ['fwd', 'epilogue', 'bwdData', 'bwdWeight'] as const) {
        if (!(c[k] < TOL)) throw new Error(`${isa} ${c.shape.join('x')} ${k}: error ${c[k]} >= ${TOL}`);
      }
    }
    expect(r.threadsSame).toBe(true);
    expect(r.autoAlgo).toBe(r.isa === 'avx512' ? 'direct3x3' : 'direct');
  });

  test('setConvAlgo accepts direct3x3', () => {
    const before = ck.getConvAlgo();
    ck.setConvAlgo('direct3x3');
    expect(ck.getConvAlgo()).toBe('direct3x3');
    ck.setConvAlgo(before);
    expect(() => ck.setConvAlgo('direct3' as ck.ConvAlgo)).toThrow(/direct3x3/);
  });
});
