/**
 * The DataLoader worker thread: rebuilds the dataset from its spec, then answers batch requests
 * {id, indices, seed} with {id, fields} whose buffers are transferred (not copied) back. It never loads
 * the native addon (see transforms/lazy_tensor.ts): everything here works on host arrays.
 */
import { parentPort, workerData } from 'worker_threads';
import { markLoaderWorker } from '../transforms/lazy_tensor';
import { loadBatch } from './batch';
import { Dataset, DatasetSpec } from './dataset';
import { datasetFromSpec } from './registry';

markLoaderWorker();

interface Request {
  id: number;
  indices: Int32Array;
  seed: bigint;
}

function serialise(e: unknown): Record<string, unknown> {
  const err = e as Error & { code?: string; path?: string };
  return { message: err?.message ?? String(e), name: err?.name ?? 'Error', code: err?.code, path: err?.path, stack: err?.stack };
}

let dataset: Dataset | null = null;
let initError: unknown = null;
try {
  dataset = datasetFromSpec((workerData as { dataset: DatasetSpec }).dataset);
} catch (e) {
  initError = e;
}

parentPort!.on('message', (req: Request) => {
  if (initError || !dataset) {
    parentPort!.postMessage({ id: req.id, error: serialise(initError) });
    return;
  }
  loadBatch(dataset, req.indices, req.seed).then(
    (fields) => parentPort!.postMessage({ id: req.id, fields }, fields.map((f) => f.data.buffer as ArrayBuffer)),
    (e) => parentPort!.postMessage({ id: req.id, error: serialise(e) }),
  );
});
