#!/usr/bin/env node
// The GPU check's NCCL phase (gpu-bundle.sh ships it as nccl-check.js; gpu-check.sh runs it), issue 20's
// must-show 5: backend 'nccl' with the machine's own NCCL (found by convkit's search, e.g. PyTorch's
// nvidia-nccl wheel under site-packages/nvidia/nccl/lib or torch/lib).
//   1. world size 1 on cuda:0: allReduce (sum, avg, max), broadcast, allGather, reduceScatter and barrier
//      on CUDA tensors, each against the value it must give; then DDP on CUDA: 3 SGD steps of the CIFAR-10
//      CNN under DistributedDataParallel equal 3 steps without it.
//   2. with CONVKIT_NCCL_RANKS=2 (gpu-check.sh sets it when it sees two GPUs, and in the emulated dry run,
//      where both ranks share the one emulated device): two ranks, each on cuda:LOCAL_RANK, train the CNN
//      (BatchNorm in eval mode) for 3 steps with DDP on their halves of a batch, and rank 0's parameters
//      equal single-GPU training on the whole batch within float tolerance.
// Exits non-zero on any mismatch or error.
'use strict';
const { spawn } = require('child_process');
const net = require('net');
const path = require('path');
const ck = require(process.env.CONVKIT_LIB || path.join(__dirname, 'js', 'lib'));

// On the emulated device (the CI dry run) smaller images and batches: the plumbing is under test there.
const emulated = ck.cuda.isEmulated();
const B = emulated ? 2 : 4; // per rank
const STEPS = 3;
const [C, H, W] = emulated ? [3, 8, 8] : [3, 16, 16];
let failures = 0;

