/**
 * nn layers and functional ops against live PyTorch: forward outputs and the gradients of input, weight
 * and bias for every layer, over shapes with odd sizes, stride 2, padding, dilation, groups and batch 1.
 * Tolerances: 1e-4 abs + 1e-4 rel for convolution (sums of hundreds of products in another order),
 * 1e-5 abs + 1e-4 rel elsewhere.
 */
import * as ck from '../../lib';
import { expectClose } from '../helpers/compare';
import { runTorch, stopTorch } from '../helpers/torch';

const { nn } = ck;
const F = nn.functional;
afterAll(() => stopTorch());

const TOL = { atol: 1e-5, rtol: 1e-4 };
const CONV_TOL = { atol: 1e-4, rtol: 1e-4 };

function leaf(shape: number[], scale = 1): ck.Tensor {
  const r = ck.randn(shape);
  const t = ck.noGrad(() => r.mul(scale));
  r.dispose();
  return t.requiresGrad_();
}

/** Runs fn on leaves, backprops sum(out * w); returns [out, ...grads] of convkit and of torch. */
async function gradCase(
  leaves: Record<string, ck.Tensor>, fn: () => ck.Tensor, torchExpr: string, extra: Record<string, ck.Tensor> = {},
): Promise<[ck.Tensor, (ck.Tensor | null)[], never[]]> {
  const out = fn();
  const gw = ck.randn([...out.shape]);
  out.mul(gw).sum().backward();
  const names = Object.keys(leaves);
  const code =
    names.map((n) => `${n} = ${n}.clone().requires_grad_()`).join('\n') +
    `\nout = ${torchExpr}\n(out * gw).sum().backward()\nout = [out] + [${names.map((n) => `${n}.grad if ${n}.grad is not None else torch.zeros(0)`).join(', ')}]`;
  const want = (await runTorch(code, { ...leaves, ...extra, gw })) as never[];
  return [out, names.map((n) => leaves[n].grad), want];
}

async function checkGrads(name: string, leaves: Record<string, ck.Tensor>, fn: () => ck.Tensor, expr: string, tol = TOL, extra: Record<string, ck.Tensor> = {}) {
  const [out, grads, want] = await gradCase(leaves, fn, expr, extra);
  expectClose(out, want[0], tol, `${name}: output`);
  Object.keys(leaves).forEach((k, i) => {
    expect(grads[i]).not.toBeNull();
    expectClose(grads[i]!, want[i + 1], tol, `${name}: grad ${k}`);
  });
}

describe('conv2d', () => {
  const cases: [string, number[], number[], ck.nn.functional.Conv2dOptions, boolean][] = [
    ['3x3 pad 1', [2, 3, 8, 8], [4, 3, 3, 3], { padding: 1 }, true],
    ['odd sizes, no bias', [2, 3, 7, 9], [5, 3, 3, 2], {}, false],
    ['stride 2 pad 1', [2, 4, 9, 9], [6, 4, 3, 3], { stride: 2, padding: 1 }, true],
    ['dilation 2', [1, 2, 11, 10], [3, 2, 3, 3], { dilation: 2, padding: 2 }, true],
    ['groups 2', [2, 4, 6, 6], [6, 2, 3, 3], { groups: 2, padding: 1 }, true],
    ['depthwise', [2, 4, 7, 7], [4, 1, 3, 3], { groups: 4, padding: 1 }, true],
    ['depthwise multiplier', [1, 3, 6, 5], [6, 1, 3, 3], { groups: 3, stride: 2 }, true],
    ['1x1', [3, 8, 5, 5], [4, 8, 1, 1], {}, true],
    ['1x1 stride 2', [2, 6, 7, 7], [3, 6, 1, 1], { stride: 2 }, true],
    ['batch 1 5x5 stride (2,1)', [1, 3, 12, 10], [2, 3, 5, 5], { stride: [2, 1], padding: [2, 1] }, true],
    ['7x7 stride 2 pad 3 (resnet stem)', [1, 3, 16, 16], [4, 3, 7, 7], { stride: 2, padding: 3 }, false],
    // small maps: the whole batch is one GEMM (wide mode with several images per item)
    ['batch of 2x2 maps', [6, 16, 2, 2], [8, 16, 3, 3], { padding: 1 }, true],
    ['batch of 1x1 maps', [5, 12, 1, 1], [7, 12, 3, 3], { padding: 1 }, true],
    ['1x1 conv of 1x1 maps', [4, 8, 1, 1], [6, 8, 1, 1], {}, false],
    ['groups 2 on 2x2 maps, stride 2', [5, 4, 3, 3], [6, 2, 3, 3], { groups: 2, padding: 1, stride: 2 }, true],
    // bands of output rows raised to a multiple of 16 columns (12 rows of 28), the last band shorter
    ['bands of 16-column multiples', [2, 64, 28, 28], [16, 64, 3, 3], { padding: 1 }, true],
  ];
  for (const [name, xs, ws, o, bias] of cases) {
    test(name, async () => {
      ck.manualSeed(xs.reduce((a, b) => a + b, 0));
      const x = leaf(xs);
      const w = leaf(ws, 0.3);
      const leaves: Record<string, ck.Tensor> = { x, w };
      let b: ck.Tensor | null = null;
      if (bias) leaves.b = b = leaf([ws[0]]);
      const s = Array.isArray(o.stride) ? `(${o.stride})` : o.stride ?? 1;
      const p = Array.isArray(o.padding) ? `(${o.padding})` : o.padding ?? 0;
      const expr = `F.conv2d(x, w, ${bias ? 'b' : 'None'}, stride=${s}, padding=${p}, dilation=${o.dilation ?? 1}, groups=${o.groups ?? 1})`;
      await checkGrads(name, leaves, () => F.conv2d(x, w, b, o), expr, CONV_TOL);
    });
  }
  test('shape errors name the layer and both shapes', () => {
    const conv = new nn.Conv2d(3, 8, 3);
    expect(() => conv.forward(ck.zeros([2, 4, 8, 8]))).toThrow(/Conv2d\(3, 8.*\[2, 4, 8, 8\]/);
    expect(() => F.conv2d(ck.zeros([1, 3, 2, 2]), ck.zeros([4, 3, 3, 3]))).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => F.conv2d(ck.zeros([1, 4, 5, 5]), ck.zeros([4, 3, 3, 3]))).toThrow(/\[4, 3, 3, 3\].*\[1, 4, 5, 5\]/);
  });
});

