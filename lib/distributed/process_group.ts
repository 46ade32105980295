/**
 * ck.distributed in the shape of torch.distributed: one default process group per process, set up from
 * torchrun's environment (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK) or from options, and
 * the collectives on it. The engines do the work: Gloo for CPU tensors (csrc/distributed/, through
 * convkit_gloo.so, which convkit.node loads at run time) and NCCL for CUDA tensors (libnccl.so.2, found at run
 * time as cuDNN is); the transport, the algorithms and the reduction are theirs. A rendezvous TCP store served
 * by rank 0 brings the ranks together, as PyTorch's TCPStore, and carries NCCL's unique id. On NCCL a
 * collective runs in place on the tensors' device, in stream order with the kernels around it.
 * Collectives change their tensors in place, as PyTorch's; `{ async: true }` returns a Work whose wait()
 * finishes it. A collective that fails (a peer lost, or the timeout) is an ERR_DIST error naming the lost
 * ranks, on every surviving rank, and leaves the group broken: later calls fail the same way.
 */
import { native } from '../binding';
import { ckError } from '../errors';
import { Tensor } from '../tensor';

const nd = native;

export type Backend = 'gloo' | 'nccl';
export type ReduceOpName = 'sum' | 'avg' | 'max' | 'min' | 'product';
/** torch.distributed.ReduceOp's members, as strings. */
export const ReduceOp = { SUM: 'sum', AVG: 'avg', MAX: 'max', MIN: 'min', PRODUCT: 'product' } as const;
const OP_CODE: Record<ReduceOpName, number> = { sum: 0, avg: 1, max: 2, min: 3, product: 4 };
const KIND = { allReduce: 0, broadcast: 1, allGather: 2, reduceScatter: 3, barrier: 4 } as const;

export interface InitOptions {
  backend?: Backend;
  /** 'env://' (the default: MASTER_ADDR and MASTER_PORT) or 'tcp://host:port'. */
  initMethod?: string;
  rank?: number;
  worldSize?: number;
  /** How long a rendezvous or a collective may wait for its peers (default 30 minutes, as PyTorch). */
  timeoutMs?: number;
}

interface GroupState {
  backend: Backend;
  rank: number;
  worldSize: number;
  localRank: number;
  timeoutMs: number;
}
let state: GroupState | null = null;

export const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw ckError('ERR_ARG', `initProcessGroup: environment variable ${name}=${JSON.stringify(v)} is not a non-negative integer`, 'RangeError');
  return n;
}

function intOpt(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw ckError('ERR_ARG', `initProcessGroup: ${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`, 'RangeError');
  return v;
}

/** Whether this binary can run a backend; the message says how to get it when not. */
export function backendSupport(backend: string): { ok: boolean; why: string } {
  if (backend === 'gloo') {
    const info = nd.distInfo('gloo');
    // glooError: why convkit_gloo.so (Gloo, loaded at run time) is unavailable, and how to get it.
    return info.gloo ? { ok: true, why: '' } : { ok: false, why: info.glooError };
  }
  if (backend === 'nccl') {
    const info = nd.distInfo('nccl');
    // ncclError: what the search for libnccl.so.2 tried, and how to get it (or why this binary cannot use it).
    return info.nccl ? { ok: true, why: '' } : { ok: false, why: `backend 'nccl' is not available: ${info.ncclError}` };
  }
  return { ok: false, why: `unknown backend '${backend}' (expected 'gloo' or 'nccl')` };
}

export function isAvailable(): boolean {
  return true;
}
export function isGlooAvailable(): boolean {
  return nd.distInfo('gloo').gloo;
}
export function isNcclAvailable(): boolean {
  return nd.distInfo('nccl').nccl;
}
/** Where backend 'nccl' found NCCL (the search of CONVKIT_NCCL_PATH, the loader path, pip's nvidia-nccl wheels,
 * PyTorch's bundled copy), which version, whether it is the emulated stand-in, and what was tried. */
