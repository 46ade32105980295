/**
 * nn.Module against PyTorch: state-dict keys and order, loadStateDict, train/eval, initialisation.
 */
import * as ck from '../../lib';
import { runTorch, stopTorch } from '../helpers/torch';

const { nn } = ck;
afterAll(() => stopTorch());

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
