/**
 * The tutorial's CIFAR-10 CNN trained with AdamW and cosine annealing. By default on the Fashion-MNIST
 * subset that ships in data/ (the same network with one input channel: 28 -> 14 -> 7 through its two
 * max pools, then global average pooling); CIFAR10_ROOT=<folder> trains on CIFAR-10 with the crop-and-flip recipe instead.
 */
import * as ck from 'convkit';
import { accuracy, device, fashionLoaders, num, pct, run, small, trainEpoch } from './common';

run(async () => {
  ck.manualSeed(0);
  const epochs = small ? 1 : 5;
  let loaders: { train: ck.data.DataLoader<[unknown, number]>; test: ck.data.DataLoader<[unknown, number]> };
  let inChannels = 1;
  const cifar = process.env.CIFAR10_ROOT;
  if (cifar) {
    const T = ck.transforms;
    const norm = new T.Normalize([0.4914, 0.4822, 0.4465], [0.247, 0.2435, 0.2616]);
    const train = new ck.data.CIFAR10(cifar, { train: true, transform: new T.Compose([new T.RandomCrop(32, { padding: 4 }), new T.RandomHorizontalFlip(), new T.ToTensor(), norm]) });
    const test = new ck.data.CIFAR10(cifar, { train: false, transform: new T.Compose([new T.ToTensor(), norm]) });
    loaders = { train: new ck.data.DataLoader(train, { batchSize: 128, shuffle: true, device }), test: new ck.data.DataLoader(test, { batchSize: 256, device }) };
    inChannels = 3;
  } else loaders = fashionLoaders({ batchSize: 64, limitTrain: small ? 512 : undefined, limitTest: small ? 256 : undefined });

  const model = ck.models.cifar10Net({ inChannels }).to(device);
  console.log(`CIFAR-10 CNN: ${num(ck.utils.countParameters(model))} parameters, on ${cifar ? 'CIFAR-10' : 'the shipped Fashion-MNIST subset'} (${loaders.train.dataset.length} train / ${loaders.test.dataset.length} test), ${device}`);
  const criterion = new ck.nn.CrossEntropyLoss();
  const optimizer = new ck.optim.AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.01 });
  const scheduler = new ck.optim.lrScheduler.CosineAnnealingLR(optimizer, epochs * loaders.train.length);
  const t0 = Date.now();
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const lr = optimizer.paramGroups[0]?.lr ?? NaN;
    const tr = await trainEpoch(model, loaders.train, optimizer, criterion, () => scheduler.step());
    const acc = await accuracy(model, loaders.test);
    console.log(`epoch ${epoch}/${epochs}  train loss ${tr.loss.toFixed(4)}  train acc ${pct(tr.acc)}  test acc ${pct(acc)}  lr ${lr.toExponential(2)}`);
  }
  const final = await accuracy(model, loaders.test);
  console.log(`Final test accuracy: ${pct(final)} after ${epochs} epoch(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});
