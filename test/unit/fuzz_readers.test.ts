/**
 * Fuzz corpora for every file reader: seeded mutations (bit flips, byte edits, truncations, length-field
 * edits, splices) of valid safetensors files, PyTorch checkpoints (zip and legacy), pickles (valid and
 * malicious), CIFAR-10 binary and python batches, IDX files (raw and gzipped) and PNG/JPEG images, each
 * fed to every load path. Every case must end in a well-formed result or an error whose `code` starts
 * with ERR_, in bounded time and memory. The valid seeds are written here: by hand (safetensors, IDX,
 * CIFAR binary, hostile pickles), by sharp (images) and by /usr/bin/python3 with torch and numpy
 * (checkpoints, CIFAR python batches), once, before the corpora are derived from them with a fixed seed.
 *
 * A watchdog thread (plain JS, no addon) guards what a test cannot: a case that hangs (no progress for
 * HANG_MS) or that takes the process past RSS_LIMIT kills the process with a message naming the case,
 * so a regression fails loudly instead of hanging CI or dying of an out-of-memory abort.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import * as zlib from 'zlib';
import * as ck from '../../lib';
import { zip } from '../helpers/zip_writer';

const { data, io } = ck;
jest.setTimeout(180000);

const PY = process.env.CONVKIT_TORCH_PYTHON ?? '/usr/bin/python3';
const SEED = 0x5eed;
/** A case that runs longer than this (no progress at all) is a hang. */
const HANG_MS = 20000;
/** No case may take more than this (asserted; the watchdog's HANG_MS is the hard stop). */
const CASE_MS = 5000;
/** The process's resident memory may not grow more than this above its level once the seeds are built. */
const RSS_GROWTH_LIMIT = 768 * 1024 * 1024;
/** The pixel cap images are decoded under here (4 Mpixel: at most 16 MB of decoded pixels per case). */
const FUZZ_MAX_PIXELS = 1 << 22;

// ---- seeded randomness and mutations ---------------------------------------------------------------

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Mutator = (b: Buffer, r: () => number, other: Buffer) => Buffer;
const int = (r: () => number, n: number) => Math.floor(r() * n);
const INTERESTING32 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

const MUTATORS: Record<string, Mutator> = {
  bitflip: (b, r) => {
    const o = Buffer.from(b);
    for (let k = 1 + int(r, 4); k > 0 && o.length; k--) o[int(r, o.length)] ^= 1 << int(r, 8);
    return o;
  },
  byte: (b, r) => {
    const o = Buffer.from(b);
    if (o.length) o[int(r, o.length)] = [0, 0xff, 0x7f, 0x80, 0x2e, 0x28, int(r, 256)][int(r, 7)];
    return o;
  },
  truncate: (b, r) => b.subarray(0, int(r, b.length)),
  length32: (b, r) => {
    // a 32-bit (or, at the start, 64-bit) length-like field set to an edge value
    const o = Buffer.from(b);
    if (o.length < 8) return o;
    const at = r() < 0.25 ? 0 : int(r, o.length - 4);
    const v = r() < 0.7 ? INTERESTING32[int(r, INTERESTING32.length)] : (o.readUInt32LE(at) + [1, -1, 8, -8][int(r, 4)]) >>> 0;
    if (r() < 0.5) o.writeUInt32LE(v, at);
    else o.writeUInt32BE(v, at);
    return o;
  },
  splice: (b, r, other) => {
    // the head of one valid file and the tail of another (or of itself, shifted)
    const src = r() < 0.5 ? other : b;
    return Buffer.concat([b.subarray(0, int(r, b.length + 1)), src.subarray(int(r, src.length + 1))]);
  },
  chunk: (b, r) => {
    // a chunk deleted or duplicated
    if (b.length < 2) return b;
    const i = int(r, b.length);
    const j = Math.min(b.length, i + 1 + int(r, 64));
    return r() < 0.5 ? Buffer.concat([b.subarray(0, i), b.subarray(j)]) : Buffer.concat([b.subarray(0, j), b.subarray(i, j), b.subarray(j)]);
  },
};
const MUTATOR_NAMES = Object.keys(MUTATORS);

