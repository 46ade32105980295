/**
 * Optimizers and LR schedulers against live PyTorch 1.13 (foreach=False, its single-tensor path).
 *
 * Optimizers: the same initial parameters and the same gradient sequence (exact in float32 on both sides:
 * small integers over 1000, scaled) fed for 20 steps; parameters and every state tensor must agree to 1e-6
 * relative. The native updates reproduce PyTorch's float32 op order (fused multiply-adds where its AVX2 kernels
 * have them), so in practice they agree bit for bit; the tolerance only leaves room for a different libm.
 * Schedulers: PyTorch's lr sequence for 100 steps with two groups of different base lrs, to 1e-9 relative
 * (the recursive forms run in double on both sides; only cos() may differ in its last bit).
 * Also: parameter groups, frozen and grad-less parameters, state dicts (resume == uninterrupted, bit for bit;
 * PyTorch's own state_dict loads), and the CIFAR-10 CNN trained with AdamW + cosine annealing.
 */
import * as ck from '../../lib';
import { asArr, expectClose } from '../helpers/compare';
import { runTorch, stopTorch, TorchOut } from '../helpers/torch';

const { optim } = ck;
const { lrScheduler } = optim;
afterAll(() => stopTorch());

const TOL = { rtol: 1e-6, atol: 1e-12 };

// ---- deterministic data, computed the same way (in double, then rounded to float32) on both sides ----

const SHAPES = [[3, 5], [7], [2, 3, 4], [40, 37], [1]];
const SCALES = [1, 0.01, 3, 0.2, 50];

function initData(n: number, t: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (((i * 53 + t * 7) % 997) - 498) / 500;
  return a;
}
function gradData(n: number, k: number, t: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = ((((i * 37 + k * 101 + t * 13) % 1999) - 999) / 1000) * scale;
  return a;
}

const PY_DATA = `
import warnings
warnings.filterwarnings('ignore')
def init_data(shape, t):
    n = 1
    for s in shape: n *= s
    i = torch.arange(n, dtype=torch.float64)
    return (((i * 53 + t * 7) % 997 - 498) / 500).float().reshape(shape)
def grad_data(shape, k, t, scale):
    n = 1
    for s in shape: n *= s
    i = torch.arange(n, dtype=torch.float64)
    return (((i * 37 + k * 101 + t * 13) % 1999 - 999) / 1000 * scale).float().reshape(shape)
`;

/**
 * PyTorch 1.13 refuses capturable=True on CPU tensors with one assert in _single_tensor_adam(w) (its CUDA-graph
 * use needs CUDA tensors); the arithmetic is device-independent. For the CPU reference the functions are
 * re-executed from PyTorch's own source with only that assert line removed, so every other line is PyTorch's.
 */
const PY_CAPTURABLE = `
import inspect
import torch.optim.adam as _adam_mod, torch.optim.adamw as _adamw_mod
for _mod, _fn in ((_adam_mod, '_single_tensor_adam'), (_adamw_mod, '_single_tensor_adamw')):
    if getattr(_mod, '_ck_cpu_capturable', False): continue  # the server process keeps the patch
    _mod._ck_cpu_capturable = True
    _src = inspect.getsource(getattr(_mod, _fn))
    assert 'assert param.is_cuda and step_t.is_cuda' in _src
    _ns = dict(_mod.__dict__)
    exec(_src.replace('assert param.is_cuda and step_t.is_cuda', 'pass  #'), _ns)
    setattr(_mod, _fn, _ns[_fn])
`;

function makeParams(shapes: number[][] = SHAPES): ck.Tensor[] {
  return shapes.map((s, t) => ck.tensor(initData(s.reduce((a, b) => a * b, 1), t), { shape: s }).requiresGrad_());
}

function setGrads(params: ck.Tensor[], k: number, scales: number[] = SCALES, skip: (t: number, k: number) => boolean = () => false): void {
  params.forEach((p, t) => {
    p.grad?.dispose();
    p.grad = skip(t, k) ? null : ck.tensor(gradData(p.numel(), k, t, scales[t % scales.length]), { shape: [...p.shape] });
  });
}

// camelCase options -> PyTorch keyword arguments
function pyKwargs(o: Record<string, unknown>): string {
  const name = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const val = (v: unknown): string =>
    typeof v === 'boolean' ? (v ? 'True' : 'False') : Array.isArray(v) ? `(${v.map(val).join(', ')},)` : String(v);
  return Object.entries(o)
    .map(([k, v]) => `${name(k)}=${val(v)}`)
    .join(', ');
}

type OptName = 'SGD' | 'Adam' | 'AdamW' | 'RMSprop';
function makeOpt(name: OptName, params: ck.optim.ParamsInput<any>, o: Record<string, unknown>): ck.optim.Optimizer<any> {
  return new optim[name](params, o);
}

const STATE_KEYS: Record<OptName, string[]> = {
  SGD: ['momentum_buffer'],
  Adam: ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'],
  AdamW: ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'],
  RMSprop: ['square_avg', 'momentum_buffer', 'grad_avg'],
};