describe('batch norm', () => {
  test('BatchNorm2d training: output, grads, running stats, num_batches_tracked', async () => {
    ck.manualSeed(5);
    const bn = new nn.BatchNorm2d(3);
    ck.noGrad(() => {
      bn.weight!.copy_(ck.randn([3]));
      bn.bias!.copy_(ck.randn([3]));
    });
    const x = leaf([4, 3, 5, 6], 2);
    const g0 = bn.weight!.detach().clone();
    const b0 = bn.bias!.detach().clone();
    const out = bn.forward(x);
    const w = ck.randn([...out.shape]);
    out.mul(w).sum().backward();
    const want = (await runTorch(
      `bn = nn.BatchNorm2d(3)
with torch.no_grad():
    bn.weight.copy_(g0); bn.bias.copy_(b0)
x = x.clone().requires_grad_()
y = bn(x)
(y * w).sum().backward()
out = [y, x.grad, bn.weight.grad, bn.bias.grad, bn.running_mean, bn.running_var, bn.num_batches_tracked.int()]`,
      { x, w, g0, b0 },
    )) as never[];
    expectClose(out, want[0], TOL, 'output');
    expectClose(x.grad!, want[1], { atol: 1e-4, rtol: 1e-4 }, 'grad input');
    expectClose(bn.weight!.grad!, want[2], { atol: 1e-4, rtol: 1e-4 }, 'grad weight');
    expectClose(bn.bias!.grad!, want[3], TOL, 'grad bias');
    expectClose(bn.running_mean!, want[4], TOL, 'running_mean');
    expectClose(bn.running_var!, want[5], TOL, 'running_var');
    expectClose(bn.num_batches_tracked!, want[6], { atol: 0, rtol: 0 }, 'num_batches_tracked');
  });
  test('BatchNorm2d eval uses running stats, with gradients', async () => {
    ck.manualSeed(6);
    const x = leaf([2, 4, 3, 3]);
    const rm = ck.randn([4]);
    const rv = ck.rand([4]).add(0.5);
    const g = leaf([4]);
    const b = leaf([4]);
    await checkGrads('bn eval', { x, g, b }, () => F.batchNorm(x, rm, rv, g, b, { training: false }), 'F.batch_norm(x, rm, rv, g, b, training=False)', TOL, { rm, rv });
    const y = ck.noGrad(() => F.batchNorm(x, rm, rv, g, b, { training: false }));
    expectClose(y, await runTorch('out = F.batch_norm(x, rm, rv, g, b, training=False)', { x, rm, rv, g, b }), TOL, 'no-grad eval kernel');
  });
  test('BatchNorm1d on (N, C) and (N, C, L), momentum 0.3, no affine', async () => {
    ck.manualSeed(7);
    for (const shape of [[8, 5], [4, 5, 3]]) {
      const x = leaf(shape);
      const rm = ck.zeros([5]);
      const rv = ck.ones([5]);
      await checkGrads(`bn1d ${shape}`, { x }, () => F.batchNorm(x, rm, rv, null, null, { training: true, momentum: 0.3 }),
        'F.batch_norm(x, torch.zeros(5), torch.ones(5), None, None, training=True, momentum=0.3)', { atol: 1e-4, rtol: 1e-4 });
      const want = (await runTorch('rm = torch.zeros(5); rv = torch.ones(5); F.batch_norm(x, rm, rv, None, None, training=True, momentum=0.3); out = [rm, rv]', { x })) as never[];
      expectClose(rm, want[0], TOL, 'running mean');
      expectClose(rv, want[1], TOL, 'running var');
    }
  });
  test('one value per channel in training is an error', () => {
    const bn = new nn.BatchNorm1d(3);
    expect(() => bn.forward(ck.zeros([1, 3]))).toThrow(/more than 1 value per channel/);
  });
});

