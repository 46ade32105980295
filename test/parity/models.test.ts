/**
 * The model zoo against live torchvision (torch 1.13 / torchvision 0.14, CPU): parameter counts and
 * state-dict keys; torchvision models with random weights saved by PyTorch, converted by
 * scripts/convert-torchvision.py (or read straight from the .pth by io.loadTorch), give PyTorch's logits
 * in eval and train mode (1e-4 relative); convkit's own safetensors load back into PyTorch; and the
 * transfer-learning helpers (frozen backbone, differential learning rates, gradual unfreezing,
 * summary and countByType) agree with what the same steps do in PyTorch.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ck from '../../lib';
import { Arr, PYTHON, runTorch, stopTorch } from '../helpers/torch';
import { expectClose } from '../helpers/compare';
import { disposeModel } from '../helpers/models';

const SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'convert-torchvision.py');
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-models-'));
});
afterAll(() => {
  stopTorch();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function convert(src: string, dst: string, env: NodeJS.ProcessEnv = {}): string {
  return execFileSync(PYTHON, [SCRIPT, src, '-o', dst], { encoding: 'utf8', env: { ...process.env, ...env } });
}

function maxAbs(a: Arr): number {
  return a.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

/** 1e-4 relative to the largest logit (and to each element). */
function expectLogits(actual: ck.Tensor, want: Arr, what: string): void {
  expectClose(actual, want, { atol: 1e-4 * maxAbs(want), rtol: 1e-4 }, what);
}

/**
 * Python: torchvision `arch` with seeded random weights (BatchNorm affine and running statistics
 * randomised too, so eval mode is not the identity), saved with torch.save to `file`; its logits on a
 * random batch in eval mode, then in train mode (dropout off on both sides: its masks come from
 * different generators), and the running statistics after the train-mode pass.
 */
function torchvisionCheckpoint(arch: string, file: string, opts: { dropNumBatchesTracked?: boolean; size?: number } = {}): string {
  const s = opts.size ?? 64;
  return `
import collections, torchvision
torch.manual_seed(0)
m = torchvision.models.${arch}()
with torch.no_grad():
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.2, 0.2)
            mod.running_mean.normal_(0, 0.1); mod.running_var.uniform_(0.5, 1.5)
sd = m.state_dict()
keys = list(sd.keys())
if ${opts.dropNumBatchesTracked ? 'True' : 'False'}:  # as torchvision's own ImageNet checkpoints
    sd = collections.OrderedDict((k, v) for k, v in sd.items() if not k.endswith('num_batches_tracked'))
torch.save(sd, ${JSON.stringify(file)})
x = torch.randn(2, 3, ${s}, ${s})
with torch.no_grad():
    m.eval(); ev = m(x)
    m.train()
    for mod in m.modules():
        if isinstance(mod, nn.Dropout): mod.eval()
    tr = m(x)
out = [keys, x, ev, tr, sum(p.numel() for p in m.parameters()), [b for n, b in m.named_buffers() if 'running' in n]]
`;
}

type CheckpointOut = [string[], Arr, Arr, Arr, number, Arr[]];

/** convkit's logits in eval mode, then in train mode with dropout off; running stats after. */
function forwardBothModes(model: ck.nn.Module, x: ck.Tensor): { ev: ck.Tensor; tr: ck.Tensor; running: ck.Tensor[] } {
  model.eval();
  const ev = ck.noGrad(() => model.forward(x) as ck.Tensor);
  model.train();
  for (const m of model.modules()) if (m instanceof ck.nn.Dropout) m.eval();
  const tr = ck.noGrad(() => model.forward(x) as ck.Tensor);
  const running = [...model.namedBuffers()].filter(([n]) => n.includes('running')).map(([, b]) => b);
  return { ev, tr, running };
}

function checkAgainst(model: ck.nn.Module, want: CheckpointOut, what: string): void {
  const [keys, xa, ev, tr, , running] = want;
  expect(Object.keys(model.stateDict())).toEqual(keys);
  const x = ck.tensor(Float32Array.from(xa.data), { shape: xa.shape });
  // Train mode moves the running statistics: start every load from the checkpoint's.
  const out = forwardBothModes(model, x);
  expectLogits(out.ev, ev, `${what} eval logits`);
  expectLogits(out.tr, tr, `${what} train logits`);
  out.running.forEach((b, i) => expectClose(b, running[i], { atol: 1e-5, rtol: 1e-4 }, `${what} running stat ${i}`));
  for (const t of [x, out.ev, out.tr]) t.dispose();
}