export function ncclInfo(): { available: boolean; path: string; version: string; emulated: boolean; attempts: string[]; error: string } {
  const i = nd.distInfo('nccl');
  const v = i.ncclVersion;
  return {
    available: i.nccl, path: i.ncclPath, version: v ? `${Math.floor(v / 10000)}.${Math.floor(v / 100) % 100}.${v % 100}` : '',
    emulated: i.ncclEmulated, attempts: i.ncclAttempts, error: i.nccl ? '' : i.ncclError,
  };
}
export function isInitialized(): boolean {
  return state !== null;
}

function parseInitMethod(m: string): { addr?: string; port?: number } {
  if (m === 'env://') return {};
  const t = /^tcp:\/\/\[?([^\]]+?)\]?:(\d+)$/.exec(m);
  if (t) return { addr: t[1], port: Number(t[2]) };
  throw ckError('ERR_ARG', `initProcessGroup: initMethod '${m}' is not supported (expected 'env://' or 'tcp://host:port')`);
}

/**
 * Joins the default process group; blocks until every rank has joined (or throws ERR_DIST after
 * timeoutMs naming the ranks that never came). Options win over the environment.
 */
export function initProcessGroup(opts: InitOptions = {}): void {
  if (opts === null || typeof opts !== 'object') throw ckError('ERR_ARG', 'initProcessGroup: expected an options object', 'TypeError');
  const backend = opts.backend ?? 'gloo';
  const support = backendSupport(backend);
  if (!support.ok) throw ckError(backend === 'gloo' || backend === 'nccl' ? 'ERR_DIST' : 'ERR_ARG', `initProcessGroup: ${support.why}`);
  if (state) throw ckError('ERR_DIST', 'initProcessGroup: the default process group is already initialized; call destroyProcessGroup() first');
  const im = parseInitMethod(opts.initMethod ?? 'env://');
  const worldSize = intOpt('worldSize', opts.worldSize ?? envInt('WORLD_SIZE') ?? 1, 1);
  const rank = intOpt('rank', opts.rank ?? envInt('RANK') ?? 0, 0);
  if (rank >= worldSize)
    throw ckError('ERR_ARG', `initProcessGroup: rank ${rank} is outside the world of size ${worldSize} (ranks are 0..${worldSize - 1})`, 'RangeError');
  const masterAddr = im.addr ?? process.env.MASTER_ADDR ?? (worldSize === 1 ? '127.0.0.1' : undefined);
  // Port 0: rank 0's store takes any free port, which only a world of one can use.
  const port = im.port ?? envInt('MASTER_PORT') ?? (worldSize === 1 ? 0 : undefined);
  if (masterAddr === undefined || port === undefined)
    throw ckError('ERR_ARG', `initProcessGroup: ${masterAddr === undefined ? 'MASTER_ADDR' : 'MASTER_PORT'} is not set; set it (convkit launch and torchrun do) or pass initMethod 'tcp://host:port'`);
  const timeoutMs = intOpt('timeoutMs', opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, 1);
  nd.distInit({
    backend, rank, worldSize, masterAddr, masterPort: port, timeoutMs,
    hostname: process.env.CONVKIT_DIST_HOSTNAME ?? '', iface: process.env.GLOO_SOCKET_IFNAME ?? '',
  });
  state = { backend, rank, worldSize, localRank: envInt('LOCAL_RANK') ?? rank, timeoutMs };
}

export function destroyProcessGroup(): void {
  nd.distDestroy();
  state = null;
}

function need(what: string): GroupState {
  if (!state) throw ckError('ERR_DIST', `${what}: no process group; call distributed.initProcessGroup() first`);
  return state;
}

export function getRank(): number {
  return need('getRank').rank;
}
export function getWorldSize(): number {
  return need('getWorldSize').worldSize;
}
/** LOCAL_RANK as the launcher set it (the rank when it is not set). */
export function getLocalRank(): number {
  return need('getLocalRank').localRank;
}
export function getBackend(): Backend {
  return need('getBackend').backend;
}

