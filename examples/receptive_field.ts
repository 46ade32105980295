/**
 * Last episode's exercise: the receptive-field calculator. For each layer, the input pixels one output
 * unit sees (r' = r + (k - 1) j) and the stride between neighbouring units in input pixels (j' = j s).
 */
import * as ck from 'convkit';
import { run } from './common';

function show(title: string, ops: ck.utils.RFOp[], inputSize: number): void {
  console.log(`${title} (input ${inputSize}x${inputSize})`);
  console.log(`  ${'layer'.padEnd(10)} ${'k'.padStart(2)} ${'s'.padStart(2)} ${'p'.padStart(2)} ${'size'.padStart(5)} ${'RF'.padStart(4)} ${'jump'.padStart(5)}`);
  ck.utils.receptiveField(ops, { inputSize }).forEach((r, i) => {
    const o = ops[i];
    if (!o) return;
    console.log(`  ${r.name.padEnd(10)} ${String(o.kernel).padStart(2)} ${String(o.stride ?? 1).padStart(2)} ${String(o.padding ?? 0).padStart(2)} ${String(r.outputSize).padStart(5)} ${String(r.receptiveField).padStart(4)} ${String(r.jump).padStart(5)}`);
  });
}

run(() => {
  const conv = (name: string) => ({ name, kernel: 3, padding: 1 });
  const pool = (name: string) => ({ name, kernel: 2, stride: 2 });
  show('CIFAR-10 CNN', [conv('conv1'), conv('conv2'), pool('pool1'), conv('conv3'), conv('conv4'), pool('pool2'), conv('conv5')], 32);
  console.log();
  show('ResNet-18 stem and first stage', [
    { name: 'conv1', kernel: 7, stride: 2, padding: 3 }, { name: 'maxpool', kernel: 3, stride: 2, padding: 1 },
    conv('l1.0.c1'), conv('l1.0.c2'), conv('l1.1.c1'), conv('l1.1.c2'),
  ], 224);
  console.log();
  const stacked = ck.utils.receptiveField(Array.from({ length: 5 }, () => ({ kernel: 3 })));
  const rf = stacked.at(-1)?.receptiveField;
  console.log(`Five stacked 3x3 convolutions see ${rf}x${rf} pixels (1 + 5 x 2)`);
});