describe('architectures: parameter counts and torchvision state-dict keys', () => {
  test.each([
    ['resnet18', 11_689_512],
    ['resnet34', 21_797_672],
    ['resnet50', 25_557_032],
  ] as const)('%s has %i parameters and exactly torchvision\'s keys', async (arch, count) => {
    const model = ck.models[arch]();
    const want = (await runTorch(`import torchvision\nm = torchvision.models.${arch}()\nout = [list(m.state_dict().keys()), sum(p.numel() for p in m.parameters())]`)) as [string[], number];
    expect(ck.utils.countParameters(model)).toBe(count);
    expect(want[1]).toBe(count);
    expect(Object.keys(model.stateDict())).toEqual(want[0]);
    disposeModel(model);
  });

  // Without batch norm, configuration A is checked whole (VGG-11 below); the cfgs are shared.
  test('VGG feature stacks with batch norm, every configuration, match torchvision.models.vgg.make_layers', async () => {
    const want = (await runTorch(`import torchvision
from torchvision.models.vgg import make_layers, cfgs
out = [[list(make_layers(cfgs[c], batch_norm=True).state_dict().keys()) for c in 'ABDE']]`)) as unknown as [string[][]];
    (['A', 'B', 'D', 'E'] as const).forEach((c, i) => {
      const f = ck.models.makeVggLayers(ck.models.VGG_CFGS[c], true);
      expect(Object.keys(f.stateDict())).toEqual(want[0][i]);
      disposeModel(f);
    });
  });

  test('LeNet-5 and mini-VGG: shapes and parameter counts', () => {
    const lenet = ck.models.lenet5();
    expect(ck.utils.countParameters(lenet)).toBe(61_706);
    const y = ck.noGrad(() => lenet.forward(ck.zeros([2, 1, 28, 28])));
    expect(y.shape).toEqual([2, 10]);
    const lenet32 = ck.models.lenet5({ inChannels: 3, inputSize: 32 });
    expect(ck.noGrad(() => lenet32.forward(ck.zeros([1, 3, 32, 32]))).shape).toEqual([1, 10]);
    const mini = ck.models.miniVgg();
    // 3 blocks of two 3x3 conv-bn pairs: 1,147,200 conv/bn parameters + a 256 -> 10 linear
    expect(ck.utils.countParameters(mini)).toBe(1_149_770);
    expect(ck.noGrad(() => mini.forward(ck.zeros([2, 3, 32, 32]))).shape).toEqual([2, 10]);
    for (const m of [lenet, lenet32, mini]) disposeModel(m);
  });
});