/** n seeded mutants of the seeds, round-robin over seeds and mutators; each labelled for error messages. */
function mutants(seeds: Buffer[], n: number, seed: number): { label: string; bytes: Buffer }[] {
  const r = rng(seed);
  const out: { label: string; bytes: Buffer }[] = [];
  for (let i = 0; i < n; i++) {
    const s = i % seeds.length;
    const m = MUTATOR_NAMES[int(r, MUTATOR_NAMES.length)];
    let b = MUTATORS[m](seeds[s], r, seeds[int(r, seeds.length)]);
    // a quarter of the cases stack a second mutation
    if (r() < 0.25) b = MUTATORS[MUTATOR_NAMES[int(r, MUTATOR_NAMES.length)]](b, r, seeds[int(r, seeds.length)]);
    out.push({ label: `seed ${s} ${m} #${i}`, bytes: b });
  }
  return out;
}

// ---- valid seeds built here ------------------------------------------------------------------------

function safetensorsFile(entries: [string, string, number[], Buffer][], metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const [name, dtype, shape, bytes] of entries) {
    header[name] = { dtype, shape, data_offsets: [off, off + bytes.length] };
    off += bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...entries.map((e) => e[3])]);
}

function floats(n: number, r: () => number): Buffer {
  return Buffer.from(new Float32Array(Array.from({ length: n }, () => r() * 2 - 1)).buffer);
}

function idxFile(magic: number, dims: number[], r: () => number): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  const n = dims.reduce((a, b) => a * b, 1);
  return Buffer.concat([head, Buffer.from(Array.from({ length: n }, () => int(r, magic === 2049 ? 10 : 256)))]);
}

/** A zip of stored entries, as torch.save writes them (CRC-32 included). */
const storedZip = (entries: [string, Buffer][]): Buffer => zip(entries.map(([name, data]) => ({ name, data })));

const u32le = (v: number) => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255];
const pk = {
  str: (s: string) => [0x8c, Buffer.byteLength(s), ...Buffer.from(s)],
  global: (m: string, n: string) => [0x63, ...Buffer.from(`${m}\n${n}\n`)],
};

