/**
 * onnx.export(model, exampleInput, path, opts): the model's eval-mode forward, traced on the example input
 * (see trace.ts), written as an ONNX model that onnxruntime runs. Batch norms that follow a convolution are
 * folded into it by default: in eval mode a batch norm is a fixed per-channel affine map, so folding gives
 * the same function with one op fewer per conv (what torch.onnx.export's constant folding and every
 * inference runtime do); the others, and all of them with foldBatchNorm: false, are written as ONNX
 * BatchNormalization with the running statistics.
 */
import * as fs from 'fs';
import { noGrad } from '../autograd/grad_mode';
import { ckError } from '../errors';
import { Module } from '../nn/module';
import { Tensor } from '../tensor';
import { Tracer } from './trace';

export interface ExportOptions {
  /** ONNX opset, 11 to 17; default 17. */
  opset?: number;
  /** Make dim 0 of the inputs (and of outputs that keep it) symbolic, "batch"; default true. */
  dynamicBatch?: boolean;
  /** Graph input names, one per example input; default "input" (input_0, input_1 ... for several). */
  inputNames?: string[];
  /** Graph output names, one per output; default "output" (output_0, output_1 ... for several). */
  outputNames?: string[];
  /** Fold each batch norm that follows a conv into it (default true); false keeps BatchNormalization nodes. */
  foldBatchNorm?: boolean;
  /** Free text stored as the model's doc_string. */
  docString?: string;
}

export interface ExportReport {
  /** Where the model was written (null when path was null). */
  path: string | null;
  /** The ONNX protobuf bytes. */
  bytes: Uint8Array;
  opset: number;
  inputNames: string[];
  outputNames: string[];
  /** Node count per ONNX op type. */
  ops: Record<string, number>;
  /** Batch norms folded into the conv before them. */
  foldedBatchNorms: number;
  /** Number of initializers (weights and constants) and their total float/int64 elements. */
  initializers: number;
  initializerElements: number;
}

export const MIN_OPSET = 11;
export const MAX_OPSET = 17;

// ONNX IR version that goes with each opset (onnx/helper.py's VERSION_TABLE).
const irVersionFor = (opset: number) => (opset <= 11 ? 6 : opset <= 14 ? 7 : 8);

function argError(message: string, kind: 'TypeError' | 'RangeError' = 'TypeError') {
  return ckError('ERR_ARG', `onnx.export: ${message}`, kind);
}

function checkNames(what: string, names: unknown, n: number, stem: string): string[] {
  if (names === undefined) return n === 1 ? [stem] : Array.from({ length: n }, (_, i) => `${stem}_${i}`);
  if (!Array.isArray(names) || names.length !== n || names.some((s) => typeof s !== 'string' || s === ''))
    throw argError(`${what} must be an array of ${n} non-empty string${n === 1 ? '' : 's'}, got ${JSON.stringify(names)}`);
  if (new Set(names).size !== names.length) throw argError(`${what} must be distinct, got ${JSON.stringify(names)}`, 'RangeError');
  return names as string[];
}

/**
 * Exports `model` to ONNX by running its eval-mode forward on `exampleInput` (a Tensor, or an array for
 * a model with several inputs) under noGrad, and writes it to `path` (null: only return the bytes).
 * Every mode and forward is restored afterwards. Operations the exporter cannot express stop it with
 * ERR_UNSUPPORTED, naming the operation and the module that ran it.
 */
export function exportOnnx(model: Module, exampleInput: Tensor | Tensor[], path: string | null, opts: ExportOptions = {}): ExportReport {
  if (!(model instanceof Module)) throw argError(`model must be an nn.Module, got ${model === null ? 'null' : typeof model}`);
  const inputs = Array.isArray(exampleInput) ? exampleInput : [exampleInput];
  if (inputs.length === 0 || inputs.some((x) => !(x instanceof Tensor))) throw argError('exampleInput must be a Tensor or a non-empty array of Tensors');
  if (new Set(inputs).size !== inputs.length) throw argError('exampleInput holds the same Tensor twice', 'RangeError');
  for (const x of inputs) if (x.dtype !== 'float32') throw ckError('ERR_DTYPE', `onnx.export: example inputs must be float32, got ${x.dtype}`, 'TypeError');
  if (path !== null && typeof path !== 'string') throw argError(`path must be a string or null, got ${typeof path}`);
  if (opts === null || typeof opts !== 'object') throw argError('options must be an object');
  const opset = opts.opset ?? MAX_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) throw argError(`opset must be an integer from ${MIN_OPSET} to ${MAX_OPSET}, got ${opset}`, 'RangeError');
  const dynamicBatch = opts.dynamicBatch ?? true;
  if (typeof dynamicBatch !== 'boolean') throw argError(`dynamicBatch must be a boolean, got ${typeof dynamicBatch}`);
  if (dynamicBatch && inputs.some((x) => x.ndim === 0)) throw argError('dynamicBatch needs inputs with a batch dim (rank >= 1)', 'RangeError');
  const inputNames = checkNames('inputNames', opts.inputNames, inputs.length, 'input');

  const modes = new Map<Module, boolean>(model.modules().map((m) => [m, m.training]));
  const tracer = new Tracer(model, { opset, dynamicBatch, inputNames });
  let outs: Tensor[];
  try {
    model.eval();
    outs = noGrad(() => tracer.run(inputs));
  } finally {
    for (const [m, t] of modes) m.training = t;
  }
  const g = tracer.graph;
  let outputNames: string[];
  try {
    outputNames = checkNames('outputNames', opts.outputNames, outs.length, 'output');
    const clash = outputNames.find((n) => inputNames.includes(n));
    if (clash) throw argError(`output name '${clash}' is also an input name`, 'RangeError');
    const batch = inputs[0].shape[0];
    g.inputs = inputs.map((x, i) => ({ name: inputNames[i], dims: x.shape.map((d, j) => (j === 0 && dynamicBatch ? 'batch' : d)) }));
    outs.forEach((o, i) => {
      const v = tracer.nameOf(o);
      if (v === undefined) throw ckError('ERR_UNSUPPORTED', `onnx.export: output ${i} of the model does not depend on its input; nothing to trace`);
      // Every output gets its own Identity node, so an output may also be an input, an initializer or another output.
      g.addNode('Identity', '', [v], {}, outputNames[i]);
      g.outputs.push({ name: outputNames[i], dims: o.shape.map((d, j) => (j === 0 && dynamicBatch && d === batch ? 'batch' : d)) });
    });
  } finally {
    for (const o of outs) if (!inputs.includes(o)) o.dispose();
  }
  const foldedBatchNorms = (opts.foldBatchNorm ?? true) ? g.foldBatchNorms() : 0;
  g.dropUnusedInitializers();
  const bytes = g.encode({ opset, irVersion: irVersionFor(opset), producerVersion: producerVersion(), docString: opts.docString });
  if (path !== null) writeAtomic(path, bytes);
  const ops: Record<string, number> = {};
  for (const n of g.nodes) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
  const inits = [...g.initializers.values()];
  return {
    path, bytes, opset, inputNames, outputNames, ops, foldedBatchNorms,
    initializers: inits.length,
    initializerElements: inits.reduce((a, t) => a + t.data.length, 0),
  };
}

function producerVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return (require('../../package.json') as { version: string }).version;
}

/** A temporary file renamed into place, so a failed write leaves no half model behind. */
function writeAtomic(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, path);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw ckError('ERR_ARG', `onnx.export: cannot write ${path}: ${(e as Error).message}`);
  }
}
