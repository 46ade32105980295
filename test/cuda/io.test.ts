/**
 * io.saveTorch takes tensors on the CUDA device: the checkpoint of a model on the device is byte-for-byte
 * the checkpoint of the same model on the CPU, and a narrowed view of a device buffer saves its own values.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ck from '../../lib';
import { requireCuda } from './helpers';

beforeAll(() => requireCuda());

let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ck-io-cuda-'))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('saveTorch of a model on the device = saveTorch of it on the CPU', () => {
  ck.manualSeed(4);
  const model = ck.models.cifar10Net();
  const cpuFile = path.join(dir, 'cpu.pth');
  ck.io.saveTorch(model.stateDict(), cpuFile);
  model.cuda();
  const sd = model.stateDict();
  expect(sd['features.0.weight'].isCuda).toBe(true);
  const base = ck.arange(0, 12, 1, { dtype: 'float32', device: 'cuda' }).reshape([3, 4]);
  const cudaFile = path.join(dir, 'cuda.pth');
  ck.io.saveTorch(sd, cudaFile);
  expect(fs.readFileSync(cudaFile).equals(fs.readFileSync(cpuFile))).toBe(true);
  ck.io.saveTorch({ a: base, b: base.narrow(1, 1, 2) }, cudaFile);
  const w = ck.io.loadTorch(cudaFile);
  try {
    expect(Array.from(w.tensors.get('b')!.dataSync())).toEqual([1, 2, 5, 6, 9, 10]);
  } finally {
    w.dispose();
  }
});
