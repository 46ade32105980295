/**
 * Must-show 1 of issue 20: 2 and 3 processes with Gloo train the tutorial's CIFAR-10 CNN for 20 steps
 * with DistributedDataParallel, and their parameters match
 *   (a) PyTorch's DDP with Gloo (live, /usr/bin/python3) from the same initial weights and data shards,
 *       BatchNorm in training mode (per-rank batch statistics, rank 0's buffers broadcast each forward);
 *   (b) single-process training on the concatenated batch. With BatchNorm in training mode the two are
 *       different computations (each rank normalises by its own shard's statistics), so this is checked
 *       twice: in eval mode, where every sample's loss depends on its own input only, and in training mode
 *       with the BatchNorms converted to SyncBatchNorm (global batch statistics, as PyTorch's);
 *   (c) noSync accumulation (two micro-batches per step, the first under noSync) matches PyTorch's no_sync.
 * Ranks other than 0 start from other random weights, so the match also shows the wrap-time broadcast.
 * Dropout is 0 (its masks come from each library's own generator). Images are 3x16x16 (the network pools
 * adaptively) and 4 per rank per step, to keep the run to seconds on two cores. The learning rate is small
 * (0.01) so that the runs stay in the regime where rounding differences do not grow: the two libraries
 * agree to ~1e-7 over these steps, except where a near-tie (a max pool's two largest inputs, say) falls the
 * other way under float rounding and routes one gradient elsewhere (seen as ~1e-4 in an accumulation run
 * on another draw of the data); the tolerance (2e-4 relative to the tensor's largest value, at least 2e-4) allows that.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ck from '../../lib';
import { freePort, runRanks, TORCH_CIFAR10NET, writeScript } from './distributed_helpers';

const B = 4;
const STEPS = 20;
// SyncBatchNorm against one process: 5 steps. Normalised activations sit around 0, where a ReLU's side can
// flip under a last-bit difference in the statistics and move one element's gradient: by hand, the first
// such flip in a 2-rank run came at step 12 (gradients equal to 5e-8 before, 5e-4 after).
const SYNC_STEPS = 5;
const [C, H, W] = [3, 16, 16];
const LR = 0.01;
const MOMENTUM = 0.9;
let dir = '';

type SD = Record<string, { shape: number[]; data: number[] }>;

const CK_WORKER = `
const fs = require('fs'), path = require('path');
const [DIR, B, STEPS, C, H, W] = [process.env.CK_DIR, +process.env.CK_B, +process.env.CK_STEPS, 3, 16, 16];
const SYNC_STEPS = ${SYNC_STEPS};
ck.distributed.initProcessGroup({ backend: 'gloo', timeoutMs: 60000 });
const rank = ck.distributed.getRank(), ws = ck.distributed.getWorldSize();
const X = new Float32Array(new Uint8Array(fs.readFileSync(path.join(DIR, 'x.bin'))).buffer);
const Y = new Int32Array(new Uint8Array(fs.readFileSync(path.join(DIR, 'y.bin'))).buffer);
const init = JSON.parse(fs.readFileSync(path.join(DIR, 'init.json'), 'utf8'));
const per = C * H * W;
// Rank r's micro-batch m of step s: samples ((s * ws + r) * 2 + m) * B ...
function batch(s, m) {
  const i0 = ((s * ws + rank) * 2 + m) * B;
  return [ck.tensor(X.subarray(i0 * per, (i0 + B) * per), { shape: [B, C, H, W] }), ck.tensor(Y.subarray(i0, i0 + B))];
}
function run(mode) {
  ck.manualSeed(100 + rank);
  let net = ck.models.cifar10Net({ dropout: 0 });
  if (rank === 0) net.loadStateDict(Object.fromEntries(Object.entries(init).map(([k, v]) =>
    [k, ck.tensor(k.endsWith('num_batches_tracked') ? Int32Array.from(v.data) : Float32Array.from(v.data), { shape: v.shape })])));
  if (mode === 'sync') net = ck.nn.SyncBatchNorm.convertSyncBatchnorm(net);
  const ddp = new ck.nn.parallel.DistributedDataParallel(net, { bucketCapMb: 0.25 });
  if (mode === 'eval') ddp.eval();
  const opt = new ck.optim.SGD(ddp.parameters(), { lr: ${LR}, momentum: ${MOMENTUM} });
  const lossFn = new ck.nn.CrossEntropyLoss();
  const step = (x, y) => ck.tidy(() => lossFn.forward(ddp.forward(x), y).backward());
  for (let s = 0; s < (mode === 'accum' ? STEPS / 2 : mode === 'sync' ? SYNC_STEPS : STEPS); s++) {
    opt.zeroGrad();
    if (mode === 'accum') {
      ddp.noSync(() => step(...batch(s, 0)));
      step(...batch(s, 1));
    } else step(...batch(s, 0));
    opt.step();
  }
  const sd = ddp.stateDict();
  return { buckets: ddp.bucketNames().length, sd: Object.fromEntries(Object.entries(sd).map(([k, t]) => [k, { shape: t.shape, data: [...t.dataSync()] }])) };
}
const out = { train: run('train'), eval: run('eval'), accum: run('accum'), sync: run('sync') };
fs.writeFileSync(path.join(DIR, 'ck_' + ws + '_' + rank + '.json'), JSON.stringify(out));
ck.distributed.destroyProcessGroup();
`;

const TORCH_WORKER = `
import json, os, numpy as np, torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
${TORCH_CIFAR10NET}
torch.set_num_threads(1)
DIR, B, STEPS, C, H, W = os.environ['CK_DIR'], int(os.environ['CK_B']), int(os.environ['CK_STEPS']), 3, 16, 16
dist.init_process_group('gloo')
rank, ws = dist.get_rank(), dist.get_world_size()
X = torch.from_numpy(np.fromfile(os.path.join(DIR, 'x.bin'), dtype=np.float32)).reshape(-1, C, H, W)
Y = torch.from_numpy(np.fromfile(os.path.join(DIR, 'y.bin'), dtype=np.int32)).long()
init = json.load(open(os.path.join(DIR, 'init.json')))
def batch(s, m):
    i0 = ((s * ws + rank) * 2 + m) * B
    return X[i0:i0 + B], Y[i0:i0 + B]
def run(mode):
    torch.manual_seed(100 + rank)
    net = CIFAR10Net(0.0)
    if rank == 0:
        sd = net.state_dict()
        net.load_state_dict({k: torch.tensor(v['data'], dtype=sd[k].dtype).reshape(v['shape']) for k, v in init.items()})
    ddp = DDP(net)
    opt = torch.optim.SGD(ddp.parameters(), lr=${LR}, momentum=${MOMENTUM})
    loss_fn = torch.nn.CrossEntropyLoss()
    for s in range(STEPS // 2 if mode == 'accum' else STEPS):
        opt.zero_grad()
        if mode == 'accum':
            with ddp.no_sync():
                x, y = batch(s, 0); loss_fn(ddp(x), y).backward()
            x, y = batch(s, 1); loss_fn(ddp(x), y).backward()
        else:
            x, y = batch(s, 0); loss_fn(ddp(x), y).backward()
        opt.step()
    return {'sd': {k: {'shape': list(v.shape), 'data': v.flatten().double().tolist()} for k, v in ddp.state_dict().items()}}
out = {'train': run('train'), 'accum': run('accum')}
json.dump(out, open(os.path.join(DIR, 'torch_%d_%d.json' % (ws, rank)), 'w'))
dist.destroy_process_group()
`;

function maxDiff(a: SD, b: SD, keys: string[]): { key: string; diff: number; scale: number } {
  let worst = { key: '', diff: 0, scale: 0 };
  for (const k of keys) {
    const x = a[k].data;
    const y = b[k].data;
    expect(x.length).toBe(y.length);
    let d = 0;
    let s = 0;
    for (let i = 0; i < x.length; i++) {
      d = Math.max(d, Math.abs(x[i] - y[i]));
      s = Math.max(s, Math.abs(y[i]));
    }
    if (d > worst.diff) worst = { key: k, diff: d, scale: s };
  }
  return worst;
}

const read = (f: string) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-ddp-'));
  // Enough samples for 3 ranks x 2 micro-batches x B per step.
  const n = STEPS * 3 * 2 * B;
  ck.manualSeed(7);
  const x = ck.rand([n * C * H * W]).mul(2).sub(1).dataSync();
  const y = ck.randint(0, 10, [n]).dataSync();
  fs.writeFileSync(path.join(dir, 'x.bin'), Buffer.from(x.buffer));
  fs.writeFileSync(path.join(dir, 'y.bin'), Buffer.from(y.buffer));
  ck.manualSeed(0);
  const net = ck.models.cifar10Net({ dropout: 0 });
  const init: SD = {};
  for (const [k, t] of Object.entries(net.stateDict())) init[k] = { shape: [...t.shape], data: [...t.dataSync()] };
  fs.writeFileSync(path.join(dir, 'init.json'), JSON.stringify(init));
});

afterAll(() => {
  if (dir && !process.env.CK_KEEP_DDP_DIR) fs.rmSync(dir, { recursive: true, force: true });
});

// Single-process training on the concatenated batch of all ranks, in eval or training mode.
function singleProcess(ws: number, mode: 'eval' | 'train', steps: number): SD {
  const X = new Float32Array(new Uint8Array(fs.readFileSync(path.join(dir, 'x.bin'))).buffer);
  const Y = new Int32Array(new Uint8Array(fs.readFileSync(path.join(dir, 'y.bin'))).buffer);
  const init = read('init.json') as SD;
  const net = ck.models.cifar10Net({ dropout: 0 });
  net.loadStateDict(Object.fromEntries(Object.entries(init).map(([k, v]) =>
    [k, ck.tensor(k.endsWith('num_batches_tracked') ? Int32Array.from(v.data) : Float32Array.from(v.data), { shape: v.shape })])));
  if (mode === 'eval') net.eval();
  const opt = new ck.optim.SGD(net.parameters(), { lr: LR, momentum: MOMENTUM });
  const lossFn = new ck.nn.CrossEntropyLoss();
  const per = C * H * W;
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    ck.tidy(() => {
      const xs = new Float32Array(ws * B * per);
      const ys = new Int32Array(ws * B);
      for (let r = 0; r < ws; r++) {
        const i0 = (s * ws + r) * 2 * B;
        xs.set(X.subarray(i0 * per, (i0 + B) * per), r * B * per);
        ys.set(Y.subarray(i0, i0 + B), r * B);
      }
      lossFn.forward(net.forward(ck.tensor(xs, { shape: [ws * B, C, H, W] })) as ck.Tensor, ck.tensor(ys)).backward();
    });
    opt.step();
  }
  const out: SD = {};
  for (const [k, t] of Object.entries(net.stateDict())) out[`module.${k}`] = { shape: [...t.shape], data: [...t.dataSync()] };
  return out;
}

describe.each([2, 3])('DistributedDataParallel with %i Gloo processes', (ws) => {
  test(`20 steps of the CIFAR-10 CNN match PyTorch DDP, single-process training and no_sync accumulation`, async () => {
    const ckPort = await freePort();
    const ckScript = writeScript(dir, 'ck_worker.js', CK_WORKER);
    const torchScript = writeScript(dir, 'torch_worker.py', TORCH_WORKER);
    const env = { CK_DIR: dir, CK_B: String(B), CK_STEPS: String(STEPS) };
    const ours = await runRanks(ckScript, ws, ckPort, env, 120000);
    for (const r of ours) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const theirs = await runRanks(torchScript, ws, await freePort(), env, 120000);
    for (const r of theirs) expect({ code: r.code, stderr: r.stderr.replace(/.*UserWarning.*\n.*\n?/g, '') }).toMatchObject({ code: 0 });

    const ckOut = Array.from({ length: ws }, (_, r) => read(`ck_${ws}_${r}.json`));
    const torchOut = read(`torch_${ws}_0.json`);
    const keys = Object.keys(torchOut.train.sd);
    // The same state-dict keys as PyTorch's DDP (the module. prefix), in the same order.
    expect(Object.keys(ckOut[0].train.sd)).toEqual(keys);
    const paramKeys = keys.filter((k) => !/running_|num_batches/.test(k));
    // Every rank ends with rank 0's parameters (buffers reach the others at the next forward's broadcast).
    for (const mode of ['train', 'eval', 'accum', 'sync']) for (let r = 1; r < ws; r++) expect(maxDiff(ckOut[r][mode].sd, ckOut[0][mode].sd, paramKeys).diff).toBe(0);
    // (a) PyTorch's DDP, parameters and BatchNorm buffers.
    const a = maxDiff(ckOut[0].train.sd, torchOut.train.sd, keys);
    expect(a.diff).toBeLessThan(2e-4 * Math.max(1, a.scale));
    // (c) noSync accumulation against PyTorch's no_sync.
    const c = maxDiff(ckOut[0].accum.sd, torchOut.accum.sd, keys);
    expect(c.diff).toBeLessThan(2e-4 * Math.max(1, c.scale));
    // (b) single process on the concatenated batch: in eval mode, and in training mode with SyncBatchNorm.
    const b = maxDiff(ckOut[0].eval.sd, singleProcess(ws, 'eval', STEPS), keys);
    expect(b.diff).toBeLessThan(2e-4 * Math.max(1, b.scale));
    const sync = maxDiff(ckOut[0].sync.sd, singleProcess(ws, 'train', SYNC_STEPS), keys);
    expect(sync.diff).toBeLessThan(2e-4 * Math.max(1, sync.scale));
    // The run moved the weights well beyond the tolerance (the comparison is not vacuous).
    const init = Object.fromEntries(Object.entries(read('init.json') as SD).map(([k, v]) => [`module.${k}`, v]));
    expect(maxDiff(ckOut[0].train.sd, init, paramKeys).diff).toBeGreaterThan(0.01);
    // bucketCapMb 0.25 splits the 0.57 MB of parameters into several buckets, each reduced on its own.
    expect(ckOut[0].train.buckets).toBeGreaterThan(2);
    process.stdout.write(`ws=${ws}: max |diff| vs torch DDP ${a.diff.toExponential(2)} (${a.key}), no_sync ${c.diff.toExponential(2)}, single process ${b.diff.toExponential(2)} (eval), ${sync.diff.toExponential(2)} (SyncBatchNorm)\n`);
  }, 240000);
});
