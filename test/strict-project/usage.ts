/**
 * What a strict project writes with convkit, compiled by scripts/check-types.js under strict,
 * noUncheckedIndexedAccess and exactOptionalPropertyTypes against the published .d.ts, with no casts.
 * The `@ts-expect-error` lines check what must NOT compile (internal members hidden, wrong signatures).
 */
import * as ck from 'convkit';

// A custom model: forward's own signature is what callers see.
class Net extends ck.nn.Module {
  features = new ck.nn.Sequential(new ck.nn.Conv2d(1, 8, 3, { padding: 1 }), new ck.nn.ReLU(), new ck.nn.AdaptiveAvgPool2d(1));
  head = new ck.nn.Linear(8, 10);
  forward(x: ck.Tensor): ck.Tensor {
    return this.head.forward(this.features.forward(x).flatten(1));
  }
}

// A generic Module for other signatures: two inputs, two outputs.
class TwoHeads extends ck.nn.Module<[ck.Tensor, ck.Tensor], [ck.Tensor, ck.Tensor]> {
  a = new ck.nn.Linear(4, 2);
  b = new ck.nn.Linear(4, 3);
  forward(x: ck.Tensor, y: ck.Tensor): [ck.Tensor, ck.Tensor] {
    return [this.a.forward(x), this.b.forward(y)];
  }
}

// Containers: Sequential is Tensor -> Tensor and takes only such modules; ModuleList narrows by its type argument.
const seq: ck.nn.TensorModule = new ck.nn.Sequential(new Net(), new ck.nn.Identity());
// @ts-expect-error a loss takes two tensors, so it is not a Sequential stage
new ck.nn.Sequential(new ck.nn.CrossEntropyLoss());
const convs = new ck.nn.ModuleList([new ck.nn.Conv2d(3, 3, 1), new ck.nn.Conv2d(3, 3, 1)]);
for (const c of convs) console.log(c.kernelSize);

async function main(): Promise<void> {
  ck.manualSeed(0);
  const model = new Net();
  // Built-in datasets give [Tensor, Tensor] batches, so destructuring needs no check.
  const train = new ck.data.FashionMNIST(undefined, { train: true, transform: new ck.transforms.ToTensor() });
  const loader = new ck.data.DataLoader(train, { batchSize: 256 });
  const optimizer = new ck.optim.AdamW(model.parameters(), { lr: 1e-3 });
  const criterion = new ck.nn.CrossEntropyLoss();
  for await (const [x, y] of loader) {
    // PyTorch's habit, without ck.tidy: the batch belongs to the loop, the rest to the collector.
    optimizer.zeroGrad();
    const loss = criterion.forward(model.forward(x), y);
    loss.backward();
    optimizer.step();
    console.log(loss.item().toFixed(3), x.size(0));
    break;
  }
  // A TensorDataset's batches follow its tensors: [Tensor, Tensor] here.
  const ds = new ck.data.TensorDataset(ck.randn([16, 4]), ck.randn([16, 4]));
  const heads = new TwoHeads();
  for await (const [a, b] of new ck.data.DataLoader(ds, { batchSize: 8 })) {
    const [p, q] = heads.forward(a, b);
    console.log(p.shape, q.shape, ck.keep(a).shape);
  }
  // A custom collate sets the batch type.
  const sums = new ck.data.DataLoader(ds, { batchSize: 4, collate: (items) => items.length });
  for await (const n of sums) console.log(n.toFixed(0));

  const t = ck.randn([2, 3]);
  // @ts-expect-error internal members are not in the public types
  console.log(t.storage);
  // @ts-expect-error internal members are not in the public types
  t.setGradFn(null);
  console.log(seq.forward(ck.randn([1, 1, 8, 8])).shape, String(model));
}

void main();
