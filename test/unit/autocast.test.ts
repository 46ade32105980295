/**
 * BF16 autocast on the CPU (lib/autocast.ts, csrc/cpu/gemm_bf16.*): the region's state (nesting, enabled: false,
 * exceptions, async functions, refusals), FP32 unchanged outside it, what runs in bf16 (and what not), and the BF16
 * GEMM bit for bit the same on every ISA path (CONVKIT_CPU_ISA=baseline|avx2|avx512, and on avx512 both the vdpbf16ps
 * kernel and its FMA emulation) and equal to a JS model of vdpbf16ps's documented semantics. The vdpbf16ps
 * micro-kernel itself runs only where the CPU has AVX512_BF16, the FMA one where it has AVX-512.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import * as ck from '../../lib';
import { binaryPath, native } from '../../lib/binding';

const F = ck.nn.functional;
const probe = path.join(__dirname, '..', 'helpers', 'bf16_probe.js');

// True when every element is a bf16 value (the low 16 bits of its FP32 pattern are zero).
function allBf16(t: ck.Tensor): boolean {
  const u = new Uint32Array(Float32Array.from(t.dataSync()).buffer);
  return u.every((x) => (x & 0xffff) === 0);
}

describe('ck.autocast region state', () => {
  it('is on inside, off outside, restored after nesting, enabled: false and a throw', () => {
    expect(ck.isAutocastEnabled('cpu')).toBe(false);
    expect(ck.getAutocastDtype()).toBeNull();
    ck.autocast('cpu', { dtype: 'bfloat16' }, () => {
      expect(ck.isAutocastEnabled('cpu')).toBe(true);
      expect(ck.isAutocastEnabled('cuda')).toBe(false);
      expect(ck.getAutocastDtype()).toBe('bfloat16');
      ck.autocast('cpu', { enabled: false }, () => {
        expect(ck.isAutocastEnabled('cpu')).toBe(false);
        ck.autocast('cpu', () => expect(ck.isAutocastEnabled('cpu')).toBe(true));
        expect(ck.isAutocastEnabled('cpu')).toBe(false);
      });
      expect(ck.isAutocastEnabled('cpu')).toBe(true);
      expect(() => ck.autocast('cpu', { enabled: false }, () => {
        throw new Error('boom');
      })).toThrow('boom');
      expect(ck.isAutocastEnabled('cpu')).toBe(true);
    });
    expect(() => ck.autocast('cpu', () => {
      throw new Error('inner');
    })).toThrow('inner');
    expect(ck.isAutocastEnabled('cpu')).toBe(false);
    expect(native.setGemmPrecision('float32')).toBe('float32'); // a throw inside a bf16 op's region leaves FP32
    expect(ck.autocast('cpu', () => 42)).toBe(42);
  });

  it('an async function keeps the region across awaits, and code running meanwhile outside it does not see it', async () => {
    let outside: boolean | null = null;
    const p = ck.autocast('cpu', async () => {
      await new Promise((r) => setTimeout(r, 5));
      return ck.isAutocastEnabled('cpu');
    });
    outside = ck.isAutocastEnabled('cpu');
    await new Promise((r) => setTimeout(r, 1));
    expect(ck.isAutocastEnabled('cpu')).toBe(false);
    expect(await p).toBe(true);
    expect(outside).toBe(false);
  });

  it('refuses CUDA, other dtypes and bad arguments with coded errors', () => {
    expect(() => ck.autocast('cuda' as 'cpu', () => 0)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE', message: expect.stringMatching(/'cuda'.*not supported/) }));
    expect(() => ck.autocast('cuda:1' as 'cpu', () => 0)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE' }));
    expect(() => ck.autocast('cpu', { dtype: 'float16' as 'bfloat16' }, () => 0)).toThrow(expect.objectContaining({ code: 'ERR_DTYPE', message: expect.stringMatching(/'float16' is not supported.*bfloat16/) }));
    expect(() => ck.autocast('tpu' as 'cpu', () => 0)).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    expect(() => ck.autocast('cpu', {}, undefined as unknown as () => 0)).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    expect(() => ck.autocast('cpu', { enabled: 'yes' as unknown as boolean }, () => 0)).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    expect(() => native.setGemmPrecision('half' as 'float32')).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
  });
});

describe('what runs in bf16', () => {
  it('conv2d and linear outputs and gradients are bf16 values; outside the region FP32 results are unchanged', () => {
    ck.manualSeed(3);
    const x = ck.randn([2, 5, 9, 9]).requiresGrad_(), w = ck.randn([6, 5, 3, 3]).requiresGrad_(), b = ck.randn([6]).requiresGrad_();
    const ref = F.conv2d(x, w, b, { padding: 1 });
    const y = ck.autocast('cpu', () => F.conv2d(x, w, b, { padding: 1 }));
    expect(allBf16(y)).toBe(true);
    expect(allBf16(ref)).toBe(false);
    // backward after the region still runs in bf16: the node remembers its precision
    y.sum().backward();
    for (const t of [x, w, b]) expect(allBf16(t.grad!)).toBe(true);
    const again = F.conv2d(x, w, b, { padding: 1 });
    expect(Array.from(again.dataSync())).toEqual(Array.from(ref.dataSync()));
    expect(native.setGemmPrecision('float32')).toBe('float32');

    const lx = ck.randn([3, 4, 7]).requiresGrad_(), lw = ck.randn([5, 7]).requiresGrad_(), lb = ck.randn([5]).requiresGrad_();
    const ly = ck.autocast('cpu', () => F.linear(lx, lw, lb));
    expect(ly.shape).toEqual([3, 4, 5]);
    expect(allBf16(ly)).toBe(true);
    ly.sum().backward();
    for (const t of [lx, lw, lb]) expect(allBf16(t.grad!)).toBe(true);
    expect(lx.grad!.shape).toEqual([3, 4, 7]);
  });

  it('matmul in bf16; everything else stays FP32 (an elementwise op, batch norm in eval with fusion off inside the region)', () => {
    ck.manualSeed(4);
    const a = ck.randn([8, 9]), c = ck.randn([9, 10]);
    const [m, e] = ck.autocast('cpu', () => [a.matmul(c), a.mul(1.001)]);
    // matmul is on PyTorch's bf16 list (and convkit's): a bf16 result, not the FP32 one
    expect(allBf16(m)).toBe(true);
    expect(Array.from(m.dataSync())).not.toEqual(Array.from(a.matmul(c).dataSync()));
    expect(allBf16(e)).toBe(false);
    // eval-mode conv -> bn -> relu: the fused FP32 kernel is skipped, so the conv runs in bf16 like the unfused graph
    const net = new ck.nn.Sequential(new ck.nn.Conv2d(3, 4, 3, { padding: 1 }), new ck.nn.BatchNorm2d(4), new ck.nn.ReLU()).eval();
    const x = ck.randn([2, 3, 6, 6]);
    const fused = ck.noGrad(() => ck.autocast('cpu', () => net.forward(x)));
    ck.nn.fusion.setFusion(false);
    try {
      const plain = ck.noGrad(() => ck.autocast('cpu', () => net.forward(x)));
      expect(Array.from(fused.dataSync())).toEqual(Array.from(plain.dataSync()));
    } finally {
      ck.nn.fusion.setFusion(true);
    }
  });
});

describe('the BF16 GEMM on every ISA path', () => {
  function run(isa: string, extra: Record<string, string> = {}): { isa: string; bf16: boolean; kernel: string; mismatches: number; gemm: number; conv: number } {
    const env: NodeJS.ProcessEnv = { ...process.env, CONVKIT_CPU_ISA: isa };
    delete env.CONVKIT_CPU_ISA_MASK;
    delete env.CONVKIT_BF16_GEMM;
    Object.assign(env, extra);
    const r = spawnSync(process.execPath, [probe, binaryPath], { env, encoding: 'utf8', timeout: 120000 });
    if (r.status !== 0) throw new Error(`bf16 probe (${isa}): exit ${r.status} signal ${r.signal}\n${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop() as string);
  }

  it('matches the vdpbf16ps model element for element and is bit-identical across baseline, avx2 and avx512', () => {
    // avx512 three ways: its default kernel, the FMA emulation forced, and a CPU without AVX512_BF16 (hidden)
    const paths = [run('baseline'), run('avx2'), run('avx512'), run('avx512', { CONVKIT_BF16_GEMM: 'fma' }), run('avx512', { CONVKIT_CPU_ISA_MASK: 'avx512bf16' })];
    for (const p of paths) expect(p.mismatches).toBe(0);
    expect(new Set(paths.map((p) => p.gemm)).size).toBe(1);
    expect(new Set(paths.map((p) => p.conv)).size).toBe(1);
    expect(paths[0].kernel).toBe('portable');
    // The vdpbf16ps micro-kernel runs where the CPU has AVX512_BF16 (and the avx512 path is in use), the FMA
    // emulation on the avx512 path otherwise, the portable kernel below it.
    const [, , best, fma, noBf16] = paths;
    expect(best.kernel).toBe(best.isa !== 'avx512' ? 'portable' : best.bf16 ? 'avx512bf16' : 'avx512fma');
    expect(fma.kernel).toBe(fma.isa === 'avx512' ? 'avx512fma' : 'portable');
    expect(noBf16.bf16).toBe(false);
    expect(noBf16.kernel).toBe(noBf16.isa === 'avx512' ? 'avx512fma' : 'portable');
    if (ck.info().cpu.bf16 && ck.info().cpu.isa === 'avx512') expect(native.gemmBf16Kernel()).toBe('avx512bf16');
  });
});
