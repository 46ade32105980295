/** Exercise: where the parameters are, by layer type, in the mini-VGG and in ResNet-18. */
import * as ck from 'convkit';
import { num, run } from './common';

function table(name: string, model: ck.nn.Module): void {
  const rows = ck.utils.countByType(model);
  const total = ck.utils.countParameters(model);
  console.log(`${name}: ${num(total)} parameters`);
  console.log(`  ${'type'.padEnd(20)} ${'count'.padStart(6)} ${'parameters'.padStart(12)} ${'share'.padStart(7)}`);
  for (const [type, r] of Object.entries(rows)) {
    console.log(`  ${type.padEnd(20)} ${String(r.count).padStart(6)} ${num(r.parameters).padStart(12)} ${`${((100 * r.parameters) / total).toFixed(1)}%`.padStart(7)}`);
  }
}

run(() => {
  table('mini-VGG (3 input channels, 10 classes)', ck.models.miniVgg());
  console.log();
  table('ResNet-18 (1000 classes)', ck.models.resnet18());
});
