/**
 * Last episode's exercise: follow a batch's shape through a network, layer by layer: by hand through the
 * CIFAR-10 CNN's feature stack, and with ck.utils.summary for a whole model.
 */
import * as ck from 'convkit';
import { num, run } from './common';

run(() => {
  const model = ck.models.cifar10Net();
  model.eval();
  let x = ck.zeros([1, 3, 32, 32]);
  console.log(`CIFAR-10 CNN, input [${x.shape.join(', ')}]`);
  ck.noGrad(() => {
    for (let i = 0; i < model.features.length; i++) {
      const layer = model.features.at(i);
      const y = layer.forward(x);
      if (!(layer instanceof ck.nn.ReLU) && !(layer instanceof ck.nn.BatchNorm2d))
        console.log(`  features.${String(i).padEnd(3)} ${layer.typeName.padEnd(12)} -> [${y.shape.join(', ')}]`);
      x.dispose();
      x = y;
    }
    // x.view(x.size(0), -1), then the classifier (dropout is the identity in eval mode)
    const flat = x.view(x.size(0), -1);
    console.log(`  ${'view'.padEnd(13)} ${'view'.padEnd(12)} -> [${flat.shape.join(', ')}]`);
    x.dispose();
    x = flat;
    for (let i = 0; i < model.classifier.length; i++) {
      const layer = model.classifier.at(i);
      const y = layer.forward(x);
      console.log(`  classifier.${String(i).padEnd(2)} ${layer.typeName.padEnd(12)} -> [${y.shape.join(', ')}]`);
      if (y !== x) x.dispose();
      x = y;
    }
  });
  x.dispose();
  console.log('\nLeNet-5 with ck.utils.summary:');
  const s = ck.utils.summary(ck.models.lenet5(), [1, 1, 28, 28]);
  console.log(s.toString());
  console.log(`(${num(s.totalParameters)} parameters)`);
});
