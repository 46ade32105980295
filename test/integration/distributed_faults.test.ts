/**
 * Must-show 2 of issue 20, and the process group's other refusals: a rank killed mid-training makes every
 * survivor fail within the timeout with an ERR_DIST error naming the lost rank, and `convkit launch` exits
 * non-zero naming it; a rank that never joins, a rank 0 that never comes, a peer that stops answering and
 * mismatched world sizes are ERR_DIST errors, not hangs.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ck from '../../lib';
import { childEnv } from '../helpers/compiled_lib';
import { Done, freePort, lib, run, runRanks, writeScript } from './distributed_helpers';

let dir = '';
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-dist-faults-'));
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// DDP training of a small network; the rank named by KILL_RANK kills itself (SIGKILL) at step 3. Every
// failure is printed as one JSON line: the error's code and message, and how long after the last good step.
const TRAIN = `
const timeoutMs = Number(process.env.TIMEOUT_MS);
let last = Date.now();
try {
  ck.distributed.initProcessGroup({ backend: 'gloo', timeoutMs });
  const rank = ck.distributed.getRank();
  ck.manualSeed(rank);
  const net = new ck.nn.Sequential(new ck.nn.Linear(8, 16), new ck.nn.ReLU(), new ck.nn.Linear(16, 2));
  const ddp = new ck.nn.parallel.DistributedDataParallel(net);
  const opt = new ck.optim.SGD(ddp.parameters(), { lr: 0.1 });
  for (let step = 0; step < 50; step++) {
    if (step === 3 && rank === Number(process.env.KILL_RANK)) process.kill(process.pid, 'SIGKILL');
    opt.zeroGrad();
    ck.tidy(() => ddp.forward(ck.randn([4, 8])).pow(2).mean().backward());
    opt.step();
    last = Date.now();
  }
  console.log(JSON.stringify({ ok: true }));
} catch (e) {
  console.log(JSON.stringify({ code: e.code, message: e.message, afterMs: Date.now() - last }));
  process.exitCode = 1;
}
`;

const outcome = (d: Done) => JSON.parse(d.stdout.trim().split('\n').pop() || '{}');

test('a rank killed mid-training: every survivor fails within the timeout naming it', async () => {
  const script = writeScript(dir, 'train.js', TRAIN);
  const res = await runRanks(script, 3, await freePort(), { TIMEOUT_MS: '20000', KILL_RANK: '1' }, 60000);
  expect(res[1].signal).toBe('SIGKILL');
  for (const r of [0, 2]) {
    const o = outcome(res[r]);
    expect(res[r].code).toBe(1);
    expect(o.code).toBe('ERR_DIST');
    // Rank 1 is named; a survivor may also see the other survivor gone already (it exits on its own error
    // first), so "lost ranks 1, 2" is as right as "lost rank 1".
    expect(o.message).toMatch(/lost ranks? (?:\d+, )*1\b/);
    expect(o.afterMs).toBeLessThan(20000);
  }
});

test('convkit launch stops the other ranks when one dies and exits non-zero naming it', async () => {
  const script = writeScript(dir, 'train.js', TRAIN);
  const port = await freePort();
  const r = await run(process.execPath, [lib().cli, 'launch', '--nproc-per-node', '3', '--master-port', String(port), script],
    childEnv({ TIMEOUT_MS: '20000', KILL_RANK: '2' }), 60000);
  expect(r.code).toBe(128 + os.constants.signals.SIGKILL);
  expect(r.stderr).toMatch(/convkit launch: rank 2 \(local rank 2, pid \d+\) was killed by SIGKILL; stopped the other ranks/);
  // A clean run exits 0, and the script's own arguments reach it untouched.
  const ok = writeScript(dir, 'ok.js', `ck.distributed.initProcessGroup({ timeoutMs: 20000 }); ck.distributed.barrier();
console.log(JSON.stringify({ rank: ck.distributed.getRank(), local: process.env.LOCAL_RANK, args: process.argv.slice(2) }));`);
  const good = await run(process.execPath, [lib().cli, 'launch', '--nproc-per-node', '2', '--master-port', String(await freePort()), ok, '--lr', '3'], childEnv(), 60000);
  expect(good.code).toBe(0);
  const lines = good.stdout.trim().split('\n').map((l) => JSON.parse(l)).sort((a, b) => a.rank - b.rank);
  expect(lines).toEqual([{ rank: 0, local: '0', args: ['--lr', '3'] }, { rank: 1, local: '1', args: ['--lr', '3'] }]);
});

const JOIN = `
const t0 = Date.now();
try {
  ck.distributed.initProcessGroup({ timeoutMs: 1500 });
  ck.distributed.allReduce(ck.ones([3]));
  if (process.env.STALL_RANK === String(ck.distributed.getRank())) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 6000); }
  else ck.distributed.allReduce(ck.ones([3]));
  console.log(JSON.stringify({ ok: true }));
} catch (e) {
  console.log(JSON.stringify({ code: e.code, message: e.message, ms: Date.now() - t0 }));
}
`;

test('a rank that never joins, or a missing rank 0, is a timeout error naming it, not a hang', async () => {
  const script = writeScript(dir, 'join.js', JOIN);
  const res = await runRanks(script, 3, await freePort(), {}, 30000, [0, 1]);
  for (const r of res) {
    const o = outcome(r);
    expect(o.code).toBe('ERR_DIST');
    expect(o.message).toMatch(/timed out after 1500 ms waiting for rank 2 to join \(world size 3; joined: 0, 1\)/);
    expect(o.ms).toBeLessThan(10000);
  }
  const [alone] = await runRanks(script, 2, await freePort(), {}, 30000, [1]);
  expect(outcome(alone)).toMatchObject({ code: 'ERR_DIST', message: expect.stringMatching(/rank 1 could not reach the rendezvous store .* rank 0 never arrived/) });
});

test('a peer that stops answering: the collective times out with ERR_DIST instead of hanging', async () => {
  const script = writeScript(dir, 'join.js', JOIN);
  const res = await runRanks(script, 2, await freePort(), { STALL_RANK: '1' }, 30000);
  const o = outcome(res[0]);
  expect(o.code).toBe('ERR_DIST');
  expect(o.message).toMatch(/allReduce failed on rank 0 of 2 \(timeout 1500 ms\)/);
  // The timeout, then up to 1 s asking the store who left and up to 3 s keeping the store up for the others.
  expect(o.ms).toBeLessThan(1500 + 4000 + 3000);
});

test('ranks started with different world sizes are told so', async () => {
  const script = writeScript(dir, 'join.js', JOIN);
  const port = await freePort();
  const [r0, r1] = await Promise.all([0, 1].map((r) => run(process.execPath, [script], childEnv({
    MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), RANK: String(r), WORLD_SIZE: String(r + 2),
  }), 30000)));
  for (const r of [r0, r1]) expect(outcome(r)).toMatchObject({ code: 'ERR_DIST', message: expect.stringMatching(/world size mismatch: rank \d was started with WORLD_SIZE=\d, rank \d with WORLD_SIZE=\d/) });
});

describe('in-process checks', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
    jest.restoreAllMocks();
  });

  // A binary without a loadable convkit_gloo.so is tested for real (child processes) in
  // test/unit/distributed_loading.test.ts.
  test('nccl is refused clearly', () => {
    expect(() => ck.distributed.initProcessGroup({ backend: 'nccl' })).toThrow(expect.objectContaining({ code: 'ERR_DIST', message: expect.stringMatching(/backend 'nccl' is not available/) }));
  });

  test('arguments and state: coded errors before any network', () => {
    expect(ck.distributed.isGlooAvailable()).toBe(true); // CI installs libgloo-dev
    expect(() => ck.distributed.allReduce(ck.ones([2]))).toThrow(expect.objectContaining({ code: 'ERR_DIST', message: expect.stringMatching(/no process group/) }));
    expect(() => ck.distributed.initProcessGroup({ backend: 'mpi' as never })).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    expect(() => ck.distributed.initProcessGroup({ rank: 2, worldSize: 2 })).toThrow(expect.objectContaining({ code: 'ERR_ARG', message: expect.stringMatching(/rank 2 is outside the world of size 2/) }));
    delete process.env.MASTER_ADDR;
    expect(() => ck.distributed.initProcessGroup({ rank: 0, worldSize: 2 })).toThrow(expect.objectContaining({ code: 'ERR_ARG', message: expect.stringMatching(/MASTER_ADDR is not set/) }));
    expect(() => ck.distributed.initProcessGroup({ initMethod: 'file:///x' })).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
  });

  test('a world of one runs every collective in process', () => {
    delete process.env.MASTER_ADDR;
    delete process.env.MASTER_PORT;
    ck.distributed.initProcessGroup({ backend: 'gloo', timeoutMs: 5000 });
    try {
      expect(ck.distributed.getWorldSize()).toBe(1);
      const t = ck.tensor([1, 2, 3]);
      ck.distributed.allReduce(t, { op: 'avg' });
      expect([...t.dataSync()]).toEqual([1, 2, 3]);
      const w = ck.distributed.broadcast(t, 0, { async: true })!;
      expect(w.wait()).toBe(true);
      const outs = [ck.zeros([3])];
      ck.distributed.allGather(outs, t);
      expect([...outs[0].dataSync()]).toEqual([1, 2, 3]);
      expect(() => ck.distributed.allReduce(ck.tensor([1, 2], { dtype: 'int32' }), { op: 'avg' })).toThrow(expect.objectContaining({ code: 'ERR_DTYPE' }));
      expect(() => ck.distributed.allReduce(ck.ones([2, 3]).transpose(0, 1))).toThrow(expect.objectContaining({ code: 'ERR_ARG', message: expect.stringMatching(/contiguous/) }));
      expect(() => ck.distributed.initProcessGroup()).toThrow(expect.objectContaining({ code: 'ERR_DIST', message: expect.stringMatching(/already initialized/) }));
    } finally {
      ck.distributed.destroyProcessGroup();
    }
  });
});
