// Per-op A/B of the NON-convolution part of the tutorial's CIFAR10Net training step, convkit's CPU backend against
// PyTorch, with the real shapes of the two recipes issues 21 / 23 time: Fashion-MNIST 1x28x28 and CIFAR-10
// 3x32x32, both at batch 128 (conv-BN-ReLU 1|3->32->32 @H, maxpool, 32->64->64 @H/2, maxpool, 64->128 @H/4, global
// average pool, flatten, dropout 0.3, linear 128->10, cross-entropy; AdamW lr 1e-3 wd 0.01 + cosine per step).
// The convolutions are benchmarks/conv_layers.js's job.
//
// Single thread on both sides, CPU time (process.cpuUsage in Node, time.process_time in Python), rounds
// interleaved convkit / PyTorch (order alternating), medians: usable on a loaded machine.
//
//   CONVKIT_BINARY=cpu node benchmarks/step_ops.js [--rounds 7] [--recipe mnist|cifar|both] [--only 'regex']
//                                                  [--base path/to/other/convkit.node] [--base-env NAME=VALUE]
//                                                  [--threads N] [--step]
//
// What each row times, on both sides the way a training step runs it:
//   bnrelu fwd    train-mode BatchNorm2d + ReLU of a conv output that requires grad (convkit fuses the two in
//                 one kernel, lib/nn/fusion.ts; PyTorch runs batch_norm then relu), graph recorded;
//   bnrelu bwd    the backward of those nodes from a fixed upstream gradient (convkit: the fused node's apply;
//                 PyTorch: ReluBackward0 then NativeBatchNormBackward0 called directly), grads allocated;
//   maxpool fwd/bwd  MaxPool2d(2) (with the indices, as under autograd) and its backward node;
//   gap fwd/bwd   AdaptiveAvgPool2d(1) and its backward node;
//   head fwd      flatten, dropout 0.3 (train), linear 128->10, cross-entropy, from the pooled features;
//   head f+b      the same plus backward() through it (linear's grads accumulated into fresh .grad);
//   adamw step    AdamW.step() over all the model's parameters (140,778 / 141,354) + the cosine scheduler's step;
//   zero_grad     re-attaching a .grad to every parameter, then zero_grad(set_to_none) (the step's bookkeeping).
// The "non-conv step" line weights each row by how often one training step runs it (two conv-BN-ReLU layers at
// H and at H/2, one at H/4). allocs/call: native allocations per call on the convkit side (storage for outputs,
// saved tensors and scratch), counted by wrapping the addon's alloc entry point.
// --step times the whole training step of each recipe instead (zero_grad, forward, cross-entropy, backward, AdamW
// and cosine steps; PyTorch as benchmarks/torch/train_compare.py's loop), the A/B of everything above together.
// With --base, a second convkit binary is timed in the same rounds (A/B of a kernel change under the same load).
'use strict';
const path = require('path');
const { ckChild, pyChild, PY_TIMING_LOOP, median, abOptions } = require('./ab_children');

const args = process.argv.slice(2);
const { opt, ROUNDS, RECIPE, ONLY, BASE, BASE_ENV } = abOptions(args);
const THREADS = Number(opt('threads', 1));

