/**
 * `convkit train --tensorboard DIR` as a user runs it (node dist/cli/main.js): the event file in DIR,
 * read back by the independent reader in test/helpers (every CRC checked), holds per epoch the same
 * loss, accuracy and learning rate as metrics.jsonl, and the training loss every 10 batches.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { readScalarEvents } from '../helpers/tensorboard_reader';
import { cli, cliEnv as env, compiledCli } from '../helpers/cli_bin';

const tmp = compiledCli('convkit-tb-cli-');

test('convkit train --tensorboard writes loss, accuracy and learning rate that match metrics.jsonl', () => {
  const work = tmp.work();
  const tbDir = path.join(work, 'tb');
  const run = path.join(work, 'run');
  const r = spawnSync(process.execPath, [cli, 'train', '--epochs', '2', '--limit-train', '160', '--limit-test', '64', '--batch-size', '16',
    '--scheduler', 'step', '--lr', '0.002', '--out', run, '--tensorboard', tbDir, '--quiet'], { cwd: work, env, encoding: 'utf8', timeout: 120000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const files = fs.readdirSync(tbDir).filter((f) => f.startsWith('events.out.tfevents.'));
  expect(files).toHaveLength(1);
  const { fileVersion, scalars } = readScalarEvents(path.join(tbDir, files[0]));
  expect(fileVersion).toBe('brain.Event:2');
  const metrics = fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(metrics.map((m) => m.epoch)).toEqual([1, 2]);
  const f32 = (v: number) => Math.fround(v);
  const byTag = (tag: string) => scalars.filter((s) => s.tag === tag).map((s) => [s.step, s.value]);
  expect(byTag('Loss/train')).toEqual(metrics.map((m) => [m.epoch, f32(m.train_loss)]));
  expect(byTag('Loss/test')).toEqual(metrics.map((m) => [m.epoch, f32(m.test_loss)]));
  expect(byTag('Accuracy/train')).toEqual(metrics.map((m) => [m.epoch, f32(m.train_acc)]));
  expect(byTag('Accuracy/test')).toEqual(metrics.map((m) => [m.epoch, f32(m.test_acc)]));
  expect(byTag('LearningRate')).toEqual(metrics.map((m) => [m.epoch, f32(m.lr)]));
  // StepLR with 2 epochs steps every epoch by 0.1: the second epoch's rate is a tenth of the first's.
  expect(metrics[0].lr).toBeCloseTo(0.002, 12);
  expect(metrics[1].lr).toBeCloseTo(0.0002, 12);
  // 160 images in batches of 16: 10 batches an epoch, the step loss at global batches 10 and 20.
  const steps = byTag('Loss/train_step');
  expect(steps.map(([s]) => s)).toEqual([10, 20]);
  for (const [, v] of steps) expect(Number.isFinite(v) && v > 0).toBe(true);
  for (const s of scalars) expect(s.wallTime).toBeGreaterThan(1.6e9);
  expect(new Set(scalars.map((s) => s.tag))).toEqual(new Set(['Loss/train_step', 'Loss/train', 'Loss/test', 'Accuracy/train', 'Accuracy/test', 'LearningRate']));
}, 150000);
