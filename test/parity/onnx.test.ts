/**
 * ck.onnx.export against ONNX's own checker and onnxruntime. Every zoo model (seeded random weights, batch
 * norm affine and running statistics randomised so that eval mode and the conv-BN folding are not the
 * identity) is exported with a dynamic batch; Debian's python3-onnx runs onnx.checker.check_model
 * (full_check, so ONNX shape inference too) on every file, and onnxruntime-node runs each one at batch
 * sizes 1 and 7, compared with convkit's own eval-mode logits to 1e-4 relative. onnxruntime runs in a child
 * Node.js process: inside jest's sandbox its typed arrays come from another realm and it refuses them.
 * VGG runs at reduced width in CI (NarrowVgg below; CONVKIT_ONNX_FULL_VGG=1 for the full-size builders).
 * Custom Sequential and Module models cover the layers and tensor ops the zoo does not use; unsupported
 * operations and modules stop the export with ERR_UNSUPPORTED naming them.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ck from '../../lib';
import { PYTHON } from '../helpers/torch';
import { expectClose } from '../helpers/compare';
import { disposeModel } from '../helpers/models';

jest.setTimeout(240_000);
let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-onnx-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const { nn } = ck;

/** Batch norms get random affine parameters and running statistics, so folding them changes the weights. */
function randomiseBatchNorms(m: ck.nn.Module): void {
  ck.noGrad(() => {
    for (const b of m.modules()) {
      if (!(b instanceof nn.BatchNorm2d || b instanceof nn.BatchNorm1d)) continue;
      nn.init.uniform_(b.weight!, 0.5, 1.5);
      nn.init.uniform_(b.bias!, -0.2, 0.2);
      nn.init.uniform_(b.running_mean!, -0.2, 0.2);
      nn.init.uniform_(b.running_var!, 0.5, 1.5);
    }
  });
}

interface Case {
  name: string;
  file: string;
  /** Input shape without the batch dim. */
  shape: number[];
  /** convkit's eval-mode logits for the inputs in inputs[batch]. */
  want: Map<number, ck.Tensor>;
  report: ck.onnx.ExportReport;
}

const BATCHES = [1, 7];

/** Exports model (example batch 2) and keeps convkit's logits at batch 1 and 7 for onnxruntime to match. */
function exportCase(name: string, model: ck.nn.Module, shape: number[], opts: ck.onnx.ExportOptions = {}): Case {
  randomiseBatchNorms(model);
  model.eval();
  const file = path.join(tmp, `${name}.onnx`);
  const example = ck.randn([2, ...shape]);
  const report = ck.onnx.export(model, example, file, opts);
  example.dispose();
  const want = new Map<number, ck.Tensor>();
  for (const n of BATCHES) {
    const x = ck.randn([n, ...shape]);
    fs.writeFileSync(path.join(tmp, `${name}.in${n}.bin`), x.dataSync() as Float32Array);
    want.set(n, ck.noGrad(() => model.forward(x) as ck.Tensor));
    x.dispose();
  }
  return { name, file, shape, want, report };
}

// onnxruntime-node in a plain Node.js process: runs each model at each batch size, writes the outputs.
const ORT_RUNNER = `
const ort = require('onnxruntime-node');
const fs = require('fs');
(async () => {
  for (const job of JSON.parse(process.argv[1])) {
    const s = await ort.InferenceSession.create(job.file, { intraOpNumThreads: 2 });
    for (const n of job.batches) {
      const buf = fs.readFileSync(job.prefix + '.in' + n + '.bin');
      const x = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
      const r = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x.slice(), [n, ...job.shape]) });
      const y = r[s.outputNames[0]];
      fs.writeFileSync(job.prefix + '.out' + n + '.json', JSON.stringify({ dims: y.dims }));
      fs.writeFileSync(job.prefix + '.out' + n + '.bin', Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
    }
    await s.release();
  }
})().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
`;

