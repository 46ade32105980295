/**
 * Printing like PyTorch: `String(tensor)` / `console.log(tensor)` against live `repr(t)` of the same
 * values in PyTorch 1.13, and `String(model)` / `console.log(model)` against `print(model)` of
 * torchvision's ResNet-18, VGG-11, AlexNet and the tutorial's CIFAR10Net, line by line.
 *
 * The tensor comparison maps PyTorch's suffix spellings to convkit's, mechanically (torchToConvkit):
 * `dtype=torch.int32` -> `dtype=int32`, `requires_grad=True` -> `requiresGrad=true`,
 * `grad_fn=<AddBackward0>` -> `gradFn=<AddBackward>`. Everything else (numbers, layout, `...`,
 * line breaks) must be equal character for character. Module trees are compared verbatim: convkit
 * prints PyTorch's own argument names (`kernel_size=(3, 3)`, `eps=1e-05`), so a PyTorch user reads
 * the same tree; the only lines allowed to differ are listed in MODULE_EXCEPTIONS with the reason.
 */
import * as util from 'util';
import * as ck from '../../lib';
import { runTorch, stopTorch, TorchOut } from '../helpers/torch';
import { expectClose } from '../helpers/compare';

afterAll(() => stopTorch());

function torchToConvkit(s: string): string {
  return s
    .replace(/dtype=torch\./g, 'dtype=')
    .replace(/requires_grad=True/g, 'requiresGrad=true')
    .replace(/grad_fn=<([A-Za-z]+?)\d*>/g, 'gradFn=<$1>');
}

async function torchRepr(code: string, inputs: Record<string, ck.Tensor> = {}): Promise<string> {
  const out = await runTorch(`${code}\nout = repr(t)`, inputs);
  if (typeof out !== 'string') throw new Error(`expected a string from PyTorch, got ${JSON.stringify(out)}`);
  return torchToConvkit(out);
}

function seeded(shape: number[], scale = 1, seed = 0): ck.Tensor {
  ck.manualSeed(seed);
  const r = ck.randn(shape);
  const s = r.mul(scale);
  r.dispose();
  return s;
}

