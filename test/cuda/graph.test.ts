/**
 * CUDA graphs (issue 17, must-show 3): a whole training step (forward, backward, SGD step; and capturable AdamW
 * with gradient clipping under a cosine schedule whose learning rate changes between replays) captured once and
 * replayed 50 times gives bit-identical parameters to the same 50 steps run eagerly, dropout masks included (the
 * replay draws from the random stream's counter at replay time, as the eager step does). On the emulated device
 * the capture records every launch and copy and the replay runs them again on the same memory.
 */
import * as ck from '../../lib';
import { getRngState, setRngState } from '../../lib/random';
import { pinNativeConv, requireCuda } from './helpers';

const { nn, optim } = ck;
beforeAll(requireCuda);
pinNativeConv();

function net(): ck.nn.Module {
  return new nn.Sequential(
    new nn.Conv2d(3, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Dropout(0.25), new nn.Linear(4 * 2 * 2, 5),
  );
}

function trainer(model: ck.nn.Module) {
  const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  return {
    opt,
    step(x: ck.Tensor, y: ck.Tensor): ck.Tensor {
      return ck.tidy(() => {
        opt.zeroGrad();
        const loss = nn.functional.crossEntropy(model.forward(x) as ck.Tensor, y);
        loss.backward();
        opt.step();
        return loss;
      });
    },
  };
}

test('a captured and replayed training step is bit-identical to the eager step after 50 steps', () => {
  const STEPS = 50;
  ck.manualSeed(21);
  const data = Array.from({ length: STEPS + 2 }, () => ({ x: ck.randn([2, 3, 4, 4]), y: ck.randint(0, 5, [2], { dtype: 'int32' }) }));
  ck.manualSeed(22);
  const eagerModel = net().to('cuda');
  ck.manualSeed(22);
  const graphModel = net().to('cuda');
  const eager = trainer(eagerModel), graphed = trainer(graphModel);
  const sx = ck.zeros([2, 3, 4, 4], { device: 'cuda' });
  const sy = ck.zeros([2], { dtype: 'int32', device: 'cuda' });
  // warm-up, eagerly on both: the optimizer's momentum buffers exist before the capture
  for (let i = 0; i < 2; i++) {
    const rng = getRngState(); // both sides draw the same dropout masks
    eager.step(data[i].x.cuda(), data[i].y.cuda()).dispose();
    sx.copy_(data[i].x);
    sy.copy_(data[i].y);
    setRngState(rng);
    graphed.step(sx, sy).dispose();
  }
  const g = new ck.cuda.CUDAGraph();
  ck.cudaStats.enable();
  const staticLoss = g.capture(() => graphed.step(sx, sy));
  const captured = ck.cuda.stats();
  expect(captured.hostSyncs).toBe(0);
  expect(g.nodes).toBeGreaterThan(20);
  const losses: [number, number][] = [];
  for (let i = 2; i < STEPS + 2; i++) {
    const rng = getRngState();
    const want = eager.step(data[i].x.cuda(), data[i].y.cuda());
    sx.copy_(data[i].x);
    sy.copy_(data[i].y);
    setRngState(rng); // the replay's dropout starts where the eager step's did: a new mask every step
    g.replay();
    losses.push([staticLoss.item(), want.item()]);
    want.dispose();
  }
  const s = ck.cuda.stats();
  ck.cudaStats.disable();
  expect(s.graphReplays).toBe(STEPS);
  for (const [got, want] of losses) expect(got).toBe(want);
  const pe = [...eagerModel.parameters()], pg = [...graphModel.parameters()];
  for (let k = 0; k < pe.length; k++) expect([...pg[k].dataSync()]).toEqual([...pe[k].dataSync()]);
  // the running statistics were updated by the replays too
  const be = eagerModel.stateDict(), bg = graphModel.stateDict();
  expect([...bg['1.running_var'].dataSync()]).toEqual([...be['1.running_var'].dataSync()]);
  g.reset();
  staticLoss.dispose();
  for (const p of [...pe, ...pg, sx, sy]) p.dispose();
});

test('capturable AdamW + cosine schedule + clipGradNorm_: 50 replays are bit-identical to 50 eager steps', () => {
  const STEPS = 50;
  const WARM = 3;
  ck.manualSeed(31);
  // pinned batches: then every upload of the loop, the optimizer's learning-rate writes included, is a pinned one
  const data = Array.from({ length: STEPS + WARM }, () => ({ x: ck.randn([2, 3, 4, 4]).pinMemory(), y: ck.randint(0, 5, [2], { dtype: 'int32' }).pinMemory() }));
  const make = () => {
    ck.manualSeed(32);
    const model = net().to('cuda');
    const opt = new optim.AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0.05, capturable: true });
    const sched = new optim.lrScheduler.CosineAnnealingLR(opt, STEPS + WARM);
    const step = (x: ck.Tensor, y: ck.Tensor): ck.Tensor =>
      ck.tidy(() => {
        opt.zeroGrad();
        const loss = nn.functional.crossEntropy(model.forward(x) as ck.Tensor, y);
        loss.backward();
        nn.utils.clipGradNorm_(model.parameters(), 0.5);
        opt.step();
        return loss;
      });
    return { model, opt, sched, step };
  };
  const eager = make(), graphed = make();
  const sx = ck.zeros([2, 3, 4, 4], { device: 'cuda' });
  const sy = ck.zeros([2], { dtype: 'int32', device: 'cuda' });
  for (let i = 0; i < WARM; i++) {
    const rng = getRngState(); // both sides draw the same dropout masks
    eager.step(data[i].x.cuda(), data[i].y.cuda()).dispose();
    eager.sched.step();
    sx.copy_(data[i].x);
    sy.copy_(data[i].y);
    setRngState(rng);
    graphed.step(sx, sy).dispose();
    graphed.sched.step();
  }
  const g = new ck.cuda.CUDAGraph();
  ck.cudaStats.enable();
  const staticLoss = g.capture(() => graphed.step(sx, sy));
  expect(ck.cuda.stats().hostSyncs).toBe(0);
  const lrs: number[] = [];
  const losses: [number, number][] = [];
  for (let i = WARM; i < STEPS + WARM; i++) {
    const rng = getRngState();
    const want = eager.step(data[i].x.cuda(), data[i].y.cuda());
    eager.sched.step();
    sx.copy_(data[i].x);
    sy.copy_(data[i].y);
    setRngState(rng); // the replay's dropout starts where the eager step's did: a new mask every step
    g.replay();
    graphed.sched.step(); // the new lr reaches the next replay through the optimizer's device buffer
    lrs.push(graphed.opt.paramGroups[0].lr);
    losses.push([staticLoss.item(), want.item()]);
    want.dispose();
  }
  const s = ck.cuda.stats();
  ck.cudaStats.disable();
  expect(s.graphReplays).toBe(STEPS);
  expect(s.uploadsPageable).toBe(0); // the lr uploads go through pinned staging
  expect(new Set(lrs).size).toBe(STEPS); // the schedule really changed the lr at every step
  for (const [got, want] of losses) expect(got).toBe(want);
  const pe = [...eager.model.parameters()], pg = [...graphed.model.parameters()];
  for (let k = 0; k < pe.length; k++) expect([...pg[k].dataSync()]).toEqual([...pe[k].dataSync()]);
  // the device step counts advanced with every replay; state dicts carry them and load back onto the device
  const sd = graphed.opt.stateDict();
  expect([...(sd.state[0].step as ck.Tensor).dataSync()]).toEqual([STEPS + WARM]);
  const again = new optim.AdamW(pg, { capturable: true });
  again.loadStateDict(sd);
  const st = again.state.get(pg[0])!.step as ck.Tensor;
  expect(st.device.type).toBe('cuda');
  expect([...st.dataSync()]).toEqual([STEPS + WARM]);
  for (const v of Object.values(sd.state)) for (const t of Object.values(v)) if (t instanceof ck.Tensor) t.dispose();
  again.dispose();
  g.reset();
  staticLoss.dispose();
  eager.opt.dispose();
  graphed.opt.dispose();
  for (const p of [...pe, ...pg, sx, sy]) p.dispose();
});