function runOrt(cases: Case[]): void {
  const jobs = cases.map((c) => ({ file: c.file, prefix: path.join(tmp, c.name), shape: c.shape, batches: BATCHES }));
  const r = spawnSync(process.execPath, ['-e', ORT_RUNNER, JSON.stringify(jobs)], { cwd: path.join(__dirname, '..', '..'), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`onnxruntime-node failed: ${r.stderr}`);
}

/** onnx.checker.check_model(full_check=True) on each file; returns file -> 'ok' or the checker's message. */
function checkModels(files: string[]): Record<string, string> {
  const code = [
    'import json, sys, onnx',
    'res = {}',
    'for f in sys.argv[1:]:',
    '    try:',
    '        onnx.checker.check_model(onnx.load(f), full_check=True); res[f] = "ok"',
    '    except Exception as e:',
    '        res[f] = repr(e)',
    'print(json.dumps(res))',
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', code, ...files], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3 onnx checker failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, string>;
}

/** onnxruntime's outputs equal convkit's logits to 1e-4 relative to the largest logit (and elementwise). */
function expectParity(c: Case): void {
  for (const n of BATCHES) {
    const want = c.want.get(n)!;
    const dims = (JSON.parse(fs.readFileSync(path.join(tmp, `${c.name}.out${n}.json`), 'utf8')) as { dims: number[] }).dims;
    const buf = fs.readFileSync(path.join(tmp, `${c.name}.out${n}.bin`));
    const data = Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4));
    const w = Array.from(want.dataSync());
    const scale = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const err = expectClose({ shape: dims, dtype: 'float32', data }, want, { atol: 1e-4 * scale, rtol: 1e-4 }, `${c.name} at batch ${n}`);
    if (process.env.CONVKIT_ONNX_TIMES) console.log(`${c.name} batch ${n}: largest difference ${err.toExponential(2)}, ${(err / scale).toExponential(2)} of the largest logit`);
  }
}

function finish(cases: Case[]): void {
  const checked = checkModels(cases.map((c) => c.file));
  for (const c of cases) expect(`${c.name}: ${checked[c.file]}`).toBe(`${c.name}: ok`);
  runOrt(cases);
  for (const c of cases) expectParity(c);
  for (const c of cases) for (const t of c.want.values()) t.dispose();
}

const M = ck.models;

/**
 * VGG in CI: the zoo's VGG forward and its features builder (makeVggLayers, on each configuration, with and
 * without batch norm), at a quarter of the widths (16 ... 128 channels) and with the classifier narrowed
 * from 25088 -> 4096 -> 4096 to 6272 -> 64 -> 64: the same layers and ops in the same order, without
 * building and writing eight 130M-parameter models (about 10 s each on two cores). The zoo's own
 * builders, at full size, run with CONVKIT_ONNX_FULL_VGG=1.
 */
class NarrowVgg extends nn.Module {
  features: ck.nn.Sequential;
  avgpool = new nn.AdaptiveAvgPool2d([7, 7]);
  classifier: ck.nn.Sequential;
  constructor(cfg: keyof typeof M.VGG_CFGS, bn: boolean) {
    super();
    this.features = M.makeVggLayers(M.VGG_CFGS[cfg].map((v) => (v === 'M' ? v : v / 4)), bn);
    this.classifier = new nn.Sequential(
      new nn.Linear(128 * 7 * 7, 64), new nn.ReLU(), new nn.Dropout(0.5), new nn.Linear(64, 64), new nn.ReLU(), new nn.Dropout(0.5), new nn.Linear(64, 10),
    );
  }
  forward(x: ck.Tensor): ck.Tensor {
    return M.VGG.prototype.forward.call(this as unknown as ck.models.VGG, x);
  }
}
const FULL_VGG = process.env.CONVKIT_ONNX_FULL_VGG === '1';
const vgg = (name: 'vgg11' | 'vgg13' | 'vgg16' | 'vgg19' | 'vgg11Bn' | 'vgg13Bn' | 'vgg16Bn' | 'vgg19Bn', cfg: keyof typeof M.VGG_CFGS, bn: boolean) =>
  (): ck.nn.Module => (FULL_VGG ? M[name]({ numClasses: 10 }) : new NarrowVgg(cfg, bn));