/** Python: params, optimizer, `steps` steps; out = [params, {index: {key: value}}, param_groups without params]. */
function torchRun(name: OptName, shapes: number[][], groupsPy: string, optsPy: string, steps: number, skipPy = 'False', scales = SCALES): string {
  return `${PY_DATA}${/capturable=True/.test(optsPy) ? PY_CAPTURABLE : ''}
shapes = ${JSON.stringify(shapes)}
scales = ${JSON.stringify(scales)}
params = [init_data(s, t).requires_grad_() for t, s in enumerate(shapes)]
opt = torch.optim.${name}(${groupsPy}, ${optsPy}${optsPy ? ', ' : ''}foreach=False)
for k in range(${steps}):
    for t, p in enumerate(params):
        p.grad = None if (${skipPy}) else grad_data(shapes[t], k, t, scales[t % len(scales)])
    opt.step()
sd = opt.state_dict()
out = [params, {str(i): {kk: (v if v is not None else 'none') for kk, v in s.items()} for i, s in sd['state'].items()}]`;
}

function compareState(name: OptName, opt: ck.optim.Optimizer<any>, want: Record<string, Record<string, TorchOut>>, what: string): void {
  const sd = opt.stateDict();
  expect(Object.keys(sd.state).sort()).toEqual(Object.keys(want).sort());
  for (const [i, ws] of Object.entries(want)) {
    const got = sd.state[Number(i)];
    expect(Object.keys(got).sort()).toEqual(Object.keys(ws).sort());
    for (const [k, w] of Object.entries(ws)) {
      const g = got[k];
      if (k === 'step') expect(g instanceof ck.Tensor ? g.item() : g).toBe(typeof w === 'number' ? w : asArr(w).data[0]);
      else if (w === ('none' as unknown)) expect(g).toBeNull();
      else {
        expect(STATE_KEYS[name]).toContain(k);
        expectClose(g as ck.Tensor, w, TOL, `${what}: state ${i}.${k}`);
      }
    }
  }
  for (const s of Object.values(sd.state)) for (const v of Object.values(s)) if (v instanceof ck.Tensor) v.dispose();
}

// ---- optimizers: 20 steps, every option set ----------------------------------------------------------

const CASES: [OptName, Record<string, unknown>][] = [
  ['SGD', { lr: 0.1 }],
  ['SGD', { lr: 0.1, momentum: 0.9 }],
  ['SGD', { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-2 }],
  ['SGD', { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }],
  ['SGD', { lr: 0.1, momentum: 0.5, maximize: true, weightDecay: 0.1 }],
  ['Adam', {}],
  ['Adam', { lr: 1e-2, weightDecay: 0.1 }],
  ['Adam', { lr: 1e-2, amsgrad: true }],
  ['Adam', { lr: 5e-3, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 1e-2, amsgrad: true, maximize: true }],
  ['AdamW', {}],
  ['AdamW', { lr: 1e-2, weightDecay: 0.1, amsgrad: true }],
  ['AdamW', { lr: 3e-3, betas: [0.5, 0.9], weightDecay: 0 }],
  ['RMSprop', {}],
  ['RMSprop', { lr: 1e-3, momentum: 0.9 }],
  ['RMSprop', { lr: 1e-3, centered: true }],
  ['RMSprop', { lr: 1e-3, alpha: 0.9, momentum: 0.5, centered: true, weightDecay: 0.1, eps: 1e-4 }],
  ['RMSprop', { lr: 1e-2, maximize: true, weightDecay: 1e-2 }],
];

/** 20 steps of optimizer `name` with options o against PyTorch's: parameters within tol, then every state; `check` sees the optimizer first. */
async function twentySteps(name: OptName, o: Record<string, unknown>, tol: typeof TOL, check?: (opt: ck.optim.Optimizer<any>, params: ck.Tensor[]) => void): Promise<void> {
  const params = makeParams();
  const opt = makeOpt(name, params, o);
  for (let k = 0; k < 20; k++) {
    setGrads(params, k);
    opt.step();
  }
  check?.(opt, params);
  const [wantParams, wantState] = (await runTorch(torchRun(name, SHAPES, 'params', pyKwargs(o), 20))) as [TorchOut[], Record<string, Record<string, TorchOut>>];
  params.forEach((p, i) => expectClose(p, wantParams[i], tol, `param ${i}`));
  compareState(name, opt, wantState, name);
  opt.dispose();
}

describe('optimizers: 20 steps equal PyTorch (params and state)', () => {
  for (const [name, o] of CASES) test(`${name} ${JSON.stringify(o)}`, () => twentySteps(name, o, TOL));

  test('a tensor above the threading threshold (ck::parallel_for chunks)', async () => {
    const shapes = [[300, 250], [5]];
    for (const [name, o] of [['Adam', { lr: 1e-2, amsgrad: true }], ['SGD', { lr: 0.1, momentum: 0.9, nesterov: true }], ['RMSprop', { centered: true, momentum: 0.5 }]] as [OptName, Record<string, unknown>][]) {
      const params = makeParams(shapes);
      const opt = makeOpt(name, params, o);
      for (let k = 0; k < 5; k++) {
        setGrads(params, k);
        opt.step();
      }
      const [wantParams] = (await runTorch(torchRun(name, shapes, 'params', pyKwargs(o), 5))) as [TorchOut[]];
      params.forEach((p, i) => expectClose(p, wantParams[i], TOL, `${name} param ${i}`));
      opt.dispose();
    }
  });
});