/** Pickles an attacker would write: every one must be refused, quickly, with ERR_FORMAT. */
function hostilePickles(): [string, Buffer][] {
  const P = (...ops: number[]) => Buffer.from(ops);
  const deepLists = (n: number) => Buffer.from([0x80, 2, ...Array<number>(n).fill(0x5d), ...Array<number>(n - 1).fill(0x61), 0x2e]);
  const bigText = Buffer.alloc(1 << 20, 0x41);
  return [
    ['GLOBAL os.system + REDUCE', P(0x80, 2, ...pk.global('os', 'system'), ...pk.str('echo pwned'), 0x85, 0x52, 0x2e)],
    ['GLOBAL posix.system', P(0x80, 2, ...pk.global('posix', 'system'), ...pk.str('id'), 0x85, 0x52, 0x2e)],
    ['STACK_GLOBAL builtins.eval', P(0x80, 4, ...pk.str('builtins'), ...pk.str('eval'), 0x93, ...pk.str('1+1'), 0x85, 0x52, 0x2e)],
    ['STACK_GLOBAL builtins.getattr', P(0x80, 4, ...pk.str('builtins'), ...pk.str('getattr'), 0x93, 0x2e)],
    ['REDUCE of numpy.ndarray (allowed, not callable)', P(0x80, 2, ...pk.global('numpy', 'ndarray'), 0x29, 0x52, 0x2e)],
    ['REDUCE of torch.FloatStorage', P(0x80, 2, ...pk.global('torch', 'FloatStorage'), 0x29, 0x52, 0x2e)],
    ['REDUCE of a string', P(0x80, 2, ...pk.str('os.system'), 0x29, 0x52, 0x2e)],
    ['INST', P(0x28, 0x69, ...Buffer.from('os\nsystem\n'), 0x2e)],
    ['OBJ', P(0x28, ...pk.global('os', 'system'), 0x6f, 0x2e)],
    ['NEWOBJ', P(0x80, 2, ...pk.global('subprocess', 'Popen'), 0x29, 0x81, 0x2e)],
    ['EXT1', P(0x80, 2, 0x82, 1, 0x2e)],
    ['PERSID', P(0x50, ...Buffer.from('x\n'), 0x2e)],
    ['BUILD on a global', P(0x80, 2, ...pk.global('numpy', 'ndarray'), 0x7d, 0x62, 0x2e)],
    ['BINSTRING of negative length (8 bytes)', P(0x80, 2, 0x54, 0xf6, 0xff, 0xff, 0xff, 0x2e)],
    ['BINSTRING of length -1', P(0x54, 0xff, 0xff, 0xff, 0xff, 0x2e, 0x2e, 0x2e)],
    ['BINBYTES of 4 GiB', P(0x80, 3, 0x42, 0xff, 0xff, 0xff, 0xff, 0x2e)],
    ['BINBYTES8 of 2^63', P(0x80, 4, 0x8e, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x2e)],
    ['BINUNICODE8 of 2^64-1', P(0x80, 4, 0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x2e)],
    ['FRAME of 2^62', P(0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x4e, 0x2e)],
    ['LONG1 of 255 bytes', Buffer.from([0x80, 2, 0x8a, 255, ...Array<number>(255).fill(0xff), 0x2e])],
    ['PROTO 6', P(0x80, 6, 0x4e, 0x2e)],
    ['LONG_BINPUT 0xffffffff then LONG_BINGET 0xfffffffe', P(0x80, 2, 0x4e, 0x72, ...u32le(0xffffffff), 0x6a, ...u32le(0xfffffffe), 0x2e)],
    ['200000 MARKs', Buffer.concat([P(0x80, 2), Buffer.alloc(200000, 0x28), P(0x2e)])],
    ['100000 nested lists', deepLists(100000)],
    ['2,000,000 DUPs', Buffer.concat([P(0x80, 2, 0x4e), Buffer.alloc(2_000_000, 0x32), P(0x2e)])],
    [
      // a memoised 1 MiB string encoded again and again: the copies would reach 4 GiB
      'codecs.encode of one memoised 1 MiB string, 4096 times',
      Buffer.concat([
        P(0x80, 2, ...pk.global('_codecs', 'encode'), 0x71, 1, 0x58, ...u32le(bigText.length)), bigText, P(0x71, 2, ...pk.str('latin1'), 0x71, 3, 0x30, 0x30, 0x30, 0x5d),
        Buffer.from(Array.from({ length: 4096 }, () => [0x68, 1, 0x68, 2, 0x68, 3, 0x86, 0x52, 0x61]).flat()), P(0x2e),
      ]),
    ],
    ['STOP on an empty stack', P(0x80, 2, 0x2e)],
    ['no STOP', P(0x80, 2, 0x4e)],
    ['a GLOBAL without a newline', Buffer.concat([P(0x63), Buffer.alloc(100000, 0x61)])],
  ];
}

// ---- seeds from Python -----------------------------------------------------------------------------

interface PySeeds {
  pthZip: Buffer[];
  pthLegacy: Buffer[];
  cifarPy: Buffer[];
  pickles: Buffer[];
}

