/**
 * `convkit launch`: torchrun's job for convkit scripts. Starts --nproc-per-node copies of a script on this
 * node with torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK,
 * MASTER_ADDR, MASTER_PORT), one node of --nnodes. Nothing is restarted: when a rank fails, the others on
 * this node are stopped (SIGTERM, then SIGKILL after a grace period) and the launcher exits with the
 * failed rank's exit code (128 + signal number for a signal), its message naming the rank.
 */
import { ChildProcess, spawn } from 'child_process';
import { AddressInfo, createServer } from 'net';
import { constants } from 'os';
import { Dataset } from '../data/dataset';
import { DistributedSampler } from '../data/distributed_sampler';
import { getRank, getWorldSize, initProcessGroup, isInitialized } from '../distributed/process_group';
import { Module } from '../nn/module';
import { DistributedDataParallel } from '../nn/parallel/distributed';
import { CliError } from './errors';

export interface LaunchOptions {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  /** Milliseconds between SIGTERM and SIGKILL for the ranks being stopped. */
  graceMs?: number;
}

interface Exit {
  rank: number;
  localRank: number;
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

const describe = (e: Exit) => `rank ${e.rank} (local rank ${e.localRank}, pid ${e.pid}) ${e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`}`;
const exitCodeOf = (e: Exit) => (e.signal ? 128 + (constants.signals[e.signal] ?? 0) : e.code ?? 1);

/** Runs the ranks of this node; resolves with the exit code the launcher should end with. */
export function launch(o: LaunchOptions, script: string, args: string[], stderr: NodeJS.WritableStream): Promise<number> {
  if (o.nodeRank >= o.nnodes) throw new CliError(`--node-rank ${o.nodeRank} must be below --nnodes ${o.nnodes}`);
  const worldSize = o.nnodes * o.nprocPerNode;
  const children: { child: ChildProcess; rank: number; localRank: number; running: boolean }[] = [];
  const failures: Exit[] = [];
  let stopping = false;
  let report: NodeJS.Timeout | null = null;
  return new Promise<number>((resolve) => {
    let left = o.nprocPerNode;
    const forward = (sig: NodeJS.Signals) => () => {
      stopping = true;
      for (const c of children) if (c.running) c.child.kill(sig);
    };
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    const stopOthers = () => {
      for (const c of children) if (c.running) c.child.kill('SIGTERM');
      const t = setTimeout(() => children.forEach((c) => c.running && c.child.kill('SIGKILL')), o.graceMs ?? 5000);
      t.unref();
    };
    const done = () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      if (report) clearTimeout(report);
      if (!failures.length) return resolve(0);
      // The first to fail is the cause; the others usually failed because of it (a lost peer). A rank killed
      // by a signal in the same moment is the likelier cause than one that noticed it and exited.
      const first = failures.find((f) => f.signal !== null && f.signal !== 'SIGTERM') ?? failures[0];
      const rest = failures.filter((f) => f !== first);
      stderr.write(`convkit launch: ${describe(first)}; stopped the other ranks of this node` +
        (rest.length ? ` (then: ${rest.map(describe).join('; ')})` : '') + ' (ERR_DIST)\n');
      resolve(exitCodeOf(first) || 1);
    };
    for (let localRank = 0; localRank < o.nprocPerNode; localRank++) {
      const rank = o.nodeRank * o.nprocPerNode + localRank;
      const env = {
        ...process.env, RANK: String(rank), LOCAL_RANK: String(localRank), WORLD_SIZE: String(worldSize),
        LOCAL_WORLD_SIZE: String(o.nprocPerNode), GROUP_RANK: String(o.nodeRank), MASTER_ADDR: o.masterAddr,
        MASTER_PORT: String(o.masterPort),
      };
      const child = spawn(process.execPath, [script, ...args], { env, stdio: 'inherit' });
      const entry = { child, rank, localRank, running: true };
      children.push(entry);
      child.on('error', (e) => stderr.write(`convkit launch: rank ${rank} could not start: ${e.message}\n`));
      child.on('exit', (code, signal) => {
        entry.running = false;
        left--;
        if ((code !== 0 || signal) && !(stopping && (signal === 'SIGTERM' || signal === 'SIGKILL'))) {
          failures.push({ rank, localRank, pid: child.pid ?? -1, code, signal });
          if (!stopping) {
            stopping = true;
            // Let exits of the same moment arrive before choosing the cause.
            report = setTimeout(stopOthers, 200);
          }
        }
        if (left === 0) done();
      });
    }
  });
}

// ---- `convkit train --nproc-per-node N`: the launcher side and each rank's side ----

const DDP_ENV = 'CONVKIT_DDP_TRAIN';

/** True in a process that `convkit train --nproc-per-node` started as one of its ranks. */
export function isTrainRank(): boolean {
  return process.env[DDP_ENV] === '1';
}

/**
 * Makes this process the launcher of `convkit train` in nproc ranks on this machine (a free loopback port
 * for the store), each given the same command line without --nproc-per-node. Resolves with the exit code.
 */
export async function launchTrain(nproc: number, argv: string[], stderr: NodeJS.WritableStream): Promise<number> {
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--nproc-per-node') i++;
    else if (!argv[i].startsWith('--nproc-per-node=')) rest.push(argv[i]);
  }
  process.env[DDP_ENV] = '1';
  const port = await new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(p));
    });
    srv.on('error', reject);
  });
  return launch({ nprocPerNode: nproc, nnodes: 1, nodeRank: 0, masterAddr: '127.0.0.1', masterPort: port }, process.argv[1], rest, stderr);
}

/** In a train rank: joins the process group; returns this rank (0 writes the run folder, the others nothing). */
export function joinTrainGroup(): number {
  initProcessGroup({ backend: 'gloo' });
  return getRank();
}

/**
 * Data-parallel training setup for `convkit train`: with a process group, the model trains through
 * DistributedDataParallel on this rank's DistributedSampler shard (seeded with the run's seed), and the
 * batch size is the global one split across ranks, so the run follows one process's schedule. Without a
 * process group, everything is as given.
 */
export function dataParallel<T>(model: Module, trainSet: Dataset<T>, batchSize: number, seed: number): { forward: Module; trainSet: Dataset<T>; batchSize: number } {
  if (!isInitialized()) return { forward: model, trainSet, batchSize };
  const ws = getWorldSize();
  return {
    forward: new DistributedDataParallel(model),
    trainSet: new DistributedSampler(trainSet, { seed }).subset(),
    batchSize: Math.max(1, Math.floor(batchSize / ws)),
  };
}