describe('capturable Adam / AdamW (PyTorch capturable=True): 20 steps equal PyTorch bit for bit', () => {
  // PyTorch's capturable path computes the bias corrections as float32 tensor ops from a float32 step tensor and
  // folds them differently into the update (eps / -step_size ...), so its numbers differ from the default path's
  // in the last bits; these runs compare with that path exactly, step tensors included.
  const CAP: [OptName, Record<string, unknown>][] = [
    ['Adam', { capturable: true }],
    ['Adam', { lr: 1e-2, weightDecay: 0.1, amsgrad: true, maximize: true, capturable: true }],
    ['AdamW', { capturable: true }],
    ['AdamW', { lr: 3e-2, betas: [0.5, 0.9], weightDecay: 0.1, amsgrad: true, capturable: true }],
  ];
  for (const [name, o] of CAP) {
    test(`${name} ${JSON.stringify(o)}`, () =>
      twentySteps(name, o, { rtol: 0, atol: 0 }, (opt, params) => {
        const step = opt.state.get(params[0])!.step as ck.Tensor;
        expect(step).toBeInstanceOf(ck.Tensor);
        expect(step.shape).toEqual([1]);
      }));
  }
});

describe('parameter groups', () => {
  test('two groups with their own lr and weight decay (Adam, SGD momentum, RMSprop)', async () => {
    const cases: [OptName, Record<string, unknown>, Record<string, unknown>, Record<string, unknown>][] = [
      ['Adam', { lr: 1e-3 }, { lr: 1e-2, weightDecay: 0.1 }, {}],
      ['AdamW', { lr: 1e-3 }, { lr: 3e-2, weightDecay: 0.05, amsgrad: true }, { weightDecay: 0 }],
      ['SGD', { lr: 0.1, momentum: 0.9 }, { lr: 0.01 }, { weightDecay: 1e-2, nesterov: true }],
      ['RMSprop', { lr: 1e-3 }, { lr: 1e-2, centered: true }, { momentum: 0.9 }],
    ];
    for (const [name, defaults, g0, g1] of cases) {
      const params = makeParams();
      const opt = makeOpt(name, [{ params: params.slice(0, 2), ...g0 }, { params: params.slice(2), ...g1 }], defaults);
      expect(opt.paramGroups.length).toBe(2);
      expect(opt.paramGroups[0].lr).toBe(g0.lr);
      expect(opt.paramGroups[1].lr).toBe(defaults.lr);
      for (let k = 0; k < 20; k++) {
        setGrads(params, k);
        opt.step();
      }
      const groupsPy = `[dict(params=params[:2], ${pyKwargs(g0)}), dict(params=params[2:]${Object.keys(g1).length ? ', ' : ''}${pyKwargs(g1)})]`;
      const [wantParams, wantState] = (await runTorch(torchRun(name, SHAPES, groupsPy, pyKwargs(defaults), 20))) as [TorchOut[], Record<string, Record<string, TorchOut>>];
      params.forEach((p, i) => expectClose(p, wantParams[i], TOL, `${name} param ${i}`));
      compareState(name, opt, wantState, name);
      const sd = opt.stateDict();
      expect(sd.param_groups.map((g) => g.params)).toEqual([[0, 1], [2, 3, 4]]);
      expect(sd.param_groups[0].lr).toBe(g0.lr);
      for (const s of Object.values(sd.state)) for (const v of Object.values(s)) if (v instanceof ck.Tensor) v.dispose();
      opt.dispose();
    }
  });

  test('addParamGroup: a group added later (unfrozen layer) steps from then on', async () => {
    const params = makeParams();
    const opt = new optim.SGD(params.slice(0, 3), { lr: 0.1, momentum: 0.9 });
    for (let k = 0; k < 10; k++) {
      if (k === 4) opt.addParamGroup({ params: params.slice(3), lr: 0.01 });
      setGrads(params, k, SCALES, (t, kk) => t >= 3 && kk < 4);
      opt.step();
    }
    const code = `${PY_DATA}
shapes = ${JSON.stringify(SHAPES)}
scales = ${JSON.stringify(SCALES)}
params = [init_data(s, t).requires_grad_() for t, s in enumerate(shapes)]
opt = torch.optim.SGD(params[:3], lr=0.1, momentum=0.9, foreach=False)
for k in range(10):
    if k == 4: opt.add_param_group(dict(params=params[3:], lr=0.01))
    for t, p in enumerate(params):
        p.grad = None if (t >= 3 and k < 4) else grad_data(shapes[t], k, t, scales[t])
    opt.step()
out = params`;
    const want = (await runTorch(code)) as TorchOut[];
    params.forEach((p, i) => expectClose(p, want[i], TOL, `param ${i}`));
    expect(() => opt.addParamGroup({ params: [params[0]] })).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
  });

  test('options are checked as PyTorch checks them', () => {
    const p = makeParams([[2]]);
    expect(() => new optim.SGD(p, { lr: -1 })).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    expect(() => new optim.SGD(p, {})).toThrow(/no lr/);
    expect(() => new optim.SGD(p, { lr: 0.1, nesterov: true })).toThrow(/Nesterov/);
    expect(() => new optim.Adam(p, { betas: [1, 0.9] })).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    expect(() => new optim.RMSprop(p, { alpha: -1 })).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    expect(() => new optim.Adam([])).toThrow(/empty/);
    expect(() => new optim.Adam(p[0] as never)).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    expect(new optim.AdamW(p).paramGroups[0].weightDecay).toBe(0.01);
    expect(new optim.Adam(p).defaults).toEqual({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, capturable: false });
    expect(() => new optim.AdamW(p, { capturable: 1 as never })).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
  });
});

