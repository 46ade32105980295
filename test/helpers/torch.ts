/**
 * A live PyTorch (/usr/bin/python3 with torch) next to the test process. One Python process per test
 * file, spoken to in JSON lines; `runTorch(code, inputs)` runs a snippet on the same inputs as the
 * convkit side and returns its `out`.
 */
import { ChildProcessWithoutNullStreams, spawn } from 'child_process';
import * as path from 'path';
import * as readline from 'readline';
import { Tensor } from '../../lib';

export const PYTHON = process.env.CONVKIT_TORCH_PYTHON ?? '/usr/bin/python3';

export interface Arr {
  shape: number[];
  dtype: 'float32' | 'int32';
  data: number[];
}
export type TorchOut = Arr | number | TorchOut[] | { [k: string]: TorchOut };

let proc: ChildProcessWithoutNullStreams | null = null;
let nextId = 1;
const pending = new Map<number, { resolve: (v: TorchOut) => void; reject: (e: Error) => void }>();
let stderr = '';

function start(): ChildProcessWithoutNullStreams {
  if (proc) return proc;
  const p = spawn(PYTHON, [path.join(__dirname, 'torch_server.py')], {
    env: { ...process.env, OMP_NUM_THREADS: '1', PYTHONUNBUFFERED: '1' },
  });
  p.stderr.on('data', (d) => (stderr += d.toString()));
  readline.createInterface({ input: p.stdout }).on('line', (line) => {
    const msg = JSON.parse(line) as { id: number; ok: boolean; out?: TorchOut; error?: string };
    const w = pending.get(msg.id);
    if (!w) return;
    pending.delete(msg.id);
    if (msg.ok) w.resolve(decode(msg.out as TorchOut));
    else w.reject(new Error(`PyTorch raised:\n${msg.error}`));
  });
  p.on('exit', (code) => {
    for (const w of pending.values()) w.reject(new Error(`PyTorch process exited (${code}): ${stderr}`));
    pending.clear();
    proc = null;
  });
  p.unref();
  (p.stdout as unknown as { unref(): void }).unref?.();
  (p.stderr as unknown as { unref(): void }).unref?.();
  proc = p;
  return p;
}

function decodeNum(x: unknown): number {
  if (x === 'nan') return NaN;
  if (x === 'inf') return Infinity;
  if (x === '-inf') return -Infinity;
  return x as number;
}

function decode(v: TorchOut): TorchOut {
  if (Array.isArray(v)) return v.map(decode);
  if (v && typeof v === 'object') {
    if ('shape' in v && 'data' in v) return { ...(v as Arr), data: (v as Arr).data.map(decodeNum) };
    const o: { [k: string]: TorchOut } = {};
    for (const [k, x] of Object.entries(v)) o[k] = decode(x);
    return o;
  }
  return typeof v === 'string' ? decodeNum(v) : v;
}

/** Input for the Python side: a convkit tensor, or raw data. */
export function spec(t: Tensor | Arr): Arr {
  const a = t instanceof Tensor ? { shape: [...t.shape], dtype: t.dtype, data: Array.from(t.cpu().dataSync()) } : t;
  // JSON has no NaN/Infinity: they travel as strings.
  return { ...a, data: a.data.map((x) => (Number.isFinite(x) ? x : String(x))) as unknown as number[] };
}

export function runTorch(code: string, inputs: Record<string, Tensor | Arr> = {}): Promise<TorchOut> {
  const p = start();
  const id = nextId++;
  const ins: Record<string, Arr> = {};
  for (const [k, v] of Object.entries(inputs)) ins[k] = spec(v);
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    p.stdin.write(JSON.stringify({ id, code, inputs: ins }) + '\n');
  });
}

export function stopTorch(): void {
  if (proc) {
    proc.stdin.end();
    proc = null;
  }
}
