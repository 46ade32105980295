/**
 * ck.utils.tensorboard.SummaryWriter: PyTorch's torch.utils.tensorboard.SummaryWriter, writing
 * TensorBoard's event files with no Python and no TensorFlow.
 *
 * An event file (`events.out.tfevents.<secs>.<host>.<pid>.<n>`) is a sequence of TFRecords (see
 * record.ts), each holding one serialized `tensorflow.Event`: the first says `file_version:
 * "brain.Event:2"`, the others carry a `Summary` with the step and wall time. Values are written as
 * PyTorch 1.13 writes them: scalars as `simple_value`, histograms as `HistogramProto` (TensorFlow's
 * default buckets, trimmed to the occupied range), images as PNG `Summary.Image`, text as a DT_STRING
 * tensor for the text plugin, hyperparameters as the hparams plugin's three summaries in a run folder
 * of their own. Records are buffered (maxQueue records or flushSecs seconds) and written in order.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ckError } from '../../errors';
import { Tensor } from '../../tensor';
import { encodePng } from './png';
import { pb, ProtoWriter } from './proto';
import { tfRecord } from './record';

export interface SummaryWriterOptions {
  /** Appended to the default log directory name (as PyTorch's `comment`). */
  comment?: string;
  /** Write pending events at least this often, in seconds; default 120. */
  flushSecs?: number;
  /** Write pending events once this many are waiting; default 10. */
  maxQueue?: number;
  /** Appended to the event file's name. */
  filenameSuffix?: string;
}

export type HistogramBins = 'tensorflow' | number | readonly number[];

let fileCounter = 0;
/** Open event files, flushed when the process exits (one listener for all of them). */
const open = new Set<{ flush(): void }>();
let exitHook = false;
function track(w: { flush(): void }): void {
  open.add(w);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const f of open) f.flush();
    });
  }
}
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** PyTorch's default log directory: runs/<Mon><DD>_<HH-MM-SS>_<host><comment>. */
function defaultLogDir(comment: string): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return path.join('runs', `${MONTHS[d.getMonth()]}${p(d.getDate())}_${p(d.getHours())}-${p(d.getMinutes())}-${p(d.getSeconds())}_${os.hostname()}${comment}`);
}

/** TensorFlow's default histogram edges (PyTorch's bins='tensorflow'): +-1e-12 * 1.1^k up to 1e20, and 0. */
let tfBins: number[] | null = null;
function tensorflowBins(): number[] {
  if (tfBins) return tfBins;
  const pos: number[] = [];
  for (let v = 1e-12; v < 1e20; v *= 1.1) pos.push(v);
  tfBins = [...pos.map((v) => -v).reverse(), 0, ...pos];
  return tfBins;
}

function toNumbers(values: Tensor | ArrayLike<number>, what: string): Float64Array {
  const src = values instanceof Tensor ? values.dataSync() : values;
  const out = Float64Array.from(src as ArrayLike<number>);
  for (const v of out) if (!Number.isFinite(v)) throw ckError('ERR_DATA', `${what}: the values hold ${v}; a histogram needs finite numbers`);
  return out;
}

function scalarOf(v: number | Tensor, what: string): number {
  if (v instanceof Tensor) {
    if (v.numel() !== 1) throw ckError('ERR_SHAPE', `${what}: a scalar needs a one-element tensor, got shape [${v.shape.join(', ')}]`, 'RangeError');
    return v.item();
  }
  if (typeof v !== 'number') throw ckError('ERR_ARG', `${what}: the value must be a number or a one-element tensor, got ${typeof v}`, 'TypeError');
  return v;
}

/**
 * numpy.histogram's counts for sorted edges (each bin [e_i, e_i+1), the last one closed; values
 * outside are dropped), then PyTorch's trimming to the occupied bins plus one empty bin before them.
 * Returns HistogramProto's bucket_limit (right edges) and bucket (counts).
 */
