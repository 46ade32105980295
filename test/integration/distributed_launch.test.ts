/**
 * The collectives across 3 processes (every reduce op, broadcast, allGather, reduceScatter, barrier, async
 * work overlapping), and must-show 3 of issue 20: two "nodes" on loopback (`convkit launch --nnodes 2`,
 * one launcher per node) train DDP to the same parameters as one node running the same number of processes;
 * and `convkit train --nproc-per-node 2` on a slice of the shipped data (the full-data accuracy comparison
 * with one process is measured by hand, see the README: it takes minutes).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { childEnv } from '../helpers/compiled_lib';
import { freePort, lib, run, runRanks, writeScript } from './distributed_helpers';

let dir = '';
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-dist-launch-'));
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const COLLECTIVES = `
const d = ck.distributed;
d.initProcessGroup({ backend: 'gloo', timeoutMs: 30000 });
const r = d.getRank(), ws = d.getWorldSize();
const out = {};
const arr = (t) => [...t.dataSync()];
for (const op of ['sum', 'avg', 'max', 'min', 'product']) {
  const t = ck.tensor([r + 1, -(r + 1), 0.5]);
  d.allReduce(t, { op });
  out[op] = arr(t);
}
const i = ck.tensor([r, 10 * r], { dtype: 'int32' });
d.allReduce(i);
out.int32 = arr(i);
const b = ck.tensor([r, r, r]);
d.broadcast(b, ws - 1);
out.broadcast = arr(b);
const g = Array.from({ length: ws }, () => ck.zeros([2, 1]));
d.allGather(g, ck.tensor([[r], [r * r]]));
out.allGather = g.map(arr);
const rs = ck.zeros([2]);
d.reduceScatter(rs, Array.from({ length: ws }, (_, k) => ck.tensor([k, r])));
out.reduceScatter = arr(rs);
// Three asynchronous all-reduces in flight at once, finished in reverse order; then a barrier.
const big = [1, 2, 3].map((k) => ck.full([100000], k * (r + 1)));
const works = big.map((t) => d.allReduce(t, { async: true }));
works.reverse().forEach((w) => w.wait());
out.async = big.map((t) => [t.dataSync()[0], t.dataSync()[99999]]);
d.barrier();
console.log(JSON.stringify(out));
d.destroyProcessGroup();
`;

test('every collective across 3 processes gives torch.distributed\'s results', async () => {
  const script = writeScript(dir, 'collectives.js', COLLECTIVES);
  const res = await runRanks(script, 3, await freePort(), {}, 60000);
  res.forEach((d, r) => {
    expect({ code: d.code, stderr: d.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(d.stdout)).toEqual({
      sum: [6, -6, 1.5], avg: [2, -2, 0.5], max: [3, -1, 0.5], min: [1, -3, 0.5], product: [6, -6, 0.125],
      int32: [3, 30], broadcast: [2, 2, 2], allGather: [[0, 0], [1, 1], [2, 4]],
      reduceScatter: [3 * r, 0 + 1 + 2], async: [[6, 6], [12, 12], [18, 18]],
    });
  });
});

// Five DDP steps of the CIFAR-10 CNN (8x8 images); rank 0 writes its parameters to OUT.
const TRAIN = `
const fs = require('fs');
ck.distributed.initProcessGroup({ backend: 'gloo', timeoutMs: 30000 });
const rank = ck.distributed.getRank(), ws = ck.distributed.getWorldSize();
ck.manualSeed(rank);
const ddp = new ck.nn.parallel.DistributedDataParallel(ck.models.cifar10Net({ dropout: 0 }));
const opt = new ck.optim.SGD(ddp.parameters(), { lr: 0.01, momentum: 0.9 });
const lossFn = new ck.nn.CrossEntropyLoss();
for (let step = 0; step < 5; step++) {
  ck.manualSeed(1000 * step + rank); // this rank's shard of the step's batch
  opt.zeroGrad();
  ck.tidy(() => lossFn.forward(ddp.forward(ck.randn([4, 3, 8, 8])), ck.randint(0, 10, [4])).backward());
  opt.step();
}
if (rank === 0) fs.writeFileSync(process.env.OUT, JSON.stringify(Object.fromEntries(Object.entries(ddp.stateDict()).map(([k, t]) => [k, [...t.dataSync()]]))));
ck.distributed.destroyProcessGroup();
`;

test('two nodes on loopback (--nnodes 2, two launchers) train to the parameters of one node with 2 processes', async () => {
  const script = writeScript(dir, 'train.js', TRAIN);
  const launch = (args: string[], out: string) =>
    run(process.execPath, [lib().cli, 'launch', ...args, script], childEnv({ OUT: path.join(dir, out), OMP_NUM_THREADS: '1' }), 120000);
  const onePort = await freePort();
  const one = await launch(['--nproc-per-node', '2', '--master-port', String(onePort)], 'one.json');
  expect({ code: one.code, stderr: one.stderr }).toEqual({ code: 0, stderr: '' });
  const port = await freePort();
  const node = (r: number) => ['--nnodes', '2', '--node-rank', String(r), '--nproc-per-node', '1', '--master-addr', '127.0.0.1', '--master-port', String(port)];
  const two = await Promise.all([launch(node(0), 'two.json'), launch(node(1), 'unused.json')]);
  for (const t of two) expect({ code: t.code, stderr: t.stderr }).toEqual({ code: 0, stderr: '' });
  const a = JSON.parse(fs.readFileSync(path.join(dir, 'one.json'), 'utf8'));
  const b = JSON.parse(fs.readFileSync(path.join(dir, 'two.json'), 'utf8'));
  expect(Object.keys(a)).toContain('module.features.0.weight');
  // The same ranks doing the same work: identical, not merely close.
  expect(b).toEqual(a);
  expect(fs.existsSync(path.join(dir, 'unused.json'))).toBe(false); // node 1 runs rank 1 only
});

test('convkit train --nproc-per-node 2: two ranks train, rank 0 alone reports and writes the run folder', async () => {
  const out = path.join(dir, 'run');
  const r = await run(process.execPath, [lib().cli, 'train', '--nproc-per-node', '2', '--limit-train', '1024', '--limit-test', '256', '--epochs', '2',
    '--out', out, '--json'], childEnv(), 300000);
  expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  expect(events.filter((e) => e.event === 'done')).toHaveLength(1); // rank 1 prints nothing
  expect(events.filter((e) => e.event === 'epoch')).toHaveLength(2);
  const done = events.find((e) => e.event === 'done');
  expect(done.test_acc).toBeGreaterThan(0.3); // chance is 0.1
  expect(fs.readdirSync(out)).toEqual(expect.arrayContaining(['final.safetensors', 'metrics.jsonl', 'report.html']));
  // The weights are the model's own (no module. prefix): `convkit eval` loads them.
  const ev = await run(process.execPath, [lib().cli, 'eval', '--weights', path.join(out, 'final.safetensors'), '--limit-test', '256', '--json'], childEnv(), 120000);
  expect(ev.code).toBe(0);
  expect(JSON.parse(ev.stdout).acc).toBeCloseTo(done.test_acc, 5);
}, 400000);
