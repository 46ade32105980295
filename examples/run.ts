/** `npm run example -- <name> [--small]`: runs one of the tutorial's programs from build-examples/. */
import * as fs from 'fs';
import * as path from 'path';

const examples: Record<string, string> = {
  architecture_timeline: 'parameter counts from LeNet-5 to ResNet-50; two 3x3 vs one 5x5; a 20-block residual stack',
  train_cifar10_cnn: 'the CIFAR-10 CNN with AdamW + cosine annealing (shipped Fashion-MNIST, or CIFAR10_ROOT=...)',
  batchnorm_shapes: "BatchNorm2d/1d: parameter, buffer and output shapes",
  mini_vgg: 'exercise: train the mini-VGG',
  transfer_learning: 'exercise: ResNet-18, frozen backbone vs fully unfrozen with differential learning rates',
  count_by_type: 'exercise: countByType on mini-VGG and ResNet-18',
  conv_by_hand: 'multi-channel convolution in loops vs ck conv2d',
  shape_tracing: 'shapes through the CIFAR-10 CNN and LeNet-5',
  receptive_field: 'the receptive-field calculator',
  export_onnx: 'the CIFAR-10 CNN out to ONNX, run by onnxruntime-node next to convkit',
};

const name = process.argv[2];
if (!name || !(name in examples)) {
  if (name) console.error(`no example '${name}'\n`);
  console.log('usage: npm run example -- <name> [--small]\n');
  for (const [n, d] of Object.entries(examples)) console.log(`  ${n.padEnd(22)} ${d}`);
  process.exitCode = name ? 2 : 0;
} else {
  const file = path.join(__dirname, `${name}.js`);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run npm run build:examples`);
  require(file);
}