export function histogramBuckets(values: Float64Array, bins: HistogramBins): { limits: number[]; counts: number[] } {
  let edges: number[];
  if (bins === 'tensorflow') edges = tensorflowBins();
  else if (typeof bins === 'number') {
    if (!Number.isInteger(bins) || bins < 1) throw ckError('ERR_ARG', `addHistogram: bins must be a positive integer, got ${bins}`, 'RangeError');
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of values) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    if (lo === hi) {
      lo -= 0.5;
      hi += 0.5;
    }
    const step = (hi - lo) / bins; // numpy.linspace's arithmetic, so the edges are numpy's to the bit
    edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : i * step + lo));
  } else {
    edges = [...bins];
    if (edges.length < 2 || edges.some((e, i) => i > 0 && !(e > edges[i - 1])))
      throw ckError('ERR_ARG', 'addHistogram: bin edges must be at least two increasing numbers', 'RangeError');
  }
  const n = edges.length - 1;
  const counts = new Array<number>(n).fill(0);
  for (const v of values) {
    if (v < edges[0] || v > edges[n]) continue;
    // the last i with edges[i] <= v (binary search), the top edge falling into the last bin
    let lo = 0;
    let hi = n;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (edges[mid] <= v) lo = mid;
      else hi = mid;
    }
    counts[lo]++;
  }
  let first = counts.findIndex((c) => c > 0);
  let last = n - 1;
  while (last >= 0 && counts[last] === 0) last--;
  if (first < 0) {
    first = 0;
    last = n - 1;
  }
  // one empty bin before the first occupied one (PyTorch's make_histogram), then up to the last occupied
  const outCounts = first > 0 ? counts.slice(first - 1, last + 1) : [0, ...counts.slice(0, last + 1)];
  const outLimits = edges.slice(first, last + 2);
  return { limits: outLimits, counts: outCounts };
}

/** [height, width, channels] bytes of an image tensor given as CHW, HWC or HW (float in [0, 1], or int32 0-255). */
function imageBytes(img: Tensor, dataformats: 'CHW' | 'HWC' | 'HW'): { pixels: Uint8Array; h: number; w: number; c: number } {
  const want = dataformats.length;
  if (img.ndim !== want) throw ckError('ERR_SHAPE', `addImage: dataformats '${dataformats}' needs a ${want}-d tensor, got shape [${img.shape.join(', ')}]`, 'RangeError');
  let h: number;
  let w: number;
  let c: number;
  let at: (y: number, x: number, k: number) => number;
  const data = img.dataSync();
  if (dataformats === 'HW') {
    [h, w] = img.shape;
    c = 1;
    at = (y, x) => data[y * w + x];
  } else if (dataformats === 'CHW') {
    [c, h, w] = img.shape;
    at = (y, x, k) => data[(k * h + y) * w + x];
  } else {
    [h, w, c] = img.shape;
    at = (y, x, k) => data[(y * w + x) * c + k];
  }
  if (c !== 1 && c !== 3 && c !== 4) throw ckError('ERR_SHAPE', `addImage: an image has 1, 3 or 4 channels, got ${c}`, 'RangeError');
  if (h < 1 || w < 1) throw ckError('ERR_SHAPE', `addImage: an empty image (shape [${img.shape.join(', ')}])`, 'RangeError');
  // PyTorch: float images are scaled by 255, integer ones taken as they are; clipped to 0..255 and truncated.
  const scale = img.dtype === 'float32' ? 255 : 1;
  const outC = c === 1 ? 3 : c; // gray is written as RGB, as PyTorch's convert_to_HWC does
  const pixels = new Uint8Array(h * w * outC);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < outC; k++) {
        const v = at(y, x, c === 1 ? 0 : k) * scale;
        pixels[(y * w + x) * outC + k] = Number.isNaN(v) ? 0 : Math.trunc(Math.min(255, Math.max(0, v)));
      }
  return { pixels, h, w, c: outC };
}

/** A google.protobuf.Value for an hparam. */
function protoValue(v: number | string | boolean): ProtoWriter {
  if (typeof v === 'number') return pb().double(2, v);
  if (typeof v === 'string') return pb().string(3, v);
  return pb().varint(4, v);
}

const HPARAMS_TAGS = { experiment: '_hparams_/experiment', start: '_hparams_/session_start_info', end: '_hparams_/session_end_info' };

/** One event file, written in order. */
class EventFileWriter {
  readonly file: string;
  private fd: number | null;
  private pending: Buffer[] = [];
  private timer: NodeJS.Timeout | null = null;
  constructor(readonly logDir: string, private readonly maxQueue: number, private readonly flushSecs: number, suffix: string) {
    fs.mkdirSync(logDir, { recursive: true });
    const secs = Math.floor(Date.now() / 1000);
    this.file = path.join(logDir, `events.out.tfevents.${String(secs).padStart(10, '0')}.${os.hostname()}.${process.pid}.${fileCounter++}${suffix}`);
    this.fd = fs.openSync(this.file, 'wx');
    track(this);
    this.addEvent(pb().double(1, Date.now() / 1000).string(3, 'brain.Event:2'));
    this.flush();
  }
  addEvent(event: ProtoWriter): void {
    if (this.fd === null) throw ckError('ERR_ARG', `SummaryWriter: ${this.file} is closed`);
    this.pending.push(tfRecord(event.finish()));
    if (this.pending.length >= this.maxQueue) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.flushSecs * 1000);
      this.timer.unref();
    }
  }
  addSummary(summary: ProtoWriter, step: number | undefined, walltime: number | undefined): void {
    const e = pb().double(1, walltime ?? Date.now() / 1000);
    if (step !== undefined) {
      if (!Number.isSafeInteger(step)) throw ckError('ERR_ARG', `SummaryWriter: globalStep must be an integer, got ${step}`, 'RangeError');
      e.varint(2, step);
    }
    this.addEvent(e.message(5, summary));
  }
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.fd === null || !this.pending.length) return;
    const data = Buffer.concat(this.pending);
    this.pending = [];
    let off = 0;
    while (off < data.length) off += fs.writeSync(this.fd, data, off, data.length - off);
  }
  close(): void {
    if (this.fd === null) return;
    this.flush();
    fs.closeSync(this.fd);
    this.fd = null;
    open.delete(this);
  }
}