test("capturable AdamW on the emulated device gives the CPU's bits (device step counts, device lr buffer)", () => {
  ck.manualSeed(41);
  const init = [ck.randn([3, 5]), ck.randn([40, 37]), ck.randn([7])];
  const grads = Array.from({ length: 6 }, () => init.map((t) => ck.randn([...t.shape])));
  const run = (device: 'cpu' | 'cuda') => {
    const ps = init.map((t) => t.to(device).requiresGrad_());
    const opt = new optim.AdamW(ps, { lr: 3e-2, weightDecay: 0.1, amsgrad: true, capturable: true });
    grads.forEach((gs, k) => {
      opt.paramGroups[0].lr = 3e-2 / (k + 1);
      ps.forEach((p, i) => {
        p.grad?.dispose();
        p.grad = gs[i].to(device);
      });
      opt.step();
    });
    const out = ps.map((p) => [...p.dataSync()]);
    opt.dispose();
    ps.forEach((p) => p.dispose());
    return out;
  };
  expect(run('cuda')).toEqual(run('cpu'));
});

test('a synchronisation inside a capture is ERR_CUDA and leaves the device usable; Adam without capturable refuses to be captured', () => {
  const x = ck.ones([4], { device: 'cuda' });
  const g = new ck.cuda.CUDAGraph();
  expect(() => g.capture(() => x.mul(2).sum().item())).toThrow(/not permitted while a CUDA graph is being captured/);
  expect(() => g.replay()).toThrow(/nothing captured/);
  expect([...x.mul(3).dataSync()]).toEqual([3, 3, 3, 3]);
  const w = ck.ones([2], { device: 'cuda' }).requiresGrad_();
  const adam = new optim.Adam([w]);
  w.mul(2).sum().backward();
  adam.step(); // eager step: creates the state
  w.mul(2).sum().backward();
  const g2 = new ck.cuda.CUDAGraph();
  expect(() => g2.capture(() => adam.step())).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED', message: expect.stringMatching(/capturable: true/) }));
  // a capturable optimizer captured before any eager step would create its state inside the graph
  const cold = new optim.AdamW([w], { capturable: true });
  const g3 = new ck.cuda.CUDAGraph();
  expect(() => g3.capture(() => cold.step())).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED', message: expect.stringMatching(/eagerly first/) }));
  cold.dispose();
  expect([...w.add(0).dataSync()].every(Number.isFinite)).toBe(true);
  x.dispose();
  w.dispose();
});
