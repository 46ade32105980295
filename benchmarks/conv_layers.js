// Per-layer, per-direction A/B of convkit's CPU convolution against PyTorch (oneDNN) for the exact layers of
// the tutorial's CIFAR10Net in the two recipes issue 21 / 23 time: train_compare (batch 64, 1x28x28) and
// cifar_step (batch 128, 3x32x32). Single thread on both sides, CPU time (process.cpuUsage in Node,
// time.process_time in Python), rounds interleaved convkit / PyTorch, medians: usable on a loaded machine.
//
//   CONVKIT_BINARY=cpu node benchmarks/conv_layers.js [--rounds 7] [--recipe mnist|cifar|both]
//                                                    [--only 'regex'] [--base path/to/other/convkit.node]
//                                                    [--base-env NAME=VALUE] [--step]
// --step times the whole training step (forward + loss + backward) of the network instead of the layers.
// With --base, a second convkit binary (another build) is timed in the same rounds (a third column), so a
// change can be A/B'd against the binary it replaces under the same load; --base-env sets an environment
// variable for that side only (e.g. --base cpu --base-env CONVKIT_CONV_ALGO=direct: Winograd against GEMM).
'use strict';
const path = require('path');
const { ckChild, pyChild, PY_TIMING_LOOP, median, abOptions } = require('./ab_children');

const args = process.argv.slice(2);
const { ROUNDS, RECIPE, ONLY, BASE, BASE_ENV } = abOptions(args);

// The tutorial's CIFAR10Net: conv_bn_relu(in, 32), (32, 32), pool, (32, 64), (64, 64), pool, (64, 128).
function layers(N, cin, hw) {
  const h2 = Math.floor(hw / 2), h4 = Math.floor(h2 / 2);
  return [[cin, 32, hw], [32, 32, hw], [32, 64, h2], [64, 64, h2], [64, 128, h4]].map(([C, O, H], i) => ({
    layer: `conv${i + 1}`, N, C, O, H,
    // the first layer's input needs no gradient in training: no backward-data there
    dirs: i === 0 ? ['fwd', 'bwd_weight'] : ['fwd', 'bwd_data', 'bwd_weight'],
  }));
}
const recipes = [];
if (RECIPE !== 'cifar') recipes.push({ recipe: 'mnist b64', cases: layers(64, 1, 28) });
if (RECIPE !== 'mnist') recipes.push({ recipe: 'cifar b128', cases: layers(128, 3, 32) });
const cases = [];
// --step: the whole training step of the network (train mode, forward + cross-entropy + backward) per recipe.
const STEP = args.includes('--step');
if (STEP)
  for (const r of recipes) {
    const c = r.cases[0];
    cases.push({ id: `${r.recipe} CIFAR10Net f+b ${c.N}x${c.C}x${c.H}`, N: c.N, C: c.C, O: 0, H: c.H, dir: 'step' });
  }
for (const r of STEP ? [] : recipes)
  for (const c of r.cases)
    for (const dir of c.dirs) {
      const id = `${r.recipe} ${c.layer} ${c.N}x${c.C}x${c.H}->${c.O} ${dir}`;
      if (!ONLY || new RegExp(ONLY).test(id)) cases.push({ id, N: c.N, C: c.C, O: c.O, H: c.H, dir });
    }

// ---- the convkit side runs in a child process per binary (CONVKIT_BINARY differs) ----------------------
if (process.env.CONV_LAYERS_CHILD) {
  const ck = require(process.env.CONVKIT_LIB || path.join(__dirname, '..', 'dist'));
  const { native } = require(path.join(process.env.CONVKIT_LIB || path.join(__dirname, '..', 'dist'), 'binding'));
  ck.setNumThreads(1);
  const prepared = cases.map((c) => {
    ck.manualSeed(0);
    const { N, C, O, H, dir } = c;
    if (dir === 'step') {
      const model = ck.models.cifar10Net({ inChannels: C });
      const x = ck.randn([N, C, H, H]);
      const y = ck.randint(0, 10, [N]);
      return () => ck.tidy(() => {
        model.zeroGrad();
        ck.nn.functional.crossEntropy(model.forward(x), y).backward();
        return undefined;
      });
    }
    const x = ck.randn([N, C, H, H]);
    const w = ck.randn([O, C, 3, 3]).mul(0.05);
    const g = ck.randn([N, O, H, H]);
    const gx = ck.empty([N, C, H, H]);
    const gw = ck.empty([O, C, 3, 3]);
    const params = { N, C, H, W: H, O, KH: 3, KW: 3, OH: H, OW: H, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1, groups: 1 };
    const op = (t) => ({ storage: t.storage, offset: 0 });
    const F = ck.nn.functional;
    if (dir === 'fwd') return () => F.conv2d(x, w, null, { padding: 1, backend: 'native' }).dispose();
    if (dir === 'bwd_data') return () => native.conv2dBackwardData(params, { gradOutput: op(g), weight: op(w), gradInput: op(gx) });
    return () => native.conv2dBackwardWeight(params, { input: op(x), gradOutput: op(g), gradWeight: op(gw), gradBias: null });
  });
  process.on('message', ({ i, reps }) => {
    const run = prepared[i];
    run();  // warm
    const t0 = process.cpuUsage();
    for (let r = 0; r < reps; ++r) run();
    const t = process.cpuUsage(t0);
    process.send((t.user + t.system) / 1000 / reps);
  });
  process.send('ready');
  return;
}

