/**
 * Exercise: transfer learning with ResNet-18, two ways. A backbone is first trained on one task
 * (Fashion-MNIST classes 0-4: tops, trousers, pullovers, dresses, coats), then moved to another with
 * little data (classes 5-9: sandals, shirts, sneakers, bags, ankle boots) with a fresh head:
 *   frozen:    only the new head trains (freezeBackbone; BatchNorm layers stay in eval mode)
 *   unfrozen:  everything trains, with learning rates that shrink towards the input (paramGroupsByDepth)
 * RESNET18_WEIGHTS=<torchvision resnet18 .pth or .safetensors> starts from ImageNet weights instead of the
 * first task (the RGB stem is summed to one channel). Images are resized 28 -> 32.
 */
import * as ck from 'convkit';
import { accuracy, device, fashionLoaders, num, pct, run, small, trainEpoch } from './common';

run(async () => {
  ck.manualSeed(0);
  const size = 32;
  const source = fashionLoaders({ batchSize: 64, size, classes: [0, 1, 2, 3, 4], limitTrain: small ? 128 : 3000, limitTest: small ? 64 : 500 });
  const target = fashionLoaders({ batchSize: 32, size, classes: [5, 6, 7, 8, 9], limitTrain: small ? 64 : 300, limitTest: small ? 64 : 500 });
  const criterion = new ck.nn.CrossEntropyLoss();
  const weights = process.env.RESNET18_WEIGHTS;

  let backbone: ck.nn.StateDict;
  if (weights) {
    const m = ck.models.resnet18({ weights, inChannels: 1, numClasses: 10 });
    console.log(`backbone: ${weights}`);
    backbone = m.stateDict();
  } else {
    const m = ck.models.resnet18({ inChannels: 1, numClasses: 10 }).to(device);
    const opt = new ck.optim.AdamW(m.parameters(), { lr: 1e-3 });
    const epochs = small ? 1 : 2;
    for (let e = 0; e < epochs; e++) await trainEpoch(m, source.train, opt, criterion);
    console.log(`backbone: ResNet-18 (${num(ck.utils.countParameters(m))} parameters) trained on classes 0-4 (${source.train.dataset.length} images): ${pct(await accuracy(m, source.test))} on their test images`);
    backbone = m.stateDict();
  }

  const fresh = () => {
    const m = ck.models.resnet18({ inChannels: 1, numClasses: 10 });
    m.loadStateDict(backbone);
    m.fc = new ck.nn.Linear(512, 10); // a new head for the new task
    return m.to(device);
  };
  const epochs = small ? 1 : 4;
  console.log(`target: classes 5-9, ${target.train.dataset.length} training images, ${epochs} epoch(s)`);

  const frozen = fresh();
  const counts = ck.utils.freezeBackbone(frozen, { head: 'fc' });
  const optF = new ck.optim.AdamW(frozen.parameters().filter((p) => p.requiresGrad), { lr: 1e-3 });
  for (let e = 0; e < epochs; e++) await trainEpoch(frozen, target.train, optF, criterion);
  const accF = await accuracy(frozen, target.test);
  console.log(`  frozen backbone:   ${num(counts.trainable).padStart(10)} trainable parameters  test accuracy ${pct(accF)}`);

  const full = fresh();
  const groups = ck.utils.paramGroupsByDepth(full);
  const optU = new ck.optim.AdamW(groups, { lr: 1e-3 });
  for (let e = 0; e < epochs; e++) await trainEpoch(full, target.train, optU, criterion);
  const accU = await accuracy(full, target.test);
  const trainable = ck.utils.countParameters(full, { trainableOnly: true });
  console.log(`  fully unfrozen:    ${num(trainable).padStart(10)} trainable parameters  test accuracy ${pct(accU)}  (lrs ${groups.map((g) => g.lr.toExponential(0)).join(' / ')})`);
  for (const t of Object.values(backbone)) t.dispose();
});
