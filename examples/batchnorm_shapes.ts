/**
 * Batch normalisation's shapes: BatchNorm2d(C) keeps one weight, bias, running mean and running variance
 * per channel, normalises each channel over (N, H, W), and leaves the input's shape as it was.
 */
import * as ck from 'convkit';
import { run } from './common';

run(() => {
  ck.manualSeed(0);
  const [N, C, H, W] = [8, 16, 32, 32];
  const bn = new ck.nn.BatchNorm2d(C);
  const x = ck.randn([N, C, H, W]).mul(3).add(5);
  const y = bn.forward(x);
  console.log(`BatchNorm2d(${C}) on input of shape [${x.shape.join(', ')}]`);
  for (const [name, t] of Object.entries(bn.stateDict())) {
    console.log(`  ${name.padEnd(20)} shape [${t.shape.join(', ')}]`);
    t.dispose();
  }
  console.log(`  output shape        [${y.shape.join(', ')}]  (unchanged)`);
  const stats = ck.noGrad(() => {
    const m = y.mean([0, 2, 3]);
    const s = y.std([0, 2, 3], { correction: 0 });
    return { m: Array.from(m.dataSync()), s: Array.from(s.dataSync()) };
  });
  console.log(`  per-channel mean of the output: ${Math.max(...stats.m.map(Math.abs)).toExponential(1)} at most (normalised over N, H, W = ${N * H * W} values each)`);
  console.log(`  per-channel std of the output:  ${Math.min(...stats.s).toFixed(3)} to ${Math.max(...stats.s).toFixed(3)}`);
  const rm = bn.running_mean; // null only for BatchNorm2d(C, { trackRunningStats: false })
  if (rm) console.log(`  running_mean after one batch: ${(rm.mean().item()).toFixed(3)} on average (0.9 x 0 + 0.1 x 5)`);

  const bn1 = new ck.nn.BatchNorm1d(64);
  const f = ck.randn([N, 64]);
  const g = bn1.forward(f);
  console.log(`BatchNorm1d(64) on input of shape [${f.shape.join(', ')}] -> [${g.shape.join(', ')}], weight [${bn1.weight?.shape.join(', ')}]`);
  console.log(`Parameters: BatchNorm2d(${C}) ${ck.utils.countParameters(bn)} (= 2 x ${C}), plus buffers running_mean/var [${C}] and num_batches_tracked []`);
  for (const t of [x, y, f, g]) t.dispose();
});