// Every zoo model, at the smallest input each takes (the adaptive pools take them through). VGG's 32x32
// input leaves a 1x1 map for its AdaptiveAvgPool2d(7), and AlexNet's 63x63 one for its AdaptiveAvgPool2d(6):
// the export writes both as slice-and-average.
const ZOO: { name: string; build: () => ck.nn.Module; shape: number[] }[] = [
  { name: 'lenet5', build: () => M.lenet5(), shape: [1, 28, 28] },
  { name: 'cifar10Net', build: () => M.cifar10Net(), shape: [3, 32, 32] },
  { name: 'miniVgg', build: () => M.miniVgg(), shape: [3, 32, 32] },
  { name: 'alexnet', build: () => M.alexnet({ numClasses: 10 }), shape: [3, 63, 63] },
  { name: 'vgg11', build: vgg('vgg11', 'A', false), shape: [3, 32, 32] },
  { name: 'vgg13', build: vgg('vgg13', 'B', false), shape: [3, 32, 32] },
  { name: 'vgg16', build: vgg('vgg16', 'D', false), shape: [3, 32, 32] },
  { name: 'vgg19', build: vgg('vgg19', 'E', false), shape: [3, 32, 32] },
  { name: 'vgg11Bn', build: vgg('vgg11Bn', 'A', true), shape: [3, 32, 32] },
  { name: 'vgg13Bn', build: vgg('vgg13Bn', 'B', true), shape: [3, 32, 32] },
  { name: 'vgg16Bn', build: vgg('vgg16Bn', 'D', true), shape: [3, 32, 32] },
  { name: 'vgg19Bn', build: vgg('vgg19Bn', 'E', true), shape: [3, 32, 32] },
  { name: 'resnet18', build: () => M.resnet18({ numClasses: 10 }), shape: [3, 32, 32] },
  { name: 'resnet34', build: () => M.resnet34({ numClasses: 10 }), shape: [3, 32, 32] },
  { name: 'resnet50', build: () => M.resnet50({ numClasses: 10 }), shape: [3, 32, 32] },
  { name: 'resnet101', build: () => M.resnet101({ numClasses: 10 }), shape: [3, 32, 32] },
  { name: 'resnet152', build: () => M.resnet152({ numClasses: 10 }), shape: [3, 32, 32] },
  { name: 'mobilenetV2', build: () => M.mobilenetV2({ numClasses: 10 }), shape: [3, 32, 32] },
  // transformInput: the narrow/mul/add/cat re-normalisation of Google's weights is traced too.
  { name: 'googlenet', build: () => M.googlenet({ numClasses: 10, transformInput: true }), shape: [3, 32, 32] },
  { name: 'inceptionV3', build: () => M.inceptionV3({ numClasses: 10, transformInput: true }), shape: [3, 75, 75] },
];

test('every zoo model exports, passes onnx.checker, and in onnxruntime matches convkit at batch 1 and 7', () => {
  const builders = Object.keys(M).filter((k) => /^[a-z]/.test(k) && !['makeVggLayers', 'makeDivisible', 'openWeights', 'loadWeightsInto', 'checkpointClasses'].includes(k));
  expect(builders.sort()).toEqual(ZOO.map((z) => z.name).sort());
  const cases: Case[] = [];
  const reports = new Map<string, ck.onnx.ExportReport>();
  for (const z of ZOO) {
    const t0 = Date.now();
    ck.manualSeed(22);
    const model = z.build();
    const c = exportCase(z.name, model, z.shape);
    reports.set(z.name, c.report);
    cases.push(c);
    disposeModel(model);
    if (process.env.CONVKIT_ONNX_TIMES) console.log(`${z.name}: ${Date.now() - t0} ms`, JSON.stringify(c.report.ops));
  }
  // Every conv-BN pair folds: no BatchNormalization is left in the zoo's graphs.
  for (const c of cases) expect(c.report.ops.BatchNormalization).toBeUndefined();
  expect(reports.get('resnet18')!.foldedBatchNorms).toBe(20);
  expect(reports.get('resnet18')!.ops.Add).toBe(8);
  expect(reports.get('googlenet')!.ops.Concat).toBe(10);
  expect(reports.get('mobilenetV2')!.ops.Add).toBe(10);
  expect(reports.get('mobilenetV2')!.ops.Clip).toBe(35);
  finish(cases);
});