describe('skipped parameters', () => {
  test('grad-less steps keep each parameter on its own step count (Adam, RMSprop, SGD)', async () => {
    // parameter 1 gets a gradient only on even steps, parameter 3 never before step 7
    const skipTs = (t: number, k: number) => (t === 1 && k % 2 === 1) || (t === 3 && k < 7);
    const skipPy = '(t == 1 and k % 2 == 1) or (t == 3 and k < 7)';
    for (const [name, o] of [['Adam', { lr: 1e-2 }], ['AdamW', { amsgrad: true }], ['SGD', { lr: 0.1, momentum: 0.9 }], ['RMSprop', { momentum: 0.5 }]] as [OptName, Record<string, unknown>][]) {
      const params = makeParams();
      const opt = makeOpt(name, params, o);
      for (let k = 0; k < 20; k++) {
        setGrads(params, k, SCALES, skipTs);
        opt.step();
      }
      const [wantParams, wantState] = (await runTorch(torchRun(name, SHAPES, 'params', pyKwargs(o), 20, skipPy))) as [TorchOut[], Record<string, Record<string, TorchOut>>];
      params.forEach((p, i) => expectClose(p, wantParams[i], TOL, `${name} param ${i}`));
      compareState(name, opt, wantState, name);
      opt.dispose();
    }
  });

  test('a frozen parameter (requiresGrad false) is untouched and gets no state, even with a grad', () => {
    const params = makeParams();
    params[2].requiresGrad_(false);
    const before = Array.from(params[2].dataSync());
    const opt = new optim.Adam(params, { lr: 0.1 });
    for (let k = 0; k < 3; k++) {
      setGrads(params, k);
      opt.step();
    }
    expect(Array.from(params[2].dataSync())).toEqual(before);
    expect(opt.state.has(params[2])).toBe(false);
    expect(opt.state.size).toBe(params.length - 1);
    const sd = opt.stateDict();
    expect(Object.keys(sd.state).map(Number)).toEqual([0, 1, 3, 4]);
  });

  test('zeroGrad: to null by default, to zeros on request', () => {
    const params = makeParams();
    const opt = new optim.SGD(params, { lr: 0.1 });
    setGrads(params, 0);
    opt.zeroGrad({ setToNone: false });
    params.forEach((p) => expect(Array.from(p.grad!.dataSync()).every((v) => v === 0)).toBe(true));
    opt.zeroGrad();
    params.forEach((p) => expect(p.grad).toBeNull());
    const before = params.map((p) => Array.from(p.dataSync()));
    opt.step(); // nothing has a grad: nothing moves
    params.forEach((p, i) => expect(Array.from(p.dataSync())).toEqual(before[i]));
  });

  test('step(closure) returns the closure result; state survives a tidy() around the step', () => {
    const params = makeParams([[4]]);
    const opt = new optim.Adam(params, { lr: 0.1 });
    const loss = ck.tidy(() =>
      opt.step(() => {
        opt.zeroGrad();
        const l = params[0].square().sum();
        l.backward();
        return l.item();
      }),
    );
    expect(typeof loss).toBe('number');
    const st = opt.state.get(params[0])!;
    expect((st.exp_avg as ck.Tensor).isDisposed).toBe(false);
    expect(st.step).toBe(1);
  });
});

