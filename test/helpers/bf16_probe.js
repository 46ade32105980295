// Loads a convkit binary (argv[2]) in a fresh process, so the ISA dispatch runs under this process's environment
// (CONVKIT_CPU_ISA), then runs the BF16 GEMM (csrc/cpu/gemm_bf16.h) through its packing cases (plain and transposed
// operands, odd K, several K blocks, edge tiles, M or N of 1, a batch, beta = 1, other alpha / beta), with NaN,
// infinities, FP32 denormals, values near the smallest normal and near the largest finite in the operands, and a
// 3x3 convolution in bf16 forward and backward. Compares every GEMM element with a JS model of the documented
// semantics (vdpbf16ps per the Intel SDM) and prints one JSON line: the path, the micro-kernel, the number of
// elements that differ from the model and a hash of all output bits. Used by test/unit/autocast.test.ts.
'use strict';
const { native, lcg, upload, download } = require('./probe_util');
const b = native.buildInfo();

const rnd = lcg(2024);
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (x) => ((f32[0] = x), u32[0]);
const ofBits = (u) => ((u32[0] = u >>> 0), f32[0]);
// bf16 rounding (nearest even; NaN stays NaN), then a bf16 denormal as signed zero (vdpbf16ps's DAZ).
function bf16(x) {
  const u = bitsOf(x);
  if ((u & 0x7fffffff) > 0x7f800000) return NaN;
  const r = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
  return ofBits((r & 0x7f80 ? r : r & 0x8000) << 16);
}
// One FP32 FMA (the product of two bf16 values is exact in double), round to nearest even, denormal result -> signed 0.
function step(acc, a, c) {
  const r = Math.fround(acc + a * c);
  return r !== 0 && Math.abs(r) < 2 ** -126 ? (r < 0 ? -0 : 0) : r;
}
function model(M, N, K, alpha, beta, A, ia, ka, B, kb, jb, C0) {
  const kcb = Math.ceil(K / Math.ceil(K / 256)) + (Math.ceil(K / Math.ceil(K / 256)) & 1);
  const direct = alpha === 1 && (beta === 0 || beta === 1);
  const out = new Float32Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let c = C0[i * N + j];
      if (!direct) c = beta === 0 ? 0 : Math.fround(beta * c);
      let t = 0;
      for (let pc = 0; pc < K; pc += kcb) {
        const kc = Math.min(kcb, K - pc);
        let acc = 0;
        for (let k = 0; k < kc; k += 2) {
          const a0 = bf16(A[i * ia + (pc + k) * ka]), b0 = bf16(B[(pc + k) * kb + j * jb]);
          const a1 = k + 1 < kc ? bf16(A[i * ia + (pc + k + 1) * ka]) : 0, b1 = k + 1 < kc ? bf16(B[(pc + k + 1) * kb + j * jb]) : 0;
          acc = step(step(acc, a1, b1), a0, b0);
        }
        if (direct) c = pc === 0 && beta === 0 ? acc : Math.fround(c + acc);
        else t = pc === 0 ? acc : Math.fround(t + acc);
      }
      out[i * N + j] = direct ? c : Math.fround(c + Math.fround(alpha * t));
    }
  return out;
}

let hash = 0x811c9dc5;
const mix = (arr) => {
  for (const x of arr) {
    const u = x !== x ? 0x7fc00000 : bitsOf(x);
    hash = Math.imul(hash ^ u, 0x01000193) >>> 0;
  }
};
const SPECIAL = [NaN, Infinity, -Infinity, 1e-40, -3e-39, 1.1755e-38, 1.2e-38, 3.3e38, -3.0e38, 0, -0];

