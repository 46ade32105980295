/**
 * `convkit train --autocast bfloat16` (issue 21: BF16 mixed precision on the CPU, from the CLI): one short epoch of
 * the default CIFAR-10 CNN at 8x8 on a slice of the shipped Fashion-MNIST subset, with and without autocast, from
 * the same seed. The bf16 run must have reached the kernels (its weights are not the FP32 run's: every conv and
 * linear rounds its operands to bf16), train to about the same loss, and record the setting in its run folder so
 * --resume continues in bf16; a CUDA run is refused with the reason before any folder is written. Runs the CLI's
 * train() in-process, as cli_cuda_graph.test.ts does, to keep it to seconds.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Writable } from 'stream';
import { train, TrainResult, TrainSettings } from '../../lib/cli/train';
import { readCheckpointInfo } from '../../lib/cli/run_folder';

let work = '';
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-autocast-train-'));
});
afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const sink = () => new Writable({ write: (_c, _e, done) => done() }) as unknown as NodeJS.WriteStream;

function settings(over: Partial<TrainSettings>): TrainSettings {
  return {
    model: 'cifar10Net', data: null, epochs: 1, batchSize: 16, lr: 1e-3, weightDecay: null, labelSmoothing: 0, optimizer: 'adamw', scheduler: 'cosine',
    device: 'cpu', seed: 5, workers: 0, weights: null, freezeBackbone: false, augment: false, imageSize: 8, limitTrain: 96, limitTest: 48,
    autocast: null, ...over,
  };
}

function run(name: string, over: Partial<TrainSettings>): Promise<TrainResult> {
  return train(settings(over), { quiet: true, json: false, out: path.join(work, name), resume: null, overrides: {}, stdout: sink(), stderr: sink() });
}

test('train --autocast bfloat16: the bf16 kernels train the CNN to about the FP32 loss, and the run folder keeps the setting', async () => {
  const fp32 = await run('fp32', {});
  const bf16 = await run('bf16', { autocast: 'bfloat16' });
  const weights = (r: TrainResult) => fs.readFileSync(path.join(r.outDir, 'final.safetensors'));
  // bf16 operands change every product: the same seed and data give other weights.
  expect(weights(bf16).equals(weights(fp32))).toBe(false);
  for (const m of [fp32.metrics[0], bf16.metrics[0]]) {
    expect(Number.isFinite(m.train_loss)).toBe(true);
    expect(Number.isFinite(m.test_loss)).toBe(true);
  }
  // Six steps from the same start: bf16's rounding (8 bits of mantissa) moves the mean loss by far less than 5%.
  expect(Math.abs(bf16.metrics[0].train_loss - fp32.metrics[0].train_loss)).toBeLessThan(0.05 * fp32.metrics[0].train_loss);
  expect(Math.abs(bf16.metrics[0].test_loss - fp32.metrics[0].test_loss)).toBeLessThan(0.05 * fp32.metrics[0].test_loss);
  expect(readCheckpointInfo(bf16.outDir).ck.settings.autocast).toBe('bfloat16');
}, 120000);

test('--autocast is refused with a code and the reason on a CUDA device, before any run folder is written', async () => {
  await expect(run('cuda', { device: 'cuda', autocast: 'bfloat16' })).rejects.toThrow(
    expect.objectContaining({ code: 'ERR_UNSUPPORTED', message: expect.stringMatching(/--autocast bfloat16 is mixed precision on the CPU/) }),
  );
  expect(fs.existsSync(path.join(work, 'cuda'))).toBe(false);
});