/** A user Module whose forward mixes layers and tensor ops: view, cat, residual add, mean, logSoftmax. */
class TwoPath extends nn.Module {
  stem = new nn.Sequential(new nn.Conv2d(3, 8, 3, { padding: 'same' }), new nn.BatchNorm2d(8), new nn.ReLU());
  left = new nn.Conv2d(8, 8, 3, { padding: 2, dilation: 2, groups: 4 });
  right = new nn.Sequential(new nn.AvgPool2d(3, { stride: 1, padding: 1, countIncludePad: false }), new nn.Conv2d(8, 8, 1, { bias: false }));
  bnAfterAdd = new nn.BatchNorm2d(16);
  head = new nn.Linear(16, 5);
  forward(x: ck.Tensor): ck.Tensor {
    const s = this.stem.forward(x) as ck.Tensor;
    const l = this.left.forward(s);
    const r = (this.right.forward(s) as ck.Tensor).add(s).mul(0.5);
    const y = this.bnAfterAdd.forward(ck.nn.functional.cat([l, r], 1));
    const pooled = y.mean([2, 3]);
    const flat = pooled.view(pooled.shape[0], -1);
    return this.head.forward(flat).logSoftmax(1);
  }
}

/** A user activation with no ONNX mapping in the exporter (exp, log). */
class Mish extends nn.Module {
  forward(x: ck.Tensor): ck.Tensor {
    return x.mul(x.exp().add(1).log().tanh());
  }
}

test('custom Sequential and Module models export and match in onnxruntime (BN folded and as BatchNormalization)', () => {
  ck.manualSeed(7);
  const seq = new nn.Sequential(
    new nn.Conv2d(3, 12, 5, { stride: 2, padding: 2 }), new nn.BatchNorm2d(12), new nn.ReLU6(),
    new nn.Conv2d(12, 12, 3, { padding: 2, dilation: 2, groups: 3 }), new nn.BatchNorm2d(12), new nn.Hardtanh(-0.5, 0.5),
    new nn.MaxPool2d(3, { stride: 2, padding: 1, ceilMode: true }),
    new nn.Conv2d(12, 16, [1, 3], { padding: [0, 1] }), new nn.ReLU(),
    new nn.MaxPool2d(2, { dilation: 2, stride: 1 }),
    new nn.AdaptiveAvgPool2d([3, 2]), new nn.Flatten(), new nn.Dropout(0.3),
    new nn.Linear(96, 32), new nn.BatchNorm1d(32), new nn.ReLU(), new nn.Identity(), new nn.Linear(32, 10),
  );
  const two = new TwoPath();
  const cases = [
    exportCase('seq', seq, [3, 23, 19]),
    exportCase('seq_bn_kept', seq, [3, 23, 19], { foldBatchNorm: false, opset: 13, inputNames: ['image'], outputNames: ['logits'] }),
    exportCase('module', two, [3, 12, 12], { opset: 11 }),
  ];
  const [folded, kept, mod] = cases.map((c) => c.report);
  // Conv-BN pairs fold; the BatchNorm1d after a Linear stays a BatchNormalization.
  expect(folded.foldedBatchNorms).toBe(2);
  expect(folded.ops.BatchNormalization).toBe(1);
  expect(kept.foldedBatchNorms).toBe(0);
  expect(kept.ops.BatchNormalization).toBe(3);
  expect([kept.inputNames, kept.outputNames]).toEqual([['image'], ['logits']]);
  // The BN after the concatenation has no conv to fold into.
  expect(mod.ops).toMatchObject({ Concat: 1, BatchNormalization: 1, ReduceMean: 1, LogSoftmax: 1, Gemm: 1 });
  const decoded = ck.onnx.decodeModel(kept.bytes) as { opsetImport: { version: number }[]; graph: { input: { type: { tensorType: { shape: { dim: { dimParam?: string }[] } } } }[] } };
  expect(decoded.opsetImport[0].version).toBe(13);
  expect(decoded.graph.input[0].type.tensorType.shape.dim[0].dimParam).toBe('batch');
  finish(cases);
  disposeModel(seq);
  disposeModel(two);
});

