/**
 * The native boundary on a CUDA device: an operand on another device is refused by the TypeScript checks and,
 * called directly, by the native operand reader (csrc/binding/args.h), each naming the operand that differs.
 */
import * as ck from '../../lib';
import { native, Operand } from '../../lib/binding';
import { pinNativeConv, requireCuda } from './helpers';

beforeAll(() => requireCuda());
pinNativeConv();

const op = (t: ck.Tensor): Operand => ({ storage: t.storage, offset: t.offset });

test('conv2d with operands on two devices names the one that differs', () => {
  ck.tidy(() => {
    const x = ck.randn([1, 2, 5, 5]);
    const w = ck.randn([3, 2, 3, 3], { device: 'cuda' });
    expect(() => ck.nn.functional.conv2d(x, w)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE', message: 'conv2d: weight is on cuda:0 but input is on cpu' }));
    const y = ck.empty([1, 3, 3, 3], { device: 'cuda' });
    const params = { N: 1, C: 2, H: 5, W: 5, O: 3, KH: 3, KW: 3, OH: 3, OW: 3, sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1, groups: 1 };
    expect(() => native.conv2dForward(params, { input: op(x), weight: op(w), bias: null, output: op(y) }))
      .toThrow(expect.objectContaining({ code: 'ERR_DEVICE', message: 'conv2d: weight is on cuda:0 but input is on cpu' }));
    const xc = x.cuda();
    const b = ck.zeros([3]);
    expect(() => native.conv2dForward(params, { input: op(xc), weight: op(w), bias: op(b), output: op(y) }))
      .toThrow(expect.objectContaining({ code: 'ERR_DEVICE', message: 'conv2d: bias is on cpu but input is on cuda:0' }));
    // the same call with every operand on the device runs
    native.conv2dForward(params, { input: op(xc), weight: op(w), bias: null, output: op(y) });
    return undefined;
  });
});

test('a fractional stride reaching the native parameter reader is refused, not truncated', () => {
  ck.tidy(() => {
    const x = ck.randn([1, 2, 5, 5], { device: 'cuda' });
    const w = ck.randn([3, 2, 3, 3], { device: 'cuda' });
    const y = ck.empty([1, 3, 3, 3], { device: 'cuda' });
    const params = { N: 1, C: 2, H: 5, W: 5, O: 3, KH: 3, KW: 3, OH: 3, OW: 3, sh: 1.5, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1, groups: 1 };
    expect(() => native.conv2dForward(params, { input: op(x), weight: op(w), bias: null, output: op(y) }))
      .toThrow(expect.objectContaining({ code: 'ERR_ARG', message: expect.stringMatching(/^conv2d params\.sh must be an integer/) }));
    return undefined;
  });
});