describe('state dicts', () => {
  const RESUME: [OptName, Record<string, unknown>][] = [
    ['SGD', { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }],
    ['Adam', { lr: 1e-2, amsgrad: true, weightDecay: 0.01 }],
    ['AdamW', { lr: 1e-2 }],
    ['AdamW', { lr: 1e-2, amsgrad: true, capturable: true }],
    ['RMSprop', { lr: 1e-3, momentum: 0.9, centered: true }],
  ];
  for (const [name, o] of RESUME) {
    test(`${name}: save after step 5, load into fresh params and optimizer, step to 10 == uninterrupted`, () => {
      const groups = (ps: ck.Tensor[]) => [{ params: ps.slice(0, 2), lr: 0.02 }, { params: ps.slice(2) }];
      const a = makeParams();
      const optA = makeOpt(name, groups(a), o);
      const skip = (t: number, k: number) => t === 4 && k < 3;
      for (let k = 0; k < 10; k++) {
        setGrads(a, k, SCALES, skip);
        optA.step();
      }
      const b = makeParams();
      const optB = makeOpt(name, groups(b), o);
      for (let k = 0; k < 5; k++) {
        setGrads(b, k, SCALES, skip);
        optB.step();
      }
      const saved = optB.stateDict();
      const savedParams = b.map((p) => p.clone());
      // the snapshot must not follow the live optimizer
      setGrads(b, 99);
      optB.step();
      const c = makeParams();
      ck.noGrad(() => c.forEach((p, i) => p.copy_(savedParams[i])));
      const optC = makeOpt(name, groups(c), { ...o, lr: 123 });
      optC.loadStateDict(saved);
      expect(optC.paramGroups[1].lr).toBe(optA.paramGroups[1].lr);
      for (let k = 5; k < 10; k++) {
        setGrads(c, k, SCALES, skip);
        optC.step();
      }
      c.forEach((p, i) => expect(Array.from(p.dataSync())).toEqual(Array.from(a[i].dataSync())));
      const sa = optA.stateDict();
      const sc = optC.stateDict();
      expect(Object.keys(sc.state)).toEqual(Object.keys(sa.state));
      for (const [i, s] of Object.entries(sa.state)) {
        for (const [k, v] of Object.entries(s)) {
          const w = sc.state[Number(i)][k];
          if (v instanceof ck.Tensor) expect(Array.from((w as ck.Tensor).dataSync())).toEqual(Array.from(v.dataSync()));
          else expect(w).toBe(v);
        }
      }
    });
  }

  test("PyTorch's own state_dict (snake_case options, step tensors) loads and continues like PyTorch", async () => {
    const o = { lr: 1e-2, amsgrad: true, weightDecay: 0.01 };
    const code = `${PY_DATA}
shapes = ${JSON.stringify(SHAPES)}
scales = ${JSON.stringify(SCALES)}
params = [init_data(s, t).requires_grad_() for t, s in enumerate(shapes)]
opt = torch.optim.AdamW([dict(params=params[:2], lr=0.03), dict(params=params[2:])], ${pyKwargs(o)}, foreach=False)
def run(ks):
    for k in ks:
        for t, p in enumerate(params):
            p.grad = grad_data(shapes[t], k, t, scales[t])
        opt.step()
run(range(5))
sd = opt.state_dict()
snap = [[p.detach().clone() for p in params], {str(i): {k: v.clone() for k, v in s.items()} for i, s in sd['state'].items()},
        [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items() if v is not None} for g in sd['param_groups']]]
run(range(5, 10))
out = snap + [params]`;
    const [p5, state5, groups5, p10] = (await runTorch(code)) as [TorchOut[], Record<string, Record<string, TorchOut>>, Record<string, unknown>[], TorchOut[]];
    const toT = (a: TorchOut) => {
      const x = asArr(a);
      return ck.tensor(Float32Array.from(x.data), { shape: x.shape });
    };
    const params = p5.map((a) => toT(a).requiresGrad_());
    const opt = new optim.AdamW([{ params: params.slice(0, 2) }, { params: params.slice(2) }]);
    const state: Record<number, Record<string, ck.Tensor>> = {};
    for (const [i, s] of Object.entries(state5)) {
      state[Number(i)] = {};
      for (const [k, v] of Object.entries(s)) state[Number(i)][k] = toT(v);
    }
    opt.loadStateDict({ state, param_groups: groups5 });
    expect(opt.paramGroups[0].lr).toBe(0.03);
    expect(opt.paramGroups[1].weightDecay).toBe(0.01);
    expect(opt.state.get(params[0])!.step).toBe(5);
    for (let k = 5; k < 10; k++) {
      setGrads(params, k);
      opt.step();
    }
    params.forEach((p, i) => expectClose(p, p10[i], TOL, `param ${i}`));
  });

  test('mismatched state dicts are refused', () => {
    const a = makeParams();
    const opt = new optim.Adam(a);
    setGrads(a, 0);
    opt.step();
    const sd = opt.stateDict();
    const other = new optim.Adam(makeParams([[2], [3]]));
    expect(() => other.loadStateDict(sd)).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    const wrongShape = new optim.Adam(makeParams([[3, 5], [7], [2, 3, 4], [40, 37], [2]]));
    expect(() => wrongShape.loadStateDict(sd)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => opt.loadStateDict({} as never)).toThrow(expect.objectContaining({ code: 'ERR_FORMAT' }));
  });
});

// ---- LR schedulers --------------------------------------------------------------------------------

interface SchedCase {
  name: string;
  opt: 'SGD' | 'Adam';
  ts: (o: ck.optim.Optimizer<any>) => ck.optim.lrScheduler.Scheduler;
  py: string; // builds `sched` from `opt`
  metric?: (k: number) => number; // ReduceLROnPlateau
  momentum?: boolean;
}