/** The handle of an asynchronous collective. */
export class Work {
  private result: { done: boolean; error: Error | null } = { done: false, error: null };
  constructor(private readonly id: number, private readonly finish: () => void) {}
  /** Blocks until the collective has finished and its tensors hold the result; throws its ERR_DIST error. */
  wait(): true {
    if (!this.result.done) {
      this.result.done = true;
      try {
        this.finish();
      } catch (e) {
        this.result.error = e as Error;
      }
    }
    if (this.result.error) throw this.result.error;
    return true;
  }
  /** Whether the collective has finished (wait() will not block). */
  isCompleted(): boolean {
    return this.result.done || nd.distPoll(this.id);
  }
  /** Resolves once finished, polling without blocking the event loop. */
  async promise(): Promise<void> {
    while (!this.isCompleted()) await new Promise((r) => setTimeout(r, 1));
    this.wait();
  }
}

export interface CollectiveOptions {
  async?: boolean;
}

function checkTensor(what: string, t: Tensor): void {
  if (!t || typeof t !== 'object' || typeof (t as Tensor).isContiguous !== 'function')
    throw ckError('ERR_ARG', `${what}: expected a Tensor, got ${t === null ? 'null' : typeof t}`, 'TypeError');
  if (!t.isContiguous()) throw ckError('ERR_ARG', `${what}: the tensor must be contiguous (call .contiguous() first)`);
}

// out: where the result lands (given at submit: NCCL writes it in place, in stream order; Gloo at wait).
function submit(kind: number, what: string, t: Tensor | null, op: ReduceOpName, root: number, count: number,
  out: () => { t: Tensor | null; after?: () => void; staging?: boolean }, opts: CollectiveOptions): Work | null {
  const st = need(what);
  if (op !== undefined && !(op in OP_CODE)) throw ckError('ERR_ARG', `${what}: unknown reduce op '${String(op)}' (expected ${Object.keys(OP_CODE).join(', ')})`);
  if (t && op === 'avg' && t.dtype !== 'float32') throw ckError('ERR_DTYPE', `${what}: op 'avg' needs a float32 tensor, got ${t.dtype}`, 'TypeError');
  if (t && st.backend === 'nccl' && t.device.type !== 'cuda')
    throw ckError('ERR_DEVICE', `${what}: backend 'nccl' takes CUDA tensors, got a tensor on ${t.device}; move it with .cuda() or use backend 'gloo' for CPU tensors`);
  const o = out();
  const operand = (x: Tensor | null) => (x ? { storage: x.storage, offset: x.offset } : null);
  // A barrier has no tensor: on NCCL it runs on this process's device (LOCAL_RANK's, as PyTorch guesses it).
  const device = st.backend === 'nccl' && kind === KIND.barrier ? st.localRank % Math.max(1, nd.cudaInfo().deviceCount) : -1;
  let id: number;
  try {
    id = nd.distSubmit({ kind, dtype: t ? t.dtypeCode : 0, op: OP_CODE[op], root, count, device }, { input: operand(t), output: operand(o.t) });
  } catch (e) {
    if (o.staging) o.t?.dispose();
    throw e;
  }
  const finish = () => {
    try {
      nd.distWait(id, { output: operand(o.t) });
    } catch (e) {
      if (o.staging) o.t?.dispose();
      throw e;
    }
    o.after?.();
  };
  const w = new Work(id, finish);
  if (opts.async) return w;
  w.wait();
  return null;
}

/** Reduces `tensor` across all ranks in place (op 'sum' by default). */
export function allReduce(tensor: Tensor, opts: CollectiveOptions & { op?: ReduceOpName } = {}): Work | null {
  checkTensor('allReduce', tensor);
  return submit(KIND.allReduce, 'allReduce', tensor, opts.op ?? 'sum', 0, tensor.numel(), () => ({ t: tensor }), opts);
}