function report(what, ok, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? ': ' + detail : ''}`);
  if (!ok) failures++;
}

function maxDiff(a, b) {
  let d = 0;
  let s = 0;
  for (const k of Object.keys(b)) {
    for (let i = 0; i < b[k].length; i++) {
      d = Math.max(d, Math.abs(a[k][i] - b[k][i]));
      s = Math.max(s, Math.abs(b[k][i]));
    }
  }
  return { d, s };
}

// The data of the whole run, the same in every process (seeded): inputs in [-1, 1), labels 0..9.
function data(ranks) {
  ck.manualSeed(7);
  const n = STEPS * ranks * B;
  return { x: ck.rand([n, C, H, W]).mul(2).sub(1).dataSync(), y: ck.randint(0, 10, [n]).dataSync() };
}

// Trains the CNN (eval-mode BatchNorm, no dropout) from seed-0 weights on `device`; with ddp, wrapped.
function train(device, ranks, rank, ddp) {
  const { x, y } = data(ranks);
  ck.manualSeed(0);
  const netw = ck.models.cifar10Net({ dropout: 0 }).to(device);
  netw.eval();
  const model = ddp ? new ck.nn.parallel.DistributedDataParallel(netw, { deviceIds: [Number(device.split(':')[1])], bucketCapMb: 0.25 }) : netw;
  const opt = new ck.optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const lossFn = new ck.nn.CrossEntropyLoss();
  const per = C * H * W;
  // rank r of `ranks` takes samples [(s * ranks + r) * B, +B); single-GPU training (rank -1) takes them all.
  const take = rank < 0 ? ranks * B : B;
  for (let s = 0; s < STEPS; s++) {
    opt.zeroGrad();
    const i0 = (s * ranks + Math.max(rank, 0)) * B;
    ck.tidy(() => {
      const xb = ck.tensor(x.slice(i0 * per, (i0 + take) * per), { shape: [take, C, H, W] }).to(device);
      const yb = ck.tensor(y.slice(i0, i0 + take)).to(device);
      lossFn.forward(model.forward(xb), yb).backward();
    });
    opt.step();
  }
  return Object.fromEntries(Object.entries(netw.stateDict()).map(([k, t]) => [k, Array.from(t.cpu().dataSync())]));
}

function worldOfOne() {
  const dev = 'cuda:0';
  ck.distributed.initProcessGroup({ backend: 'nccl', rank: 0, worldSize: 1, timeoutMs: 60000 });
  const t = ck.tensor([1, -2, 3, 4.5]).to(dev);
  const vals = (u) => Array.from(u.cpu().dataSync());
  const same = (u, want) => JSON.stringify(vals(u)) === JSON.stringify(want);
  for (const op of ['sum', 'avg', 'max']) {
    const u = t.clone();
    ck.distributed.allReduce(u, { op });
    report(`allReduce ${op} (world size 1)`, same(u, [1, -2, 3, 4.5]), JSON.stringify(vals(u)));
  }
  const w = ck.distributed.allReduce(t.clone(), { async: true });
  report('allReduce async: wait()', w.wait() === true);
  const b = t.clone();
  ck.distributed.broadcast(b, 0);
  report('broadcast', same(b, [1, -2, 3, 4.5]));
  const g = [ck.zeros([4]).to(dev)];
  ck.distributed.allGather(g, t);
  report('allGather', same(g[0], [1, -2, 3, 4.5]));
  const r = ck.zeros([4]).to(dev);
  ck.distributed.reduceScatter(r, [t]);
  report('reduceScatter', same(r, [1, -2, 3, 4.5]));
  ck.distributed.barrier();
  report('barrier', true);
  const withDdp = train(dev, 1, 0, true);
  const without = train(dev, 1, -1, false);
  const { d } = maxDiff(withDdp, without);
  report(`DDP on ${dev}, ${STEPS} steps, world size 1 = plain training`, d === 0, `max |diff| ${d.toExponential(2)}`);
  ck.distributed.destroyProcessGroup();
}

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

async function twoRanks() {
  const port = await freePort();
  const n = ck.cuda.deviceCount();
  const outs = await Promise.all([0, 1].map((r) => new Promise((resolve) => {
    const p = spawn(process.execPath, [__filename], {
      env: { ...process.env, CONVKIT_NCCL_CHILD: '1', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), RANK: String(r), LOCAL_RANK: String(r), WORLD_SIZE: '2' },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 120000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  })));
  outs.forEach((o, r) => report(`rank ${r} of 2 ran`, o.code === 0, o.code === 0 ? '' : `exit ${o.code}: ${o.err.slice(-2000)}`));
  if (outs.some((o) => o.code !== 0)) return;
  const got = JSON.parse(outs[0].out);
  const other = JSON.parse(outs[1].out);
  const single = train('cuda:0', 2, -1, false);
  const ranksAgree = maxDiff(other, got).d;
  const { d, s } = maxDiff(got, single);
  report('2 ranks end with the same parameters', ranksAgree === 0, `max |diff| ${ranksAgree.toExponential(2)}`);
  report(`2-rank DDP (${n >= 2 ? 'cuda:0 + cuda:1' : 'both on the one device'}) = single GPU on the whole batch`,
    d <= 1e-4 * Math.max(1, s), `max |diff| ${d.toExponential(2)} (largest value ${s.toFixed(3)})`);
}

async function main() {
  if (process.env.CONVKIT_NCCL_CHILD === '1') {
    ck.distributed.initProcessGroup({ backend: 'nccl', timeoutMs: 60000 });
    const rank = ck.distributed.getRank();
    const dev = `cuda:${ck.distributed.getLocalRank() % ck.cuda.deviceCount()}`;
    const sd = train(dev, 2, rank, true);
    ck.distributed.destroyProcessGroup();
    process.stdout.write(JSON.stringify(sd));
    return;
  }
  const info = ck.distributed.ncclInfo();
  console.log(`nccl: ${info.available ? `${info.version} from ${info.path}${info.emulated ? ' (the emulated stand-in)' : ''}` : 'not available'}`);
  if (!info.available) {
    console.log(info.error);
    process.exit(1);
  }
  worldOfOne();
  if (process.env.CONVKIT_NCCL_RANKS === '2') await twoRanks();
  else console.log('2-rank run: not run (one GPU)');
  console.log(failures ? `nccl-check: ${failures} failure(s)` : 'nccl-check: all passed');
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
