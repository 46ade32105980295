/** The documented training loop, instrumented: memory after the first step and after the last. */
import * as ck from '../../lib';

export interface MemoryRun {
  first: { liveTensors: number; bytes: Record<string, number> };
  after: { liveTensors: number; bytes: Record<string, number> };
  losses: number[];
}

function snapshot(): MemoryRun['first'] {
  const m = ck.memory();
  const bytes: Record<string, number> = {};
  for (const d of m.devices) bytes[d.device] = d.bytes;
  return { liveTensors: m.liveTensors, bytes };
}

export function trainingMemoryRun(device: 'cpu' | 'cuda', steps: number, opts: { batch: number; size: number }): MemoryRun {
  ck.manualSeed(0);
  const model = ck.models.cifar10Net().to(device);
  const criterion = new ck.nn.CrossEntropyLoss({ labelSmoothing: 0.1 });
  const x = ck.randn([opts.batch, 3, opts.size, opts.size], { device });
  const y = ck.randint(0, 10, [opts.batch], { device });
  const optimizer = new ck.optim.AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.01 });
  const scheduler = new ck.optim.lrScheduler.CosineAnnealingLR(optimizer, steps);
  const losses: number[] = [];
  const step = () => {
    // The loop the README documents: everything made inside tidy() is freed at its end, except the
    // parameters' .grad (kept by autograd), the optimizer's state, and what the step returns.
    const loss = ck.tidy(() => {
      optimizer.zeroGrad();
      const l = criterion.forward(model.forward(x), y);
      l.backward();
      optimizer.step();
      return l.item();
    });
    scheduler.step();
    losses.push(loss);
  };
  step();
  const first = snapshot();
  for (let i = 1; i < steps; i++) step();
  return { first, after: snapshot(), losses };
}