function pythonSeeds(dir: string): PySeeds {
  const r = spawnSync(PY, ['-c', `
import io, os, pickle, sys, numpy as np, torch
d = sys.argv[1]
torch.manual_seed(0); rs = np.random.RandomState(0)
sd = {'conv.weight': torch.randn(2, 1, 3, 3), 'fc.weight': torch.randn(3, 4).t(), 'bn.num_batches_tracked': torch.tensor(7),
      'half': torch.randn(2, 3).half(), 'mask': torch.tensor([True, False, True]), 'idx': torch.arange(5), 'empty': torch.zeros(0, 3)}
torch.save(sd, os.path.join(d, 'sd.pth'))
torch.save({'epoch': 3, 'state_dict': {'w': torch.randn(4)}}, os.path.join(d, 'ckpt.pth'))
torch.save(sd, os.path.join(d, 'legacy.pth'), _use_new_zipfile_serialization=False)
batch = {b'batch_label': b'testing batch 1 of 1', b'labels': [3, 8, 0], b'data': rs.randint(0, 256, (3, 3072)).astype(np.uint8), b'filenames': [b'a.png', b'b.png', b'c.png']}
for p in (2, 4, 5):
    with open(os.path.join(d, 'cifar_p%d' % p), 'wb') as f: pickle.dump(batch, f, protocol=p)
for p in (2, 3, 4, 5):
    with open(os.path.join(d, 'plain_p%d' % p), 'wb') as f: pickle.dump({'a': [1, 2.5, None, True], 'b': (b'xy', 'z' * 300), 'c': {3: -70000}}, f, protocol=p)
`, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  const rd = (n: string) => fs.readFileSync(path.join(dir, n));
  return {
    pthZip: [rd('sd.pth'), rd('ckpt.pth')],
    pthLegacy: [rd('legacy.pth')],
    cifarPy: [rd('cifar_p2'), rd('cifar_p4'), rd('cifar_p5')],
    pickles: [rd('plain_p2'), rd('plain_p3'), rd('plain_p4'), rd('plain_p5')],
  };
}

async function imageSeeds(): Promise<{ png: Buffer[]; jpeg: Buffer[] }> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const sharp = require('sharp');
  const r = rng(SEED + 7);
  const raw = (w: number, h: number, c: number) => Buffer.from(Array.from({ length: w * h * c }, () => int(r, 256)));
  const mk = (w: number, h: number, c: number) => sharp(raw(w, h, c), { raw: { width: w, height: h, channels: c } });
  return {
    png: [await mk(7, 5, 3).png().toBuffer(), await mk(4, 4, 4).png().toBuffer(), await mk(6, 3, 1).png({ compressionLevel: 9 }).toBuffer()],
    jpeg: [await mk(9, 7, 3).jpeg({ quality: 80 }).toBuffer(), await mk(8, 8, 1).jpeg().toBuffer()],
  };
}

// ---- the watchdog ----------------------------------------------------------------------------------

const WATCHDOG = `
const { workerData } = require('worker_threads');
const fs = require('fs');
const beat = new Int32Array(workerData.sab, 0, 2);
const label = new Uint8Array(workerData.sab, 8);
let last = -1, since = Date.now();
setInterval(() => {
  const now = Date.now();
  const b = Atomics.load(beat, 0);
  const rss = process.memoryUsage.rss();
  const name = () => Buffer.from(label).toString('utf8').replace(/\\0.*$/s, '');
  let why = '';
  if (rss > workerData.rssLimit) why = 'resident memory ' + rss + ' bytes passed the limit of ' + workerData.rssLimit;
  if (b !== last) { last = b; since = now; }
  else if (Atomics.load(beat, 1) === 1 && now - since > workerData.hangMs) why = 'no progress for ' + (now - since) + ' ms';
  if (why) {
    fs.writeSync(2, '\\n[fuzz watchdog] ' + why + ' in case: ' + name() + '\\n');
    process.kill(process.pid, 'SIGKILL');
  }
}, 50);
`;

class Watchdog {
  private readonly sab = new SharedArrayBuffer(8 + 256);
  private readonly beat = new Int32Array(this.sab, 0, 2);
  private readonly label = new Uint8Array(this.sab, 8);
  private readonly worker: Worker;
  constructor(rssLimit: number) {
    this.worker = new Worker(WATCHDOG, { eval: true, workerData: { sab: this.sab, rssLimit, hangMs: HANG_MS } });
    this.worker.unref();
  }
  enter(name: string): void {
    this.label.fill(0);
    this.label.set(Buffer.from(name.slice(0, 250)));
    Atomics.store(this.beat, 1, 1);
    Atomics.add(this.beat, 0, 1);
  }
  leave(): void {
    Atomics.store(this.beat, 1, 0);
    Atomics.add(this.beat, 0, 1);
  }
  stop(): Promise<number> {
    return this.worker.terminate();
  }
}

// ---- running a corpus ------------------------------------------------------------------------------

type Path = (bytes: Buffer, c: { file: (name: string) => string }) => unknown;

interface Tally {
  cases: number;
  runs: number;
  loaded: number;
  refused: Record<string, number>;
  /** The first few cases that loaded, for messages. */
  loadedLabels: string[];
}

const product = (a: readonly number[]) => a.reduce((x, y) => x * y, 1);

/** Checks that a load that succeeded gave a well-formed result, and frees it. */
function checkLoaded(v: unknown): void {
  if (v === undefined) throw new Error('a load returned undefined');
  const w = v as ck.io.WeightFile;
  if (v && typeof v === 'object' && 'tensors' in w && w.tensors instanceof Map) {
    try {
      for (const [name, t] of w.tensors) {
        if (!(t instanceof ck.Tensor)) throw new Error(`'${name}' is not a Tensor`);
        if (t.numel() !== product(t.shape) || (t.dtype !== 'float32' && t.dtype !== 'int32')) throw new Error(`'${name}' is malformed`);
        if (t.dataSync().length !== t.numel()) throw new Error(`'${name}' has the wrong amount of data`);
      }
    } finally {
      w.dispose();
    }
    return;
  }
  if (v instanceof data.CIFAR10) {
    if (v.data.length !== v.length * 3072 || v.targets.some((l) => l > 9)) throw new Error('a malformed CIFAR10');
    return;
  }
  const idx = v as ck.data.IdxArray;
  if (v && typeof v === 'object' && 'dims' in idx && Array.isArray(idx.dims)) {
    if (idx.data.length !== product(idx.dims)) throw new Error('a malformed IDX array');
    return;
  }
  const img = v as { data: Uint8Array; height: number; width: number; channels: number };
  if (v && typeof v === 'object' && 'channels' in img) {
    if (img.channels !== 3 || img.height < 1 || img.width < 1 || img.data.length !== img.height * img.width * 3) throw new Error('a malformed image');
  }
}

describe('fuzzed readers: only coded errors or well-formed results, in bounded time and memory', () => {
  let tmp = '';
  let watchdog: Watchdog;
  let baseRss = 0;
  let peakRss = 0;
  let slowest = { ms: 0, label: '' };
  const tallies: Record<string, Tally> = {};
  const failures: string[] = [];
  let seeds: PySeeds & { png: Buffer[]; jpeg: Buffer[]; safetensors: Buffer[]; idxRaw: Buffer[]; idxGz: Buffer[]; cifarBin: Buffer[]; hostile: [string, Buffer][] };

  beforeAll(async () => {
    // The file-based paths write thousands of small files: a RAM disk when there is one (opening a file
    // on a busy disk can take milliseconds, which would dominate the run).
    let base = os.tmpdir();
    try {
      fs.accessSync('/dev/shm', fs.constants.W_OK);
      base = '/dev/shm';
    } catch {
      /* no RAM disk: the usual temporary folder */
    }
    tmp = fs.mkdtempSync(path.join(base, 'ck-fuzz-'));
    const r = rng(SEED);
    const half = Buffer.from(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001]).buffer);
    const i64 = Buffer.from(new BigInt64Array([1n, -2n, 3n]).buffer);
    const safetensors = [
      safetensorsFile([['w', 'F32', [2, 3], floats(6, r)], ['b', 'F32', [3], floats(3, r)]]),
      safetensorsFile([['h', 'F16', [2, 2], half], ['n', 'I64', [3], i64], ['i', 'I32', [2], Buffer.from(new Int32Array([5, -6]).buffer)]], { format: 'pt' }),
      safetensorsFile([['s', 'BF16', [], Buffer.from([0x80, 0x3f])], ['e', 'F32', [0, 4], Buffer.alloc(0)]]),
    ];
    const idxRaw = [idxFile(2051, [3, 4, 5], r), idxFile(2049, [7], r), idxFile(2051, [1, 28, 28], r)];
    const cifarBin = [Buffer.concat(Array.from({ length: 3 }, (_, i) => Buffer.from([i * 3, ...Array.from({ length: 3072 }, () => int(r, 256))])))];
    seeds = {
      ...pythonSeeds(tmp),
      ...(await imageSeeds()),
      safetensors,
      idxRaw,
      idxGz: idxRaw.map((b) => zlib.gzipSync(b)),
      cifarBin,
      hostile: hostilePickles(),
    };
    // warm up every path once, so that lazily loaded code does not count as growth
    io.parseSafetensors(safetensors[0]).dispose();
    io.parseTorch(seeds.pthZip[0]).dispose();
    baseRss = process.memoryUsage.rss();
    peakRss = baseRss;
    watchdog = new Watchdog(baseRss + RSS_GROWTH_LIMIT);
  });

  afterAll(async () => {
    await watchdog?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
    const rows = Object.entries(tallies).map(([k, t]) => `${k}: ${t.cases} cases, ${t.runs} loads (${t.loaded} loaded, refused ${JSON.stringify(t.refused)})`);
    const total = Object.values(tallies).reduce((a, t) => a + t.cases, 0);
    // eslint-disable-next-line no-console
    console.log(`fuzz corpora: ${total} cases\n${rows.join('\n')}\nslowest case ${slowest.ms.toFixed(0)} ms (${slowest.label}); peak RSS ${((peakRss - baseRss) / 2 ** 20).toFixed(0)} MiB above the start`);
  });

  /** Feeds each case to each path; records anything but a coded error or a well-formed result. */
  async function runCorpus(format: string, cases: { label: string; bytes: Buffer }[], paths: Record<string, Path>): Promise<Tally> {
    const t: Tally = (tallies[format] = { cases: cases.length, runs: 0, loaded: 0, refused: {}, loadedLabels: [] });
    const fileFor = (name: string) => path.join(tmp, format.replace(/\W+/g, '_'), name);
    fs.mkdirSync(fileFor(''), { recursive: true });
    for (const c of cases) {
      for (const [pname, run] of Object.entries(paths)) {
        const label = `${format} ${c.label} via ${pname}`;
        watchdog.enter(label);
        const t0 = performance.now();
        try {
          let v = run(c.bytes, { file: fileFor });
          if (v instanceof Promise) v = await v;
          checkLoaded(v);
          t.loaded++;
          if (t.loadedLabels.length < 20) t.loadedLabels.push(label);
        } catch (e) {
          const code = (e as { code?: unknown }).code;
          if (typeof code === 'string' && code.startsWith('ERR_')) t.refused[code] = (t.refused[code] ?? 0) + 1;
          else failures.push(`${label}: uncoded ${(e as Error)?.constructor?.name}: ${String((e as Error)?.message ?? e).slice(0, 200)}`);
        }
        const ms = performance.now() - t0;
        watchdog.leave();
        t.runs++;
        if (ms > slowest.ms) slowest = { ms, label };
        const rss = process.memoryUsage.rss();
        if (rss > peakRss) peakRss = rss;
      }
    }
    return t;
  }

  // The in-memory parsers every corpus goes through, whatever its format.
  const bufferPaths: Record<string, Path> = {
    parseSafetensors: (b) => io.parseSafetensors(b, 'case'),
    parseTorch: (b) => io.parseTorch(b, 'case'),
    parseWeights: (b) => io.parseWeights(b, 'case'),
    unpickle: (b) => data.unpickle(b, 'case'),
  };
  const writeThen = <T>(name: string, read: (file: string) => T): Path => (b, c) => {
    const f = c.file(name);
    fs.writeFileSync(f, b);
    return read(f);
  };
  const cifarPython: Path = (b, c) => {
    const dir = c.file('cifar-10-batches-py');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'test_batch'), b);
    return new data.CIFAR10(c.file(''), { train: false });
  };
  const cifarBinary: Path = (b, c) => {
    const dir = c.file('cifar-10-batches-bin');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), b);
    return new data.CIFAR10(c.file(''), { train: false });
  };
  // a pickle as a checkpoint's data.pkl: what the torch reader's unpickler sees
  const asCheckpoint: Path = (b) => io.parseTorch(storedZip([['archive/data.pkl', b], ['archive/version', Buffer.from('3\n')]]), 'case');
  const openWeights = writeThen('w.bin', (f) => ck.models.openWeights(f));
  const idxImages = writeThen('x-idx', (f) => data.readIdx(f, 2051));
  const idxLabels = writeThen('y-idx', (f) => data.readIdx(f, 2049));
  const image = (ext: string): Path => (b, c) => {
    const f = c.file(`img${ext}`);
    fs.writeFileSync(f, b);
    // A mutated header may declare any size under the cap, and the decoder then fills that many pixels:
    // the cap is the allocation bound (its default, 178,956,970 pixels, has its own test in data.test.ts).
    return data.decodeImage(f, { maxPixels: FUZZ_MAX_PIXELS });
  };
  const after = () => {
    expect(failures).toEqual([]);
    expect(slowest.ms).toBeLessThan(CASE_MS);
    expect(peakRss - baseRss).toBeLessThan(RSS_GROWTH_LIMIT);
  };

  test('safetensors: 1,200 mutants through every weight reader', async () => {
    const t = await runCorpus('safetensors', mutants(seeds.safetensors, 1200, SEED + 1), { ...bufferPaths, openWeights });
    expect(t.loaded).toBeGreaterThan(0);
    after();
  });

  test('.pth (zip): 1,000 mutants through every weight reader', async () => {
    const t = await runCorpus('pth-zip', mutants(seeds.pthZip, 1000, SEED + 2), { ...bufferPaths, openWeights });
    expect(t.loaded).toBeGreaterThan(0);
    after();
  });

  test('.pth (legacy): 300 mutants, refused as the legacy format or as corrupt', async () => {
    await runCorpus('pth-legacy', mutants(seeds.pthLegacy, 300, SEED + 3), { ...bufferPaths, openWeights });
    after();
  });

  test('pickles: valid ones and their mutants load or are refused; hostile ones and theirs are refused', async () => {
    const hostile = seeds.hostile.map(([label, bytes]) => ({ label, bytes }));
    const hostilePaths = { ...bufferPaths, asCheckpoint, cifarPython, openWeights };
    const th = await runCorpus('pickle-hostile', hostile, hostilePaths);
    expect(th.loadedLabels).toEqual([]); // not one of them may load, through any path
    // a list that contains itself is plain data: unpickle gives it back as such; a checkpoint refuses it
    const cyclic = Buffer.from([0x80, 2, 0x5d, 0x71, 0, 0x68, 0, 0x61, 0x2e]);
    const l = data.unpickle(cyclic, 'cyclic') as unknown[];
    expect(l.length).toBe(1);
    expect(l[0]).toBe(l);
    expect(() => io.parseTorch(storedZip([['archive/data.pkl', cyclic]]), 'cyclic')).toThrow(expect.objectContaining({ code: 'ERR_FORMAT' }));
    await runCorpus('pickle-hostile-mutants', mutants(hostile.filter((h) => h.bytes.length < 4096).map((h) => h.bytes), 600, SEED + 4), { ...bufferPaths, asCheckpoint });
    const tv = await runCorpus('pickle-valid', mutants(seeds.pickles, 600, SEED + 5), { ...bufferPaths, asCheckpoint });
    expect(tv.loaded).toBeGreaterThan(0);
    after();
  });

  test('CIFAR-10: 800 python and 500 binary batch mutants', async () => {
    const tp = await runCorpus('cifar-python', mutants(seeds.cifarPy, 800, SEED + 6), { cifarPython, unpickle: bufferPaths.unpickle });
    const tb = await runCorpus('cifar-binary', mutants(seeds.cifarBin, 500, SEED + 7), { cifarBinary, cifarPython });
    expect(tp.loaded).toBeGreaterThan(0);
    expect(tb.loaded).toBeGreaterThan(0);
    after();
  });

  test('IDX: 600 raw and 600 gzipped mutants', async () => {
    const tr = await runCorpus('idx-raw', mutants(seeds.idxRaw, 600, SEED + 8), { idxImages, idxLabels });
    const tg = await runCorpus('idx-gz', mutants(seeds.idxGz, 600, SEED + 9), { idxImages, idxLabels });
    expect(tr.loaded + tg.loaded).toBeGreaterThan(0);
    after();
  });

  test('images: 500 PNG and 400 JPEG mutants through decodeImage', async () => {
    const tp = await runCorpus('png', mutants(seeds.png, 500, SEED + 10), { decodeImage: image('.png') });
    const tj = await runCorpus('jpeg', mutants(seeds.jpeg, 400, SEED + 11), { decodeImage: image('.jpg') });
    expect(tp.loaded + tj.loaded).toBeGreaterThan(0);
    after();
  });

  test('every format through every other format\'s reader (200 cases each)', async () => {
    const all = [...seeds.safetensors, ...seeds.pthZip, ...seeds.cifarPy, ...seeds.cifarBin, ...seeds.idxGz, ...seeds.png, ...seeds.jpeg];
    const cross = mutants(all, 200, SEED + 12);
    await runCorpus('cross', [...all.map((bytes, i) => ({ label: `seed ${i} unmutated`, bytes })), ...cross], {
      ...bufferPaths, openWeights, cifarPython, cifarBinary, idxImages, decodeImage: image('.png'),
    });
    after();
  });
});

