/**
 * Printing on the CUDA device: a device tensor prints its values (read back from the device) and
 * `device='cuda:0'` where PyTorch puts it, summarised tensors included; Tensor.softmax/logSoftmax
 * run on the device as on the CPU.
 */
import * as util from 'util';
import * as ck from '../../lib';
import { tensorRepr } from '../../lib/format';
import { both, requireCuda } from './helpers';

beforeAll(() => requireCuda());

test('a CUDA tensor prints its values and device, as the CPU tensor with the device suffix', () => {
  ck.manualSeed(0);
  for (const [shape, dtype] of [[[2, 3], 'float32'], [[40, 50], 'float32'], [[5], 'int32'], [[0, 2], 'float32'], [[], 'float32']] as const) {
    const x = dtype === 'int32' ? ck.randint(-50, 50, [...shape]) : ck.randn([...shape]);
    const d = x.cuda();
    const expected = tensorRepr({ data: x.dataSync(), shape: x.shape, dtype: x.dtype, device: 'cuda:0', requiresGrad: false, gradFn: null, isParameter: false });
    expect(util.inspect(d)).toBe(expected);
    expect(expected).toContain("device='cuda:0'");
    // The values part is the CPU tensor's.
    expect(expected.startsWith(String(x).replace(/(, dtype=int32|, size=\(0, 2\))?\)$/, ''))).toBe(true);
    x.dispose();
    d.dispose();
  }
});

test('a model on the device prints the same tree', () => {
  const m = new ck.nn.Sequential(new ck.nn.Conv2d(3, 4, 3, { padding: 1 }), new ck.nn.BatchNorm2d(4), new ck.nn.ReLU());
  const before = String(m);
  m.to('cuda');
  expect(util.inspect(m)).toBe(before);
  for (const t of [...m.parameters(), ...m.buffers()]) t.dispose();
});

test('Tensor.softmax / logSoftmax on the device equal the CPU', () => {
  ck.manualSeed(1);
  const x = ck.randn([4, 6]);
  both([x], (t) => t.softmax(1), { atol: 1e-6, rtol: 1e-5 }, 'softmax');
  both([x], (t) => t.logSoftmax(0), { atol: 1e-6, rtol: 1e-5 }, 'logSoftmax');
  x.dispose();
});