const PY = `
import sys, json, time, torch
torch.set_num_threads(1)
cases = json.loads(sys.stdin.readline())
import os
sys.path.insert(0, os.environ['CK_BENCH_TORCH_DIR'])
from train_compare import Cifar10Net  # the tutorial's, as the end-to-end comparison trains it

def step_fn(c):
    torch.manual_seed(0)
    model = Cifar10Net(c['C'])
    x = torch.randn(c['N'], c['C'], c['H'], c['H'])
    y = torch.randint(0, 10, (c['N'],))

    def run():
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
    return run


runs = []
for c in cases:
    if c['dir'] == 'step':
        runs.append(step_fn(c))
        continue
    g = torch.Generator().manual_seed(0)
    N, C, O, H = c['N'], c['C'], c['O'], c['H']
    x = torch.randn(N, C, H, H, generator=g)
    w = torch.randn(O, C, 3, 3, generator=g) * 0.05
    gy = torch.randn(N, O, H, H, generator=g)
    if c['dir'] == 'fwd':
        runs.append(lambda x=x, w=w: torch.nn.functional.conv2d(x, w, padding=1))
    else:
        mask = (True, False, False) if c['dir'] == 'bwd_data' else (False, True, False)
        runs.append(lambda x=x, w=w, gy=gy, mask=mask: torch.ops.aten.convolution_backward(
            gy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask))
` + PY_TIMING_LOOP;

(async () => {
  const ck = (binary, env = '') => ckChild(__filename, args, 'CONV_LAYERS_CHILD', binary, env);
  const sides = [['convkit', ck(process.env.CONVKIT_BINARY || 'cpu')], ['torch', pyChild(PY, cases)]];
  if (BASE) sides.push(['base', ck(BASE === 'cpu' ? 'cpu' : path.resolve(BASE), BASE_ENV)]);
  for (const [, s] of sides) await s.ready;
  const times = Object.fromEntries(sides.map(([n]) => [n, cases.map(() => [])]));
  // Interleaved per case (A, B, A, B, ... with the order alternating), so a burst of load from elsewhere
  // hits both sides alike; the first round only warms up.
  for (let r = 0; r < ROUNDS; ++r) {
    for (let i = 0; i < cases.length; ++i) {
      const order = r % 2 ? [...sides].reverse() : sides;
      for (const [name, s] of order) {
        const t = await s.time(i, r === 0 ? 1 : 2);
        if (r > 0 || ROUNDS === 1) times[name][i].push(t);
      }
    }
  }
  for (const [, s] of sides) s.close();
  const fmt = (v) => v.toFixed(2).padStart(8);
  console.log(`single-thread CPU time per call, ms (median of ${Math.max(1, ROUNDS - 1)} rounds x 2 calls; min: ratio of the fastest rounds)`);
  console.log(`${'case'.padEnd(44)} ${'convkit'.padStart(8)} ${'torch'.padStart(8)} ${'ck/pt'.padStart(6)}` + (BASE ? ` ${'base'.padStart(8)} ${'ck/base'.padStart(7)} ${'min'.padStart(5)}` : ''));
  const tot = { convkit: 0, torch: 0, base: 0 };
  cases.forEach((c, i) => {
    const m = Object.fromEntries(sides.map(([n]) => [n, median(times[n][i])]));
    for (const n in m) tot[n] += m[n];
    console.log(`${c.id.padEnd(44)} ${fmt(m.convkit)} ${fmt(m.torch)} ${(m.convkit / m.torch).toFixed(2).padStart(6)}` +
      (BASE ? ` ${fmt(m.base)} ${(m.convkit / m.base).toFixed(2).padStart(7)} ${(Math.min(...times.convkit[i]) / Math.min(...times.base[i])).toFixed(2).padStart(5)}` : ''));
  });
  console.log(`${'total'.padEnd(44)} ${fmt(tot.convkit)} ${fmt(tot.torch)} ${(tot.convkit / tot.torch).toFixed(2).padStart(6)}` +
    (BASE ? ` ${fmt(tot.base)} ${(tot.convkit / tot.base).toFixed(2).padStart(7)}` : ''));
})();
