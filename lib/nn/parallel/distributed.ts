/**
 * nn.parallel.DistributedDataParallel, as PyTorch's: wraps a module whose replicas run one per rank.
 * At wrap time rank 0's parameters and buffers are broadcast to every rank. Gradients are averaged across
 * ranks during backward: parameters are grouped into buckets (in reverse registration order, the order
 * their gradients tend to arrive; the first bucket capped at 1 MiB and the rest at bucketCapMb, as
 * PyTorch; a cap under 1 MiB applies to the first bucket too), and a post-accumulate-grad hook starts a bucket's
 * all-reduce (asynchronous: on Gloo on the process group's worker thread, on NCCL on the device's stream behind
 * the backward kernels) as soon as all its gradients are ready, in bucket order on every rank. When the
 * last bucket has started, backward waits for all of them and writes the averages back into .grad. Each
 * gradient is scaled by 1/worldSize as it is copied into its bucket, then summed: PyTorch's averaging.
 * noSync() accumulates gradients locally; the next synchronised backward reduces the sum.
 * deviceIds, as PyTorch's device_ids: one CUDA device per process, the module's; forward moves tensor
 * arguments there. A CPU module takes none.
 */
import { byteRange } from '../../ops/native_call';
import { AccumulateGrad, Node } from '../../autograd/node';
import { noGrad, isGradEnabled } from '../../autograd/grad_mode';
import { registerPostAccumulateGradHook } from '../../autograd/hooks';
import { native } from '../../binding';
import * as dist from '../../distributed/process_group';
import { ckError } from '../../errors';
import { Device } from '../../device';
import { keep } from '../../memory';
import { Tensor } from '../../tensor';
import { Module } from '../module';

export interface DDPOptions {
  /** The one CUDA device of this process's replica (PyTorch's device_ids=[localRank]): the module's parameters
   * must be there, and forward moves tensor arguments there. Omit it for a CPU module. */
  deviceIds?: number[];
  /** Bucket size in MiB (default 25). */
  bucketCapMb?: number;
  /** Find parameters the forward pass did not use, so their buckets still complete (default false). */
  findUnusedParameters?: boolean;
  /** Broadcast rank 0's buffers (BatchNorm running stats) before each forward (default true). */
  broadcastBuffers?: boolean;
}

interface Entry {
  name: string;
  param: Tensor;
  offset: number; // in the bucket, in elements
  numel: number;
}
interface Bucket {
  entries: Entry[];
  numel: number;
  flat: Tensor | null;
  ready: number;
  work: dist.Work | null;
}

