/**
 * The asynchronous training step (issue 17, must-shows 1 and 4): a step synchronises the host with the device
 * once, where the user reads the loss; uploads from pinned memory need no staging; an invalid class index is a
 * device-side error raised at the next synchronisation, after which the process goes on.
 *
 * Counts come from the runtime (ck.cuda.stats()). The CIFAR-10 CNN trains for real on small inputs and matches
 * the CPU; the 20-step counts of the CIFAR-10 CNN and ResNet-18 at 32x32 come from a dry run (the launches are
 * recorded, not emulated: the same dispatcher and runtime code, at shapes too slow to emulate in CI).
 */
import * as ck from '../../lib';
import { pinNativeConv, requireCuda } from './helpers';

const { nn, optim } = ck;
// The schedule and asan passes (CONVKIT_MEMORY_STEPS set) rerun the same kernels: fewer real steps there.
const REAL_STEPS = process.env.CONVKIT_MEMORY_STEPS ? 3 : 20;
const COUNTED_STEPS = process.env.CONVKIT_MEMORY_STEPS ? 5 : 20;

interface Trainer {
  step(): number;
  opt: ck.optim.AdamW;
}

function trainer(model: ck.nn.Module, device: 'cpu' | 'cuda', xs: ck.Tensor, ys: ck.Tensor): Trainer {
  const opt = new optim.AdamW(model.parameters(), { lr: 1e-3 });
  const sched = new optim.lrScheduler.CosineAnnealingLR(opt, 20);
  const lossFn = new nn.CrossEntropyLoss();
  const step = (): number =>
    ck.tidy(() => {
      const x = xs.to(device, { nonBlocking: true });
      const y = ys.to(device, { nonBlocking: true });
      opt.zeroGrad();
      const loss = lossFn.forward(model.forward(x) as ck.Tensor, y);
      loss.backward();
      nn.utils.clipGradNorm_(model.parameters(), 1.0);
      opt.step();
      sched.step();
      return loss.item();
    });
  return { step, opt };
}

// Runs `steps` steps with the counters on and returns each step's counter deltas.
function countSteps(t: Trainer, steps: number, dryRun: boolean): { syncs: number[]; pageable: number; pinned: number; losses: number[] } {
  ck.cudaStats.enable({ dryRun });
  try {
    const syncs: number[] = [];
    const losses: number[] = [];
    let prev = ck.cuda.stats().hostSyncs;
    for (let i = 0; i < steps; i++) {
      losses.push(t.step());
      const now = ck.cuda.stats().hostSyncs;
      syncs.push(now - prev);
      prev = now;
    }
    const s = ck.cuda.stats();
    return { syncs, pageable: s.uploadsPageable, pinned: s.uploadsPinned, losses };
  } finally {
    ck.cudaStats.disable();
  }
}

function batch(n: number, size: number): { xs: ck.Tensor; ys: ck.Tensor } {
  return { xs: ck.randn([n, 3, size, size]).pinMemory(), ys: ck.randint(0, 10, [n], { dtype: 'int32' }).pinMemory() };
}

beforeAll(requireCuda);
pinNativeConv(); // FP32 convolutions, so the CUDA run can equal the CPU's

