/** convkit.onnx: trained models out to ONNX, for onnxruntime (Node.js, web, mobile) and other runtimes. */
export { exportOnnx as export, exportOnnx, MIN_OPSET, MAX_OPSET } from './export';
export type { ExportOptions, ExportReport } from './export';
export { decodeModel } from './graph';
