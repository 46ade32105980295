/**
 * The rest of the architecture timeline against live torchvision (torch 1.13 / torchvision 0.14, CPU):
 * VGG with batch norm, ResNet-101/152, MobileNetV2, GoogLeNet and Inception v3. Each torchvision model gets seeded
 * random weights (BatchNorm affine and running statistics randomised too, so eval mode is not the
 * identity), is saved with torch.save, and the .pth is loaded by the zoo builder (`weights: file`); the
 * parameter count and state-dict keys equal torchvision's, and the logits equal PyTorch's to 1e-4
 * relative in eval mode and in train mode (dropout off on both sides: masks come from different
 * generators), as do the running statistics after the train-mode pass. Inputs are small (64x64,
 * batch 2) to keep CI fast: every model here takes them through its adaptive pooling, except Inception
 * v3, whose auxiliary classifier needs 299x299 (its main path is also checked at 75x75).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ck from '../../lib';
import { Arr, runTorch, stopTorch } from '../helpers/torch';
import { expectClose } from '../helpers/compare';
import { disposeModel } from '../helpers/models';

jest.setTimeout(120_000);
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-zoo-more-'));
});
afterAll(() => {
  stopTorch();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const maxAbs = (a: Arr) => a.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** 1e-4 relative to the largest logit (and to each element). */
function expectLogits(actual: ck.Tensor | Arr, want: Arr, what: string, rel = 1e-4): void {
  expectClose(actual, want, { atol: rel * maxAbs(want), rtol: rel }, what);
}

/**
 * Python: `ctor` (a torchvision expression) with seeded random weights saved to `file`; its keys, the
 * input, eval logits, train-mode outputs (a list: logits, then GoogLeNetOutputs' aux fields when there
 * are any), parameter count and running statistics after the train pass.
 */
function checkpoint(ctor: string, file: string, size = 64, ref64 = false): string {
  return `
import copy, torchvision
torch.manual_seed(0)
m = ${ctor}
with torch.no_grad():
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.2, 0.2)
            mod.running_mean.normal_(0, 0.1); mod.running_var.uniform_(0.5, 1.5)
sd = m.state_dict()
torch.save(sd, ${JSON.stringify(file)})
x = torch.randn(2, 3, ${size}, ${size})
with torch.no_grad():
    m.eval(); ev = m(x)
    m64 = copy.deepcopy(m).double() if ${ref64 ? 'True' : 'False'} else None
    def train_pass(model, inp):
        model.train()
        for mod in model.modules():
            if isinstance(mod, nn.Dropout): mod.eval()
        r = model(inp)
        r = list(r) if isinstance(r, tuple) else [r]  # GoogLeNetOutputs / InceptionOutputs in field order
        return [t.float() for t in r], [b.float() for n, b in model.named_buffers() if 'running' in n]
    tr, running = train_pass(m, x)
out = [list(sd.keys()), x, ev, tr, sum(p.numel() for p in m.parameters()), running]
if m64 is not None:
    with torch.no_grad(): out += list(train_pass(m64, x.double()))
`;
}

type Want = [string[], Arr, Arr, Arr[], number, Arr[], Arr[]?, Arr[]?];

const maxDiff = (a: Arr | ck.Tensor, b: Arr) => {
  const ad = a instanceof ck.Tensor ? a.dataSync() : a.data;
  return b.data.reduce((m, v, i) => Math.max(m, Math.abs(ad[i] - v)), 0);
};

/**
 * `ref64`: train mode is checked against PyTorch's float64 forward, to within twice PyTorch's own
 * float32 error (and never looser than the 1e-4 bound is needed), instead of against its float32
 * logits to 1e-4. For the deep ResNets train mode is ill-conditioned in float32: 33 or 50 bottlenecks
 * of batch statistics over few values (layer4 normalises 2x2 pixels of 2 images) amplify rounding, and
 * PyTorch's own float32 train-mode logits differ from its float64 ones by 3.4e-4 (ResNet-101) and
 * 1.1e-3 (ResNet-152) relative, so no float32 implementation can agree with them to 1e-4. Inception
 * v3's auxiliary classifier likewise normalises 1x1 maps of 2 images (2 values per channel) in train mode.
 */
