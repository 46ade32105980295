/**
 * Exercise: the mini-VGG (three VGG blocks of two conv-bn-relu pairs, 64 -> 128 -> 256 channels, then
 * global average pooling and one linear layer) trained like the CIFAR-10 CNN, on the shipped data.
 */
import * as ck from 'convkit';
import { accuracy, device, fashionLoaders, num, pct, run, small, trainEpoch } from './common';

run(async () => {
  ck.manualSeed(0);
  const epochs = small ? 1 : 3;
  const loaders = fashionLoaders({ batchSize: 64, limitTrain: small ? 256 : undefined, limitTest: small ? 256 : undefined });
  const model = ck.models.miniVgg({ inChannels: 1 }).to(device);
  console.log(`mini-VGG: ${num(ck.utils.countParameters(model))} parameters (the CIFAR-10 CNN: ${num(ck.utils.countParameters(ck.models.cifar10Net({ inChannels: 1 })))})`);
  const criterion = new ck.nn.CrossEntropyLoss();
  const optimizer = new ck.optim.AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.01 });
  const scheduler = new ck.optim.lrScheduler.CosineAnnealingLR(optimizer, epochs * loaders.train.length);
  const t0 = Date.now();
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const tr = await trainEpoch(model, loaders.train, optimizer, criterion, () => scheduler.step());
    console.log(`epoch ${epoch}/${epochs}  train loss ${tr.loss.toFixed(4)}  train acc ${pct(tr.acc)}  test acc ${pct(await accuracy(model, loaders.test))}`);
  }
  console.log(`Final test accuracy: ${pct(await accuracy(model, loaders.test))} after ${epochs} epoch(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});