describe('tensor printing matches repr() in PyTorch', () => {
  const cases: [string, () => ck.Tensor][] = [
    ['2x2 floats', () => ck.tensor([[0.1, 0.2], [0.3, 0.4]])],
    ['randn 4x5', () => seeded([4, 5])],
    ['randn 3-d', () => seeded([2, 3, 4], 3, 1)],
    ['integral floats', () => ck.tensor([1, 2, -3, 40])],
    ['int32 vector', () => ck.tensor([1, -2, 300], { dtype: 'int32' })],
    ['int32 matrix', () => ck.tensor([[1, 2, 3], [-40000, 5, 6]], { dtype: 'int32' })],
    ['0-d float', () => ck.tensor(3.25)],
    ['0-d int', () => ck.tensor(7, { dtype: 'int32' })],
    ['empty 1-d', () => ck.zeros([0])],
    ['empty 2-d', () => ck.zeros([2, 0])],
    ['empty int32', () => ck.zeros([0, 3], { dtype: 'int32' })],
    ['long vector wraps', () => seeded([100], 10, 2)],
    ['summarised 2-d', () => seeded([40, 50], 1, 3)],
    ['summarised rows only', () => seeded([3, 400], 1, 4)],
    ['summarised 4-d', () => seeded([2, 3, 20, 20], 1, 5)],
    ['summarised int32 arange', () => ck.arange(0, 2000, 1, { dtype: 'int32' })],
    ['summarised float arange (scientific)', () => ck.arange(0, 2000)],
    ['tiny values', () => ck.tensor([1e-5, 2e-6, -3e-7])],
    ['huge values', () => ck.tensor([1e10, 3, -2.5e9])],
    ['huge integral values', () => ck.tensor([1e9, 2])],
    ['wide range', () => ck.tensor([1e-3, 1e3, 5.5])],
    ['NaN and inf', () => ck.tensor([NaN, Infinity, -Infinity, 1.5])],
    ['NaN in integral floats', () => ck.tensor([NaN, 1, 2])],
    ['all NaN', () => ck.tensor([NaN, NaN])],
    ['zeros', () => ck.zeros([2, 3])],
    ['ties round half to even', () => ck.tensor([1.03125, -2.00005, 0.5])],
    ['requires grad', () => ck.tensor([1.5, 2.5], { requiresGrad: true })],
    ['long vector that requires grad', () => seeded([60], 1, 6).requiresGrad_()],
  ];
  for (const [name, make] of cases) {
    test(name, async () => {
      const t = make();
      const expected = await torchRepr(`t = x.requires_grad_(${t.requiresGrad ? 'True' : 'False'})`, { x: t });
      expect(String(t)).toBe(expected);
      expect(util.inspect(t)).toBe(expected);
      t.dispose();
    });
  }

  test('negative zero (built on both sides: JSON has no -0)', async () => {
    const t = ck.tensor([-0, 0, 1.5]);
    expect(String(t)).toBe(await torchRepr('t = torch.tensor([-0.0, 0.0, 1.5])'));
    const u = ck.tensor([-0, 2]);
    expect(String(u)).toBe(await torchRepr('t = torch.tensor([-0.0, 2.0])'));
    t.dispose();
    u.dispose();
  });

  test('a result of autograd shows its gradFn', async () => {
    const x = ck.tensor([[1.5, -2], [0.25, 4]], { requiresGrad: true });
    const y = x.mul(x);
    expect(String(y)).toBe(await torchRepr('x.requires_grad_(True)\nt = x * x', { x }));
    const z = x.add(x);
    expect(String(z)).toBe(await torchRepr('x.requires_grad_(True)\nt = x + x', { x }));
    for (const t of [x, y, z]) t.dispose();
  });

  test('a parameter prints "Parameter containing:" first', async () => {
    const lin = new ck.nn.Linear(3, 2);
    expect(String(lin.weight)).toBe(await torchRepr('t = nn.Parameter(w)', { w: lin.weight.detach() }));
  });
});

/**
 * Lines where convkit prints something else than PyTorch because the module really differs. Each
 * maps a PyTorch line to the convkit line expected in its place.
 */
const MODULE_EXCEPTIONS: { why: string; torch: RegExp; convkit: string }[] = [
  // convkit's ReLU always returns a new tensor (it has no in-place mode), so it prints ReLU().
  { why: 'ReLU is never in place', torch: /^(\s*(?:\(\w+\): )?)ReLU\(inplace=True\)$/, convkit: '$1ReLU()' },
];

function compareTrees(ours: string, theirs: string): { excepted: string[] } {
  const a = ours.split('\n');
  const b = theirs.split('\n');
  expect(a.length).toBe(b.length);
  const excepted: string[] = [];
  b.forEach((line, i) => {
    const rule = MODULE_EXCEPTIONS.find((r) => r.torch.test(line));
    const want = rule ? line.replace(rule.torch, rule.convkit) : line;
    if (rule) excepted.push(`${rule.why}: ${line.trim()}`);
    expect(`${i + 1}: ${a[i]}`).toBe(`${i + 1}: ${want}`);
  });
  return { excepted };
}

const CIFAR10NET_PY = `
class CIFAR10Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Sequential(nn.Dropout(0.3), nn.Linear(128, 10))
out = str(CIFAR10Net())
`;