native.setGemmPrecision('bfloat16');
let mismatches = 0;
// M, N, K, transposed A, transposed B, batch, alpha, beta, specials, tiny scale
const cases = [
  [37, 45, 70, false, false, 1, 1, 0, false, false], [64, 96, 300, true, false, 1, 1, 0, false, false],
  [50, 130, 33, false, true, 2, 1, 0, false, false], [1, 70, 41, false, false, 1, 1, 0, false, false],
  [33, 1, 90, true, true, 1, 1, 0, false, false], [20, 40, 17, false, false, 1, 1, 1, false, false],
  [9, 35, 21, true, true, 1, 0.5, 2, false, false], [24, 64, 64, false, false, 1, 1, 0, true, false],
  [16, 48, 520, false, true, 1, 1, 0, false, true], [72, 200, 96, false, false, 1, 1, 0, false, false],
];
for (const [M, N, K, ta, tb, batch, alpha, beta, specials, tiny] of cases) {
  const scale = tiny ? 2 ** -63 : 1; // products near the smallest normal: FTZ and DAZ at work
  const A = Float32Array.from({ length: batch * M * K }, () => rnd() * scale);
  const B = Float32Array.from({ length: batch * K * N }, () => rnd() * scale);
  const C0 = Float32Array.from({ length: batch * M * N }, rnd);
  if (specials) for (let s = 0; s < SPECIAL.length; s++) {
    A[(s * 97) % A.length] = SPECIAL[s];
    B[(s * 131 + 7) % B.length] = SPECIAL[(s + 3) % SPECIAL.length];
  }
  const sA = upload(A), sB = upload(B), sC = upload(C0);
  const a = { storage: sA, offset: 0, batchStride: M * K, rowStride: ta ? 1 : K, colStride: ta ? M : 1 };
  const bb = { storage: sB, offset: 0, batchStride: K * N, rowStride: tb ? 1 : N, colStride: tb ? K : 1 };
  const c = { storage: sC, offset: 0, batchStride: M * N, rowStride: N, colStride: 1 };
  native.gemm({ batch, M, N, K, alpha, beta }, { a, b: bb, c });
  const got = download(sC, batch * M * N);
  mix(got);
  for (let t = 0; t < batch; t++) {
    const want = model(M, N, K, alpha, beta, A.subarray(t * M * K), a.rowStride, a.colStride, B.subarray(t * K * N), bb.rowStride, bb.colStride, C0.subarray(t * M * N));
    for (let i = 0; i < M * N; i++) {
      const g = got[t * M * N + i], w = want[i];
      if (!(g !== g && w !== w) && bitsOf(g) !== bitsOf(w)) mismatches++;
    }
  }
  for (const s of [sA, sB, sC]) s.dispose();
}

// A 3x3 convolution with 64 channels in and out (the Winograd rule's size; bf16 takes the GEMM path).
const p = { N: 16, C: 64, H: 8, W: 8, O: 64, KH: 3, KW: 3, OH: 8, OW: 8, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1, groups: 1 };
const X = Float32Array.from({ length: p.N * p.C * p.H * p.W }, rnd), Wt = Float32Array.from({ length: p.O * p.C * 9 }, rnd);
const DY = Float32Array.from({ length: p.N * p.O * p.OH * p.OW }, rnd);
const sX = upload(X), sW = upload(Wt), sDY = upload(DY);
const sY = native.alloc(-1, DY.byteLength), sDX = native.alloc(-1, X.byteLength), sDW = native.alloc(-1, Wt.byteLength);
native.conv2dForward(p, { input: { storage: sX, offset: 0 }, weight: { storage: sW, offset: 0 }, bias: null, output: { storage: sY, offset: 0 } });
native.conv2dBackwardData(p, { gradOutput: { storage: sDY, offset: 0 }, weight: { storage: sW, offset: 0 }, gradInput: { storage: sDX, offset: 0 } });
native.conv2dBackwardWeight(p, { input: { storage: sX, offset: 0 }, gradOutput: { storage: sDY, offset: 0 }, gradWeight: { storage: sDW, offset: 0 }, gradBias: null });
const convHash = hash;
hash = 0x811c9dc5;
mix(download(sY, DY.length));
mix(download(sDX, X.length));
mix(download(sDW, Wt.length));
const conv = hash;
hash = convHash;
native.setGemmPrecision('float32');
process.stdout.write(JSON.stringify({ isa: b.cpuIsa, bf16: b.cpuBf16, kernel: native.gemmBf16Kernel(), mismatches, gemm: hash, conv }) + '\n');
