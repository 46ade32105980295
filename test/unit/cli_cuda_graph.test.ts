/**
 * `convkit train --cuda-graph` (issue 17, must-show 3): on the CUDA device (the emu step of CI) one epoch of the
 * default model, the CIFAR-10 CNN (BatchNorm, dropout), at 8x8 on a slice of the shipped Fashion-MNIST subset,
 * with the CLI's defaults (capturable AdamW, a per-batch cosine schedule), trained with the step captured and
 * replayed and without it, ends on the same test accuracy and the same final weights, bit for bit: both runs
 * use the same kernels (the CLI's Adam is capturable on CUDA either way) and the replayed dropout draws the masks
 * the eager steps draw. The replays are counted by the runtime (ck.cuda.stats()). The refusals run on every
 * binary. Runs the CLI's train() in-process rather than as a child, to keep the emulated run to seconds.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Writable } from 'stream';
import * as ck from '../../lib';
import { GRAPH_WARMUP_STEPS } from '../../lib/cli/graph_step';
import { train, TrainResult, TrainSettings } from '../../lib/cli/train';
import { pinNativeConv } from '../cuda/helpers';

const cudaTest = ck.cuda.isAvailable() ? test : test.skip;
if (ck.cuda.isAvailable()) pinNativeConv();

const BATCH = 8;
const FULL_BATCHES = 7;
// 7 full batches (3 eager warm-up steps, 4 replays) and a partial one of 4, which runs eagerly
const LIMIT_TRAIN = BATCH * FULL_BATCHES + 4;

let work = '';
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-graph-train-'));
});
afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const sink = () => new Writable({ write: (_c, _e, done) => done() }) as unknown as NodeJS.WriteStream;

function settings(over: Partial<TrainSettings>): TrainSettings {
  return {
    model: 'cifar10Net', data: null, epochs: 1, batchSize: BATCH, lr: 1e-3, weightDecay: null, labelSmoothing: 0, optimizer: 'adamw', scheduler: 'cosine',
    device: 'cuda', seed: 3, workers: 0, weights: null, freezeBackbone: false, augment: false, imageSize: 8, limitTrain: LIMIT_TRAIN, limitTest: 32,
    cudaGraph: false, ...over,
  };
}

function run(name: string, over: Partial<TrainSettings>): Promise<TrainResult> {
  return train(settings(over), { quiet: true, json: false, out: path.join(work, name), resume: null, overrides: {}, stdout: sink(), stderr: sink() });
}

cudaTest('train --device cuda --cuda-graph: the same test accuracy and the same final weights as without it, bit for bit', async () => {
  const eager = await run('eager', {});
  ck.cudaStats.enable();
  let graphed: TrainResult;
  try {
    graphed = await run('graph', { cudaGraph: true });
    expect(ck.cuda.stats().graphReplays).toBe(FULL_BATCHES - GRAPH_WARMUP_STEPS);
  } finally {
    ck.cudaStats.disable();
  }
  expect(eager.graphReplays).toBe(0);
  expect(graphed.graphReplays).toBe(FULL_BATCHES - GRAPH_WARMUP_STEPS);
  expect(graphed.metrics[0].test_acc).toBe(eager.metrics[0].test_acc);
  expect(graphed.metrics[0].train_loss).toBe(eager.metrics[0].train_loss);
  const weights = (r: TrainResult) => fs.readFileSync(path.join(r.outDir, 'final.safetensors'));
  expect(weights(graphed).equals(weights(eager))).toBe(true);
}, 120000);

test('--cuda-graph is refused with a code and the reason on the CPU and with --profile', async () => {
  await expect(run('cpu', { device: 'cpu', cudaGraph: true })).rejects.toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED', message: expect.stringMatching(/needs a CUDA device/) }));
  const profiled = train(settings({ cudaGraph: true }), { quiet: true, json: false, out: path.join(work, 'profiled'), resume: null, overrides: {}, stdout: sink(), stderr: sink(), profile: true });
  await expect(profiled).rejects.toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED', message: expect.stringMatching(/--profile/) }));
  expect(fs.existsSync(path.join(work, 'cpu'))).toBe(false); // a refused run leaves no folder
});