describe('pooling', () => {
  const maxCases: [number[], number | [number, number], ck.nn.functional.MaxPool2dOptions, string][] = [
    [[2, 3, 8, 8], 2, {}, 'kernel_size=2'],
    [[1, 2, 9, 7], 3, { stride: 2, padding: 1 }, 'kernel_size=3, stride=2, padding=1'],
    [[2, 2, 10, 10], 3, { stride: 2, ceilMode: true }, 'kernel_size=3, stride=2, ceil_mode=True'],
    [[1, 3, 11, 9], [3, 2], { stride: [2, 1], dilation: 2 }, 'kernel_size=(3, 2), stride=(2, 1), dilation=2'],
    [[2, 1, 5, 5], 2, { stride: 1 }, 'kernel_size=2, stride=1'],
  ];
  for (const [shape, k, o, args] of maxCases) {
    test(`max_pool2d ${args}`, async () => {
      ck.manualSeed(shape[2] * 3 + shape[3]);
      const x = leaf(shape);
      await checkGrads('maxpool', { x }, () => F.maxPool2d(x, k, o), `F.max_pool2d(x, ${args})`);
    });
  }
  const avgCases: [number[], number, ck.nn.functional.AvgPool2dOptions, string][] = [
    [[2, 3, 8, 8], 2, {}, 'kernel_size=2'],
    [[1, 2, 9, 7], 3, { stride: 2, padding: 1 }, 'kernel_size=3, stride=2, padding=1'],
    [[1, 2, 9, 7], 3, { stride: 2, padding: 1, countIncludePad: false }, 'kernel_size=3, stride=2, padding=1, count_include_pad=False'],
    [[2, 2, 10, 10], 3, { stride: 2, ceilMode: true, padding: 1 }, 'kernel_size=3, stride=2, ceil_mode=True, padding=1'],
    [[1, 1, 6, 6], 2, { divisorOverride: 3 }, 'kernel_size=2, divisor_override=3'],
  ];
  for (const [shape, k, o, args] of avgCases) {
    test(`avg_pool2d ${args}`, async () => {
      ck.manualSeed(shape[2] * 5 + shape[3]);
      const x = leaf(shape);
      await checkGrads('avgpool', { x }, () => F.avgPool2d(x, k, o), `F.avg_pool2d(x, ${args})`);
    });
  }
  for (const [shape, o] of [[[2, 3, 7, 7], 1], [[1, 2, 10, 9], [3, 4]], [[2, 2, 5, 5], [5, 5]], [[1, 1, 4, 6], [6, 3]]] as [number[], number | [number, number]][]) {
    test(`adaptive_avg_pool2d ${shape} -> ${o}`, async () => {
      ck.manualSeed(11);
      const x = leaf(shape);
      const os = Array.isArray(o) ? `(${o})` : o;
      await checkGrads('adaptive', { x }, () => F.adaptiveAvgPool2d(x, o), `F.adaptive_avg_pool2d(x, ${os})`);
    });
  }
});