const FIRST_BUCKET_BYTES = 1024 * 1024;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export class DistributedDataParallel<In extends unknown[] = any[], Out = unknown> extends Module<In, Out> {
  module: Module<In, Out>;
  private readonly ddp: {
    buckets: Bucket[];
    where: Map<Tensor, { bucket: number; entry: Entry }>;
    ready: Set<Tensor>;
    nextBucket: number;
    requireSync: boolean;
    pending: boolean; // a synchronised forward expects its backward
    forwardSync: boolean; // PyTorch's require_forward_param_sync: buffers are broadcast before the next forward
    unused: Set<Tensor>;
    opts: Required<Omit<DDPOptions, 'deviceIds'>>;
    worldSize: number;
    device: Device | null; // deviceIds[0], when given
  };

  constructor(module: Module<In, Out>, opts: DDPOptions = {}) {
    super();
    if (!(module instanceof Module)) throw ckError('ERR_ARG', 'DistributedDataParallel: expected an nn.Module', 'TypeError');
    if (!dist.isInitialized()) throw ckError('ERR_DIST', 'DistributedDataParallel: no process group; call distributed.initProcessGroup() first');
    const bucketCapMb = opts.bucketCapMb ?? 25;
    if (!(bucketCapMb > 0)) throw ckError('ERR_ARG', `DistributedDataParallel: bucketCapMb must be positive, got ${bucketCapMb}`, 'RangeError');
    this.module = module;
    this.ddp = {
      buckets: [], where: new Map(), ready: new Set(), nextBucket: 0, requireSync: true, pending: false, forwardSync: true, unused: new Set(),
      opts: { bucketCapMb, findUnusedParameters: !!opts.findUnusedParameters, broadcastBuffers: opts.broadcastBuffers ?? true },
      worldSize: dist.getWorldSize(),
      device: checkDeviceIds(module, opts.deviceIds),
    };
    noGrad(() => {
      for (const t of [...module.parameters(), ...module.buffers()]) dist.broadcast(t, 0);
    });
    this.buildBuckets(bucketCapMb * 1024 * 1024);
  }

  // PyTorch's assignment: parameters in registration order fill buckets (the first capped at 1 MiB, or at the cap when smaller), one
  // dtype and device per bucket; the buckets are then launched in reverse, as gradients arrive.
  private buildBuckets(capBytes: number): void {
    const params = [...this.module.namedParameters()].filter(([, p]) => p.requiresGrad);
    const groups: [string, Tensor][][] = [];
    let size = 0;
    for (const [name, param] of params) {
      if (!param.isContiguous()) throw ckError('ERR_ARG', `DistributedDataParallel: parameter ${name} is not contiguous`);
      const cur = groups[groups.length - 1];
      const cap = groups.length <= 1 ? Math.min(FIRST_BUCKET_BYTES, capBytes) : capBytes;
      const fits = cur && (size + param.numel()) * 4 <= cap && cur[0][1].dtype === param.dtype && cur[0][1].device.equals(param.device);
      if (fits) cur.push([name, param]);
      else groups.push([[name, param]]);
      size = fits ? size + param.numel() : param.numel();
    }
    for (const group of groups.reverse()) {
      const b: Bucket = { entries: [], numel: 0, flat: null, ready: 0, work: null };
      for (const [name, param] of group.reverse()) {
        const entry = { name, param, offset: b.numel, numel: param.numel() };
        b.entries.push(entry);
        b.numel += entry.numel;
        this.ddp.where.set(param, { bucket: this.ddp.buckets.length, entry });
        registerPostAccumulateGradHook(param, (p) => this.onGradReady(p));
      }
      b.flat = keep(Tensor.empty([b.numel], param0(b).dtype, param0(b).device));
      this.ddp.buckets.push(b);
    }
  }

  /** The bucket layout: parameter names per bucket, in launch order. */
  bucketNames(): string[][] {
    return this.ddp.buckets.map((b) => b.entries.map((e) => e.name));
  }

  /** The wrapped module's forward (same arguments and result), with the gradient all-reduce armed for its backward. */
  forward(...args: In): Out {
    const s = this.ddp;
    if (s.pending && s.ready.size > 0) {
      const missing = [...s.where.values()].filter((w) => !s.ready.has(w.entry.param)).map((w) => w.entry.name);
      throw ckError('ERR_DIST', 'DistributedDataParallel: the previous backward did not reduce every gradient: parameters ' +
        `${missing.join(', ')} received none. Pass { findUnusedParameters: true } when the forward pass may leave parameters unused`);
    }
    const sync = s.requireSync && isGradEnabled();
    // As PyTorch: the forward after a noSync() one does not broadcast buffers (the noSync one did).
    if (s.forwardSync && s.opts.broadcastBuffers && s.worldSize > 1) noGrad(() => this.module.buffers().forEach((b) => dist.broadcast(b, 0)));
    const dev = s.device;
    const moved = dev ? (args.map((a) => (a instanceof Tensor && !a.device.equals(dev) ? a.to(dev) : a)) as In) : args;
    const out = this.module.forward(...moved);
    s.forwardSync = sync;
    s.pending = false;
    s.ready.clear();
    s.nextBucket = 0;
    s.unused = new Set();
    for (const b of s.buckets) b.ready = 0;
    if (sync) {
      s.pending = true;
      if (s.opts.findUnusedParameters) {
        const used = reachableLeaves(out);
        for (const p of s.where.keys()) if (!used.has(p)) s.unused.add(p);
        for (const p of s.unused) this.markReady(p);
        this.launchReady();
      }
    }
    return out;
  }

  /**
   * Gradient accumulation without communication: backward passes inside fn (or until the returned
   * handle is disposed) only add into .grad; the next synchronised backward averages the sum.
   */
  noSync<T>(fn: () => T): T;
  noSync(): { [Symbol.dispose](): void; exit(): void };
  noSync<T>(fn?: () => T): T | { [Symbol.dispose](): void; exit(): void } {
    const prev = this.ddp.requireSync;
    this.ddp.requireSync = false;
    const exit = () => void (this.ddp.requireSync = prev);
    if (!fn) return { exit, [Symbol.dispose]: exit };
    try {
      return fn();
    } finally {
      exit();
    }
  }

  private onGradReady(p: Tensor): void {
    const s = this.ddp;
    if (!s.pending || s.ready.has(p)) return;
    this.markReady(p);
    this.launchReady();
  }

  private markReady(p: Tensor): void {
    const w = this.ddp.where.get(p);
    if (!w) return;
    this.ddp.ready.add(p);
    this.ddp.buckets[w.bucket].ready++;
  }

  // Starts every complete bucket from the next one on, in order (the same order on every rank).
  private launchReady(): void {
    const s = this.ddp;
    while (s.nextBucket < s.buckets.length && s.buckets[s.nextBucket].ready === s.buckets[s.nextBucket].entries.length) {
      this.launch(s.buckets[s.nextBucket]);
      s.nextBucket++;
    }
    if (s.nextBucket === s.buckets.length && s.pending) this.finish();
  }

  private launch(b: Bucket): void {
    const flat = b.flat!;
    noGrad(() => {
      flat.zero_();
      const scale = 1 / this.ddp.worldSize;
      for (const e of b.entries) {
        const g = e.param.grad;
        if (!g || this.ddp.unused.has(e.param)) continue;
        const scaled = g.mul(scale);
        const c = scaled.contiguous();
        native.copyBytes(byteRange(flat, flat.offset + e.offset), byteRange(c), e.numel * 4);
        if (c !== scaled) c.dispose();
        scaled.dispose();
      }
    });
    b.work = dist.allReduce(flat, { async: true });
  }

  // Waits for every bucket and writes the averaged gradients back.
  private finish(): void {
    const s = this.ddp;
    s.pending = false;
    let globallyUsed: Float32Array | null = null;
    if (s.opts.findUnusedParameters) globallyUsed = this.usedAcrossRanks();
    for (const b of s.buckets) {
      b.work!.wait();
      b.work = null;
      const flat = b.flat!;
      noGrad(() => {
        for (const e of b.entries) {
          const idx = s.buckets.indexOf(b);
          if (globallyUsed && globallyUsed[this.paramIndex(idx, e)] === 0) continue; // unused everywhere: grad stays as it was
          if (!e.param.grad) e.param.grad = Tensor.empty(e.param.shape, e.param.dtype, e.param.device);
          const g = e.param.grad;
          if (g.isContiguous()) native.copyBytes(byteRange(g), byteRange(flat, flat.offset + e.offset), e.numel * 4);
          else {
            const part = flat.narrow(0, e.offset, e.numel);
            const shaped = part.reshape([...e.param.shape]);
            g.copyFrom(shaped);
            shaped.dispose();
            part.dispose();
          }
        }
      });
    }
  }

  private paramIndex(bucket: number, e: Entry): number {
    let i = 0;
    for (let k = 0; k < bucket; k++) i += this.ddp.buckets[k].entries.length;
    return i + this.ddp.buckets[bucket].entries.indexOf(e);
  }

  // PyTorch's local_used_map, all-reduced: which parameters got a gradient on some rank.
  private usedAcrossRanks(): Float32Array {
    const flags: number[] = [];
    for (const b of this.ddp.buckets) for (const e of b.entries) flags.push(this.ddp.unused.has(e.param) ? 0 : 1);
    const used = keep(Tensor.empty([flags.length], 'float32', param0(this.ddp.buckets[0]).device));
    try {
      native.upload(byteRange(used), new Float32Array(flags));
      dist.allReduce(used);
      return used.dataSync() as Float32Array;
    } finally {
      used.dispose();
    }
  }
}