// The per-step multiplicity of each shape: conv-BN-ReLU blocks [C, H] and the pools.
function recipeCases(recipe, N, cin, H) {
  const h2 = Math.floor(H / 2), h4 = Math.floor(h2 / 2);
  const out = [];
  const add = (kind, shape, times, extra = {}) => out.push({ id: `${recipe} ${kind} ${shape.join('x')}`, recipe, kind, shape, times, cin, ...extra });
  for (const [C, h, times] of [[32, H, 2], [64, h2, 2], [128, h4, 1]]) {
    add('bnrelu fwd', [N, C, h, h], times);
    add('bnrelu bwd', [N, C, h, h], times);
  }
  for (const [C, h] of [[32, H], [64, h2]]) {
    add('maxpool fwd', [N, C, h, h], 1);
    add('maxpool bwd', [N, C, h, h], 1);
  }
  add('gap fwd', [N, 128, h4, h4], 1);
  add('gap bwd', [N, 128, h4, h4], 1);
  add('head fwd', [N, 128], 0);  // inside head f+b
  add('head f+b', [N, 128], 1);
  add('adamw step', [N, cin, H, H], 1);
  add('zero_grad', [N, cin, H, H], 1);
  return out;
}
// --step: the whole training step instead (zero_grad, forward, cross-entropy, backward, AdamW + cosine step).
const STEP = args.includes('--step');
const all = [];
for (const [recipe, cin, H] of [['mnist', 1, 28], ['cifar', 3, 32]]) {
  if (RECIPE !== 'both' && RECIPE !== recipe) continue;
  if (STEP) all.push({ id: `${recipe} training step 128x${cin}x${H}x${H}`, recipe, kind: 'step', shape: [128, cin, H, H], times: 1, cin });
  else all.push(...recipeCases(recipe, 128, cin, H));
}
const cases = all.filter((c) => !ONLY || new RegExp(ONLY).test(c.id));

// ---- the convkit side runs in a child process per binary (CONVKIT_BINARY differs) ----------------------
if (process.env.STEP_OPS_CHILD) {
  const lib = process.env.CONVKIT_LIB || path.join(__dirname, '..', 'dist');
  const ck = require(lib);
  const { native } = require(path.join(lib, 'binding'));
  ck.setNumThreads(THREADS);
  let allocs = 0;
  const alloc = native.alloc;
  native.alloc = function (...a) {
    allocs++;
    return alloc.apply(this, a);
  };
  const F = ck.nn.functional;
  // A forward whose result is dropped: free its graph's saved tensors as backward would.
  const releaseGraph = (t) => {
    const seen = new Set();
    const walk = (n) => {
      if (!n || seen.has(n)) return;
      seen.add(n);
      for (const m of n.next) walk(m);
      n.release();
    };
    walk(t.gradFn);
  };
  const dropAll = (ts) => { for (const t of ts) t?.dispose(); };
  const prepared = cases.map((c) => {
    ck.manualSeed(0);
    const [kind, dir] = [c.kind.split(' ')[0], c.kind.split(' ')[1]];
    const shape = c.shape;
    if (kind === 'bnrelu' || kind === 'maxpool' || kind === 'gap') {
      const x = ck.randn(shape).requiresGrad_();
      let f;
      if (kind === 'bnrelu') {
        const seq = new ck.nn.Sequential(new ck.nn.BatchNorm2d(shape[1]), new ck.nn.ReLU());
        seq.train();
        f = () => seq.forward(x);
      } else if (kind === 'maxpool') {
        const pool = new ck.nn.MaxPool2d(2);
        f = () => pool.forward(x);
      } else {
        const pool = new ck.nn.AdaptiveAvgPool2d(1);
        f = () => pool.forward(x);
      }
      if (dir === 'fwd') return () => { const y = f(); releaseGraph(y); y.dispose(); };
      const y = f();
      const g = ck.randn(y.shape);
      const node = y.gradFn;
      return () => dropAll(node.apply(g));
    }
    if (kind === 'head') {
      const feats = ck.randn([shape[0], shape[1], 1, 1]).requiresGrad_();
      const head = new ck.nn.Sequential(new ck.nn.Dropout(0.3), new ck.nn.Linear(shape[1], 10));
      head.train();
      const t = ck.randint(0, 10, [shape[0]]);
      if (dir === 'fwd') return () => ck.tidy(() => { const l = F.crossEntropy(head.forward(feats.flatten(1)), t); releaseGraph(l); return undefined; });
      return () => ck.tidy(() => {
        head.zeroGrad();
        feats.grad = null;
        F.crossEntropy(head.forward(feats.flatten(1)), t).backward();
        return undefined;
      });
    }
    const model = ck.models.cifar10Net({ inChannels: c.cin });
    if (kind === 'step') {
      const adamw = new ck.optim.AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.01 });
      const sched = new ck.optim.lrScheduler.CosineAnnealingLR(adamw, 1e6);
      const x = ck.randn(shape);
      const t = ck.randint(0, 10, [shape[0]]);
      return () => ck.tidy(() => {
        adamw.zeroGrad();
        F.crossEntropy(model.forward(x), t).backward();
        adamw.step();
        sched.step();
        return undefined;
      });
    }
    const params = model.parameters();
    const grads = params.map((p) => ck.randn(p.shape).mul(0.01));
    const adamw = new ck.optim.AdamW(params, { lr: 1e-3, weightDecay: 0.01 });
    if (kind === 'adamw') {
      const sched = new ck.optim.lrScheduler.CosineAnnealingLR(adamw, 1e6);
      params.forEach((p, i) => { p.grad = grads[i].detach(); });
      return () => { adamw.step(); sched.step(); };
    }
    return () => { params.forEach((p, i) => { p.grad = grads[i].detach(); }); adamw.zeroGrad(); };
  });
  process.on('message', ({ i, reps }) => {
    const run = prepared[i];
    run();  // warm
    const a0 = allocs;
    const f0 = process.resourceUsage().minorPageFault;
    const t0 = process.cpuUsage();
    for (let r = 0; r < reps; ++r) run();
    const t = process.cpuUsage(t0);
    const faults = (process.resourceUsage().minorPageFault - f0) / reps;
    process.send({ ms: (t.user + t.system) / 1000 / reps, allocs: (allocs - a0) / reps, faults });
  });
  process.send('ready');
  return;
}

