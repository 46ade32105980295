// `CONVKIT_BINARY=cpu node benchmarks/fusion_compare.js`: eval forward and training step of the CIFAR-10 CNN and
// ResNet-18 with layer fusion off and on (ck.nn.fusion.setFusion), one thread, median of 5 calls of the process's
// CPU time (robust on a shared machine). docs/winograd.md and benchmarks/results/2026-12-06-cpu-winograd.md.
const ck = require(require('path').join(__dirname, '..', 'dist'));
ck.setNumThreads(1);
function cpu(f) { f(); const ts = []; for (let r = 0; r < 5; r++) { const t0 = process.cpuUsage(); f(); const d = process.cpuUsage(t0); ts.push((d.user + d.system) / 1e3); } ts.sort((a, b) => a - b); return ts[2]; }
for (const [name, make, N, S] of [['cifar10Net', () => ck.models.cifar10Net(), 128, 32], ['resnet18', () => ck.models.resnet18({ numClasses: 10 }), 16, 64]]) {
  ck.manualSeed(0); const m = make(); const x = ck.randn([N, 3, S, S]); const y = ck.randint(0, 10, [N]);
  const res = {};
  for (const fused of [false, true, false, true]) {
    ck.nn.fusion.setFusion(fused);
    m.eval(); const e = cpu(() => ck.noGrad(() => m.forward(x).dispose()));
    m.train(); const t = cpu(() => ck.tidy(() => { m.zeroGrad(); ck.nn.functional.crossEntropy(m.forward(x), y).backward(); return undefined; }));
    res[fused] = [e, t];
  }
  console.log(`${name} ${N}x3x${S}x${S}, 1 thread, CPU ms: eval unfused ${res.false[0].toFixed(1)} fused ${res.true[0].toFixed(1)} (${(res.false[0] / res.true[0]).toFixed(2)}x); train step unfused ${res.false[1].toFixed(1)} fused ${res.true[1].toFixed(1)} (${(res.false[1] / res.true[1]).toFixed(2)}x)`);
}