/**
 * Tolerance policy for Winograd F(4x4,3x3) (csrc/cpu/winograd.cc), as PyTorch's own tests loosen theirs where
 * TF32 / cuDNN's algorithms run: F(4x4) rounds each 3x3 layer about 10x more than direct convolution (its
 * stated bound against FP64 is 2e-5 of the largest output against direct's 2e-6, test/unit/conv_winograd.test.ts;
 * measured per layer shape 5-14x, docs/winograd.md). The `ref64` train-mode checks below allow twice
 * PyTorch's own float32 error, which is rounding amplified by batch statistics over few values; where F(4x4)
 * computes 3x3 layers these tolerances (floors included) scale by the bound ratio. Whether it does is measured, not assumed: a
 * few 3x3 layer shapes (channels 32-512, maps 4-32) give the same bits under the current algorithm
 * ('auto' follows csrc/cpu/conv.cc's rule) as under 'winograd4' and differ from 'direct'. Eval mode and the
 * non-ref64 checks keep their tolerances.
 */
const WINOGRAD4_ERROR_RATIO = 2e-5 / 2e-6;
function winograd4InUse(): boolean {
  const bits = (t: ck.Tensor) => Buffer.from(Float32Array.from(t.dataSync()).buffer);
  return [[32, 32, 32], [64, 64, 16], [128, 128, 8], [256, 256, 8], [512, 512, 4], [192, 64, 17]].some(([C, O, H]) => {
    ck.manualSeed(C + O + H);
    const x = ck.randn([2, C, H, H]), w = ck.randn([O, C, 3, 3]).mul(0.05);
    const run = (algo?: ck.ConvAlgo) => ck.noGrad(() => {
      const y = algo ? ck.withConvAlgo(algo, () => ck.nn.functional.conv2d(x, w, null, { padding: 1 })) : ck.nn.functional.conv2d(x, w, null, { padding: 1 });
      const b = bits(y);
      y.dispose();
      return b;
    });
    const [cur, f4, direct] = [run(), run('winograd4'), run('direct')];
    x.dispose();
    w.dispose();
    return cur.equals(f4) && !f4.equals(direct);
  });
}

async function parity(name: string, ctor: string, build: (weights: string) => ck.nn.Module, count: number, ref64 = false, size = 64): Promise<ck.nn.Module> {
  const pth = path.join(tmp, `${name}.pth`);
  const want = (await runTorch(checkpoint(ctor, pth, size, ref64))) as Want;
  const [keys, xa, ev, tr, n, running, tr64, running64] = want;
  expect(n).toBe(count);
  const model = build(pth);
  fs.rmSync(pth);
  expect(ck.utils.countParameters(model)).toBe(count);
  expect(Object.keys(model.stateDict())).toEqual(keys);
  const x = ck.tensor(Float32Array.from(xa.data), { shape: xa.shape });
  model.eval();
  const e = ck.noGrad(() => model.forward(x) as ck.Tensor);
  expectLogits(e, ev, `${name} eval logits`);
  model.train();
  for (const m of model.modules()) if (m instanceof ck.nn.Dropout) m.eval();
  const out = ck.noGrad(() => model.forward(x)) as ck.Tensor | ck.models.GoogLeNetOutputs | ck.models.InceptionOutputs;
  const outs = out instanceof ck.Tensor ? [out] : 'auxLogits2' in out ? [out.logits, out.auxLogits2, out.auxLogits1] : [out.logits, out.auxLogits];
  expect(outs.length).toBe(tr.length);
  const mine = [...model.namedBuffers()].filter(([k]) => k.includes('running')).map(([, b]) => b);
  expect(mine.length).toBe(running.length);
  if (!tr64 || !running64) {
    outs.forEach((o, i) => expectLogits(o, tr[i], `${name} train output ${i}`));
    mine.forEach((b, i) => expectClose(b, running[i], { atol: 1e-5, rtol: 1e-4 }, `${name} running stat ${i}`));
  } else {
    const f4 = winograd4InUse(), scale = f4 ? WINOGRAD4_ERROR_RATIO : 1, why = f4 ? `, x${scale}: Winograd F(4x4) in use` : '';
    outs.forEach((o, i) => {
      const torchRel = maxDiff(tr[i], tr64[i]) / maxAbs(tr64[i]);
      expectLogits(o, tr64[i], `${name} train output ${i} vs float64 (PyTorch float32 is off by ${torchRel.toExponential(2)}${why})`, scale * Math.max(1e-4, 2 * torchRel));
    });
    mine.forEach((b, i) => expectClose(b, running64[i], { atol: scale * Math.max(1e-5, 2 * maxDiff(running[i], running64[i])), rtol: scale * 1e-4 }, `${name} running stat ${i} vs float64${why}`));
  }
  for (const t of [x, e, ...outs]) t.dispose();
  return model;
}