const METRIC = (k: number) => (k < 20 ? 1 / (k + 1) : 0.05 + 0.001 * ((k * 7) % 5));
const PY_METRIC = 'lambda k: 1 / (k + 1) if k < 20 else 0.05 + 0.001 * ((k * 7) % 5)';

const SCHEDS: SchedCase[] = [
  { name: 'StepLR', opt: 'SGD', ts: (o) => new lrScheduler.StepLR(o, 7, { gamma: 0.5 }), py: 'StepLR(opt, 7, gamma=0.5)' },
  { name: 'MultiStepLR', opt: 'SGD', ts: (o) => new lrScheduler.MultiStepLR(o, [10, 25, 25, 60], { gamma: 0.3 }), py: 'MultiStepLR(opt, [10, 25, 25, 60], gamma=0.3)' },
  { name: 'ExponentialLR', opt: 'SGD', ts: (o) => new lrScheduler.ExponentialLR(o, 0.97), py: 'ExponentialLR(opt, 0.97)' },
  { name: 'CosineAnnealingLR (restarts)', opt: 'SGD', ts: (o) => new lrScheduler.CosineAnnealingLR(o, 30, { etaMin: 1e-4 }), py: 'CosineAnnealingLR(opt, 30, eta_min=1e-4)' },
  { name: 'CosineAnnealingLR', opt: 'Adam', ts: (o) => new lrScheduler.CosineAnnealingLR(o, 100), py: 'CosineAnnealingLR(opt, 100)' },
  { name: 'LinearLR warm-up', opt: 'SGD', ts: (o) => new lrScheduler.LinearLR(o, { startFactor: 0.25, totalIters: 10 }), py: 'LinearLR(opt, start_factor=0.25, total_iters=10)' },
  { name: 'LinearLR decay', opt: 'Adam', ts: (o) => new lrScheduler.LinearLR(o, { startFactor: 1, endFactor: 0.1, totalIters: 50 }), py: 'LinearLR(opt, start_factor=1.0, end_factor=0.1, total_iters=50)' },
  { name: 'OneCycleLR cos, SGD momentum', opt: 'SGD', momentum: true, ts: (o) => new lrScheduler.OneCycleLR(o, [0.5, 0.05], { totalSteps: 100 }), py: 'OneCycleLR(opt, [0.5, 0.05], total_steps=100)' },
  {
    name: 'OneCycleLR linear three-phase, Adam betas', opt: 'Adam', momentum: true,
    ts: (o) => new lrScheduler.OneCycleLR(o, 0.01, { epochs: 10, stepsPerEpoch: 10, annealStrategy: 'linear', threePhase: true, pctStart: 0.25, baseMomentum: 0.8, maxMomentum: 0.9 }),
    py: "OneCycleLR(opt, 0.01, epochs=10, steps_per_epoch=10, anneal_strategy='linear', three_phase=True, pct_start=0.25, base_momentum=0.8, max_momentum=0.9)",
  },
  {
    name: 'SequentialLR: LinearLR warm-up then CosineAnnealingLR', opt: 'SGD',
    ts: (o) => new lrScheduler.SequentialLR(o, [new lrScheduler.LinearLR(o, { startFactor: 0.1, totalIters: 5 }), new lrScheduler.CosineAnnealingLR(o, 95)], [5]),
    py: 'SequentialLR(opt, [LinearLR(opt, start_factor=0.1, total_iters=5), CosineAnnealingLR(opt, 95)], [5])',
  },
  {
    name: 'SequentialLR: ExponentialLR, StepLR, MultiStepLR', opt: 'Adam',
    ts: (o) => new lrScheduler.SequentialLR(o, [new lrScheduler.ExponentialLR(o, 0.9), new lrScheduler.StepLR(o, 10), new lrScheduler.MultiStepLR(o, [5, 15])], [20, 50]),
    py: 'SequentialLR(opt, [ExponentialLR(opt, 0.9), StepLR(opt, 10), MultiStepLR(opt, [5, 15])], [20, 50])',
  },
  {
    name: 'ReduceLROnPlateau min/rel', opt: 'SGD', metric: METRIC,
    ts: (o) => new lrScheduler.ReduceLROnPlateau(o, { patience: 3, cooldown: 2, factor: 0.5, minLr: [1e-3, 1e-4], threshold: 0.01 }),
    py: 'ReduceLROnPlateau(opt, patience=3, cooldown=2, factor=0.5, min_lr=[1e-3, 1e-4], threshold=0.01)',
  },
  {
    name: 'ReduceLROnPlateau max/abs', opt: 'Adam', metric: (k) => -METRIC(k),
    ts: (o) => new lrScheduler.ReduceLROnPlateau(o, { mode: 'max', thresholdMode: 'abs', patience: 2, factor: 0.7, threshold: 1e-3 }),
    py: "ReduceLROnPlateau(opt, mode='max', threshold_mode='abs', patience=2, factor=0.7, threshold=1e-3)",
  },
];

