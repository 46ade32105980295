#!/usr/bin/env node
/** The `convkit` command: train, eval, info, summary, convert. */
import { Command, InvalidArgumentError, Option } from 'commander';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Writable } from 'stream';
import { convertCommand, evalCommand, infoCommand, summaryCommand } from './commands';
import { CliError, isDiskFull, isSystemError } from './errors';
import { isTrainRank, joinTrainGroup, launch, launchTrain } from './launch';
import { ZOO } from './models';
import { bestDevice, OptimizerName, SchedulerName, SIGNAL_EXIT, train, TrainSettings } from './train';
import type { AutocastDtype } from '../autocast';

function int(min: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };
}
function float(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a non-negative number');
  return n;
}

export function buildProgram(): Command {
  const program = new Command('convkit');
  program.enablePositionalOptions(); // `launch` hands everything after its script to the script
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const version = (require('../../package.json') as { version: string }).version;
  program.description('Train and inspect convolutional networks with convkit').version(version).showHelpAfterError();
  // Commander's own refusals (unknown option, missing or invalid value) read like the command's others:
  // "convkit: <what> (ERR_ARG)"; the subcommands inherit this.
  program.configureOutput({
    outputError: (str, write) => write(`convkit: ${str.replace(/^error: /, '').trimEnd()} (ERR_ARG)\n`),
  });

  program
    .command('train')
    .description('train a zoo model (default: the CIFAR-10 CNN on the Fashion-MNIST subset that ships in data/)')
    .option('--model <name>', `zoo model: ${Object.keys(ZOO).join(', ')}`, 'cifar10Net')
    .option('--data <path>', 'CIFAR-10 (binary or python), IDX (MNIST/Fashion-MNIST) or image-folder path (default: the shipped Fashion-MNIST subset)')
    .option('--epochs <n>', 'epochs', int(1), 5)
    .option('--batch-size <n>', 'batch size', int(1), 64)
    .option('--lr <lr>', 'learning rate (the peak for onecycle)', float, 1e-3)
    .option('--weight-decay <wd>', 'weight decay (default: 0.01 adamw, 5e-4 sgd, 0 adam/rmsprop)', float)
    .option('--label-smoothing <s>', 'label smoothing of the cross-entropy', float, 0)
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['adamw', 'adam', 'sgd', 'rmsprop']).default('adamw'))
    .addOption(new Option('--scheduler <name>', 'learning-rate schedule').choices(['cosine', 'step', 'onecycle', 'none']).default('cosine'))
    .option('--device <device>', 'cpu, cuda or cuda:N (default: cuda when a real GPU is present, else cpu)')
    .option('--seed <n>', 'random seed', int(0), 0)
    .option('--workers <n>', 'data-loading worker threads', int(0), 0)
    .option('--threads <n>', 'threads of the CPU kernels (default: every core; with an image folder, the cores not taken by --workers, at least 1)', int(1))
    .option('--weights <file>', 'start from a weight file (.safetensors or PyTorch .pth); a head of another size is re-initialised')
    .option('--freeze-backbone', 'train only the classifier head')
    .option('--augment', 'random crops with padding and horizontal flips on the training images')
    .option('--image-size <n>', 'resize images to n x n', int(1))
    .option('--limit-train <n>', 'use only the first n training images', int(1))
    .option('--limit-test <n>', 'use only the first n test images', int(1))
    .option('--out <dir>', 'run folder (default: runs/<timestamp>)')
    .option('--resume <dir>', 'continue the run in this folder from its checkpoint (--epochs may extend it)')
    .option('--tensorboard <dir>', 'write TensorBoard event files to dir: loss, accuracy and learning rate per epoch, training loss every 10 batches')
    .option('--quiet', 'print only the final accuracy')
    .option('--json', 'JSON lines on stdout (start, one per epoch, done)')
    .option('--profile', 'print where each epoch\'s time went (data, host-to-device, forward, backward, optimizer, metrics, the rest) and write a ck.profiler trace of 5 steps')
    .option('--cuda-graph', 'on a CUDA device, capture the training step once as a CUDA graph and replay it for every full batch (after 3 eager warm-up steps); same results as without it. Off by default: no GPU has measured it yet. Refused on the CPU, with --profile and with --nproc-per-node')
    .addOption(new Option('--autocast <dtype>', "mixed precision on the CPU: conv2d and linear in bf16 with FP32 accumulation and FP32 master weights (ck.autocast('cpu')), in training and evaluation. Refused on CUDA").choices(['bfloat16']))
    .option('--nproc-per-node <n>', 'train data-parallel in n processes on this machine (Gloo, DistributedDataParallel; --batch-size is split across them)', int(1))
    .action(async (o, cmd: Command) => {
      if (o.nprocPerNode > 1 && !isTrainRank()) {
        if (o.resume) throw new CliError('--resume is not supported with --nproc-per-node');
        process.exitCode = await launchTrain(o.nprocPerNode, process.argv.slice(2), process.stderr);
        return;
      }
      // A rank of --nproc-per-node: rank 0 writes the run folder and prints; the others train silently.
      const rank = isTrainRank() ? joinTrainGroup() : 0;
      // Each rank's kernels get an equal share of the cores (train()'s thread rule then applies within it).
      if (isTrainRank() && !o.threads) o.threads = Math.max(1, Math.floor(os.cpus().length / Number(process.env.LOCAL_WORLD_SIZE)));
      if (rank > 0) {
        const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `convkit-rank${rank}-`));
        process.on('exit', () => fs.rmSync(scratch, { recursive: true, force: true }));
        Object.assign(o, { quiet: true, json: false, tensorboard: undefined, out: scratch });
      }
      const silent = new Writable({ write: (_c, _e, done) => done() }) as unknown as typeof process.stdout;
      const given = (k: string) => cmd.getOptionValueSource(k) === 'cli';
      const settings: TrainSettings = {
        model: o.model, data: o.data ?? null, epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, weightDecay: o.weightDecay ?? null,
        labelSmoothing: o.labelSmoothing, optimizer: o.optimizer as OptimizerName, scheduler: o.scheduler as SchedulerName,
        device: o.device ?? bestDevice(), seed: o.seed, workers: o.workers, weights: o.weights ?? null, freezeBackbone: !!o.freezeBackbone,
        augment: !!o.augment, imageSize: o.imageSize ?? null, limitTrain: o.limitTrain ?? null, limitTest: o.limitTest ?? null,
        cudaGraph: !!o.cudaGraph, autocast: (o.autocast as AutocastDtype | undefined) ?? null,
      };
      const overrides: Partial<TrainSettings> = {};
      if (o.resume) {
        // A resumed run is the same run: only how long, where and with how many threads may change.
        for (const k of ['epochs', 'workers', 'device', 'cudaGraph'] as const) if (given(k)) (overrides as Record<string, unknown>)[k] = settings[k];
        const fixed = ['model', 'data', 'batchSize', 'lr', 'optimizer', 'scheduler', 'seed', 'weights', 'freezeBackbone', 'autocast'].filter(given);
        if (fixed.length) throw new CliError(`--resume continues a run with its own settings; drop ${fixed.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}`);
      }
      const r = await train(settings, { quiet: !!o.quiet, json: !!o.json, out: o.out ?? null, resume: o.resume ?? null, overrides, stdout: rank > 0 ? silent : process.stdout, stderr: rank > 0 ? silent : process.stderr, tensorboard: o.tensorboard ?? null, profile: !!o.profile && rank === 0, threads: o.threads ?? null });
      // As a shell reports a process killed by the signal: 130 after Ctrl-C, 143 after SIGTERM.
      if (r.interrupted) process.exitCode = SIGNAL_EXIT[r.signal ?? 'SIGINT'];
    });

  program
    .command('eval')
    .description('accuracy and confusion matrix of a weight file on a test set')
    .requiredOption('--weights <file>', 'weights (.safetensors from convkit train, or a PyTorch checkpoint)')
    .option('--data <path>', 'dataset (default: the shipped Fashion-MNIST subset); its test split is used')
    .option('--model <name>', 'zoo model (default: the one recorded in the weight file)')
    .option('--device <device>', 'cpu, cuda or cuda:N')
    .option('--batch-size <n>', 'batch size', int(1), 256)
    .option('--limit-test <n>', 'use only the first n test images', int(1))
    .option('--json', 'one JSON object on stdout')
    .action(async (o) => {
      await evalCommand({ weights: o.weights, data: o.data, model: o.model, device: o.device, batchSize: o.batchSize, limitTest: o.limitTest, json: !!o.json }, process.stdout);
    });

  program
    .command('info')
    .description('version, binary and why it was chosen, CUDA devices and driver, threads, memory')
    .option('--json', 'one JSON object on stdout')
    .action((o) => infoCommand({ json: !!o.json }, process.stdout));

  program
    .command('summary')
    .description('per-layer output shapes and parameter counts of a zoo model')
    .option('--model <name>', 'zoo model', 'cifar10Net')
    .option('--input <CxHxW>', 'input shape (default: the model\'s usual one, e.g. 3x224x224 for resnet18)')
    .option('--num-classes <n>', 'classes of the head', int(1))
    .option('--json', 'one JSON object on stdout')
    .action((o) => summaryCommand({ model: o.model, input: o.input, numClasses: o.numClasses, json: !!o.json }, process.stdout));

  program
    .command('convert')
    .description('a weights file to safetensors, or to torch.save\'s format when <out> ends in .pth/.pt (keys unchanged)')
    .argument('<in>', 'PyTorch checkpoint or safetensors file (recognised by its contents)')
    .argument('<out>', 'file to write: .pth/.pt for torch.save\'s format, anything else safetensors')
    .action((input: string, output: string) => convertCommand(input, output, process.stdout));

  program
    .command('launch')
    .description('run a script as --nproc-per-node ranks of a data-parallel job (torchrun\'s flags and environment)')
    .requiredOption('--nproc-per-node <n>', 'processes (ranks) on this node', int(1))
    .option('--nnodes <n>', 'nodes in the job', int(1), 1)
    .option('--node-rank <n>', 'this node\'s index', int(0), 0)
    .option('--master-addr <addr>', 'address of the node that runs rank 0', '127.0.0.1')
    .option('--master-port <port>', 'port of the rendezvous store on that node', int(1), 29500)
    .argument('<script>', 'the JavaScript file every rank runs')
    .argument('[args...]', 'arguments for the script')
    .passThroughOptions()
    .action(async (script: string, args: string[], o) => {
      process.exitCode = await launch({ nprocPerNode: o.nprocPerNode, nnodes: o.nnodes, nodeRank: o.nodeRank, masterAddr: o.masterAddr, masterPort: o.masterPort }, script, args, process.stderr);
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    const err = e as Error & { code?: string; exitCode?: number };
    // Our own and convkit's coded errors are the user's to fix: one line with the code, no stack.
    if (e instanceof CliError) {
      process.stderr.write(`convkit: ${err.message} (${err.code})\n`);
      process.exitCode = err.exitCode;
    } else if (typeof err.code === 'string' && err.code.startsWith('ERR_')) {
      process.stderr.write(`convkit: ${err.message} (${err.code})\n`);
      process.exitCode = 1;
    } else if (isSystemError(e)) {
      // The operating system's refusals (a full disk, permissions, a read-only folder) outside the run
      // folder's guarded writes: one line with Node's message, which names the path and the errno code.
      process.stderr.write(`convkit: ${err.message} (${isDiskFull(e) ? 'ERR_DISK_FULL' : 'ERR_IO'})\n`);
      process.exitCode = 1;
    } else throw e;
  }
}

if (require.main === module) void main(process.argv);
