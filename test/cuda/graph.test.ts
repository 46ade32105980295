/**
 * CUDA graphs (issue 17, must-show 3): a whole training step (forward, backward, SGD step) captured once and
 * replayed 50 times gives bit-identical parameters to the same 50 steps run eagerly. On the emulated device
 * the capture records every launch and copy and the replay runs them again on the same memory.
 */
import * as ck from '../../lib';
import { pinNativeConv, requireCuda } from './helpers';

const { nn, optim } = ck;
beforeAll(requireCuda);
pinNativeConv();

function net(): ck.nn.Module {
  return new nn.Sequential(
    new nn.Conv2d(3, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(4 * 2 * 2, 5),
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
    eager.step(data[i].x.cuda(), data[i].y.cuda()).dispose();
    sx.copy_(data[i].x);
    sy.copy_(data[i].y);
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
    const want = eager.step(data[i].x.cuda(), data[i].y.cuda());
    sx.copy_(data[i].x);
    sy.copy_(data[i].y);
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

test('a synchronisation inside a capture is ERR_CUDA and leaves the device usable; Adam refuses to be captured', () => {
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
  expect(() => g2.capture(() => adam.step())).toThrow(/capturable/);
  expect([...w.add(0).dataSync()].every(Number.isFinite)).toBe(true);
  x.dispose();
  w.dispose();
});