function schedOpt(kind: 'SGD' | 'Adam'): ck.optim.Optimizer<any> {
  const [a, b] = makeParams([[2], [3]]);
  return kind === 'SGD'
    ? new optim.SGD([{ params: [a] }, { params: [b], lr: 0.01 }], { lr: 0.1, momentum: 0.9 })
    : new optim.Adam([{ params: [a] }, { params: [b], lr: 3e-4 }], { lr: 1e-3 });
}
const PY_SCHED_OPT = {
  SGD: 'torch.optim.SGD([dict(params=[a]), dict(params=[b], lr=0.01)], lr=0.1, momentum=0.9)',
  Adam: 'torch.optim.Adam([dict(params=[a]), dict(params=[b], lr=3e-4)], lr=1e-3)',
};

function stepSched(s: ck.optim.lrScheduler.Scheduler, c: SchedCase, k: number): void {
  if (c.metric) (s as ck.optim.lrScheduler.ReduceLROnPlateau).step(c.metric(k));
  else s.step();
}
function momentumOf(o: ck.optim.Optimizer<any>): number[] {
  return o.paramGroups.map((g) => (g.betas ? g.betas[0] : g.momentum));
}

function expectSeq(got: number[][], want: number[][], what: string): void {
  expect(got.length).toBe(want.length);
  got.forEach((row, k) =>
    row.forEach((v, i) => {
      const w = want[k][i];
      if (!(Math.abs(v - w) <= 1e-9 * Math.abs(w) + 1e-18)) throw new Error(`${what}: step ${k} group ${i}: ${v} vs PyTorch ${w}`);
    }),
  );
}

describe('LR schedulers: 100 steps equal PyTorch with two groups', () => {
  for (const c of SCHEDS) {
    test(c.name, async () => {
      const o = schedOpt(c.opt);
      const s = c.ts(o);
      const lrs: number[][] = [o.paramGroups.map((g) => g.lr)];
      const moms: number[][] = [momentumOf(o)];
      for (let k = 0; k < 100; k++) {
        stepSched(s, c, k);
        lrs.push(o.paramGroups.map((g) => g.lr));
        moms.push(momentumOf(o));
        expect(s.getLastLr()).toEqual(lrs[lrs.length - 1]);
      }
      const code = `${PY_DATA}
from torch.optim.lr_scheduler import *
a = torch.zeros(2, requires_grad=True)
b = torch.zeros(3, requires_grad=True)
opt = ${PY_SCHED_OPT[c.opt]}
sched = ${c.py}
metric = ${PY_METRIC}
def mom():
    return [g['betas'][0] if 'betas' in g else g['momentum'] for g in opt.param_groups]
lrs = [[g['lr'] for g in opt.param_groups]]
moms = [mom()]
for k in range(100):
    opt.step()
    ${c.metric ? `sched.step(${c.name.includes('max') ? '-metric(k)' : 'metric(k)'})` : 'sched.step()'}
    lrs.append([g['lr'] for g in opt.param_groups])
    moms.append(mom())
sd = sched.state_dict()
out = [lrs, moms, sorted(k for k in sd.keys())]`;
      const [wantLrs, wantMoms, wantKeys] = (await runTorch(code)) as [number[][], number[][], string[]];
      expectSeq(lrs, wantLrs, `${c.name} lr`);
      if (c.momentum) expectSeq(moms, wantMoms, `${c.name} momentum`);
      const keys = Object.keys(s.stateDict()).sort();
      const rename = (k: string) => (k === 'anneal_func' ? 'anneal_strategy' : k);
      expect(keys).toEqual(wantKeys.map(rename).sort());
    });
  }

  test('each group keeps its own base lr (initialLr) and a resumed scheduler needs it', () => {
    const o = schedOpt('SGD');
    const s = new lrScheduler.StepLR(o, 2);
    expect(o.paramGroups.map((g) => g.initialLr)).toEqual([0.1, 0.01]);
    expect(s.baseLrs).toEqual([0.1, 0.01]);
    expect(() => new lrScheduler.StepLR(schedOpt('SGD'), 2, { lastEpoch: 5 })).toThrow(/initialLr/);
    expect(() => new lrScheduler.StepLR({} as never, 2)).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
  });
});

describe('LR scheduler state dicts', () => {
  for (const c of SCHEDS) {
    test(`${c.name}: save at 40, load into fresh optimizer + scheduler, continue == uninterrupted`, () => {
      const o1 = schedOpt(c.opt);
      const s1 = c.ts(o1);
      const seq1: number[][] = [];
      for (let k = 0; k < 100; k++) {
        stepSched(s1, c, k);
        seq1.push([...o1.paramGroups.map((g) => g.lr), ...momentumOf(o1)]);
      }
      const o2 = schedOpt(c.opt);
      const s2 = c.ts(o2);
      for (let k = 0; k < 40; k++) stepSched(s2, c, k);
      const savedS = JSON.parse(JSON.stringify(s2.stateDict(), (_, v) => (v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : v)), (_, v) =>
        v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v,
      );
      const savedO = o2.stateDict();
      const o3 = schedOpt(c.opt);
      const s3 = c.ts(o3);
      o3.loadStateDict(savedO);
      s3.loadStateDict(savedS);
      for (let k = 40; k < 100; k++) {
        stepSched(s3, c, k);
        expect([...o3.paramGroups.map((g) => g.lr), ...momentumOf(o3)]).toEqual(seq1[k]);
      }
      expect(s3.getLastLr()).toEqual(s1.getLastLr());
    });
  }
});

