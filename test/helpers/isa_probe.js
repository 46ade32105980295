// Loads a convkit binary (argv[2]) in a fresh process, so the ISA dispatch runs under this process's
// environment (CONVKIT_CPU_ISA, CONVKIT_CPU_ISA_MASK) or CPU (under qemu-x86_64 -cpu ...), then runs GEMMs
// through every packing case (plain, transposed A and B, edge tiles, gemv, batch) against a double loop.
// Prints one JSON line: buildInfo's cpu fields and the largest relative error. Used by test/unit/isa.test.ts.
'use strict';
const native = require(require("path").resolve(process.argv[2]));
const b = native.buildInfo();
let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
let worst = 0;
const cases = [[37, 45, 70, false, false, 1], [64, 96, 300, true, false, 1], [50, 130, 33, false, true, 2], [1, 70, 40, false, false, 1], [33, 1, 90, true, true, 1], [160, 200, 64, false, false, 1]];
for (const [M, N, K, ta, tb, batch] of cases) {
  const A = Float32Array.from({ length: batch * M * K }, rnd);
  const B = Float32Array.from({ length: batch * K * N }, rnd);
  const sA = native.alloc(-1, A.byteLength), sB = native.alloc(-1, B.byteLength), sC = native.alloc(-1, batch * M * N * 4);
  native.upload({ storage: sA, byteOffset: 0 }, A);
  native.upload({ storage: sB, byteOffset: 0 }, B);
  // op(A) (M x K): stored (M, K) or, transposed, (K, M); op(B) (K x N): (K, N) or (N, K).
  const a = { storage: sA, offset: 0, batchStride: M * K, rowStride: ta ? 1 : K, colStride: ta ? M : 1 };
  const bb = { storage: sB, offset: 0, batchStride: K * N, rowStride: tb ? 1 : N, colStride: tb ? K : 1 };
  const c = { storage: sC, offset: 0, batchStride: M * N, rowStride: N, colStride: 1 };
  native.gemm({ batch, M, N, K, alpha: 1, beta: 0 }, { a, b: bb, c });
  const C = new Float32Array(batch * M * N);
  native.download({ storage: sC, byteOffset: 0 }, C);
  for (let t = 0; t < batch; t++)
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0, n = 0;
        for (let k = 0; k < K; k++) {
          const x = A[t * M * K + i * a.rowStride + k * a.colStride] * B[t * K * N + k * bb.rowStride + j * bb.colStride];
          s += x;
          n += Math.abs(x);
        }
        worst = Math.max(worst, Math.abs(C[t * M * N + i * N + j] - s) / (n + 1e-30));
      }
  for (const s of [sA, sB, sC]) s.dispose();
}
process.stdout.write(JSON.stringify({ isa: b.cpuIsa, supported: b.cpuIsaSupported, note: b.cpuIsaNote, bf16: b.cpuBf16, worst }) + '\n');