describe('module printing matches print(model) in PyTorch', () => {
  const zoo: [string, () => ck.nn.Module, string, number][] = [
    // [name, convkit model, PyTorch code, lines expected to be exceptions]
    ['resnet18', () => ck.models.resnet18(), 'import torchvision\nout = str(torchvision.models.resnet18())', 9],
    ['vgg11', () => ck.models.vgg11(), 'import torchvision\nout = str(torchvision.models.vgg11())', 10],
    ['alexnet', () => ck.models.alexnet(), 'import torchvision\nout = str(torchvision.models.alexnet())', 7],
    ['the tutorial CIFAR10Net', () => ck.models.cifar10Net(), CIFAR10NET_PY, 0],
  ];
  for (const [name, make, code, nExcepted] of zoo) {
    test(name, async () => {
      const model = make();
      const ours = String(model);
      expect(util.inspect(model)).toBe(ours);
      const theirs = await runTorch(code);
      if (typeof theirs !== 'string') throw new Error('expected a string from PyTorch');
      const { excepted } = compareTrees(ours, theirs);
      expect(excepted.length).toBe(nExcepted);
      for (const t of [...model.parameters(), ...model.buffers()]) t.dispose();
    });
  }

  test('layers with non-default arguments', async () => {
    const nn = ck.nn;
    const model = new nn.Sequential(
      new nn.Conv2d(3, 8, [3, 5], { stride: 2, padding: [1, 2], dilation: 2, groups: 1, bias: false }),
      new nn.Conv2d(8, 8, 3, { padding: 'same', groups: 4 }),
      new nn.BatchNorm2d(8, { eps: 1e-3, momentum: null, affine: false, trackRunningStats: false }),
      new nn.BatchNorm1d(4, { momentum: 0.01 }),
      new nn.MaxPool2d([3, 2], { stride: 1, padding: 1, ceilMode: true }),
      new nn.AvgPool2d(2),
      new nn.AdaptiveAvgPool2d([7, 5]),
      new nn.Flatten(),
      new nn.Dropout(0.25),
      new nn.Linear(10, 3, { bias: false }),
      new nn.Identity(),
    );
    // A loss is not tensor-to-tensor, so Sequential's constructor does not take it; addModule does.
    model.addModule('11', new nn.CrossEntropyLoss());
    const theirs = await runTorch(`out = str(nn.Sequential(
      nn.Conv2d(3, 8, (3, 5), stride=2, padding=(1, 2), dilation=2, groups=1, bias=False),
      nn.Conv2d(8, 8, 3, padding='same', groups=4),
      nn.BatchNorm2d(8, eps=1e-3, momentum=None, affine=False, track_running_stats=False),
      nn.BatchNorm1d(4, momentum=0.01),
      nn.MaxPool2d((3, 2), stride=1, padding=1, ceil_mode=True),
      nn.AvgPool2d(2),
      nn.AdaptiveAvgPool2d((7, 5)),
      nn.Flatten(),
      nn.Dropout(0.25),
      nn.Linear(10, 3, bias=False),
      nn.Identity(),
      nn.CrossEntropyLoss(),
    ))`);
    if (typeof theirs !== 'string') throw new Error('expected a string from PyTorch');
    expect(compareTrees(String(model), theirs).excepted).toEqual([]);
  });
});

