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
import { runTorch, stopTorch } from '../helpers/torch';

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
