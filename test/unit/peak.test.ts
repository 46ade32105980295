/**
 * The measured machine peaks behind the benchmarks' fraction-of-peak column (csrc/cpu/peak.cc): finite,
 * positive, plausible for one x86-64 core or more, and every bad argument a JS error that names it.
 */
import * as ck from '../../lib';
import { native } from '../../lib/binding';

describe('measurePeak', () => {
  it('measures CPU FMA throughput and triad bandwidth', () => {
    const p = native.measurePeak('cpu', 0.05, 8 * 2 ** 20, 2);
    expect(Number.isFinite(p.gflops)).toBe(true);
    expect(Number.isFinite(p.gbps)).toBe(true);
    // even one slow, shared core does more than 1 GF/s of FMAs and streams more than 0.5 GB/s
    expect(p.gflops).toBeGreaterThan(1);
    expect(p.gbps).toBeGreaterThan(0.5);
    // and no CPU this runs on does 100 TF/s or 10 TB/s: a wrong flop or byte count would show here
    expect(p.gflops).toBeLessThan(1e5);
    expect(p.gbps).toBeLessThan(1e4);
  });

  it('refuses bad arguments with ERR_ARG naming them', () => {
    expect(() => native.measurePeak('gpu' as 'cpu', 0.1, 2 ** 20, 1)).toThrow(/device must be 'cpu' or 'cuda', got 'gpu'/);
    expect(() => native.measurePeak('cpu', 0, 2 ** 20, 1)).toThrow(/seconds must be in/);
    expect(() => native.measurePeak('cpu', 0.1, 100, 1)).toThrow(/bytes must be in/);
    expect(() => native.measurePeak('cpu', 0.1, 2 ** 20, 0)).toThrow(/reps must be in/);
    expect(() => native.measurePeak('cpu', 0.1, 2 ** 20, 1.5)).toThrow(/reps must be an integer/);
    expect(() => native.measurePeak('cpu', -1, 2 ** 20, 1)).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
  });

  it('on CUDA: the device measures, or a binary without a device says so', () => {
    const info = native.cudaInfo();
    if (info.available) {
      const p = native.measurePeak('cuda', 0.02, 2 ** 20, 1);
      expect(p.gflops).toBeGreaterThan(0);
      expect(p.gbps).toBeGreaterThan(0);
    } else {
      expect(() => native.measurePeak('cuda', 0.1, 2 ** 20, 1)).toThrow(/built without CUDA|no CUDA device/);
    }
  });

  it('the CUDA event timer measures work on the stream, or says there is no device', () => {
    if (native.cudaInfo().available) {
      const x = ck.randn([256, 256], { device: 'cuda' });
      native.cudaTimerStart();
      for (let i = 0; i < 4; i++) x.matmul(x).dispose();
      const ms = native.cudaTimerStop();
      expect(Number.isFinite(ms)).toBe(true);
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThan(60000);
      x.dispose();
    } else {
      expect(() => native.cudaTimerStart()).toThrow(/built without CUDA|no CUDA device/);
      expect(() => native.cudaTimerStop()).toThrow(/built without CUDA|no CUDA device/);
    }
  });
});