describe('optimizers print as PyTorch (camelCase keys)', () => {
  /** PyTorch's option names to convkit's; options convkit does not have are dropped (documented on Optimizer.toString). */
  function torchOptimToConvkit(s: string): string {
    return s
      .split('\n')
      .filter((l) => !/^ {4}(foreach|differentiable|fused): /.test(l))
      .map((l) => l.replace(/^( {4})(\w+):/, (_, ind: string, k: string) => `${ind}${k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())}:`))
      .join('\n');
  }
  const cases: [string, (ps: ck.Tensor[]) => ck.optim.Optimizer, string][] = [
    ['AdamW defaults', (ps) => new ck.optim.AdamW(ps), 'torch.optim.AdamW(ps)'],
    ['Adam with amsgrad', (ps) => new ck.optim.Adam(ps, { lr: 3e-4, betas: [0.5, 0.99], eps: 1e-6, amsgrad: true }), 'torch.optim.Adam(ps, lr=3e-4, betas=(0.5, 0.99), eps=1e-6, amsgrad=True)'],
    [
      'SGD with two groups',
      (ps) => new ck.optim.SGD([{ params: [ps[0]] }, { params: [ps[1]], lr: 0.01 }], { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4 }),
      "torch.optim.SGD([{'params': [ps[0]]}, {'params': [ps[1]], 'lr': 0.01}], lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)",
    ],
    ['RMSprop', (ps) => new ck.optim.RMSprop(ps, { lr: 0.01, centered: true }), 'torch.optim.RMSprop(ps, lr=0.01, centered=True)'],
  ];
  for (const [name, make, py] of cases) {
    test(name, async () => {
      const ps = [ck.zeros([2], { requiresGrad: true }), ck.zeros([3], { requiresGrad: true })];
      const opt = make(ps);
      const theirs = await runTorch(`ps = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]\nout = repr(${py})`);
      if (typeof theirs !== 'string') throw new Error('expected a string from PyTorch');
      expect(String(opt)).toBe(torchOptimToConvkit(theirs));
      expect(util.inspect(opt)).toBe(String(opt));
      for (const p of ps) p.dispose();
    });
  }

  test('a scheduler adds initialLr to the groups, as PyTorch its initial_lr', async () => {
    const ps = [ck.zeros([2], { requiresGrad: true })];
    const opt = new ck.optim.AdamW(ps, { lr: 0.001, weightDecay: 0.01 });
    const sched = new ck.optim.lrScheduler.CosineAnnealingLR(opt, 30);
    const theirs = await runTorch(
      'opt = torch.optim.AdamW([torch.zeros(2, requires_grad=True)], lr=0.001, weight_decay=0.01)\n' +
        'sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=30)\nout = repr(opt)',
    );
    if (typeof theirs !== 'string') throw new Error('expected a string from PyTorch');
    expect(String(opt)).toBe(torchOptimToConvkit(theirs));
    expect(util.inspect(sched)).toBe('CosineAnnealingLR(tMax=30, etaMin=0, lastEpoch=0, lastLr=[0.001])');
    ps[0].dispose();
  });

  test('devices print as torch.device', async () => {
    expect(util.inspect(ck.zeros([1]).device)).toBe(await runTorch("out = repr(torch.device('cpu'))"));
    expect(util.inspect(new ck.Device(0))).toBe(await runTorch("out = repr(torch.device('cuda', 0))"));
    expect(util.inspect(new ck.Device(1))).toBe(await runTorch("out = repr(torch.device('cuda:1'))"));
    expect(String(new ck.Device(0))).toBe('cuda:0');
  });
});

describe('Tensor.softmax / Tensor.logSoftmax (PyTorch spellings)', () => {
  for (const [method, torchName] of [['softmax', 'softmax'], ['logSoftmax', 'log_softmax']] as const) {
    for (const dim of [1, -1, 0]) {
      test(`${method}(${dim}): values and gradient as torch.Tensor.${torchName}`, async () => {
        const x = seeded([3, 4, 5], 2, 7).requiresGrad_();
        const w = seeded([3, 4, 5], 1, 8);
        const y = x[method](dim);
        const loss = y.mul(w).sum();
        loss.backward();
        const ref = await runTorch(`x.requires_grad_()\ny = x.${torchName}(${dim})\n(y * w).sum().backward()\nout = [y, x.grad]`, { x, w });
        const [ry, rg] = ref as TorchOut[];
        expectClose(y, ry, { atol: 1e-6, rtol: 1e-5 }, `${method} values`);
        expectClose(x.grad!, rg, { atol: 1e-6, rtol: 1e-5 }, `${method} gradient`);
        for (const t of [x, w, y, loss]) t.dispose();
      });
    }
  }

  test('dtype names convkit does not store say "unsupported dtype", not "unknown device"', () => {
    const t = ck.zeros([2]);
    for (const name of ['float16', 'bfloat16', 'float64', 'half', 'double', 'int8', 'uint8', 'bool', 'long'])
      expect(() => t.to(name as never)).toThrow(expect.objectContaining({ code: 'ERR_DTYPE', message: expect.stringMatching(/dtype '.*' is not supported/) }));
    expect(() => t.to('gpu' as never)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE', message: expect.stringMatching(/unknown device 'gpu'/) }));
    t.dispose();
  });
});