describe('one host synchronisation per training step', () => {
  test(`CIFAR-10 CNN, AdamW + clipGradNorm_ + cosine schedule, ${REAL_STEPS} real steps: 1 sync per step, no pageable upload, equal to the CPU`, () => {
    ck.manualSeed(1);
    const { xs, ys } = batch(2, 8);
    expect(xs.isPinned()).toBe(true);
    ck.manualSeed(2);
    const cpuModel = ck.models.cifar10Net();
    ck.manualSeed(2);
    const gpuModel = ck.models.cifar10Net().to('cuda');
    const cpu = trainer(cpuModel, 'cpu', xs, ys);
    const gpu = trainer(gpuModel, 'cuda', xs, ys);
    ck.manualSeed(5); // the dropout masks: the same stream on both devices
    const cpuLosses = Array.from({ length: REAL_STEPS }, () => cpu.step());
    ck.manualSeed(5);
    const r = countSteps(gpu, REAL_STEPS, false);
    expect(r.syncs).toEqual(new Array(REAL_STEPS).fill(1));
    expect(r.pageable).toBe(0);
    expect(r.pinned).toBeGreaterThanOrEqual(2 * REAL_STEPS); // the batch, and the optimizer's table from the pinned pool
    for (let i = 0; i < REAL_STEPS; i++) expect([i, Math.abs(r.losses[i] - cpuLosses[i]) <= 1e-4 * (1 + Math.abs(cpuLosses[i]))]).toEqual([i, true]);
    // A convolution's bias just before a BatchNorm gets a zero gradient up to rounding, which Adam's m / sqrt(v)
    // turns into full-size steps of noise on either device; those biases and the running means they shift are
    // left out (every conv weight, BatchNorm affine parameter, running variance and the classifier must agree).
    const noise = new Set([...cpuModel.namedModules()].filter(([, m]) => m instanceof nn.Conv2d).map(([n]) => `${n}.bias`));
    const want = cpuModel.stateDict();
    let compared = 0;
    for (const [k, v] of Object.entries(gpuModel.stateDict())) {
      if (noise.has(k) || k.endsWith('running_mean')) continue;
      const got = v.cpu();
      const diff = got.sub(want[k]).abs().max().item();
      expect([k, diff <= 1e-4]).toEqual([k, true]);
      got.dispose();
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(20);
    for (const m of [cpuModel, gpuModel]) for (const p of m.parameters()) p.dispose();
    xs.dispose();
    ys.dispose();
  });

  // Emulated: a dry run (recorded launches, the same runtime traffic); on a GPU the steps run for real.
  const dry = ck.cuda.isEmulated();
  test(`CIFAR-10 CNN and ResNet-18 at 32x32, batch 4, ${COUNTED_STEPS} steps${dry ? ' (dry run)' : ''}: exactly 1 sync per step, no pageable upload`, () => {
    for (const make of [() => ck.models.cifar10Net(), () => ck.models.resnet18({ numClasses: 10 })]) {
      ck.manualSeed(3);
      const { xs, ys } = batch(4, 32);
      const model = make().to('cuda');
      const t = trainer(model, 'cuda', xs, ys);
      const warm = countSteps(t, 1, dry); // creates the optimizer state
      expect(warm.syncs).toEqual([1]);
      const r = countSteps(t, COUNTED_STEPS, dry);
      expect(r.syncs).toEqual(new Array(COUNTED_STEPS).fill(1));
      expect(r.pageable).toBe(0);
      for (const p of model.parameters()) p.dispose();
      xs.dispose();
      ys.dispose();
    }
  });
});

describe('device-side errors', () => {
  test('a bad label raises ERR_INDEX at the next synchronisation, naming the op; the next step works', () => {
    ck.manualSeed(4);
    const model = new nn.Linear(6, 10).to('cuda');
    const opt = new optim.SGD(model.parameters(), { lr: 0.1 });
    const x = ck.randn([3, 6]).cuda();
    const step = (labels: number[]): ck.Tensor =>
      ck.tidy(() => {
        opt.zeroGrad();
        const loss = nn.functional.crossEntropy(model.forward(x), ck.tensor(labels, { dtype: 'int32', device: 'cuda' }));
        loss.backward();
        opt.step();
        return loss;
      });
    ck.cudaStats.enable();
    const bad = step([1, 12, 3]); // forward, backward and the update are queued: nothing waited
    expect(ck.cuda.stats().hostSyncs).toBe(0);
    let err: unknown = null;
    try {
      bad.item();
    } catch (e) {
      err = e;
    }
    ck.cudaStats.disable();
    expect((err as Error).name).toBe('RangeError');
    expect((err as ck.ConvkitError).code).toBe('ERR_INDEX');
    expect((err as Error).message).toMatch(/nll_loss forward .*cuda:0: target 12 at row 1 is out of range for 10 classes/);
    bad.dispose();
    ck.cuda.synchronize(); // reported once: the flag was cleared
    const good = step([1, 2, 3]);
    expect(Number.isFinite(good.item())).toBe(true);
    good.dispose();
    // ck.cuda.synchronize() is a synchronisation too
    step([0, -2, 0]).dispose();
    expect(() => ck.cuda.synchronize()).toThrow(/target -2 at row 1/);
    ck.cuda.synchronize();
    x.dispose();
    for (const p of model.parameters()) p.dispose();
  });
});

describe('pinned memory and staging', () => {
  test('pageable uploads are staged: two uploads queued back to back both arrive intact', () => {
    ck.cudaStats.enable();
    const a = ck.tensor([1, 2, 3, 4]);
    const b = ck.tensor([5, 6, 7, 8]);
    const ga = a.cuda();
    const gb = b.cuda(); // no kernel between: the first copy is still queued when the second stages
    const s = ck.cuda.stats();
    ck.cudaStats.disable();
    expect(s.uploadsPageable).toBe(2);
    expect(s.hostSyncs).toBe(0);
    expect([...ga.dataSync()]).toEqual([1, 2, 3, 4]);
    expect([...gb.dataSync()]).toEqual([5, 6, 7, 8]);
    for (const t of [a, b, ga, gb]) t.dispose();
  });

  test('a pinned tensor uploads without staging; releasing it while its copy is queued is safe', () => {
    const p = ck.tensor([9, 8, 7]).pinMemory();
    expect(p.isPinned()).toBe(true);
    expect(p.pinMemory()).toBe(p);
    ck.cudaStats.enable();
    const g = p.to('cuda', { nonBlocking: true });
    p.dispose(); // the block waits for the queued copy before anyone reuses it
    const q = ck.tensor([1, 1, 1]).pinMemory(); // may not take p's block yet
    const s = ck.cuda.stats();
    ck.cudaStats.disable();
    expect(s.uploadsPinned).toBe(1);
    expect(s.uploadsPageable).toBe(0);
    expect([...g.dataSync()]).toEqual([9, 8, 7]);
    expect(() => ck.zeros([2], { device: 'cuda' }).pinMemory()).toThrow(/only CPU tensors/);
    g.dispose();
    q.dispose();
  });
});