describe('VGG with batch norm: torchvision vgg*_bn checkpoints (.pth) give the same logits', () => {
  test.each([
    ['vgg11Bn', 'vgg11_bn', 132_868_840],
    ['vgg13Bn', 'vgg13_bn', 133_053_736],
    ['vgg16Bn', 'vgg16_bn', 138_365_992],
    ['vgg19Bn', 'vgg19_bn', 143_678_248],
  ] as const)('%s = torchvision %s (%i parameters)', async (name, tv, count) => {
    const model = await parity(name, `torchvision.models.${tv}()`, (w) => ck.models[name]({ weights: w }), count);
    disposeModel(model);
  });
});

describe('ResNet-101 and ResNet-152', () => {
  test.each([
    ['resnet101', 44_549_160],
    ['resnet152', 60_192_808],
  ] as const)('%s (%i parameters)', async (name, count) => {
    const model = await parity(name, `torchvision.models.${name}()`, (w) => ck.models[name]({ weights: w }), count, true);
    disposeModel(model);
  });
});

describe('MobileNetV2', () => {
  test('torchvision mobilenet_v2: depthwise convs, ReLU6, inverted residuals (3,504,872 parameters)', async () => {
    const model = await parity('mobilenetV2', 'torchvision.models.mobilenet_v2()', (w) => ck.models.mobilenetV2({ weights: w }), 3_504_872);
    const dw = model.modules().filter((m) => m instanceof ck.nn.Conv2d && m.groups > 1) as ck.nn.Conv2d[];
    expect(dw.length).toBe(17);
    for (const c of dw) expect(c.groups).toBe(c.inChannels);
    expect(model.modules().filter((m) => m instanceof ck.nn.ReLU6).length).toBe(35);
    disposeModel(model);
  });

  test('nn.ReLU6 and functional.relu6 / hardtanh clamp as PyTorch, gradient included', async () => {
    const x = ck.tensor([-3, -1, -0.5, 0.25, 1, 5.5, 6.5, 8]).requiresGrad_();
    const y = new ck.nn.ReLU6().forward(x) as ck.Tensor;
    expect(Array.from(y.dataSync())).toEqual([0, 0, 0, 0.25, 1, 5.5, 6, 6]);
    const h = ck.nn.functional.hardtanh(x, -1, 1);
    expect(Array.from(h.dataSync())).toEqual([-1, -1, -0.5, 0.25, 1, 1, 1, 1]);
    y.sum().backward();
    const want = (await runTorch(`x = torch.tensor([-3, -1, -0.5, 0.25, 1, 5.5, 6.5, 8.], requires_grad=True)
nn.ReLU6()(x).sum().backward()
out = x.grad`)) as Arr;
    expect(Array.from(x.grad!.dataSync())).toEqual(want.data);
    expect(() => ck.nn.functional.hardtanh(x, 2, 1)).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
  });
});