// ---- the tutorial's training run ------------------------------------------------------------------

const TORCH_NET = `
def cbr(i, o):
    return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU()]
class Net(nn.Module):  # the tutorial's CIFAR10Net
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(*cbr(3, 32), *cbr(32, 32), nn.MaxPool2d(2), *cbr(32, 64), *cbr(64, 64), nn.MaxPool2d(2),
                                      *cbr(64, 128), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Sequential(nn.Dropout(0.3), nn.Linear(128, 10))
    def forward(self, x):
        return self.classifier(self.features(x).view(x.size(0), -1))
`;

describe('CIFAR-10 CNN: AdamW + CosineAnnealingLR for 10 steps', () => {
  test("follows PyTorch's loss curve; a run resumed at step 5 ends on the same weights", async () => {
    ck.manualSeed(7);
    const STEPS = 10;
    // Batches as the tutorial's (8 at 32x32): with much smaller ones, float noise in gradients that are zero in
    // exact arithmetic (a conv bias before a batch norm, weights of near-dead channels) is all Adam's first steps
    // see, and the forward/backward's own last-bit differences then move the loss by 1e-4 within 5 steps.
    // The optimizer itself gives PyTorch's bits on PyTorch's gradients.
    const batches = Array.from({ length: STEPS }, () => ck.randn([8, 3, 32, 32]));
    const labels = Array.from({ length: STEPS }, (_, k) => ck.tensor(Array.from({ length: 8 }, (_, j) => (k * 3 + j * 7) % 10), { dtype: 'int32' }));
    const init = ck.models.cifar10Net();
    const initSd = Object.fromEntries(Object.entries(init.stateDict()).map(([k, t]) => [k, t.clone()]));

    const makeRun = () => {
      const model = ck.models.cifar10Net();
      model.loadStateDict(initSd);
      model.train();
      model.classifier.at(0).eval(); // dropout masks come from different generators
      const opt = new optim.AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.01 });
      const sched = new lrScheduler.CosineAnnealingLR(opt, STEPS);
      return { model, opt, sched };
    };
    const trainStep = (r: ReturnType<typeof makeRun>, k: number): number =>
      ck.tidy(() => {
        r.opt.zeroGrad();
        const loss = ck.nn.functional.crossEntropy(r.model.forward(batches[k]), labels[k]);
        loss.backward();
        r.opt.step();
        r.sched.step();
        return loss.item();
      });

    const full = makeRun();
    const losses = Array.from({ length: STEPS }, (_, k) => trainStep(full, k));

    const inputs: Record<string, ck.Tensor> = {};
    const names = Object.keys(initSd);
    names.forEach((k, i) => (inputs[`p${i}`] = initSd[k]));
    batches.forEach((b, k) => (inputs[`x${k}`] = b));
    labels.forEach((l, k) => (inputs[`y${k}`] = l));
    const code = `${TORCH_NET}
net = Net()
sd = net.state_dict()
names = ${JSON.stringify(names)}
with torch.no_grad():
    for i, k in enumerate(names):
        sd[k].copy_(globals()['p%d' % i].reshape(sd[k].shape).to(sd[k].dtype))
net.train()
net.classifier[0].eval()
opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01, foreach=False)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, ${STEPS})
losses = []
for k in range(${STEPS}):
    opt.zero_grad()
    loss = F.cross_entropy(net(globals()['x%d' % k]), globals()['y%d' % k].long())
    loss.backward()
    opt.step()
    sched.step()
    losses.append(loss.item())
out = losses`;
    const want = (await runTorch(code, inputs)) as number[];
    losses.forEach((l, k) => {
      if (!(Math.abs(l - want[k]) <= 1e-4 * Math.abs(want[k]))) throw new Error(`step ${k}: loss ${l} vs PyTorch ${want[k]}`);
    });

    // resume: model, optimizer and scheduler state dicts saved after step 5, loaded into fresh objects
    const first = makeRun();
    for (let k = 0; k < 5; k++) trainStep(first, k);
    const savedModel = Object.fromEntries(Object.entries(first.model.stateDict()).map(([k, t]) => [k, t.clone()]));
    const savedOpt = first.opt.stateDict();
    const savedSched = first.sched.stateDict();
    const resumed = makeRun();
    resumed.model.loadStateDict(savedModel);
    resumed.opt.loadStateDict(savedOpt);
    resumed.sched.loadStateDict(savedSched);
    for (let k = 5; k < STEPS; k++) trainStep(resumed, k);
    const a = full.model.stateDict();
    const b = resumed.model.stateDict();
    for (const k of Object.keys(a)) expect(Array.from(b[k].dataSync())).toEqual(Array.from(a[k].dataSync()));
    expect(resumed.opt.paramGroups[0].lr).toBe(full.opt.paramGroups[0].lr);
  });
});