export class SummaryWriter {
  readonly logDir: string;
  private readonly opts: Required<Omit<SummaryWriterOptions, 'comment'>>;
  private main: EventFileWriter | null = null;
  /** addScalars' writers, one per `<main tag>_<tag>` folder. */
  private others = new Map<string, EventFileWriter>();
  private closed = false;

  constructor(logDir?: string, opts: SummaryWriterOptions = {}) {
    this.logDir = logDir ?? defaultLogDir(opts.comment ?? '');
    this.opts = { flushSecs: opts.flushSecs ?? 120, maxQueue: opts.maxQueue ?? 10, filenameSuffix: opts.filenameSuffix ?? '' };
    if (!(this.opts.maxQueue >= 1)) throw ckError('ERR_ARG', `SummaryWriter: maxQueue must be at least 1, got ${this.opts.maxQueue}`, 'RangeError');
    if (!(this.opts.flushSecs > 0)) throw ckError('ERR_ARG', `SummaryWriter: flushSecs must be positive, got ${this.opts.flushSecs}`, 'RangeError');
    this.writer(); // the file exists from the start, as PyTorch's does
  }

  getLogdir(): string {
    return this.logDir;
  }

  /** The main event file's path. */
  get file(): string {
    return this.writer().file;
  }

  private writer(): EventFileWriter {
    if (this.closed) throw ckError('ERR_ARG', `SummaryWriter for ${this.logDir} is closed`);
    if (!this.main) this.main = new EventFileWriter(this.logDir, this.opts.maxQueue, this.opts.flushSecs, this.opts.filenameSuffix);
    return this.main;
  }

  addScalar(tag: string, value: number | Tensor, globalStep?: number, walltime?: number): void {
    const v = scalarOf(value, `addScalar('${tag}')`);
    this.writer().addSummary(pb().message(1, pb().string(1, tag).float(2, v)), globalStep, walltime);
  }

  /**
   * Several scalars in one chart: as PyTorch, each goes to its own run folder `<logDir>/<mainTag>_<tag>`
   * under the tag mainTag.
   */
  addScalars(mainTag: string, tagScalarDict: Record<string, number | Tensor>, globalStep?: number, walltime?: number): void {
    this.writer();
    const wall = walltime ?? Date.now() / 1000;
    for (const [tag, value] of Object.entries(tagScalarDict)) {
      const v = scalarOf(value, `addScalars('${mainTag}', '${tag}')`);
      const dir = path.join(this.logDir, `${mainTag.replace(/\//g, '_')}_${tag}`);
      let w = this.others.get(dir);
      if (!w) this.others.set(dir, (w = new EventFileWriter(dir, this.opts.maxQueue, this.opts.flushSecs, this.opts.filenameSuffix)));
      w.addSummary(pb().message(1, pb().string(1, mainTag).float(2, v)), globalStep, wall);
    }
  }

  /** A histogram of `values` (TensorFlow's default buckets, or `bins` equal-width bins, or explicit edges). */
  addHistogram(tag: string, values: Tensor | ArrayLike<number>, globalStep?: number, opts: { bins?: HistogramBins; walltime?: number } = {}): void {
    const v = toNumbers(values, `addHistogram('${tag}')`);
    if (!v.length) throw ckError('ERR_ARG', `addHistogram('${tag}'): no values`, 'RangeError');
    const { limits, counts } = histogramBuckets(v, opts.bins ?? 'tensorflow');
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    let sumSq = 0;
    for (const x of v) {
      min = Math.min(min, x);
      max = Math.max(max, x);
      sum += x;
      sumSq += x * x;
    }
    const histo = pb().double(1, min).double(2, max).double(3, v.length).double(4, sum).double(5, sumSq).packedDoubles(6, limits).packedDoubles(7, counts);
    this.writer().addSummary(pb().message(1, pb().string(1, tag).message(5, histo)), globalStep, opts.walltime);
  }