describe('GoogLeNet (Inception v1)', () => {
  test('torchvision googlenet with aux classifiers: eval logits, train-mode GoogLeNetOutputs (13,004,888 parameters)', async () => {
    const model = await parity('googlenet', 'torchvision.models.googlenet(aux_logits=True, init_weights=True)', (w) => ck.models.googlenet({ weights: w }), 13_004_888);
    disposeModel(model);
  });

  test('transform_input, and a model without aux classifiers loads the full checkpoint (6,624,904 parameters)', async () => {
    const pth = path.join(tmp, 'googlenet_ti.pth');
    const want = (await runTorch(`import torchvision
torch.manual_seed(1)
full = torchvision.models.googlenet(aux_logits=True, init_weights=True)
torch.save(full.state_dict(), ${JSON.stringify(pth)})
m = torchvision.models.googlenet(aux_logits=False, transform_input=True, init_weights=False)
m.load_state_dict({k: v for k, v in full.state_dict().items() if not k.startswith('aux')})
x = torch.randn(1, 3, 64, 64)
m.eval()
with torch.no_grad(): ev = m(x)
m.train()
for mod in m.modules():
    if isinstance(mod, nn.Dropout): mod.eval()
with torch.no_grad(): tr = m(x)
out = [x, ev, tr, sum(p.numel() for p in m.parameters())]`)) as [Arr, Arr, Arr, number];
    const [xa, ev, tr, n] = want;
    expect(n).toBe(6_624_904);
    const model = ck.models.googlenet({ weights: pth, auxLogits: false, transformInput: true });
    expect(model.aux1).toBeNull();
    expect(ck.utils.countParameters(model)).toBe(n);
    const x = ck.tensor(Float32Array.from(xa.data), { shape: xa.shape });
    model.eval();
    const e = ck.noGrad(() => model.forward(x) as ck.Tensor);
    expectLogits(e, ev, 'googlenet transform_input eval');
    model.train();
    for (const m of model.modules()) if (m instanceof ck.nn.Dropout) m.eval();
    // Without aux classifiers, training mode returns plain logits, as torchvision.
    const t = ck.noGrad(() => model.forward(x));
    expect(t).toBeInstanceOf(ck.Tensor);
    expectLogits(t as ck.Tensor, tr, 'googlenet transform_input train');
    for (const a of [x, e, t as ck.Tensor]) a.dispose();
    disposeModel(model);
  });

  test('nn.functional.cat joins along a dim and splits the gradient back, as torch.cat', async () => {
    const a = ck.tensor([[1, 2], [3, 4]]).requiresGrad_();
    const b = ck.tensor([[5], [6]]).requiresGrad_();
    const c = ck.nn.functional.cat([a, b], 1);
    expect(c.toArray()).toEqual([[1, 2, 5], [3, 4, 6]]);
    c.mul(ck.tensor([[1, 2, 3], [4, 5, 6]])).sum().backward();
    expect(a.grad!.toArray()).toEqual([[1, 2], [4, 5]]);
    expect(b.grad!.toArray()).toEqual([[3], [6]]);
    expect(ck.nn.functional.cat([a, ck.tensor([[7, 8]])], 0).toArray()).toEqual([[1, 2], [3, 4], [7, 8]]);
    expect(() => ck.nn.functional.cat([a, ck.zeros([3, 1])], 1)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
  });
});

describe('Inception v3', () => {
  test('torchvision inception_v3 at 299x299 with the aux classifier: eval logits, train-mode InceptionOutputs (27,161,264 parameters)', async () => {
    const model = await parity('inceptionV3', 'torchvision.models.inception_v3(aux_logits=True, init_weights=True)', (w) => ck.models.inceptionV3({ weights: w }), 27_161_264, true, 299);
    disposeModel(model);
  });

  test('without the aux classifier, 75x75 (the smallest input torchvision takes), transform_input (23,834,568 parameters)', async () => {
    const pth = path.join(tmp, 'inception_ti.pth');
    const want = (await runTorch(`import torchvision
torch.manual_seed(2)
full = torchvision.models.inception_v3(aux_logits=True, init_weights=True)
torch.save(full.state_dict(), ${JSON.stringify(pth)})
m = torchvision.models.inception_v3(aux_logits=False, transform_input=True, init_weights=False)
m.load_state_dict({k: v for k, v in full.state_dict().items() if not k.startswith('AuxLogits')})
x = torch.randn(2, 3, 75, 75)
m.eval()
with torch.no_grad(): ev = m(x)
out = [x, ev, sum(p.numel() for p in m.parameters())]`)) as [Arr, Arr, number];
    const [xa, ev, n] = want;
    expect(n).toBe(23_834_568);
    const model = ck.models.inceptionV3({ weights: pth, auxLogits: false, transformInput: true });
    expect(model.AuxLogits).toBeNull();
    expect(ck.utils.countParameters(model)).toBe(n);
    const x = ck.tensor(Float32Array.from(xa.data), { shape: xa.shape });
    model.eval();
    const e = ck.noGrad(() => model.forward(x) as ck.Tensor);
    expectLogits(e, ev, 'inception_v3 transform_input eval');
    for (const a of [x, e]) a.dispose();
    disposeModel(model);
  });
});
