/**
 * The tutorial's CIFAR-10 CNN with weights copied from convkit into PyTorch (same architecture, same
 * state-dict keys): the same logits, loss and parameter gradients on the same batch, to 1e-4 relative
 * (gradients: 1e-4 relative to the largest gradient of each tensor, since tiny entries are sums with
 * cancellation; PyTorch's own float32 gradients sit within 4e-6 of its float64 ones by that measure). Train mode (batch statistics; dropout switched off on both sides so the comparison is
 * deterministic) and eval mode (running statistics).
 */
import * as ck from '../../lib';
import { expectClose, asArr } from '../helpers/compare';
import { runTorch, stopTorch } from '../helpers/torch';

afterAll(() => stopTorch());

const TORCH_NET = `
def cbr(i, o):
    return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU()]
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(*cbr(3, 32), *cbr(32, 32), nn.MaxPool2d(2), *cbr(32, 64), *cbr(64, 64), nn.MaxPool2d(2),
                                      *cbr(64, 128), *cbr(128, 128), nn.MaxPool2d(2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.3)
        self.fc = nn.Linear(128, 10)
    def forward(self, x):
        return self.fc(self.dropout(self.pool(self.features(x)).flatten(1)))
net = Net()
sd = net.state_dict()
names = list(sd.keys())
`;

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
        model.dropout.eval(); // dropout masks come from different generators; the rest trains
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
net.dropout.eval()
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