  /**
   * An image, stored as PNG: a float tensor in [0, 1] (scaled by 255) or an int32 one in 0..255; CHW
   * (default), HWC or HW; 1 (written as RGB), 3 or 4 channels.
   */
  addImage(tag: string, img: Tensor, globalStep?: number, opts: { dataformats?: 'CHW' | 'HWC' | 'HW'; walltime?: number } = {}): void {
    const { pixels, h, w, c } = imageBytes(img, opts.dataformats ?? 'CHW');
    const image = pb().varint(1, h).varint(2, w).varint(3, c).bytes(4, encodePng(pixels, w, h, c));
    this.writer().addSummary(pb().message(1, pb().string(1, tag).message(4, image)), globalStep, opts.walltime);
  }

  /** Text (markdown) for the text plugin, under `<tag>/text_summary` as PyTorch writes it. */
  addText(tag: string, text: string, globalStep?: number, walltime?: number): void {
    if (typeof text !== 'string') throw ckError('ERR_ARG', `addText('${tag}'): text must be a string`, 'TypeError');
    const metadata = pb().message(1, pb().string(1, 'text').bytes(2, new Uint8Array(0)));
    // TensorProto: dtype DT_STRING (7), shape [1], string_val
    const tensor = pb().varint(1, 7).message(2, pb().message(2, pb().varint(1, 1))).bytes(8, Buffer.from(text, 'utf8'));
    this.writer().addSummary(pb().message(1, pb().string(1, `${tag}/text_summary`).message(9, metadata).message(8, tensor)), globalStep, walltime);
  }

  /**
   * Hyperparameters and their final metrics for TensorBoard's HParams tab: as PyTorch, an experiment,
   * a session start (the values) and a session end summary, and one scalar per metric, in a run folder
   * `<logDir>/<runName>` (default: the current time in seconds).
   */
  addHparams(hparamDict: Record<string, number | string | boolean | Tensor>, metricDict: Record<string, number | Tensor>, opts: { runName?: string } = {}): void {
    if (!hparamDict || typeof hparamDict !== 'object' || !metricDict || typeof metricDict !== 'object')
      throw ckError('ERR_ARG', 'addHparams: hparamDict and metricDict must be objects', 'TypeError');
    this.writer();
    const infos: ProtoWriter[] = [];
    const start = pb();
    for (const [k, raw] of Object.entries(hparamDict)) {
      if (raw === undefined || raw === null) continue;
      const v = raw instanceof Tensor ? scalarOf(raw, `addHparams('${k}')`) : raw;
      if (typeof v !== 'number' && typeof v !== 'string' && typeof v !== 'boolean')
        throw ckError('ERR_ARG', `addHparams: '${k}' must be a number, string, boolean or one-element tensor`, 'TypeError');
      // map<string, Value> entry: key = 1, value = 2
      start.message(1, pb().string(1, k).message(2, protoValue(v)));
      // HParamInfo: name, type (DATA_TYPE_STRING 1, BOOL 2, FLOAT64 3)
      infos.push(pb().string(1, k).varint(4, typeof v === 'string' ? 1 : typeof v === 'boolean' ? 2 : 3));
    }
    const experiment = pb();
    for (const info of infos) experiment.message(4, info);
    for (const k of Object.keys(metricDict)) experiment.message(5, pb().message(1, pb().string(2, k)));
    const hparamsSummary = (tag: string, field: number, data: ProtoWriter) => {
      // HParamsPluginData: version 0 (omitted, the proto3 default), then the one data field
      const content = pb().message(field, data).finish();
      const metadata = pb().message(1, pb().string(1, 'hparams').bytes(2, content));
      return pb().message(1, pb().string(1, tag).message(9, metadata));
    };
    const runName = opts.runName ?? String(Date.now() / 1000);
    const sub = new SummaryWriter(path.join(this.logDir, runName), { ...this.opts });
    try {
      const w = sub.writer();
      w.addSummary(hparamsSummary(HPARAMS_TAGS.experiment, 2, experiment), undefined, undefined);
      w.addSummary(hparamsSummary(HPARAMS_TAGS.start, 3, start), undefined, undefined);
      w.addSummary(hparamsSummary(HPARAMS_TAGS.end, 4, pb().varint(1, 1)), undefined, undefined); // STATUS_SUCCESS
      for (const [k, v] of Object.entries(metricDict)) sub.addScalar(k, v);
    } finally {
      sub.close();
    }
  }

  /** Writes every pending event to disk. */
  flush(): void {
    this.main?.flush();
    for (const w of this.others.values()) w.flush();
  }

  /** Flushes and closes the event files; the writer cannot be used afterwards. */
  close(): void {
    if (this.closed) return;
    this.main?.close();
    for (const w of this.others.values()) w.close();
    this.closed = true;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
