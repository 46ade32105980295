/**
 * What the training examples share: the small-settings switch CI uses, the shipped Fashion-MNIST
 * subset as loaders, and the documented training loop (one ck.tidy() per step).
 */
import * as ck from 'convkit';

/** CONVKIT_EXAMPLE_SMALL=1 or --small: a few hundred images and one epoch, so CI can run every example. */
export const small = process.env.CONVKIT_EXAMPLE_SMALL === '1' || process.argv.includes('--small');

export const device = ck.cuda.isAvailable() && !ck.cuda.isEmulated() ? 'cuda' : 'cpu';

const FASHION = { mean: [0.286], std: [0.353] };

/** Train and test loaders over the shipped subset; `size` resizes the 28x28 images, `classes` keeps only those labels. */
export function fashionLoaders(opts: { batchSize?: number; limitTrain?: number | undefined; limitTest?: number | undefined; size?: number; classes?: number[]; augment?: boolean } = {}) {
  const T = ck.transforms;
  const pre = opts.size ? [new T.Resize(opts.size)] : [];
  const post = [new T.ToTensor(), new T.Normalize(FASHION.mean, FASHION.std)];
  const aug = opts.augment ? [new T.RandomCrop(opts.size ?? 28, { padding: 2 }), new T.RandomHorizontalFlip()] : [];
  const train = new ck.data.FashionMNIST(null, { train: true, transform: new T.Compose([...pre, ...aug, ...post]) });
  const test = new ck.data.FashionMNIST(null, { train: false, transform: new T.Compose([...pre, ...post]) });
  const pick = (ds: ck.data.FashionMNIST, limit?: number) => {
    let idx = Array.from({ length: ds.length }, (_, i) => i);
    const classes = opts.classes;
    if (classes) idx = idx.filter((i) => classes.includes(ds.targets[i] ?? -1));
    if (limit !== undefined) idx = idx.slice(0, limit);
    return idx.length === ds.length ? ds : new ck.data.Subset(ds, idx);
  };
  const bs = opts.batchSize ?? 64;
  return {
    train: new ck.data.DataLoader(pick(train, opts.limitTrain), { batchSize: bs, shuffle: true, device }),
    test: new ck.data.DataLoader(pick(test, opts.limitTest), { batchSize: 256, device }),
  };
}

/**
 * One epoch of the documented loop; returns the mean training loss and accuracy. The batches belong to the
 * loop (freed when it moves on); ck.tidy() frees everything else each step.
 */
export async function trainEpoch(model: ck.nn.TensorModule, loader: AsyncIterable<[ck.Tensor, ck.Tensor]>, optimizer: ck.optim.Optimizer, criterion: ck.nn.CrossEntropyLoss, perStep?: () => void): Promise<{ loss: number; acc: number }> {
  model.train();
  let lossSum = 0;
  let correct = 0;
  let seen = 0;
  for await (const [x, y] of loader) {
    const [l, c] = ck.tidy(() => {
      optimizer.zeroGrad();
      const out = model.forward(x);
      const loss = criterion.forward(out, y);
      loss.backward();
      optimizer.step();
      return [loss.item(), ck.noGrad(() => out.argmax(1).eq(y).sum().item())];
    });
    perStep?.();
    lossSum += l * x.size(0);
    correct += c;
    seen += x.size(0);
  }
  return { loss: lossSum / seen, acc: correct / seen };
}

export async function accuracy(model: ck.nn.TensorModule, loader: AsyncIterable<[ck.Tensor, ck.Tensor]>): Promise<number> {
  model.eval();
  let correct = 0;
  let seen = 0;
  for await (const [x, y] of loader) {
    correct += ck.tidy(() => ck.noGrad(() => model.forward(x).argmax(1).eq(y).sum().item()));
    seen += x.size(0);
  }
  return correct / seen;
}

export const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
export const num = (v: number) => v.toLocaleString('en-US');

/** Runs an example's main and turns a failure into a message and exit code 1. */
export function run(main: () => Promise<void> | void): void {
  Promise.resolve()
    .then(main)
    .catch((e: Error) => {
      console.error(e.stack ?? e);
      process.exitCode = 1;
    });
}