const PY = `
import os, sys, json, time, torch
import torch.nn as nn
import torch.nn.functional as F
torch.set_num_threads(int(sys.argv[1]))
cases = json.loads(sys.stdin.readline())

sys.path.insert(0, os.environ['CK_BENCH_TORCH_DIR'])
from train_compare import Cifar10Net  # the tutorial's network, as the end-to-end comparison trains it

def make(c):
    torch.manual_seed(0)
    kind, dir = (c['kind'] + ' ').split(' ')[:2]
    shape = c['shape']
    if kind in ('bnrelu', 'maxpool', 'gap'):
        x = torch.randn(*shape, requires_grad=True)
        if kind == 'bnrelu':
            bn = nn.BatchNorm2d(shape[1])
            bn.train()
            f = lambda: F.relu(bn(x))
        elif kind == 'maxpool':
            f = lambda: F.max_pool2d(x, 2)
        else:
            f = lambda: F.adaptive_avg_pool2d(x, 1)
        if dir == 'fwd':
            return f
        y = f()
        g = torch.randn(y.shape)
        node = y.grad_fn
        if kind == 'bnrelu':
            bnn = node.next_functions[0][0]
            return lambda: bnn(node(g))
        return lambda: node(g)
    if kind == 'head':
        feats = torch.randn(shape[0], shape[1], 1, 1, requires_grad=True)
        head = nn.Sequential(nn.Dropout(0.3), nn.Linear(shape[1], 10))
        head.train()
        t = torch.randint(0, 10, (shape[0],))
        if dir == 'fwd':
            return lambda: F.cross_entropy(head(feats.flatten(1)), t)

        def fb():
            head.zero_grad(set_to_none=True)
            feats.grad = None
            F.cross_entropy(head(feats.flatten(1)), t).backward()
        return fb
    model = Cifar10Net(c['cin'])
    if kind == 'step':  # as benchmarks/torch/train_compare.py's loop
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 10 ** 6)
        x = torch.randn(*shape)
        t = torch.randint(0, 10, (shape[0],))

        def train_step():
            opt.zero_grad()
            F.cross_entropy(model(x), t).backward()
            opt.step()
            sched.step()
        return train_step
    params = list(model.parameters())
    grads = [torch.randn(p.shape) * 0.01 for p in params]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    if kind == 'adamw':
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 10 ** 6)
        for p, g in zip(params, grads):
            p.grad = g

        def step():
            opt.step()
            sched.step()
        return step

    def zg():
        for p, g in zip(params, grads):
            p.grad = g
        opt.zero_grad(set_to_none=True)
    return zg


runs = [make(c) for c in cases]` + PY_TIMING_LOOP;