/** Copies rank `src`'s tensor into every rank's tensor. */
export function broadcast(tensor: Tensor, src: number, opts: CollectiveOptions = {}): Work | null {
  checkTensor('broadcast', tensor);
  const ws = need('broadcast').worldSize;
  if (!Number.isInteger(src) || src < 0 || src >= ws) throw ckError('ERR_ARG', `broadcast: src must be a rank in 0..${ws - 1}, got ${src}`, 'RangeError');
  return submit(KIND.broadcast, 'broadcast', tensor, 'sum', src, tensor.numel(), () => ({ t: tensor }), opts);
}

// One tensor per rank, each of ref's shape and dtype; returns the world size.
function checkPerRank(what: string, list: Tensor[], ref: Tensor, listName: string, refName: string): number {
  checkTensor(what, ref);
  const ws = need(what).worldSize;
  if (!Array.isArray(list) || list.length !== ws)
    throw ckError('ERR_ARG', `${what}: expected a list of ${ws} ${listName} tensors (one per rank), got ${Array.isArray(list) ? list.length : typeof list}`);
  list.forEach((t, i) => {
    checkTensor(`${what}: ${listName}s[${i}]`, t);
    const same = t.shape.length === ref.shape.length && t.shape.every((s, k) => s === ref.shape[k]) && t.dtype === ref.dtype;
    if (!same) throw ckError('ERR_SHAPE', `${what}: ${listName}s[${i}] must have the ${refName}'s shape and dtype`, 'RangeError');
  });
  return ws;
}

/** Gathers every rank's `tensor` into `outputs[rank]` (one tensor per rank, each of tensor's shape). */
export function allGather(outputs: Tensor[], tensor: Tensor, opts: CollectiveOptions = {}): Work | null {
  checkPerRank('allGather', outputs, tensor, 'output', 'input');
  return submit(KIND.allGather, 'allGather', tensor, 'sum', 0, tensor.numel(), () => gatherInto(outputs, tensor.numel()), opts);
}

// The collective's result lands in one staging tensor, then in each output.
function gatherInto(outputs: Tensor[], n: number): { t: Tensor; after: () => void; staging: true } {
  const flat = Tensor.empty([n * outputs.length], outputs[0].dtype, outputs[0].device);
  return {
    t: flat,
    staging: true,
    after: () => {
      try {
        outputs.forEach((o, i) => {
          const part = flat.narrow(0, i * n, n);
          const shaped = part.reshape([...o.shape]);
          o.copyFrom(shaped);
          shaped.dispose();
          part.dispose();
        });
      } finally {
        flat.dispose();
      }
    },
  };
}

/** Reduces the concatenation of `inputs` (one tensor per rank) across ranks; rank r receives the r-th part in `output`. */
export function reduceScatter(output: Tensor, inputs: Tensor[], opts: CollectiveOptions & { op?: ReduceOpName } = {}): Work | null {
  const ws = checkPerRank('reduceScatter', inputs, output, 'input', 'output');
  const n = output.numel();
  const flat = Tensor.empty([n * ws], output.dtype, output.device);
  try {
    inputs.forEach((t, i) => {
      const part = flat.narrow(0, i * n, n);
      const src = t.detach().reshape([n]);
      part.copyFrom(src);
      part.dispose();
      src.dispose();
    });
    return submit(KIND.reduceScatter, 'reduceScatter', flat, opts.op ?? 'sum', 0, n * ws, () => ({ t: output }), opts);
  } finally {
    flat.dispose(); // the input was copied at submit
  }
}

/** Waits until every rank has reached the barrier. */
export function barrier(opts: CollectiveOptions = {}): Work | null {
  return submit(KIND.barrier, 'barrier', null, 'sum', 0, 0, () => ({ t: null }), opts);
}
