/**
 * The zoo as the CLI names it: a builder per model that takes the dataset's channels and classes,
 * the smallest input it accepts, and where its head and stem live (for --weights and --freeze-backbone).
 */
import * as models from '../models';
import { Module } from '../nn/module';
import { CliError } from './errors';

export interface ZooEntry {
  build(opts: { inChannels: number; numClasses: number }): Module;
  /** Inputs smaller than this are resized up to it (AlexNet's stride-4 stem needs 63x63). */
  minSize: number;
  /** Input the summary command uses when none is given: [C, H, W]. */
  defaultInput: [number, number, number];
  head: string;
  stem: string;
}

const vgg = (f: (o: models.VGGOptions) => Module): ZooEntry => ({
  build: (o) => f(o), minSize: 32, defaultInput: [3, 224, 224], head: 'classifier.6', stem: 'features.0.weight',
});

export const ZOO: Record<string, ZooEntry> = {
  cifar10Net: { build: (o) => models.cifar10Net(o), minSize: 8, defaultInput: [3, 32, 32], head: 'classifier.1', stem: 'features.0.weight' },
  lenet5: { build: (o) => models.lenet5(o), minSize: 28, defaultInput: [1, 28, 28], head: 'classifier.4', stem: 'features.0.weight' },
  miniVgg: { build: (o) => models.miniVgg(o), minSize: 8, defaultInput: [3, 32, 32], head: 'fc', stem: 'features.0.weight' },
  alexnet: { build: (o) => models.alexnet(o), minSize: 63, defaultInput: [3, 224, 224], head: 'classifier.6', stem: 'features.0.weight' },
  vgg11: vgg(models.vgg11),
  vgg13: vgg(models.vgg13),
  vgg16: vgg(models.vgg16),
  vgg19: vgg(models.vgg19),
  vgg11_bn: vgg(models.vgg11Bn),
  vgg13_bn: vgg(models.vgg13Bn),
  vgg16_bn: vgg(models.vgg16Bn),
  vgg19_bn: vgg(models.vgg19Bn),
  resnet18: { build: (o) => models.resnet18(o), minSize: 8, defaultInput: [3, 224, 224], head: 'fc', stem: 'conv1.weight' },
  resnet34: { build: (o) => models.resnet34(o), minSize: 8, defaultInput: [3, 224, 224], head: 'fc', stem: 'conv1.weight' },
  resnet50: { build: (o) => models.resnet50(o), minSize: 8, defaultInput: [3, 224, 224], head: 'fc', stem: 'conv1.weight' },
  resnet101: { build: (o) => models.resnet101(o), minSize: 8, defaultInput: [3, 224, 224], head: 'fc', stem: 'conv1.weight' },
  resnet152: { build: (o) => models.resnet152(o), minSize: 8, defaultInput: [3, 224, 224], head: 'fc', stem: 'conv1.weight' },
  mobilenet_v2: { build: (o) => models.mobilenetV2(o), minSize: 8, defaultInput: [3, 224, 224], head: 'classifier.1', stem: 'features.0.0.weight' },
  // Without the auxiliary classifiers: the trainer's loss takes plain logits.
  googlenet: { build: (o) => models.googlenet({ ...o, auxLogits: false }), minSize: 32, defaultInput: [3, 224, 224], head: 'fc', stem: 'conv1.conv.weight' },
  inception_v3: { build: (o) => models.inceptionV3({ ...o, auxLogits: false }), minSize: 75, defaultInput: [3, 299, 299], head: 'fc', stem: 'Conv2d_1a_3x3.conv.weight' },
};

// Users type the torchvision spellings (resnet18, vgg16_bn) or loose ones (cifar10-net, mini_vgg, LeNet5).
const squash = (s: string) => s.toLowerCase().replace(/[-_]/g, '');

export function zooEntry(name: string): { name: string; entry: ZooEntry } {
  const key = Object.keys(ZOO).find((k) => squash(k) === squash(name) || squash(k) === squash(name).replace(/bn$/, '_bn').replace(/_/g, ''));
  if (!key) throw new CliError(`unknown model '${name}'; the zoo has: ${Object.keys(ZOO).join(', ')}`);
  return { name: key, entry: ZOO[key] };
}