(async () => {
  const ck = (binary, env = '') => ckChild(__filename, args, 'STEP_OPS_CHILD', binary, env, THREADS);
  const sides = [['convkit', ck(process.env.CONVKIT_BINARY || 'cpu')], ['torch', pyChild(PY, cases, [String(THREADS)], THREADS)]];
  if (BASE) sides.push(['base', ck(BASE === 'cpu' ? 'cpu' : path.resolve(BASE), BASE_ENV)]);
  for (const [, s] of sides) await s.ready;
  const times = Object.fromEntries(sides.map(([n]) => [n, cases.map(() => [])]));
  const allocs = Object.fromEntries(sides.map(([n]) => [n, cases.map(() => 0)]));
  const faults = Object.fromEntries(sides.map(([n]) => [n, cases.map(() => 0)]));
  // Interleaved per case (A, B, A, B, ... with the order alternating), so a burst of load from elsewhere hits
  // every side alike; the first round only warms up. Small ops run more calls per sample.
  for (let r = 0; r < ROUNDS; ++r) {
    for (let i = 0; i < cases.length; ++i) {
      const order = r % 2 ? [...sides].reverse() : sides;
      const reps = r === 0 ? 1 : /adamw|zero_grad|head|gap/.test(cases[i].kind) ? 20 : cases[i].kind === 'step' ? 2 : 4;
      for (const [name, s] of order) {
        const t = await s.time(i, reps);
        if (r > 0 || ROUNDS === 1) times[name][i].push(typeof t === 'number' ? t : t.ms);
        if (t.allocs !== undefined) allocs[name][i] = t.allocs;
        if (t.faults !== undefined) faults[name][i] = Math.max(faults[name][i], t.faults);
      }
    }
  }
  for (const [, s] of sides) s.close();
  const fmt = (v) => v.toFixed(3).padStart(8);
  console.log(`${THREADS} thread(s), CPU time per call, ms (median of ${Math.max(1, ROUNDS - 1)} rounds); allocs / faults: convkit native allocations / minor page faults per call (faults: the most of any round)`);
  console.log(`${'case'.padEnd(36)} ${'convkit'.padStart(8)} ${'torch'.padStart(8)} ${'ck/pt'.padStart(6)} ${'allocs'.padStart(6)} ${'faults'.padStart(6)}` + (BASE ? ` ${'base'.padStart(8)} ${'ck/base'.padStart(7)}` : ''));
  const tot = {};
  cases.forEach((c, i) => {
    const m = Object.fromEntries(sides.map(([n]) => [n, median(times[n][i])]));
    tot[c.recipe] ??= { convkit: 0, torch: 0, base: 0, allocs: 0 };
    for (const n in m) tot[c.recipe][n] += m[n] * c.times;
    tot[c.recipe].allocs += allocs.convkit[i] * c.times;
    console.log(`${c.id.padEnd(36)} ${fmt(m.convkit)} ${fmt(m.torch)} ${(m.convkit / m.torch).toFixed(2).padStart(6)} ${String(allocs.convkit[i]).padStart(6)} ${String(Math.round(faults.convkit[i])).padStart(6)}` +
      (BASE ? ` ${fmt(m.base)} ${(m.convkit / m.base).toFixed(2).padStart(7)}` : ''));
  });
  if (!STEP) for (const [recipe, t] of Object.entries(tot))
    console.log(`${(recipe + ' non-conv step (weighted)').padEnd(36)} ${fmt(t.convkit)} ${fmt(t.torch)} ${(t.convkit / t.torch).toFixed(2).padStart(6)} ${String(t.allocs).padStart(6)}` +
      (BASE ? ` ${fmt(t.base)} ${(t.convkit / t.base).toFixed(2).padStart(7)}` : ''));
})();
