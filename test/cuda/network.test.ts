/**
 * A whole network (the CIFAR-10 CNN, small input) on the CUDA device against the CPU, forward and
 * backward, with the hand-written convolution kernels (FP32; the file pins backends.conv = 'native').
 * Tolerance |cuda - cpu| <= atol + rtol*|cpu|, stated per case. Each kernel is also checked against the naive
 * double-precision references (test/reference/) by the native self-tests (scripts/native-selftests.js).
 */
import * as ck from '../../lib';
import { expectClose } from '../helpers/compare';
import { expectNativeConv, pinNativeConv, requireCuda } from './helpers';

const F = ck.nn.functional;
beforeAll(() => requireCuda());
pinNativeConv();

describe('whole network on cuda = cpu', () => {
  test('CIFAR-10 CNN forward and backward (small input)', () => {
    expectNativeConv();
    ck.manualSeed(11);
    const m = ck.models.cifar10Net();
    m.classifier.at(0).eval();
    const x = ck.randn([2, 3, 8, 8]);
    const y = ck.tensor([3, 7], { dtype: 'int32' });
    const lossCpu = F.crossEntropy(m.forward(x), y);
    lossCpu.backward();
    const gradsCpu = m.parameters().map((p) => p.grad!.clone());
    m.zeroGrad();
    m.cuda();
    const lossGpu = F.crossEntropy(m.forward(x.cuda()), y.cuda());
    lossGpu.backward();
    expectClose(lossGpu.cpu(), lossCpu, { atol: 1e-5, rtol: 1e-4 }, 'loss');
    m.parameters().forEach((p, i) => {
      const g = gradsCpu[i];
      let scale = 0;
      for (const v of g.dataSync()) scale = Math.max(scale, Math.abs(v));
      expectClose(p.grad!.cpu(), g, { atol: 1e-4 * Math.max(scale, 1e-2), rtol: 1e-3 }, `grad ${i}`);
    });
  });
});