test('a fixed batch export keeps the example batch size, and exporting leaves no tensor behind', () => {
  ck.manualSeed(3);
  const m = new nn.Sequential(new nn.Conv2d(1, 4, 3), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.Flatten(), new nn.Linear(4 * 6 * 6, 3));
  const x = ck.randn([7, 1, 8, 8]);
  const live = ck.memory().liveTensors;
  const r = ck.onnx.export(m, x, null, { dynamicBatch: false });
  expect(ck.memory().liveTensors).toBe(live);
  expect(r.path).toBeNull();
  const g = (ck.onnx.decodeModel(r.bytes) as { graph: { input: { type: { tensorType: { shape: { dim: { dimValue?: number }[] } } } }[] } }).graph;
  expect(g.input[0].type.tensorType.shape.dim.map((d) => d.dimValue)).toEqual([7, 1, 8, 8]);
  x.dispose();
  disposeModel(m);
});

test('unsupported operations and modules stop the export with ERR_UNSUPPORTED naming them', () => {
  ck.manualSeed(1);
  const x = ck.randn([2, 3, 8, 8]);
  const mish = new nn.Sequential(new nn.Conv2d(3, 4, 3), new Mish(), new nn.Flatten());
  expect(() => ck.onnx.export(mish, x, path.join(tmp, 'mish.onnx'))).toThrow(
    expect.objectContaining({ code: 'ERR_UNSUPPORTED', message: expect.stringContaining("Tensor.exp called in module '1' (Mish)") }),
  );
  expect(fs.existsSync(path.join(tmp, 'mish.onnx'))).toBe(false);
  // The tracer's wrappers are gone again: the same model and ops run as before.
  const y = ck.noGrad(() => mish.forward(x) as ck.Tensor);
  expect(y.shape).toEqual([2, 144]);
  expect(mish.modules().every((m) => m.training)).toBe(true);

  const noStats = new nn.Sequential(new nn.Conv2d(3, 4, 3), new nn.BatchNorm2d(4, { trackRunningStats: false }));
  expect(() => ck.onnx.export(noStats, x, null)).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED', message: expect.stringMatching(/module '1' \(BatchNorm2d\).*trackRunningStats/) }));
  // A loss does not type-check in a Sequential; added by name, as printing.test does, the export still names it.
  const withLoss = new nn.Sequential(new nn.Flatten());
  withLoss.addModule('1', new nn.MSELoss());
  expect(() => ck.onnx.export(withLoss, x, null)).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED', message: expect.stringContaining("module '1' (MSELoss)") }));
  const mixesBatch = new nn.Sequential(new nn.Flatten(0));
  expect(() => ck.onnx.export(mixesBatch, x, null)).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED', message: expect.stringContaining('dynamicBatch: false') }));
  expect(() => ck.onnx.export(mish, x, null, { opset: 9 })).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
  for (const t of [x, y]) t.dispose();
  for (const m of [mish, noStats, withLoss]) disposeModel(m);
});