describe('activations, linear, fused ops', () => {
  test('linear with and without bias, batched input', async () => {
    ck.manualSeed(12);
    const x = leaf([2, 3, 6]);
    const w = leaf([4, 6]);
    const b = leaf([4]);
    await checkGrads('linear', { x, w, b }, () => F.linear(x, w, b), 'F.linear(x, w, b)');
    const x2 = leaf([5, 6]);
    const w2 = leaf([3, 6]);
    await checkGrads('linear no bias', { x2, w2 }, () => F.linear(x2, w2), 'F.linear(x2, w2)');
  });
  test('Linear names its features in shape errors', () => {
    const fc = new nn.Linear(512, 10);
    expect(() => fc.forward(ck.zeros([4, 256]))).toThrow(/Linear\(in_features=512, out_features=10.*512 features.*\[4, 256\]/);
  });
  test('bias + relu and residual add + relu match relu(x + b) and relu(a + b)', async () => {
    ck.manualSeed(13);
    const x = leaf([2, 3, 4, 5]);
    const b = leaf([3]);
    await checkGrads('bias_relu', { x, b }, () => F.biasRelu(x, b), 'torch.relu(x + b.view(1, 3, 1, 1))');
    const a1 = leaf([2, 3, 4, 4]);
    const a2 = leaf([2, 3, 4, 4]);
    await checkGrads('add_relu', { a1, a2 }, () => F.addRelu(a1, a2), 'torch.relu(a1 + a2)');
  });
  test('softmax and log_softmax over every dim', async () => {
    ck.manualSeed(14);
    for (const dim of [0, 1, 2, -1]) {
      const x = leaf([3, 4, 5], 3);
      await checkGrads(`softmax ${dim}`, { x }, () => F.softmax(x, dim), `F.softmax(x, ${dim})`);
      const y = leaf([3, 4, 5], 3);
      await checkGrads(`log_softmax ${dim}`, { y }, () => F.logSoftmax(y, dim), `F.log_softmax(y, ${dim})`);
    }
  });
});

describe('losses', () => {
  const target = () => ck.tensor([1, 0, 4, 2, 4, 3], { dtype: 'int32' });
  for (const reduction of ['mean', 'sum', 'none'] as const) {
    for (const ls of [0, 0.1]) {
      test(`cross_entropy reduction=${reduction} label_smoothing=${ls}`, async () => {
        ck.manualSeed(15);
        const x = leaf([6, 5], 2);
        const t = target();
        await checkGrads('ce', { x }, () => F.crossEntropy(x, t, { reduction, labelSmoothing: ls }),
          `F.cross_entropy(x, t.long(), reduction='${reduction}', label_smoothing=${ls})`, TOL, { t });
      });
    }
  }
  test('cross_entropy with ignoreIndex, and on (N, C, d) inputs', async () => {
    ck.manualSeed(16);
    const x = leaf([6, 5]);
    const t = ck.tensor([1, -100, 4, 2, -100, 3], { dtype: 'int32' });
    await checkGrads('ce ignore', { x }, () => F.crossEntropy(x, t, { labelSmoothing: 0.2 }), "F.cross_entropy(x, t.long(), label_smoothing=0.2)", TOL, { t });
    const x3 = leaf([2, 4, 3]);
    const t3 = ck.tensor([[0, 3, 1], [2, 2, 0]], { dtype: 'int32' });
    await checkGrads('ce 3d', { x3 }, () => F.crossEntropy(x3, t3), 'F.cross_entropy(x3, t3.long())', TOL, { t3 });
  });
  test('nll_loss and mse_loss', async () => {
    ck.manualSeed(17);
    const lp = leaf([6, 5]);
    const t = target();
    await checkGrads('nll', { lp }, () => F.nllLoss(lp, t), 'F.nll_loss(lp, t.long())', TOL, { t });
    const a = leaf([3, 4]);
    const b = leaf([3, 4]);
    await checkGrads('mse', { a, b }, () => F.mseLoss(a, b), 'F.mse_loss(a, b)');
    const c = leaf([3, 4]);
    const d = leaf([3, 4]);
    await checkGrads('mse sum', { c, d }, () => F.mseLoss(c, d, { reduction: 'sum' }), "F.mse_loss(c, d, reduction='sum')");
  });
  test('a target out of range is an error naming it', () => {
    expect(() => F.crossEntropy(ck.zeros([2, 3]), ck.tensor([0, 3], { dtype: 'int32' }))).toThrow(/out of range/);
    expect(() => F.crossEntropy(ck.zeros([2, 3]), ck.tensor([0, 1]))).toThrow(expect.objectContaining({ code: 'ERR_DTYPE' }));
  });
});

describe('dropout', () => {
  test('scales kept elements by 1/(1-p), drops about p, is the identity in eval', () => {
    ck.manualSeed(18);
    const x = ck.ones([20000]).requiresGrad_();
    const y = F.dropout(x, 0.3, true);
    const v = y.dataSync();
    let zeros = 0;
    for (const e of v) {
      if (e === 0) zeros++;
      else expect(Math.abs(e - 1 / 0.7)).toBeLessThan(1e-6);
    }
    expect(Math.abs(zeros / v.length - 0.3)).toBeLessThan(0.015);
    y.sum().backward();
    expect(Array.from(x.grad!.dataSync())).toEqual(Array.from(v));
    const d = new nn.Dropout(0.3);
    d.eval();
    expect(d.forward(ck.ones([5])).toArray()).toEqual([1, 1, 1, 1, 1]);
    ck.manualSeed(18);
    const again = F.dropout(ck.ones([20000]), 0.3, true).dataSync();
    expect(Array.from(again)).toEqual(Array.from(v));
  });
});

describe('Module', () => {
  class Net extends nn.Module {
    features = new nn.Sequential(new nn.Conv2d(3, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.MaxPool2d(2));
    pool = new nn.AdaptiveAvgPool2d(1);
    fc = new nn.Linear(4, 2);
    forward(x: ck.Tensor): ck.Tensor {
      const f = this.features.forward(x) as ck.Tensor;
      return this.fc.forward(this.pool.forward(f).flatten(1));
    }
  }
  test('state-dict keys and order are PyTorch\'s, and weights round-trip through PyTorch', async () => {
    ck.manualSeed(19);
    const net = new Net();
    const sd = net.stateDict();
    const keys = Object.keys(sd);
    const want = (await runTorch(`
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 2)
out = list(Net().state_dict().keys())`)) as unknown as string[];
    expect(keys).toEqual(want);
    expect(net.parameters().length).toBe(6);
    expect(net.buffers().length).toBe(3);
    expect([...net.namedModules()].map(([n]) => n)).toEqual(['', 'features', 'features.0', 'features.1', 'features.2', 'features.3', 'pool', 'fc']);
  });
  test('loadStateDict copies by name, reports missing/unexpected, rejects wrong shapes', () => {
    const a = new Net();
    const b = new Net();
    b.loadStateDict(a.stateDict());
    expect(b.fc.weight.toArray()).toEqual(a.fc.weight.toArray());
    const sd = a.stateDict();
    delete sd['fc.bias'];
    sd['extra.weight'] = ck.zeros([1]);
    const r = b.loadStateDict(sd, { strict: false });
    expect(r.missingKeys).toEqual(['fc.bias']);
    expect(r.unexpectedKeys).toEqual(['extra.weight']);
    expect(() => b.loadStateDict(sd)).toThrow(/fc.bias/);
    const bad = a.stateDict();
    bad['fc.weight'] = ck.zeros([3, 4]);
    expect(() => b.loadStateDict(bad)).toThrow(/fc.weight.*\[3, 4\].*\[2, 4\]/);
  });
  test('train/eval, requiresGrad_, zeroGrad, apply, replaced head keeps its key position', () => {
    const net = new Net();
    net.eval();
    expect(net.modules().every((m) => !m.training)).toBe(true);
    net.train();
    net.requiresGrad_(false);
    expect(net.parameters().every((p) => !p.requiresGrad)).toBe(true);
    net.fc = new nn.Linear(4, 7);
    expect(Object.keys(net.stateDict()).slice(-2)).toEqual(['fc.weight', 'fc.bias']);
    expect(net.parameters().filter((p) => p.requiresGrad).length).toBe(2);
    const x = ck.randn([2, 3, 8, 8]);
    const y = net.forward(x);
    expect(y.shape).toEqual([2, 7]);
    y.sum().backward();
    expect(net.fc.weight.grad).not.toBeNull();
    net.zeroGrad();
    expect(net.fc.weight.grad).toBeNull();
    let count = 0;
    net.apply(() => count++);
    expect(count).toBe(net.modules().length);
  });
  test('default initialisation follows PyTorch (kaiming_uniform a=sqrt(5), bias bound 1/sqrt(fan_in))', () => {
    ck.manualSeed(20);
    const fc = new nn.Linear(400, 300);
    const w = fc.weight.dataSync();
    const bound = 1 / Math.sqrt(400);
    let max = 0;
    for (const v of w) max = Math.max(max, Math.abs(v));
    expect(max).toBeLessThanOrEqual(bound);
    expect(max).toBeGreaterThan(bound * 0.99);
    const std = fc.weight.std().item();
    expect(Math.abs(std - bound / Math.sqrt(3))).toBeLessThan(0.002);
  });
});
