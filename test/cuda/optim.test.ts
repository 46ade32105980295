/**
 * The fused CUDA optimizer updates (cuda/optim.cu: one multi-tensor launch per parameter group) against the
 * CPU reference (csrc/cpu/optim.cc), for every optimizer and its options: the same parameters and gradient
 * sequence on both devices, then parameters and every state tensor compared. Both sides round each op the
 * same way (explicit fused multiply-adds, IEEE sqrt and division), so they agree bit for bit; the tolerance
 * (1e-6 relative) is the contract. The group mixes odd sizes: a tensor over several 16384-element chunks,
 * one element, an empty tensor, and an unaligned view (the scalar path next to the float4 one).
 */
import * as ck from '../../lib';
import { expectClose } from '../helpers/compare';
import { requireCuda } from './helpers';

const { optim } = ck;
beforeAll(() => requireCuda());
const TOL = { atol: 1e-12, rtol: 1e-6 };

type OptName = 'SGD' | 'Adam' | 'AdamW' | 'RMSprop';

const SHAPES = [[40000], [3, 5], [7], [1], [0], [2, 3, 4, 5], [33, 17]];

/** Parameters on `device`; the last one is a view at element offset 1 of a larger buffer (not 16-byte aligned). */
function makeParams(device: ck.DeviceLike): ck.Tensor[] {
  ck.manualSeed(11);
  const ps = SHAPES.map((s) => ck.randn(s).to(device).requiresGrad_());
  const base = ck.randn([1 + 257]).to(device);
  const view = base.narrow(0, 1, 257);
  ps.push(view.requiresGrad_());
  return ps;
}

function grads(params: ck.Tensor[], k: number): ck.Tensor[] {
  ck.manualSeed(100 + k);
  return params.map((p, i) => ck.randn([...p.shape]).mul(i % 2 ? 0.01 : 1));
}

function run(name: OptName, o: Record<string, unknown>, device: ck.DeviceLike, steps: number): [ck.Tensor[], ck.optim.Optimizer<any>] {
  const params = makeParams(device);
  const opt = new optim[name]([{ params: params.slice(0, 4) }, { params: params.slice(4), lr: 3e-3 }], o);
  for (let k = 0; k < steps; k++) {
    const gs = grads(params, k);
    params.forEach((p, i) => {
      p.grad?.dispose();
      // parameter 2 skips odd steps: its own step count on the device too
      p.grad = i === 2 && k % 2 === 1 ? null : gs[i].to(p.device);
    });
    opt.step();
  }
  return [params, opt];
}

const CASES: [OptName, Record<string, unknown>][] = [
  ['SGD', { lr: 0.1 }],
  ['SGD', { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-2 }],
  ['SGD', { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3, maximize: true }],
  ['Adam', { lr: 1e-2 }],
  ['Adam', { lr: 1e-2, weightDecay: 0.1, amsgrad: true }],
  ['AdamW', { lr: 1e-2, betas: [0.8, 0.99], eps: 1e-6, amsgrad: true, maximize: true }],
  ['AdamW', {}],
  ['RMSprop', { lr: 1e-3 }],
  ['RMSprop', { lr: 1e-3, momentum: 0.9, weightDecay: 0.1 }],
  ['RMSprop', { lr: 1e-3, alpha: 0.9, momentum: 0.5, centered: true, eps: 1e-4, maximize: true }],
];

describe('fused CUDA updates equal the CPU updates', () => {
  for (const [name, o] of CASES) {
    test(`${name} ${JSON.stringify(o)}`, () => {
      const [cpu, optCpu] = run(name, o, 'cpu', 4);
      const [dev, optDev] = run(name, o, 'cuda', 4);
      dev.forEach((p, i) => {
        expect(p.device.toString()).toBe('cuda:0');
        expectClose(p.cpu(), cpu[i], TOL, `param ${i}`);
      });
      const a = optCpu.stateDict();
      const b = optDev.stateDict();
      expect(Object.keys(b.state)).toEqual(Object.keys(a.state));
      for (const [i, s] of Object.entries(a.state)) {
        for (const [k, v] of Object.entries(s)) {
          const w = b.state[Number(i)][k];
          if (v instanceof ck.Tensor) {
            expect((w as ck.Tensor).device.toString()).toBe('cuda:0');
            expectClose((w as ck.Tensor).cpu(), v, TOL, `state ${i}.${k}`);
          } else expect(w).toBe(v);
        }
      }
      optCpu.dispose();
      optDev.dispose();
    });
  }
});

describe('devices', () => {
  test('a group spread over cpu and cuda, and a cpu grad for a cuda parameter', () => {
    const [cpu] = run('Adam', { lr: 1e-2 }, 'cpu', 3);
    const params = makeParams('cpu').map((p, i) => (i % 2 ? p : ck.noGrad(() => p.cuda()).requiresGrad_()));
    const opt = new optim.Adam([{ params: params.slice(0, 4) }, { params: params.slice(4), lr: 3e-3 }], { lr: 1e-2 });
    for (let k = 0; k < 3; k++) {
      const gs = grads(params, k);
      params.forEach((p, i) => {
        p.grad = i === 2 && k % 2 === 1 ? null : gs[i]; // all on the cpu
      });
      opt.step();
    }
    params.forEach((p, i) => expectClose(p.cpu(), cpu[i], TOL, `param ${i}`));
  });

  test('state follows parameters moved to cuda after the first steps (module.to)', () => {
    const [cpu] = run('RMSprop', { lr: 1e-3, momentum: 0.9, centered: true }, 'cpu', 4);
    const params = makeParams('cpu');
    const opt = new optim.RMSprop([{ params: params.slice(0, 4) }, { params: params.slice(4), lr: 3e-3 }], { lr: 1e-3, momentum: 0.9, centered: true });
    for (let k = 0; k < 4; k++) {
      if (k === 2) ck.noGrad(() => params.forEach((p) => p.assignData_(p.to('cuda'))));
      const gs = grads(params, k);
      params.forEach((p, i) => {
        p.grad?.dispose();
        p.grad = i === 2 && k % 2 === 1 ? null : gs[i].to(p.device);
      });
      opt.step();
    }
    params.forEach((p, i) => expectClose(p.cpu(), cpu[i], TOL, `param ${i}`));
    for (const s of opt.state.values()) for (const v of Object.values(s)) if (v instanceof ck.Tensor) expect(v.device.toString()).toBe('cuda:0');
  });
});
