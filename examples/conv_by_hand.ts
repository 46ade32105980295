/**
 * Last episode's exercise: a multi-channel convolution written out as loops (every output channel sums
 * a kernel slice over every input channel, plus its bias) against convkit's conv2d.
 */
import * as ck from 'convkit';
import { run } from './common';

run(() => {
  ck.manualSeed(0);
  const [N, Cin, H, W, Cout, K, stride, pad] = [2, 3, 7, 7, 4, 3, 2, 1];
  const x = ck.randn([N, Cin, H, W]);
  const w = ck.randn([Cout, Cin, K, K]);
  const b = ck.randn([Cout]);
  const OH = Math.floor((H + 2 * pad - K) / stride) + 1;
  const OW = Math.floor((W + 2 * pad - K) / stride) + 1;
  const xs = x.dataSync();
  const ws = w.dataSync();
  const bs = b.dataSync();
  const out = new Float32Array(N * Cout * OH * OW);
  for (let n = 0; n < N; n++)
    for (let co = 0; co < Cout; co++)
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          let s = bs[co] ?? 0;
          for (let ci = 0; ci < Cin; ci++)
            for (let ky = 0; ky < K; ky++)
              for (let kx = 0; kx < K; kx++) {
                const iy = oy * stride - pad + ky;
                const ix = ox * stride - pad + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue; // zero padding
                s += (xs[((n * Cin + ci) * H + iy) * W + ix] ?? 0) * (ws[((co * Cin + ci) * K + ky) * K + kx] ?? 0);
              }
          out[((n * Cout + co) * OH + oy) * OW + ox] = s;
        }
  const ref = ck.nn.functional.conv2d(x, w, b, { stride, padding: pad });
  const r = ref.dataSync();
  let maxDiff = 0;
  r.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - (out[i] ?? NaN)))));
  console.log(`input [${x.shape.join(', ')}], weight [${w.shape.join(', ')}], bias [${b.shape.join(', ')}], stride ${stride}, padding ${pad}`);
  console.log(`output size: floor((${H} + 2*${pad} - ${K}) / ${stride}) + 1 = ${OH}`);
  console.log(`by hand:        [${[N, Cout, OH, OW].join(', ')}], ${N * Cout * OH * OW * Cin * K * K} multiply-adds`);
  console.log(`ck conv2d:      [${ref.shape.join(', ')}]`);
  console.log(`max |difference|: ${maxDiff.toExponential(2)} -> ${maxDiff < 1e-4 ? 'match' : 'MISMATCH'}`);
  if (maxDiff >= 1e-4) process.exitCode = 1;
  for (const t of [x, w, b, ref]) t.dispose();
});
