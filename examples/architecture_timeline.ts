/**
 * The architecture timeline in parameter counts: the zoo's networks from LeNet-5 through VGG, GoogLeNet,
 * Inception v3 and ResNet to MobileNetV2 (each equal to torchvision's count), why VGG
 * stacks two 3x3 convolutions instead of one 5x5 (same 5x5 view of the input, 18C² instead of 25C²
 * weights), and a 20-block residual stack that keeps its input's shape end to end.
 */
import * as ck from 'convkit';
import { num, run, small } from './common';

run(() => {
  const count = ck.utils.countParameters;
  console.log('Parameter counts along the timeline');
  // Built without their random init (the counts do not depend on it, and VGG's 100M-weight
  // classifier would take seconds to fill on a small CI box).
  const noInit = { init: false };
  const zoo: [string, string, () => ck.nn.Module][] = [
    ['1998', 'LeNet-5 (1x28x28, 10 classes)', () => ck.models.lenet5()],
    ['2012', 'AlexNet (1000 classes)', () => ck.models.alexnet()],
    ['2014', 'VGG-16 (1000 classes)', () => new ck.models.VGG(ck.models.makeVggLayers(ck.models.VGG_CFGS.D, false), noInit)],
    ['2014', 'VGG-19 + batch norm', () => new ck.models.VGG(ck.models.makeVggLayers(ck.models.VGG_CFGS.E, true), noInit)],
    ['2014', 'GoogLeNet (Inception v1)', () => new ck.models.GoogLeNet({ auxLogits: false, ...noInit })],
    ['2014', 'GoogLeNet + aux classifiers', () => new ck.models.GoogLeNet({ auxLogits: true, ...noInit })],
    ['2015', 'Inception v3', () => new ck.models.Inception3({ auxLogits: false, ...noInit })],
    ['2015', 'ResNet-18 (1000 classes)', () => new ck.models.ResNet(ck.models.BasicBlock, [2, 2, 2, 2], noInit)],
    ['2015', 'ResNet-50 (1000 classes)', () => new ck.models.ResNet(ck.models.Bottleneck, [3, 4, 6, 3], noInit)],
    ['2015', 'ResNet-101', () => new ck.models.ResNet(ck.models.Bottleneck, [3, 4, 23, 3], noInit)],
    ['2015', 'ResNet-152', () => new ck.models.ResNet(ck.models.Bottleneck, [3, 8, 36, 3], noInit)],
    ['2018', 'MobileNetV2 (depthwise convs)', () => new ck.models.MobileNetV2(noInit)],
    ['-', 'the tutorial CIFAR-10 CNN', () => ck.models.cifar10Net()],
  ];
  for (const [year, name, make] of zoo) {
    // VGG's 133M-143M weights are over half a gigabyte each; small mode leaves them out.
    if (small && name.startsWith('VGG')) {
      console.log(`  ${year}  ${name.padEnd(32)} ${'(skipped in small mode)'.padStart(14)}`);
      continue;
    }
    const m = make();
    console.log(`  ${year}  ${name.padEnd(32)} ${num(count(m)).padStart(14)}`);
    for (const t of [...m.parameters(), ...m.buffers()]) t.dispose();
  }

  const C = 64;
  const two3 = new ck.nn.Sequential(new ck.nn.Conv2d(C, C, 3, { padding: 1 }), new ck.nn.Conv2d(C, C, 3, { padding: 1 }));
  const one5 = new ck.nn.Conv2d(C, C, 5, { padding: 2 });
  const a = count(two3);
  const b = count(one5);
  console.log(`\nTwo 3x3 convolutions vs one 5x5 on C = ${C} channels (both see a 5x5 patch of the input)`);
  console.log(`  two 3x3: 2 x (3*3*${C}*${C} + ${C}) = ${num(a)}`);
  console.log(`  one 5x5:      5*5*${C}*${C} + ${C}  = ${num(b)}`);
  console.log(`  ratio: ${(a / b).toFixed(3)} (18/25 = 0.72 without biases), and one more ReLU in between`);
  const rf = ck.utils.receptiveField([{ kernel: 3, padding: 1 }, { kernel: 3, padding: 1 }]);
  const last = rf.at(-1)?.receptiveField;
  console.log(`  receptive field of the two 3x3: ${last}x${last}`);

  const blocks = 20;
  const stack = new ck.nn.Sequential(...Array.from({ length: blocks }, () => new ck.models.BasicBlock(C, C)));
  const perBlock = count(new ck.models.BasicBlock(C, C));
  const x = ck.randn([2, C, 8, 8]);
  const y = ck.noGrad(() => stack.eval().forward(x));
  console.log(`\nA stack of ${blocks} residual blocks (two 3x3 conv + BN each, ${C} channels)`);
  console.log(`  per block: 2 x 3*3*${C}*${C} + 2 x 2*${C} = ${num(perBlock)}`);
  console.log(`  ${blocks} blocks: ${num(count(stack))} parameters, ${blocks * 2} conv layers`);
  console.log(`  input [${x.shape.join(', ')}] -> output [${y.shape.join(', ')}]: identity shortcuts keep the shape`);
  x.dispose();
  y.dispose();
});
