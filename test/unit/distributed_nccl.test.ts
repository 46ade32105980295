/**
 * Issue 20, backend 'nccl'. NCCL is found at run time by the same search as cuDNN (CONVKIT_NCCL_PATH, the
 * loader path, pip's nvidia-nccl wheels, PyTorch's torch/lib), checked here on a fake directory tree.
 * On the emulated CUDA build the search ends at convkit_nccl_emu.so beside convkit.node: an emulated NCCL
 * with NCCL's C ABI doing the collectives on host memory (emulated device memory) between processes, so the
 * NCCL code path of convkit.node (the unique-id exchange through the TCP store, collectives in stream order,
 * events, ncclCommGetAsyncError polling, ncclCommAbort) runs in CI as it runs on a real NCCL:
 *   - 2 ranks: every collective on CUDA tensors against the value it must give;
 *   - 2 ranks: DDP of the CIFAR-10 CNN on emulated CUDA tensors, 3 steps, equal to Gloo/CPU DDP and to
 *     single-process training on the concatenated batch (eval-mode BatchNorm, where the two are the same
 *     computation), to float tolerance; in training mode (per-rank statistics, rank 0's buffers broadcast)
 *     equal to Gloo DDP on the same emulated CUDA tensors;
 *   - a killed rank: the survivor's collective fails with ERR_DIST naming it.
 * On the CPU build backend 'nccl' is refused, saying why. Images are 3x8x8, 2 per rank: seconds on 2 cores.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ck from '../../lib';
import { binaryPath } from '../../lib/binding';
import { childEnv } from '../helpers/compiled_lib';
import { freePort, run, runRanks, writeScript } from '../integration/distributed_helpers';

const emu = ck.cuda.isAvailable();
const [B, STEPS, C, H, W] = [2, 3, 3, 8, 8];
const LR = 0.01;
let dir = '';
type SD = Record<string, number[]>;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-nccl-'));
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// Reports ncclInfo() of a fresh process (the search runs once per process) with the environment given.
const INFO = `process.stdout.write(JSON.stringify(ck.distributed.ncclInfo()));`;

describe('the NCCL library search (shared with cuDNN)', () => {
  test('finds libnccl.so.2 in pip layouts: torch/lib under $VIRTUAL_ENV, nvidia/nccl/lib under ~/.local', async () => {
    const venvLib = path.join(dir, 'venv', 'lib', 'python3.11', 'site-packages', 'torch', 'lib');
    const userLib = path.join(dir, 'home', '.local', 'lib', 'python3.12', 'site-packages', 'nvidia', 'nccl', 'lib');
    // On the emulated build a real candidate is the stand-in itself (a real NCCL is refused there); on the
    // CPU build a file that is no library, which the search must reach and try.
    const emuLib = path.join(path.dirname(binaryPath), 'convkit_nccl_emu.so');
    for (const d of [venvLib, userLib]) {
      fs.mkdirSync(d, { recursive: true });
      if (emu) fs.copyFileSync(emuLib, path.join(d, 'libnccl.so.2'));
      else fs.writeFileSync(path.join(d, 'libnccl.so.2'), 'not an ELF file');
    }
    const script = writeScript(dir, 'info.js', INFO);
    const env = childEnv({ VIRTUAL_ENV: path.join(dir, 'venv'), HOME: path.join(dir, 'home'), CONVKIT_NCCL_PATH: '' });
    const r = await run(process.execPath, [script], env, 30000);
    expect(r.stderr).toBe('');
    const info = JSON.parse(r.stdout);
    if (emu) {
      // $VIRTUAL_ENV comes before ~/.local; the system directories (no NCCL here) were tried first.
      expect(info).toMatchObject({ available: true, emulated: true, path: path.join(venvLib, 'libnccl.so.2') });
      expect(info.attempts.some((a: string) => a.includes('libnccl.so.2 (the dynamic loader'))).toBe(true);
    } else {
      const tried = (f: string) => info.attempts.findIndex((a: string) => a.startsWith(path.join(f, 'libnccl.so.2') + ':'));
      expect(tried(venvLib)).toBeGreaterThan(0);
      expect(tried(userLib)).toBeGreaterThan(tried(venvLib));
      expect(info.available).toBe(false);
    }
    // CONVKIT_NCCL_PATH as a directory comes first.
    const r2 = await run(process.execPath, [script], { ...env, CONVKIT_NCCL_PATH: userLib }, 30000);
    const info2 = JSON.parse(r2.stdout);
    if (emu) expect(info2.path).toBe(path.join(userLib, 'libnccl.so.2'));
    else expect(info2.attempts[0]).toMatch(new RegExp(`^CONVKIT_NCCL_PATH=${userLib} \\(${userLib}/libnccl.so.2\\): .*`));
  }, 60000);
});

if (!emu) {
  test("the CPU build refuses backend 'nccl', saying why", () => {
    expect(ck.distributed.isNcclAvailable()).toBe(false);
    expect(() => ck.distributed.initProcessGroup({ backend: 'nccl', worldSize: 1, rank: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_DIST', message: expect.stringMatching(/backend 'nccl' is not available: this convkit binary was built without CUDA/) }));
  });
}

// Rank script: collectives on CUDA tensors, DDP on emulated CUDA (train, eval), then Gloo DDP (CPU eval, CUDA train).
const WORKER = `
const fs = require('fs'), path = require('path');
const DIR = process.env.CK_DIR;
const [B, STEPS, C, H, W] = [${B}, ${STEPS}, ${C}, ${H}, ${W}];
const X = new Float32Array(new Uint8Array(fs.readFileSync(path.join(DIR, 'x.bin'))).buffer);
const Y = new Int32Array(new Uint8Array(fs.readFileSync(path.join(DIR, 'y.bin'))).buffer);
const init = JSON.parse(fs.readFileSync(path.join(DIR, 'init.json'), 'utf8'));
const rank = +process.env.RANK, ws = +process.env.WORLD_SIZE;
const per = C * H * W;
const vals = (t) => Array.from(t.cpu().dataSync());
function train(dev, mode) {
  ck.manualSeed(100 + rank); // ranks other than 0 start elsewhere: the wrap-time broadcast is tested too
  const net = ck.models.cifar10Net({ dropout: 0 });
  if (rank === 0) net.loadStateDict(Object.fromEntries(Object.entries(init).map(([k, v]) =>
    [k, ck.tensor(k.endsWith('num_batches_tracked') ? Int32Array.from(v.data) : Float32Array.from(v.data), { shape: v.shape })])));
  net.to(dev);
  if (mode === 'eval') net.eval();
  const ddp = new ck.nn.parallel.DistributedDataParallel(net, { bucketCapMb: 0.25, deviceIds: dev === 'cpu' ? undefined : [0] });
  const opt = new ck.optim.SGD(ddp.parameters(), { lr: ${LR}, momentum: 0.9 });
  const lossFn = new ck.nn.CrossEntropyLoss();
  for (let s = 0; s < STEPS; s++) {
    opt.zeroGrad();
    const i0 = (s * ws + rank) * B;
    // CPU batches: DDP's deviceIds moves them to the module's device.
    ck.tidy(() => lossFn.forward(ddp.forward(ck.tensor(X.subarray(i0 * per, (i0 + B) * per), { shape: [B, C, H, W] })),
      ck.tensor(Y.subarray(i0, i0 + B)).to(dev)).backward());
    opt.step();
  }
  return Object.fromEntries(Object.entries(net.stateDict()).map(([k, t]) => [k, vals(t)]));
}
const out = {};
ck.distributed.initProcessGroup({ backend: 'nccl', timeoutMs: 30000 });
out.info = ck.distributed.ncclInfo();
const D = ck.distributed;
const t = () => ck.tensor([rank + 1, -2 * (rank + 1), 10 * rank]).cuda();
const c = {};
for (const op of ['sum', 'avg', 'max', 'min', 'product']) { const u = t(); D.allReduce(u, { op }); c[op] = vals(u); }
{ const u = t(); D.broadcast(u, 1); c.broadcast = vals(u); }
{ const g = [ck.zeros([3]).cuda(), ck.zeros([3]).cuda()]; D.allGather(g, t()); c.allGather = g.map(vals); }
{ const o = ck.zeros([2]).cuda(); D.reduceScatter(o, [ck.tensor([1, 2]).cuda().mul(rank + 1), ck.tensor([3, 4]).cuda().mul(rank + 1)]); c.reduceScatter = vals(o); }
{ const u = ck.tensor([rank + 5], { dtype: 'int32' }).cuda(); D.allReduce(u); c.int32 = vals(u); }
{ const u = t(); const w = D.allReduce(u, { async: true }); w.wait(); c.async = [w.isCompleted(), vals(u)]; }
D.barrier();
try { D.allReduce(ck.tensor([1])); c.cpu = 'no error'; } catch (e) { c.cpu = e.code + ': ' + e.message; }
out.collectives = c;
out.ncclTrain = train('cuda', 'train');
out.ncclEval = train('cuda', 'eval');
D.destroyProcessGroup();
D.initProcessGroup({ backend: 'gloo', initMethod: 'tcp://127.0.0.1:' + process.env.CK_PORT2, rank, worldSize: ws, timeoutMs: 30000 });
out.glooEval = train('cpu', 'eval');
out.glooTrainCuda = train('cuda', 'train');
D.destroyProcessGroup();
fs.writeFileSync(path.join(DIR, 'out_' + rank + '.json'), JSON.stringify(out));
`;

// The survivor of a killed peer: its collective must fail with ERR_DIST naming rank 1, not hang.
const KILLED = `
ck.distributed.initProcessGroup({ backend: 'nccl', timeoutMs: 20000 });
const rank = ck.distributed.getRank();
const u = ck.ones([1000]).cuda();
ck.distributed.allReduce(u);
if (rank === 1) process.kill(process.pid, 'SIGKILL');
const t0 = Date.now();
try {
  for (let i = 0; i < 100; i++) ck.distributed.allReduce(u);
  console.log(JSON.stringify({ ok: true }));
} catch (e) {
  console.log(JSON.stringify({ code: e.code, message: e.message, ms: Date.now() - t0 }));
  // The group stays broken: a later call fails the same way at once.
  try { ck.distributed.allReduce(u); } catch (e2) { console.log(JSON.stringify({ again: e2.code })); }
}
`;

function maxDiff(a: SD, b: SD): { key: string; diff: number; scale: number } {
  let worst = { key: '', diff: 0, scale: 0 };
  for (const k of Object.keys(b)) {
    expect(a[k].length).toBe(b[k].length);
    let d = 0;
    let s = 0;
    for (let i = 0; i < b[k].length; i++) {
      d = Math.max(d, Math.abs(a[k][i] - b[k][i]));
      s = Math.max(s, Math.abs(b[k][i]));
    }
    if (d > worst.diff || !worst.key) worst = { key: k, diff: d, scale: s };
  }
  return worst;
}

// The same network trained in this process on the CPU, on both ranks' samples at once (eval-mode BatchNorm).
function singleProcess(ws: number, init: Record<string, { shape: number[]; data: number[] }>, X: Float32Array, Y: Int32Array): SD {
  const net = ck.models.cifar10Net({ dropout: 0 });
  net.loadStateDict(Object.fromEntries(Object.entries(init).map(([k, v]) =>
    [k, ck.tensor(k.endsWith('num_batches_tracked') ? Int32Array.from(v.data) : Float32Array.from(v.data), { shape: v.shape })])));
  net.eval();
  const opt = new ck.optim.SGD(net.parameters(), { lr: LR, momentum: 0.9 });
  const lossFn = new ck.nn.CrossEntropyLoss();
  const per = C * H * W;
  for (let s = 0; s < STEPS; s++) {
    opt.zeroGrad();
    const i0 = s * ws * B;
    ck.tidy(() => lossFn.forward(net.forward(ck.tensor(X.slice(i0 * per, (i0 + ws * B) * per), { shape: [ws * B, C, H, W] })) as ck.Tensor,
      ck.tensor(Y.slice(i0, i0 + ws * B))).backward());
    opt.step();
  }
  const out: SD = {};
  for (const [k, t] of Object.entries(net.stateDict())) out[k] = [...t.dataSync()];
  for (const t of Object.values(net.stateDict())) t.dispose();
  return out;
}

(emu ? describe : describe.skip)('backend nccl on the emulated device, through convkit_nccl_emu.so', () => {
  test('2 ranks: collectives on CUDA tensors; DDP of the CIFAR-10 CNN = Gloo/CPU DDP = one process', async () => {
    const ws = 2;
    ck.manualSeed(7);
    const n = STEPS * ws * B;
    const X = ck.rand([n * C * H * W]).mul(2).sub(1).dataSync() as Float32Array;
    const Y = ck.randint(0, 10, [n]).dataSync() as Int32Array;
    fs.writeFileSync(path.join(dir, 'x.bin'), Buffer.from(X.buffer));
    fs.writeFileSync(path.join(dir, 'y.bin'), Buffer.from(Y.buffer));
    ck.manualSeed(0);
    const net = ck.models.cifar10Net({ dropout: 0 });
    const init: Record<string, { shape: number[]; data: number[] }> = {};
    for (const [k, t] of Object.entries(net.stateDict())) init[k] = { shape: [...t.shape], data: [...t.dataSync()] };
    fs.writeFileSync(path.join(dir, 'init.json'), JSON.stringify(init));

    const script = writeScript(dir, 'worker.js', WORKER);
    const res = await runRanks(script, ws, await freePort(), { CK_DIR: dir, CK_PORT2: String(await freePort()) }, 120000);
    for (const r of res) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const out = [0, 1].map((r) => JSON.parse(fs.readFileSync(path.join(dir, `out_${r}.json`), 'utf8')));
    expect(out[0].info).toMatchObject({ available: true, emulated: true, path: path.join(path.dirname(binaryPath), 'convkit_nccl_emu.so') });

    // Rank r's tensor is [r+1, -2(r+1), 10r].
    for (const [r, o] of out.entries()) {
      expect(o.collectives).toEqual({
        sum: [3, -6, 10], avg: [1.5, -3, 5], max: [2, -2, 10], min: [1, -4, 0], product: [2, 8, 0],
        broadcast: [2, -4, 10], allGather: [[1, -2, 0], [2, -4, 10]],
        reduceScatter: r === 0 ? [3, 6] : [9, 12], int32: [11], async: [true, [3, -6, 10]],
        cpu: expect.stringMatching(/^ERR_DEVICE: allReduce: backend 'nccl' takes CUDA tensors/),
      });
    }
    const keys = Object.keys(out[0].ncclTrain).filter((k) => !/running_|num_batches/.test(k));
    const params = (sd: SD) => Object.fromEntries(keys.map((k) => [k, sd[k]]));
    // Both ranks end with the same parameters; the run moved them (the comparisons are not vacuous).
    expect(maxDiff(params(out[1].ncclTrain), params(out[0].ncclTrain)).diff).toBe(0);
    const moved = maxDiff(params(out[0].ncclTrain), Object.fromEntries(keys.map((k) => [k, init[k].data])));
    expect(moved.diff).toBeGreaterThan(1e-3);
    // NCCL on the emulated device (its kernels) = Gloo on the CPU (the CPU kernels), parameters and buffers.
    // In eval mode: with 2 images per rank, training-mode BatchNorm over 8 values per channel amplifies the
    // two kernel sets' last-bit differences (one process alone, CPU against emulated CUDA: ~3e-3).
    const g = maxDiff(out[0].ncclEval, out[0].glooEval);
    expect(g.diff).toBeLessThan(2e-4 * Math.max(1, g.scale));
    // Training mode (per-rank statistics, rank 0's buffers broadcast each forward) on the same kernels: NCCL =
    // Gloo staging the same emulated CUDA tensors through the host, parameters and buffers.
    const tr = maxDiff(out[0].ncclTrain, out[0].glooTrainCuda);
    expect(tr.diff).toBeLessThan(1e-6 * Math.max(1, tr.scale));
    // = one process on the concatenated batch.
    const s = maxDiff(out[0].ncclEval, singleProcess(ws, init, X, Y));
    expect(s.diff).toBeLessThan(2e-4 * Math.max(1, s.scale));
    process.stdout.write(`nccl (emulated) DDP: moved ${moved.diff.toExponential(2)}; vs Gloo/CPU DDP ${g.diff.toExponential(2)} (${g.key}); ` +
      `train mode vs Gloo on the same tensors ${tr.diff.toExponential(2)}; ` +
      `vs one process ${s.diff.toExponential(2)} (${s.key})\n`);
  }, 120000);

  test('a killed rank: the survivor fails with ERR_DIST naming it, and stays failed', async () => {
    const script = writeScript(dir, 'killed.js', KILLED);
    const res = await runRanks(script, 2, await freePort(), {}, 60000);
    expect(res[1].signal).toBe('SIGKILL');
    const lines = res[0].stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ code: 'ERR_DIST', message: expect.stringMatching(/failed on rank 0 of 2 \(backend nccl.*NCCL error.*lost rank 1\b/) });
    expect(lines[0].ms).toBeLessThan(20000);
    expect(lines[1]).toEqual({ again: 'ERR_DIST' });
  }, 60000);
});
