/**
 * The tutorial's CIFAR-10 CNN out to ONNX with a dynamic batch, then (when onnxruntime-node is installed, as
 * in a clone of convkit) run by onnxruntime at batch 1 and 7 next to convkit's own eval-mode logits.
 * ONNX_OUT=<file> keeps the model; by default it goes to a temporary folder.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ck from 'convkit';
import { run } from './common';

interface Ort {
  InferenceSession: { create(file: string): Promise<{ run(feeds: Record<string, unknown>): Promise<Record<string, { data: Float32Array; dims: number[] }>> }> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
}

function isOrt(m: unknown): m is Ort {
  return typeof m === 'object' && m !== null && 'InferenceSession' in m && 'Tensor' in m;
}

function loadOrt(): Ort | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const m: unknown = require('onnxruntime-node');
    return isOrt(m) ? m : null;
  } catch {
    return null;
  }
}

run(async () => {
  ck.manualSeed(0);
  const model = ck.models.cifar10Net();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-onnx-'));
  const file = process.env.ONNX_OUT ?? path.join(dir, 'cifar10net.onnx');
  const report = ck.onnx.export(model, ck.randn([1, 3, 32, 32]), file, { inputNames: ['image'], outputNames: ['logits'] });
  console.log(`wrote ${file}: ${(report.bytes.length / 1024).toFixed(0)} KiB, opset ${report.opset}, ${report.foldedBatchNorms} batch norms folded`);
  console.log(`ops: ${Object.entries(report.ops).map(([k, v]) => `${k} x${v}`).join(', ')}`);

  const ort = loadOrt();
  if (!ort) {
    console.log('onnxruntime-node is not installed: npm install onnxruntime-node to run the model');
  } else {
    const session = await ort.InferenceSession.create(file);
    model.eval();
    for (const n of [1, 7]) {
      const x = ck.randn([n, 3, 32, 32]);
      const want = Array.from(ck.noGrad(() => model.forward(x)).dataSync());
      const got = (await session.run({ image: new ort.Tensor('float32', Float32Array.from(x.dataSync()), [n, 3, 32, 32]) })).logits;
      if (!got) throw new Error('onnxruntime returned no "logits" output');
      const diff = want.reduce((m, v, i) => Math.max(m, Math.abs(v - (got.data[i] ?? NaN))), 0);
      console.log(`batch ${n}: onnxruntime logits [${got.dims.join(', ')}], largest difference from convkit ${diff.toExponential(2)}`);
    }
  }
  if (!process.env.ONNX_OUT) fs.rmSync(dir, { recursive: true, force: true });
});
