/**
 * The DataLoader's worker threads. Each is started with the dataset spec (shared arrays travel as
 * SharedArrayBuffers, so nothing large is copied) and answers batch requests in the order it gets
 * them. A worker holds the process open only while it has work: idle workers are unref()'d, so a
 * loader that is never closed cannot keep Node from exiting.
 *
 * Workers run lib/data/worker.js; from a TypeScript checkout (tests under ts-jest) they run worker.ts
 * through a minimal require hook that transpiles with the `typescript` package, as ts-jest does.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { HostField } from './collate';
import type { DatasetSpec } from './dataset';
import { dataError } from './errors';

// Runs in the worker: installs the .ts hook when needed, then loads the entry.
const BOOT = `
const { workerData } = require('worker_threads');
const Module = require('module');
const entry = workerData.entry;
if (entry.endsWith('.ts') && !Module._extensions['.ts']) {
  const ts = Module.createRequire(entry)('typescript');
  const fs = require('fs');
  Module._extensions['.ts'] = function (module, filename) {
    const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
      fileName: filename,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, inlineSourceMap: true },
    });
    module._compile(out.outputText, filename);
  };
}
require(entry);
`;

function workerEntry(): string {
  const js = path.join(__dirname, 'worker.js');
  return fs.existsSync(js) ? js : path.join(__dirname, 'worker.ts');
}

interface Pending {
  resolve(fields: HostField[]): void;
  reject(e: Error): void;
}

function revive(e: Record<string, unknown>): Error {
  const kinds: Record<string, ErrorConstructor> = { TypeError, RangeError };
  const err = new (kinds[e.name as string] ?? Error)(e.message as string) as Error & { code?: unknown; path?: unknown };
  if (e.code !== undefined) err.code = e.code;
  if (e.path !== undefined) err.path = e.path;
  if (typeof e.stack === 'string') err.stack = `${e.stack}\n    (in a DataLoader worker thread)`;
  return err;
}

class LoaderWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | null = null;
  private closing = false;

  constructor(readonly index: number, spec: DatasetSpec) {
    this.worker = new Worker(BOOT, { eval: true, workerData: { entry: workerEntry(), dataset: spec, convkitLoaderWorker: true } });
    this.worker.unref();
    this.worker.on('message', (msg: { id: number; fields?: HostField[]; error?: Record<string, unknown> }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) this.worker.unref();
      if (msg.error) p.reject(revive(msg.error));
      else p.resolve(msg.fields!);
    });
    this.worker.on('error', (e) => this.fail(dataError('ERR_DATA', `DataLoader worker ${index} failed: ${e.message}`)));
    this.worker.on('exit', (code) => {
      if (!this.closing) this.fail(dataError('ERR_DATA', `DataLoader worker ${index} exited unexpectedly (exit code ${code})`));
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
    this.worker.unref();
  }

  run(id: number, indices: Int32Array, seed: bigint): Promise<HostField[]> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, indices, seed });
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const p of this.pending.values()) p.reject(dataError('ERR_DATA', 'DataLoader was closed while a batch was loading'));
    this.pending.clear();
    await this.worker.terminate();
  }
}

export class WorkerPool {
  private readonly workers: LoaderWorker[];
  private nextId = 1;
  constructor(size: number, spec: DatasetSpec) {
    this.workers = Array.from({ length: size }, (_, i) => new LoaderWorker(i, spec));
  }
  get size(): number {
    return this.workers.length;
  }
  /** Loads a batch on worker w. */
  run(w: number, indices: Int32Array, seed: bigint): Promise<HostField[]> {
    return this.workers[w].run(this.nextId++, indices, seed);
  }
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