describe('torchvision weights in convkit: same logits as PyTorch', () => {
  test('ResNet-18: converted to safetensors (num_batches_tracked filled in), eval and train mode', async () => {
    const pth = path.join(tmp, 'resnet18.pth');
    const st = path.join(tmp, 'resnet18.safetensors');
    const want = (await runTorch(torchvisionCheckpoint('resnet18', pth, { dropNumBatchesTracked: true }))) as CheckpointOut;
    expect(want[4]).toBe(11_689_512);
    const log = convert(pth, st);
    expect(log).toMatch(/122 tensors, 11689512 parameters, filled 20 num_batches_tracked/);
    const w = ck.io.loadSafetensors(st);
    expect([...w.tensors.keys()]).toEqual(want[0]);
    expect(w.dtypes.get('layer3.1.bn2.num_batches_tracked')).toBe('I64');
    expect(w.tensors.get('layer3.1.bn2.num_batches_tracked')!.item()).toBe(0);
    expect(w.metadata.source).toBe('resnet18.pth');
    w.dispose();
    const notes: string[] = [];
    const model = ck.models.resnet18({ weights: st, onNote: (n) => notes.push(n) });
    expect(notes).toEqual([]);
    expect(model.weightsReport).toMatchObject({ loaded: 122, replacedHead: null, filledNumBatchesTracked: 0 });
    checkAgainst(model, want, 'resnet18 (safetensors)');
    disposeModel(model);
  });

  test('ResNet-18: the .pth read by io.loadTorch with no conversion; by model name from the torch cache', async () => {
    const pth = path.join(tmp, 'resnet18.pth');
    const want = (await runTorch(torchvisionCheckpoint('resnet18', pth, { dropNumBatchesTracked: true }))) as CheckpointOut;
    const notes: string[] = [];
    const model = ck.models.resnet18({ weights: pth, onNote: (n) => notes.push(n) });
    // torchvision's ImageNet checkpoints have no num_batches_tracked either: filled in and said so.
    expect(model.weightsReport!.filledNumBatchesTracked).toBe(20);
    expect(notes.join('\n')).toMatch(/no num_batches_tracked for 20 BatchNorm layers/);
    checkAgainst(model, want, 'resnet18 (loadTorch)');
    disposeModel(model);

    // A model name: the script finds torchvision's default-weights file in $TORCH_HOME's cache.
    const fname = (await runTorch(`import os, torchvision\nout = os.path.basename(torchvision.models.ResNet18_Weights.DEFAULT.url)`)) as unknown as string;
    const cache = path.join(tmp, 'torch_home', 'hub', 'checkpoints');
    fs.mkdirSync(cache, { recursive: true });
    fs.copyFileSync(pth, path.join(cache, fname));
    const byName = path.join(tmp, 'by_name.safetensors');
    expect(convert('resnet18', byName, { TORCH_HOME: path.join(tmp, 'torch_home') })).toMatch(/filled 20 num_batches_tracked/);
    const a = ck.io.loadSafetensors(byName);
    const b = ck.io.loadTorch(pth);
    expect(a.metadata.source).toBe(fname);
    for (const [k, t] of b.tensors) expect(Buffer.from(a.tensors.get(k)!.dataSync().buffer).equals(Buffer.from(t.dataSync().buffer))).toBe(true);
    a.dispose();
    b.dispose();
  });

  test('a head of another size is replaced and reported, not an error', () => {
    const st = path.join(tmp, 'resnet18.safetensors');
    const notes: string[] = [];
    const model = ck.models.resnet18({ weights: st, numClasses: 10, onNote: (n) => notes.push(n) });
    expect(model.fc.weight.shape).toEqual([10, 512]);
    expect(model.weightsReport!.replacedHead).toEqual({ name: 'fc', checkpointShape: [1000, 512], modelShape: [10, 512] });
    expect(notes.join('\n')).toMatch(/head 'fc' has 1000 classes .* the model 10/);
    const w = ck.io.loadSafetensors(st);
    expect(Array.from(model.layer4.at(1).stateDict()['bn2.running_var'].dataSync())).toEqual(Array.from(w.tensors.get('layer4.1.bn2.running_var')!.dataSync()));
    expect(Array.from(model.conv1.weight.dataSync())).toEqual(Array.from(w.tensors.get('conv1.weight')!.dataSync()));
    // A grayscale model from RGB weights: the stem sums over the input channels.
    const gray = ck.models.resnet18({ weights: st, inChannels: 1, onNote: () => {} });
    const summed = ck.noGrad(() => w.tensors.get('conv1.weight')!.sum(1, { keepdim: true }));
    expectClose(gray.conv1.weight, summed, { atol: 1e-6, rtol: 1e-6 }, 'grayscale stem');
    w.dispose();
    for (const m of [model, gray]) disposeModel(m);
    // Keys that do not fit at all are an error naming them.
    const r18Weights = ck.io.loadSafetensors(st);
    const none: string[] = [];
    expect(() => ck.models.resnet34({ weights: r18Weights, onNote: (n) => none.push(n) })).toThrow(/missing keys \[layer1\.2\.conv1\.weight/);
    expect(none).toEqual([]);
    r18Weights.dispose();
  });

  for (const arch of ['vgg11', 'alexnet'] as const) {
    test(`${arch}: converted and through io.loadTorch, 64x64 input, eval and train mode`, async () => {
      const pth = path.join(tmp, `${arch}.pth`);
      const st = path.join(tmp, `${arch}.safetensors`);
      // The script converts in the PyTorch process itself (its main(), as the command line runs it):
      // a second Python start and torch import would double the time of these large models.
      const want = (await runTorch(`${torchvisionCheckpoint(arch, pth)}
import importlib.util
spec = importlib.util.spec_from_file_location('convert_torchvision', ${JSON.stringify(SCRIPT)})
cv = importlib.util.module_from_spec(spec); spec.loader.exec_module(cv)
import contextlib, io as _io
log = _io.StringIO()
with contextlib.redirect_stdout(log):  # stdout is this server's reply channel
    cv.main([${JSON.stringify(pth)}, '-o', ${JSON.stringify(st)}])
out.append(log.getvalue())`)) as CheckpointOut;
      expect(want[4]).toBe(arch === 'vgg11' ? 132_863_336 : 61_100_840);
      expect((want as unknown[])[6]).toMatch(/wrote .*: (22|16) tensors/);
      const model = ck.models[arch]({ weights: st });
      expect(ck.utils.countParameters(model)).toBe(want[4]);
      checkAgainst(model, want, `${arch} (safetensors)`);
      fs.rmSync(st);
      // The same model object reloaded straight from the .pth.
      const w = ck.io.loadTorch(pth);
      ck.models.loadWeightsInto(model, w, { head: 'classifier.6', source: pth });
      w.dispose();
      fs.rmSync(pth);
      checkAgainst(model, want, `${arch} (loadTorch)`);
      disposeModel(model);
    });
  }

  test("convkit's stateDict, saved with saveSafetensors, loads into PyTorch and gives the same outputs", async () => {
    ck.manualSeed(7);
    const model = ck.models.resnet18({ numClasses: 10 });
    ck.noGrad(() => {
      for (const [k, t] of Object.entries(model.stateDict())) {
        if (k.endsWith('running_mean')) t.copy_(ck.randn([...t.shape]).mul(0.1));
        if (k.endsWith('running_var')) t.copy_(ck.rand([...t.shape]).add(0.5));
        if (k.endsWith('num_batches_tracked')) t.fill_(3);
      }
    });
    const file = path.join(tmp, 'convkit_resnet18.safetensors');
    ck.io.saveSafetensors(file, model.stateDict(), { producer: 'convkit' });
    const x = ck.randn([2, 3, 48, 48]);
    model.eval();
    const ev = ck.noGrad(() => model.forward(x));
    model.train();
    const tr = ck.noGrad(() => model.forward(x));
    const want = (await runTorch(`import importlib.util, torchvision
spec = importlib.util.spec_from_file_location('convert_torchvision', ${JSON.stringify(SCRIPT)})
cv = importlib.util.module_from_spec(spec); spec.loader.exec_module(cv)
sd, meta = cv.read_safetensors(${JSON.stringify(file)})
m = torchvision.models.resnet18(num_classes=10)
m.load_state_dict(sd, strict=True)
with torch.no_grad():
    m.eval(); ev = m(x)
    m.train(); tr = m(x)
out = [ev, tr, meta['producer'], str(sd['bn1.num_batches_tracked'].dtype), int(m.bn1.num_batches_tracked)]`, { x })) as [Arr, Arr, string, string, number];
    expectLogits(ev, want[0], 'eval logits in PyTorch');
    expectLogits(tr, want[1], 'train logits in PyTorch');
    expect(want.slice(2)).toEqual(['convkit', 'torch.int64', 4]);
    disposeModel(model);
  });
});

describe('transfer learning', () => {
  test('frozen backbone: 5,130 trainable parameters, every other weight bit-identical after a step', () => {
    ck.manualSeed(3);
    const model = ck.models.resnet18();
    model.fc = new ck.nn.Linear(512, 10);
    const counts = ck.utils.freezeBackbone(model, { head: 'fc' });
    expect(counts).toEqual({ trainable: 5_130, frozen: 11_689_512 - 513_000 });
    expect(ck.utils.countParameters(model, { trainableOnly: true })).toBe(5_130);
    const snap = (sd: Record<string, ck.Tensor>) => new Map(Object.entries(sd).map(([k, t]) => [k, Buffer.from(t.dataSync().buffer)]));
    const before = snap(model.stateDict());
    model.train();
    expect(model.layer2.at(0).training).toBe(true);
    expect((model.layer2.at(0) as ck.models.BasicBlock).bn1.training).toBe(false); // frozen stage's BN stays in eval
    const x = ck.randn([4, 3, 64, 64]);
    const y = ck.tensor([1, 2, 3, 4], { dtype: 'int32' });
    const loss = ck.nn.functional.crossEntropy(model.forward(x), y);
    loss.backward();
    for (const [n, p] of model.namedParameters()) expect([n, p.grad !== null]).toEqual([n, n.startsWith('fc.')]);
    ck.noGrad(() => {
      for (const p of model.parameters()) if (p.requiresGrad && p.grad) p.sub_(p.grad, 0.1);
    });
    const after = snap(model.stateDict());
    for (const [k, b] of before) expect([k, after.get(k)!.equals(b)]).toEqual([k, !k.startsWith('fc.')]);
    disposeModel(model);
  });

  test("differential learning rates: the tutorial's groups, as PyTorch builds them", async () => {
    const model = ck.models.resnet18({ numClasses: 10 });
    const groups = ck.utils.paramGroupsByDepth(model);
    const want = (await runTorch(`import itertools, torchvision
m = torchvision.models.resnet18(num_classes=10)
opt = torch.optim.Adam([
    {'params': itertools.chain(m.conv1.parameters(), m.bn1.parameters(), m.layer1.parameters()), 'lr': 1e-5},
    {'params': m.layer2.parameters(), 'lr': 5e-5},
    {'params': itertools.chain(m.layer3.parameters(), m.layer4.parameters()), 'lr': 1e-4},
    {'params': m.fc.parameters(), 'lr': 1e-3},
], lr=1e-3)
out = [[g['lr'] for g in opt.param_groups], [[list(p.shape) for p in g['params']] for g in opt.param_groups]]`)) as [number[], number[][][]];
    expect(groups.map((g) => g.lr)).toEqual(want[0]);
    expect(groups.map((g) => g.params.map((p) => [...p.shape]))).toEqual(want[1]);
    expect(ck.utils.paramGroupsByDepth(model, { lrs: [1, 2, 3, 4] }).map((g) => g.lr)).toEqual([1, 2, 3, 4]);
    expect(() => ck.utils.paramGroupsByDepth(model, { stages: [{ modules: ['layer1'], lr: 1 }] })).toThrow(/no stage names conv1\.weight/);
    expect(() => ck.utils.paramGroupsByDepth(model, { stages: [{ modules: ['layer9'], lr: 1 }] })).toThrow(/no module or parameter 'layer9'/);
    expect(new ck.optim.Adam(groups, { lr: 1e-3 }).paramGroups.map((g) => g.lr)).toEqual(want[0]);
    disposeModel(model);
  });

  test('gradual unfreezing on a schedule; frozen stages keep BatchNorm in eval', () => {
    const model = ck.models.resnet18({ numClasses: 10 });
    const count = (m: ck.nn.Module) => ck.utils.countParameters(m);
    const u = new ck.utils.GradualUnfreezer(model, { epochs: [0, 2, 4, 6, 8] });
    model.train();
    expect(ck.utils.countParameters(model, { trainableOnly: true })).toBe(5_130);
    expect((model.layer4.at(0) as ck.models.BasicBlock).bn1.training).toBe(false);
    expect(u.step(1)).toEqual([]);
    expect(u.step(2)).toEqual([['layer4']]);
    expect(ck.utils.countParameters(model, { trainableOnly: true })).toBe(5_130 + count(model.layer4));
    expect((model.layer4.at(0) as ck.models.BasicBlock).bn1.training).toBe(true); // takes the mode train() asked for
    expect((model.layer3.at(0) as ck.models.BasicBlock).bn1.training).toBe(false);
    expect(u.step(9)).toEqual([['layer3'], ['layer2'], ['conv1', 'bn1', 'layer1']]);
    expect(u.frozenStages).toEqual([]);
    expect(ck.utils.countParameters(model, { trainableOnly: true })).toBe(count(model));
    expect(model.bn1.training).toBe(true);
    expect(() => new ck.utils.GradualUnfreezer(model, { stages: [['fc']] })).toThrow(/no stage holds conv1\.weight/);
    // freezeBatchNorm alone: eval whatever train() says, and back.
    expect(ck.utils.freezeBatchNorm(model.layer1)).toBe(4);
    model.train();
    expect((model.layer1.at(1) as ck.models.BasicBlock).bn2.training).toBe(false);
    expect(ck.utils.unfreezeBatchNorm(model.layer1)).toBe(4);
    expect((model.layer1.at(1) as ck.models.BasicBlock).bn2.training).toBe(true);
    disposeModel(model);
  });
});

describe('inspection', () => {
  test('countByType and summary agree with PyTorch (module types, per-layer output shapes)', async () => {
    const model = ck.models.resnet18();
    const want = (await runTorch(`import torchvision
m = torchvision.models.resnet18()
cnt = {}
for name, mod in m.named_modules():
    if name == '': continue
    c = cnt.setdefault(type(mod).__name__, {'count': 0, 'parameters': 0})
    c['count'] += 1; c['parameters'] += sum(p.numel() for p in mod.parameters(recurse=False))
rows = []
def hook(name):
    return lambda mod, inp, o: rows.append([name, list(o.shape)])
for name, mod in m.named_modules():
    if name and not isinstance(mod, nn.ReLU):  # torchvision's blocks call relu twice, convkit's once (fused join)
        mod.register_forward_hook(hook(name))
m.eval()
with torch.no_grad(): m(torch.zeros(1, 3, 64, 64))
out = [cnt, rows]`)) as [Record<string, { count: number; parameters: number }>, [string, number[]][]];
    expect(ck.utils.countByType(model)).toEqual(want[0]);
    model.train();
    const s = ck.utils.summary(model, [1, 3, 64, 64]);
    expect(model.training).toBe(true); // restored
    expect(Object.prototype.hasOwnProperty.call(model.conv1, 'forward')).toBe(false);
    const byName = (rows: [string, number[] | null][]) => [...rows].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const mine = s.rows.filter((r) => r.type !== 'ReLU').map((r) => [r.name, r.outputShape] as [string, number[] | null]);
    expect(byName(mine)).toEqual(byName(want[1]));
    expect(s.outputShape).toEqual([1, 1000]);
    expect(s.totalParameters).toBe(11_689_512);
    expect(s.rows.find((r) => r.name === 'layer3')!.parameters).toBe(ck.utils.countParameters(model.layer3));
    expect(String(s)).toMatch(/layer4\.1\.bn2 \(BatchNorm2d\)\s+\[1, 512, 2, 2\]\s+1,024/);
    expect(String(s)).toMatch(/Total params: 11,689,512/);
    disposeModel(model);
  });

  test("receptive fields: VGG-16's well-known values", () => {
    const conv = (name: string) => ({ name, kernel: 3, padding: 1 });
    const pool = (name: string) => ({ name, kernel: 2, stride: 2 });
    const ops = [
      conv('conv1_1'), conv('conv1_2'), pool('pool1'), conv('conv2_1'), conv('conv2_2'), pool('pool2'),
      conv('conv3_1'), conv('conv3_2'), conv('conv3_3'), pool('pool3'), conv('conv4_1'), conv('conv4_2'), conv('conv4_3'), pool('pool4'),
      conv('conv5_1'), conv('conv5_2'), conv('conv5_3'), pool('pool5'),
    ];
    const rows = ck.utils.receptiveField(ops, { inputSize: 224 });
    expect(rows.map((r) => r.receptiveField)).toEqual([3, 5, 6, 10, 14, 16, 24, 32, 40, 44, 60, 76, 92, 100, 132, 164, 196, 212]);
    expect(rows.map((r) => r.outputSize)).toEqual([224, 224, 112, 112, 112, 56, 56, 56, 56, 28, 28, 28, 28, 14, 14, 14, 14, 7]);
    expect(rows[rows.length - 1].jump).toBe(32);
    // A dilated 3x3 sees 5 pixels; too small an input is an error.
    expect(ck.utils.receptiveField([{ kernel: 3, dilation: 2 }])[0].receptiveField).toBe(5);
    expect(() => ck.utils.receptiveField([{ kernel: 7 }], { inputSize: 5 })).toThrow(/too small/);
  });
});
