/**
 * The tutorial's CIFAR-10 CNN against the tutorial's own PyTorch class (TUTORIAL_NET below, as the
 * tutorial writes it):
 * - a state dict saved by PyTorch (torch.save .pth, and the same converted to safetensors by `convkit
 *   convert`) loads strictly into models.cifar10Net() and gives PyTorch's logits to 1e-4 in eval and train
 *   mode; both sides count 141,354 parameters and list the same state-dict keys in the same order;
 * - with weights copied from convkit into PyTorch: the same logits, loss and parameter gradients on the
 *   same batch, to 1e-4 relative (gradients: 1e-4 relative to the largest gradient of each tensor, since
 *   tiny entries are sums with cancellation; PyTorch's own float32 gradients sit within 4e-6 of its
 *   float64 ones by that measure), in train mode (batch statistics; dropout switched off on both sides
 *   so the comparison is deterministic) and eval mode (running statistics).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ck from '../../lib';
import { convertCommand } from '../../lib/cli/commands';
import { expectClose, asArr } from '../helpers/compare';
import { runTorch, stopTorch } from '../helpers/torch';

afterAll(() => stopTorch());

// The tutorial's class, verbatim.
const TUTORIAL_NET = `
class CIFAR10Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            # Block 1: 3 -> 32 channels
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),
            # Block 2: 32 -> 64 channels
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(2),
            # Block 3: 64 -> 128 channels
            nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.3),
            nn.Linear(128, 10)
        )
    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return self.classifier(x)
`;

const TORCH_NET =
  TUTORIAL_NET +
  `
net = CIFAR10Net()
sd = net.state_dict()
names = list(sd.keys())
`;

const quiet = { write: () => true } as unknown as NodeJS.WriteStream;

describe('the tutorial CIFAR10Net saved by PyTorch loads into models.cifar10Net()', () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ck-cifar10net-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('141,354 parameters and the tutorial\'s state-dict keys, in order', async () => {
    const model = ck.models.cifar10Net();
    expect(ck.utils.countParameters(model)).toBe(141354);
    const keys = Object.keys(model.stateDict());
    expect(keys[0]).toBe('features.0.weight');
    expect(keys.slice(-3)).toEqual(['features.15.num_batches_tracked', 'classifier.1.weight', 'classifier.1.bias']);
    const want = (await runTorch(TORCH_NET + `out = {'n': sum(p.numel() for p in net.parameters()), 'keys': names}`)) as unknown as { n: number; keys: string[] };
    expect(want.n).toBe(141354);
    expect(keys).toEqual(want.keys);
  });

  for (const format of ['pth', 'safetensors'] as const) {
    test(`.${format}: strict load, same logits in eval and train mode`, async () => {
      const pth = path.join(dir, `tutorial-${format}.pth`);
      ck.manualSeed(7);
      const x = ck.randn([4, 3, 32, 32]);
      // Random weights and non-trivial batch-norm statistics and affine parameters, as after training.
      const code =
        TUTORIAL_NET +
        `
torch.manual_seed(11)
net = CIFAR10Net()
with torch.no_grad():
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0, 0.1)
            m.num_batches_tracked.fill_(37)
torch.save(net.state_dict(), ${JSON.stringify(pth)})
net.eval()
with torch.no_grad():
    ev = net(x)
net.train()
net.classifier[0].eval()  # dropout off: its masks come from another generator
with torch.no_grad():
    tr = net(x)
out = [ev, tr] + [t for k, t in net.state_dict().items() if 'running' in k]`;
      const want = (await runTorch(code, { x })) as never[];
      let file = pth;
      if (format === 'safetensors') {
        file = path.join(dir, 'tutorial.safetensors');
        convertCommand(pth, file, quiet);
      }
      const w = format === 'pth' ? ck.io.loadTorch(file) : ck.io.loadSafetensors(file);
      const model = ck.models.cifar10Net();
      try {
        const r = model.loadStateDict(w.tensors, { strict: true });
        expect(r).toEqual({ missingKeys: [], unexpectedKeys: [] });
      } finally {
        w.dispose();
      }
      expect(model.stateDict()['features.15.num_batches_tracked'].item()).toBe(37);
      model.eval();
      expectClose(ck.noGrad(() => model.forward(x)), want[0], { atol: 1e-5, rtol: 1e-4 }, 'eval logits');
      // the same file through the zoo's own loader (cifar10Net({ weights })) gives the same model
      const viaZoo = ck.models.cifar10Net({ weights: file, onNote: () => undefined });
      expect(viaZoo.weightsReport!.loaded).toBe(Object.keys(viaZoo.stateDict()).length);
      viaZoo.eval();
      expectClose(ck.noGrad(() => viaZoo.forward(x)), want[0], { atol: 1e-5, rtol: 1e-4 }, 'eval logits (weights option)');
      model.train();
      model.classifier.at(0).eval();
      expectClose(ck.noGrad(() => model.forward(x)), want[1], { atol: 1e-5, rtol: 1e-4 }, 'train logits');
      const sd = model.stateDict();
      Object.keys(sd)
        .filter((k) => k.includes('running'))
        .forEach((k, i) => expectClose(sd[k], want[2 + i], { atol: 1e-6, rtol: 1e-4 }, k));
    });
  }
});

function maxAbs(a: number[]): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

describe('CIFAR-10 CNN parity with PyTorch', () => {
  for (const mode of ['train', 'eval'] as const) {
    test(`${mode} mode: logits, loss, gradients`, async () => {
      ck.manualSeed(2024);
      const model = ck.models.cifar10Net();
      const sd = model.stateDict();
      const keys = Object.keys(sd);
      const x = ck.randn([8, 3, 32, 32]);
      const y = ck.tensor([0, 1, 2, 3, 4, 5, 6, 9], { dtype: 'int32' });
      if (mode === 'train') {
        model.train();
        model.classifier.at(0).eval(); // dropout masks come from different generators; the rest trains
      } else {
        // non-trivial running statistics, as after some training
        ck.noGrad(() => {
          for (const [k, t] of Object.entries(sd)) {
            if (k.endsWith('running_mean')) t.copy_(ck.randn([...t.shape]).mul(0.1));
            if (k.endsWith('running_var')) t.copy_(ck.rand([...t.shape]).add(0.5));
          }
        });
        model.eval();
      }
      // the weights as they are before the step (running stats change in place during it)
      const before = keys.map((k) => sd[k].clone());
      const logits = model.forward(x);
      const loss = ck.nn.functional.crossEntropy(logits, y);
      loss.backward();
      const params = [...model.namedParameters()];
      const inputs: Record<string, ck.Tensor> = { x, y };
      keys.forEach((_, i) => (inputs[`p${i}`] = before[i]));
      const code =
        TORCH_NET +
        `
with torch.no_grad():
    for i, k in enumerate(names):
        sd[k].copy_(globals()['p%d' % i].reshape(sd[k].shape).to(sd[k].dtype))
net.${mode}()
net.classifier[0].eval()
logits = net(x)
loss = F.cross_entropy(logits, y.long())
loss.backward()
grads = {n: p.grad for n, p in net.named_parameters()}
out = [logits, loss] + [grads[n] for n in ${JSON.stringify(params.map(([n]) => n))}] + [sd[k] for k in names if 'running' in k]`;
      const want = (await runTorch(code, inputs)) as never[];
      expectClose(logits, want[0], { atol: 1e-5, rtol: 1e-4 }, 'logits');
      expectClose(loss, want[1], { atol: 1e-6, rtol: 1e-4 }, 'loss');
      params.forEach(([name, p], i) => {
        const w = asArr(want[2 + i]);
        // A conv bias right before a training-mode batch norm has an exact gradient of zero; both sides
        // hold rounding noise (~1e-7) there, so those compare absolutely.
        const scale = Math.max(maxAbs(w.data), 1e-2);
        expectClose(p.grad!, w, { atol: 1e-4 * scale, rtol: 1e-4 }, `grad ${name}`);
      });
      const running = keys.filter((k) => k.includes('running'));
      running.forEach((k, i) => expectClose(sd[k], want[2 + params.length + i], { atol: 1e-6, rtol: 1e-4 }, k));
    });
  }
});