describe('what a fuzzer found, pinned', () => {
  test('a .pth bool storage holding bytes above 1 loads as torch.load gives it: 0/1', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ck-bool-'));
    try {
      const f = path.join(dir, 'bool.pth');
      // torch.save a bool tensor, then rewrite its storage bytes to 2, 0, 255, 1 (CRC kept valid by zipfile)
      const r = spawnSync(PY, ['-c', `
import io, json, sys, zipfile, torch
buf = io.BytesIO(); torch.save({'mask': torch.tensor([True, False, True, True])}, buf)
src = zipfile.ZipFile(io.BytesIO(buf.getvalue())); out = io.BytesIO()
with zipfile.ZipFile(out, 'w', zipfile.ZIP_STORED) as z:
    for n in src.namelist(): z.writestr(n, bytes([2, 0, 255, 1]) if n.endswith('/data/0') else src.read(n))
open(sys.argv[1], 'wb').write(out.getvalue())
m = torch.load(sys.argv[1])['mask']
print(json.dumps({'int': m.to(torch.int32).tolist(), 'float': m.float().tolist(), 'sum': int(m.sum())}))`, f], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
      const ref = JSON.parse(r.stdout) as { int: number[]; float: number[]; sum: number };
      const w = io.loadTorch(f);
      const m = w.tensors.get('mask')!;
      expect(w.dtypes.get('mask')).toBe('BOOL');
      expect(m.toArray()).toEqual(ref.int);
      const sum = m.sum();
      expect(sum.item()).toBe(ref.sum);
      sum.dispose();
      w.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
