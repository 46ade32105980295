/**
 * The CPU GEMM's paths against a float64 reference on the shapes that reach each of them (csrc/cpu/gemm.cc):
 * small M with a row-major B read in place (AVX-512: full slivers, masked right edges, a bottom edge of fewer
 * than 8 rows through scratch), a transposed B (packed), small N, the large serial nest, and beta 0 / 1 / 0.5
 * with C holding NaN where beta is 0 (it must not be read). On the ISA path the process runs (pass
 * CONVKIT_CPU_ISA=baseline|avx2 to check another).
 */
import { native } from '../../lib/binding';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

describe('sgemm paths', () => {
  // [M, N, K, transposeA, transposeB]
  const shapes: [number, number, number, boolean, boolean][] = [
    [32, 448, 96, false, false], // conv forward: in-place B, full slivers
    [32, 196, 192, false, false], // 14x14 band: a 4-column masked edge
    [12, 300, 40, true, false], // 12 rows: a bottom edge of 4 through scratch, a 12-column edge
    [8, 50, 9, false, false], // a 18-column edge (two accumulators per row)
    [32, 96, 448, false, true], // backward-weight shape: transposed B, packed
    [200, 64, 70, false, false], // small N
    [160, 300, 300, true, true], // the serial nest
    [1, 77, 33, false, false], // M == 1: gemv
  ];
  for (const [M, N, K, tA, tB] of shapes) {
    it(`${M}x${N}x${K}${tA ? ' A^T' : ''}${tB ? ' B^T' : ''}`, () => {
      const rnd = lcg(M * 7919 + N * 31 + K);
      const A = Float32Array.from({ length: M * K }, rnd);
      const B = Float32Array.from({ length: K * N }, rnd);
      for (const beta of [0, 1, 0.5]) {
        const C0 = Float32Array.from({ length: M * N }, beta === 0 ? () => NaN : rnd);
        const sA = native.alloc(-1, M * K * 4), sB = native.alloc(-1, K * N * 4), sC = native.alloc(-1, M * N * 4);
        native.upload({ storage: sA, byteOffset: 0 }, A);
        native.upload({ storage: sB, byteOffset: 0 }, B);
        native.upload({ storage: sC, byteOffset: 0 }, C0);
        const a = tA ? { rowStride: 1, colStride: M } : { rowStride: K, colStride: 1 };
        const b = tB ? { rowStride: 1, colStride: K } : { rowStride: N, colStride: 1 };
        native.gemm({ batch: 1, M, N, K, alpha: 1, beta }, {
          a: { storage: sA, offset: 0, batchStride: 0, ...a },
          b: { storage: sB, offset: 0, batchStride: 0, ...b },
          c: { storage: sC, offset: 0, batchStride: 0, rowStride: N, colStride: 1 },
        });
        const got = new Float32Array(M * N);
        native.download({ storage: sC, byteOffset: 0 }, got);
        let worst = 0;
        for (let i = 0; i < M; i++)
          for (let j = 0; j < N; j++) {
            let s = 0;
            for (let k = 0; k < K; k++) s += A[tA ? k * M + i : i * K + k] * B[tB ? j * K + k : k * N + j];
            if (beta !== 0) s += beta * C0[i * N + j];
            worst = Math.max(worst, Math.abs(got[i * N + j] - s) / (1 + Math.abs(s)));
          }
        expect(worst).toBeLessThan(2e-5);
      }
    });
  }
});
