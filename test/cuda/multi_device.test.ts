/**
 * Every device usable (issue 17, must-show 2), on two emulated devices (as CONVKIT_EMU_DEVICES=2; on a real
 * box with one GPU the suite only checks what one device allows): tensors on cuda:1 live in device 1's pool,
 * models and optimizers on cuda:0 and cuda:1 train side by side equal to the CPU, a cross-device op is
 * ERR_DEVICE, .to('cuda:1') copies between devices, and memory is reported per device.
 */
import * as ck from '../../lib';
import { native } from '../../lib/binding';
import { pinNativeConv, requireCuda } from './helpers';

const { nn, optim } = ck;
let two = false;

// CONVKIT_EMU_DEVICES=2 in the environment does the same; jest's process.env is the sandbox's copy, so
// the suite asks the emulation directly.
beforeAll(() => {
  requireCuda();
  if (ck.cuda.isEmulated()) native.emuSetDevices(2);
  two = ck.cuda.deviceCount() >= 2;
});
afterAll(() => {
  if (ck.cuda.isEmulated()) native.emuSetDevices(0);
});
pinNativeConv();

function net(): ck.nn.Module {
  return new nn.Sequential(new nn.Conv2d(2, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.Flatten(), new nn.Linear(4 * 4 * 4, 3));
}

test('the emulation has the devices CONVKIT_EMU_DEVICES asks for', () => {
  if (!ck.cuda.isEmulated()) return;
  expect(ck.cuda.deviceCount()).toBe(2);
  expect(() => ck.zeros([1], { device: 'cuda:2' })).toThrow(/does not exist/);
});

test('models and optimizers on cuda:0 and cuda:1 train side by side, equal to the CPU', () => {
  if (!two) return;
  ck.manualSeed(11);
  const x = ck.randn([3, 2, 4, 4]);
  const y = ck.tensor([0, 2, 1], { dtype: 'int32' });
  const devices = ['cpu', 'cuda:0', 'cuda:1'] as const;
  const models = devices.map((d) => {
    ck.manualSeed(12);
    return net().to(d);
  });
  const opts = models.map((m) => new optim.SGD(m.parameters(), { lr: 0.1, momentum: 0.9 }));
  const xs = devices.map((d) => x.to(d)), ys = devices.map((d) => y.to(d));
  for (let step = 0; step < 3; step++) {
    // interleaved: every op of one device's step is queued on its own stream between the other device's
    for (let i = 0; i < devices.length; i++) {
      ck.tidy(() => {
        opts[i].zeroGrad();
        const loss = nn.functional.crossEntropy(models[i].forward(xs[i]) as ck.Tensor, ys[i]);
        loss.backward();
        opts[i].step();
      });
    }
  }
  const params = models.map((m) => [...m.parameters()]);
  for (const p of params[2]) expect(p.device.toString()).toBe('cuda:1');
  for (const p of params[1]) expect(p.device.toString()).toBe('cuda:0');
  for (let k = 0; k < params[0].length; k++) {
    const want = params[0][k];
    for (const dev of [1, 2]) {
      const got = params[dev][k].cpu();
      expect(got.sub(want).abs().max().item()).toBeLessThanOrEqual(1e-5);
      got.dispose();
    }
  }
  for (const list of params) for (const p of list) p.dispose();
  for (const t of [...xs, ...ys, x, y]) t.dispose();
});

test('a cross-device op is ERR_DEVICE; .to() copies between devices; memory per device', () => {
  if (!two) return;
  ck.cuda.synchronize();
  const used0 = ck.cuda.memory(0).used, used1 = ck.cuda.memory(1).used;
  const a = ck.arange(0, 8).to('cuda:0');
  const b = ck.ones([8], { device: 'cuda:1' });
  expect(a.device.toString()).toBe('cuda:0');
  expect(b.device.toString()).toBe('cuda:1');
  expect(ck.cuda.memory(1).used - used1).toBeGreaterThanOrEqual(32);
  expect(ck.cuda.memory(0).used - used0).toBeGreaterThanOrEqual(32);
  let err: unknown = null;
  try {
    a.add(b);
  } catch (e) {
    err = e;
  }
  expect((err as ck.ConvkitError).code).toBe('ERR_DEVICE');
  expect((err as Error).message).toMatch(/cuda:1.*cuda:0|cuda:0.*cuda:1/);
  ck.cudaStats.enable();
  const c = a.to('cuda:1');
  const d2d = ck.cuda.stats().d2dBytes;
  ck.cudaStats.disable();
  expect(d2d).toBe(32);
  expect(c.device.toString()).toBe('cuda:1');
  const sum = c.add(b);
  expect([...sum.dataSync()]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  const mem = ck.memory().devices;
  expect(mem.find((m) => m.device === 'cuda:1')!.bytes).toBeGreaterThanOrEqual(3 * 32);
  expect(mem.find((m) => m.device === 'cuda:1')!.reservedBytes).toBeGreaterThanOrEqual(ck.cuda.memory(1).used);
  for (const t of [a, b, c, sum]) t.dispose();
});