const param0 = (b: Bucket) => b.entries[0].param;

// PyTorch's rule: device_ids names the single device of a single-device CUDA module, and nothing for a CPU module.
function checkDeviceIds(module: Module, ids: number[] | undefined): Device | null {
  const devices = [...new Set([...module.parameters(), ...module.buffers()].map((t) => t.device.toString()))];
  if (ids === undefined || ids === null) return null;
  if (!Array.isArray(ids) || ids.length !== 1 || !Number.isInteger(ids[0]) || ids[0] < 0)
    throw ckError('ERR_ARG', `DistributedDataParallel: deviceIds must list exactly one CUDA device index (one device per process, as PyTorch's DDP), got ${JSON.stringify(ids)}`, 'RangeError');
  const want = new Device(ids[0]);
  if (devices.length !== 1 || devices[0] !== want.toString())
    throw ckError('ERR_DEVICE', `DistributedDataParallel: deviceIds [${ids[0]}] names ${want}, but the module's parameters and buffers are on ${devices.join(', ') || 'no device'}; ` +
      (devices.includes('cpu') ? 'a CPU module takes no deviceIds' : `move the module there (module.to('${want}')) or pass deviceIds: [${devices[0].replace('cuda:', '')}]`));
  return want;
}

// Every leaf whose AccumulateGrad the outputs' graph reaches.
function reachableLeaves(out: unknown): Set<Tensor> {
  const found = new Set<Tensor>();
  const seen = new Set<Node>();
  const stack: Node[] = [];
  const collect = (v: unknown): void => {
    if (v instanceof Tensor) {
      if (v.gradFn) stack.push(v.gradFn as Node);
      else if (v.requiresGrad) found.add(v);
    } else if (Array.isArray(v)) v.forEach(collect);
    else if (v && typeof v === 'object') Object.values(v as Record<string, unknown>).forEach(collect);
  };
  collect(out);
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    if (n instanceof AccumulateGrad) found.add(n.leaf);
    for (const m of n.next) if (m) stack.push(m);
  }
  return found;
}
