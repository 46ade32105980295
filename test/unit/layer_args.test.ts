/**
 * Every conv/pool/batch-norm/linear layer checks its arguments when built (lib/nn/layers.ts, one vocabulary in
 * lib/nn/functional/common.ts): fractional, zero, negative and oversized values are coded errors that name
 * the layer and the argument, e.g. "Conv2d: stride must be a positive integer, got 0". Values PyTorch
 * accepts (zero padding, a zero output size) are accepted.
 */
import * as ck from '../../lib';

const nn = ck.nn;
type Case = [label: string, build: () => unknown, message: RegExp, kind: 'TypeError' | 'RangeError'];

function expectError(build: () => unknown, message: RegExp, kind: string): void {
  let err: unknown = null;
  try {
    const m = build();
    (m as { parameters?: () => ck.Tensor[] })?.parameters?.().forEach((p) => p.dispose());
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(Error);
  const e = err as Error & { code?: string };
  expect({ code: e.code, kind: e.constructor.name, message: e.message }).toEqual({ code: 'ERR_ARG', kind, message: expect.stringMatching(message) });
}

// For each integer argument: [fractional, zero, negative, oversized] and what each must say.
function intCases(layer: string, arg: string, build: (v: number) => unknown, min: 0 | 1): Case[] {
  const kind = min === 1 ? 'a positive integer' : 'a non-negative integer';
  const cases: Case[] = [
    [`${arg} = 1.5`, () => build(1.5), new RegExp(`^${layer}: ${arg} must be ${kind}.*, got \\[?[0-9,.]*1\\.5[0-9,.]*\\]?$`), 'TypeError'],
    [`${arg} = -1`, () => build(-1), new RegExp(`^${layer}: ${arg} must be ${kind}, got -1$`), 'RangeError'],
    [`${arg} = 2**32`, () => build(2 ** 32), new RegExp(`^${layer}: ${arg} 4294967296 is out of the int32 range$`), 'RangeError'],
  ];
  if (min === 1) cases.push([`${arg} = 0`, () => build(0), new RegExp(`^${layer}: ${arg} must be a positive integer, got 0$`), 'RangeError']);
  return cases;
}

const cases: Case[] = [
  ...intCases('Conv2d', 'in_channels', (v) => new nn.Conv2d(v, 4, 3), 1),
  ...intCases('Conv2d', 'out_channels', (v) => new nn.Conv2d(4, v, 3), 1),
  ...intCases('Conv2d', 'kernel_size', (v) => new nn.Conv2d(4, 4, v), 1),
  ...intCases('Conv2d', 'kernel_size', (v) => new nn.Conv2d(4, 4, [3, v]), 1),
  ...intCases('Conv2d', 'stride', (v) => new nn.Conv2d(4, 4, 3, { stride: v }), 1),
  ...intCases('Conv2d', 'padding', (v) => new nn.Conv2d(4, 4, 3, { padding: v }), 0),
  ...intCases('Conv2d', 'dilation', (v) => new nn.Conv2d(4, 4, 3, { dilation: [v, 1] }), 1),
  ...intCases('Conv2d', 'groups', (v) => new nn.Conv2d(4, 4, 3, { groups: v }), 1),
  ...intCases('Linear', 'in_features', (v) => new nn.Linear(v, 4), 1),
  ...intCases('Linear', 'out_features', (v) => new nn.Linear(4, v), 1),
  ...intCases('BatchNorm2d', 'num_features', (v) => new nn.BatchNorm2d(v), 1),
  ...intCases('BatchNorm1d', 'num_features', (v) => new nn.BatchNorm1d(v), 1),
  ...intCases('MaxPool2d', 'kernel_size', (v) => new nn.MaxPool2d(v), 1),
  ...intCases('MaxPool2d', 'stride', (v) => new nn.MaxPool2d(2, { stride: v }), 1),
  ...intCases('MaxPool2d', 'dilation', (v) => new nn.MaxPool2d(2, { dilation: v }), 1),
  ...intCases('AvgPool2d', 'kernel_size', (v) => new nn.AvgPool2d([v, 2]), 1),
  ...intCases('AvgPool2d', 'stride', (v) => new nn.AvgPool2d(2, { stride: v }), 1),
  ...intCases('AvgPool2d', 'divisor_override', (v) => new nn.AvgPool2d(2, { divisorOverride: v }), 1),
  ...intCases('AdaptiveAvgPool2d', 'output_size', (v) => new nn.AdaptiveAvgPool2d(v), 0),
  ...intCases('AdaptiveAvgPool2d', 'output_size', (v) => new nn.AdaptiveAvgPool2d([null, v]), 0),
  // pool padding: at most half the kernel, as PyTorch
  ['MaxPool2d padding = 0.5', () => new nn.MaxPool2d(2, { padding: 0.5 }), /^MaxPool2d: padding must be a non-negative integer.*, got 0\.5$/, 'TypeError'],
  ['MaxPool2d padding = -1', () => new nn.MaxPool2d(2, { padding: -1 }), /^MaxPool2d: padding must be a non-negative integer, got -1$/, 'RangeError'],
  ['MaxPool2d padding = 2 (over half of 2)', () => new nn.MaxPool2d(2, { padding: 2 }), /^MaxPool2d: padding 2,2 should be at most half of kernel_size 2,2$/, 'RangeError'],
  ['AvgPool2d padding = 2**32', () => new nn.AvgPool2d(2, { padding: 2 ** 32 }), /^AvgPool2d: padding 4294967296 is out of the int32 range$/, 'RangeError'],
  // non-integer options
  ['BatchNorm2d eps = -1', () => new nn.BatchNorm2d(4, { eps: -1 }), /^BatchNorm2d: eps must be a finite number >= 0, got -1$/, 'RangeError'],
  ['BatchNorm2d eps = Infinity', () => new nn.BatchNorm2d(4, { eps: Infinity }), /^BatchNorm2d: eps must be a finite number >= 0, got Infinity$/, 'RangeError'],
  ['BatchNorm1d momentum = 1.5', () => new nn.BatchNorm1d(4, { momentum: 1.5 }), /^BatchNorm1d: momentum must be a finite number in \[0, 1\], got 1\.5$/, 'RangeError'],
  ['BatchNorm2d momentum = NaN', () => new nn.BatchNorm2d(4, { momentum: NaN }), /^BatchNorm2d: momentum must be a number, got NaN$/, 'TypeError'],
  ['BatchNorm2d affine = 1', () => new nn.BatchNorm2d(4, { affine: 1 as unknown as boolean }), /^BatchNorm2d: affine must be a boolean, got 1$/, 'TypeError'],
  ['Conv2d padding = "full"', () => new nn.Conv2d(4, 4, 3, { padding: 'full' as 'same' }), /^Conv2d: padding must be 'valid', 'same'/, 'RangeError'],
  ['Conv2d padding = "same" with stride 2', () => new nn.Conv2d(4, 4, 3, { padding: 'same', stride: 2 }), /^Conv2d: padding='same' is not supported for strided convolutions/, 'RangeError'],
  ['Conv2d bias = "yes"', () => new nn.Conv2d(4, 4, 3, { bias: 'yes' as unknown as boolean }), /^Conv2d: bias must be a boolean, got "yes"$/, 'TypeError'],
  ['ReLU inplace = true', () => new nn.ReLU({ inplace: true }), /^ReLU: inplace must be false/, 'RangeError'],
  ['ReLU6 inplace = true', () => new nn.ReLU6({ inplace: true }), /^ReLU6: inplace must be false/, 'RangeError'],
];

test.each(cases)('%s is refused, naming the argument', (_label, build, message, kind) => expectError(build, message, kind));

test('arguments PyTorch accepts still build: zero padding, zero output size, padding modes, pairs', () => {
  const built = [
    new nn.Conv2d(4, 8, [3, 1], { stride: [2, 1], padding: 0, dilation: 1, groups: 2 }),
    new nn.Conv2d(4, 4, 3, { padding: 'same' }),
    new nn.Conv2d(4, 4, 3, { padding: 'valid', bias: false }),
    new nn.Linear(3, 1),
    new nn.BatchNorm2d(4, { momentum: null, eps: 0 }),
    new nn.MaxPool2d(3, { stride: null, padding: 1 }),
    new nn.AvgPool2d(2, { divisorOverride: null, countIncludePad: false }),
    new nn.AdaptiveAvgPool2d([null, 0]),
    new nn.ReLU({ inplace: false }),
  ];
  for (const m of built) m.parameters().forEach((p) => p.dispose());
  expect(built).toHaveLength(9);
});

test('the functional ops use the same vocabulary', () => {
  const x = ck.zeros([1, 1, 4, 4]);
  const w = ck.zeros([1, 1, 3, 3]);
  expectError(() => ck.nn.functional.conv2d(x, w, null, { stride: 0 }), /^conv2d: stride must be a positive integer, got 0$/, 'RangeError');
  expectError(() => ck.nn.functional.maxPool2d(x, 2, { stride: 1.5 }), /^max_pool2d: stride must be a positive integer or a pair of them, got 1\.5$/, 'TypeError');
  x.dispose();
  w.dispose();
});
