/**
 * Weight-file readers against corrupt and hostile input: every file built here (safetensors with bad
 * headers and offsets, zips without data.pkl or with bombs, pickles that try to import and call
 * os.system / builtins.eval, unknown opcodes, deep nesting, enormous lengths) must give an ERR_FORMAT
 * error, quickly, and never crash or hang; valid files built by hand must load exactly. No Python.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ck from '../../lib';
import { crc32, zip, ZipIn } from '../helpers/zip_writer';

const { io } = ck;
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-weights-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let fileNo = 0;
function file(bytes: Uint8Array | number[], ext: string): string {
  const p = path.join(dir, `f${fileNo++}.${ext}`);
  fs.writeFileSync(p, Buffer.from(bytes as Uint8Array));
  return p;
}

/** Runs load and expects an ERR_FORMAT error whose message matches, within 3 s (a hang or a blow-up, not a busy CI machine). */
function expectFormatError(load: () => unknown, message: RegExp): void {
  const t0 = Date.now();
  let err: unknown = null;
  try {
    const r = load() as { dispose?: () => void } | undefined;
    r?.dispose?.();
  } catch (e) {
    err = e;
  }
  const ms = Date.now() - t0;
  if (err === null) throw new Error(`expected an ERR_FORMAT error matching ${message}, but it loaded`);
  const e = err as { code?: string; message: string };
  if (e.code !== 'ERR_FORMAT') throw new Error(`expected ERR_FORMAT, got ${e.code}: ${e.message}`);
  expect(e.message).toMatch(message);
  expect(ms).toBeLessThan(3000);
}

// ---- safetensors builders --------------------------------------------------------------------------

function safetensors(header: unknown, data: Buffer = Buffer.alloc(0), opts: { lenOverride?: bigint; raw?: string } = {}): Buffer {
  const text = Buffer.from(opts.raw ?? JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(opts.lenOverride ?? BigInt(text.length));
  return Buffer.concat([len, text, data]);
}
const f32 = (...v: number[]) => Buffer.from(new Float32Array(v).buffer);

describe('safetensors: corrupt files are ERR_FORMAT errors', () => {
  const good = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } };
  const data = f32(1, 2, 3);
  const cases: [string, Buffer, RegExp][] = [
    ['an empty file', Buffer.alloc(0), /too short for the 8-byte header length/],
    ['a 4-byte file', Buffer.from([1, 2, 3, 4]), /too short/],
    ['a header length larger than the file', safetensors(good, data, { lenOverride: 1000n }), /header length 1000 is larger than the file/],
    ['a huge header length (2^40)', safetensors(good, data, { lenOverride: 1n << 40n }), /absurd/],
    ['a header length of 2^64-1', safetensors(good, data, { lenOverride: (1n << 64n) - 1n }), /absurd/],
    ['a header length just over 100 MB', safetensors(good, data, { lenOverride: 100n * 1024n * 1024n + 1n }), /absurd/],
    ['invalid JSON', safetensors(null, data, { raw: '{"a": {"dtype": "F32",' }), /not valid JSON/],
    ['a JSON array', safetensors([1, 2], data), /not a JSON object/],
    ['JSON null', safetensors(null, data), /not a JSON object/],
    ['invalid UTF-8', Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe])]), /not valid UTF-8/],
    ['an unknown dtype', safetensors({ a: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, f32(1, 2)), /unknown or unsupported dtype 'Q4'/],
    ['a dtype that is not a string', safetensors({ a: { dtype: 7, shape: [2], data_offsets: [0, 8] } }, f32(1, 2)), /dtype is number/],
    ['an unsupported dtype (F64)', safetensors({ a: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, f32(1, 2)), /unsupported dtype 'F64'/],
    ['shape x dtype != byte length', safetensors({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32(1, 2)), /needs 12 bytes, but data_offsets \[0, 8\] hold 8/],
    ['offsets past the data', safetensors({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, f32(1, 2)), /out of range/],
    ['begin after end', safetensors({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, f32(1, 2)), /not ordered/],
    ['overlapping tensors', safetensors({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32(1, 2, 3)), /overlaps/],
    ['a gap between tensors', safetensors({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, f32(1, 2, 3)), /belong to no tensor/],
    ['a gap at the start', safetensors({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32(1, 2)), /bytes \[0, 4\)/],
    ['data not covering the buffer', safetensors(good, f32(1, 2, 3, 4)), /data not covering the buffer/],
    ['a negative shape', safetensors({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1)), /not a list of non-negative integers/],
    ['a fractional shape', safetensors({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, f32(1)), /not a list of non-negative integers/],
    ['an overflowing shape', safetensors({ a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 4] } }, f32(1)), /too large|needs/],
    ['data_offsets of one number', safetensors({ a: { dtype: 'F32', shape: [1], data_offsets: [4] } }, f32(1)), /not a pair/],
    ['an entry that is a string', safetensors({ a: 'x' }, f32(1)), /not an object/],
    ['a non-string metadata value', safetensors({ __metadata__: { epoch: 3 }, ...good }, data), /__metadata__ value 'epoch'/],
    ['metadata that is a list', safetensors({ __metadata__: ['x'], ...good }, data), /__metadata__ is an array/],
    ['9 dimensions', safetensors({ a: { dtype: 'F32', shape: [1, 1, 1, 1, 1, 1, 1, 1, 1], data_offsets: [0, 4] } }, f32(1)), /at most 8/],
    ['an I64 beyond int32', safetensors({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, Buffer.from(new BigInt64Array([1n << 40n]).buffer)), /outside the int32 range/],
  ];
  test.each(cases)('%s', (_, bytes, message) => {
    const p = file(bytes, 'safetensors');
    expectFormatError(() => io.loadSafetensors(p), message);
  });

  test('every truncation of a valid file is ERR_FORMAT', () => {
    const bytes = safetensors({ __metadata__: { k: 'v' }, ...good }, data);
    for (let n = 0; n < bytes.length; n++) {
      const b = bytes.subarray(0, n);
      expectFormatError(() => io.parseSafetensors(Buffer.from(b), `prefix ${n}`), /./);
    }
  });

  test('random byte corruption loads or is ERR_FORMAT, never anything else', () => {
    const bytes = safetensors({ __metadata__: { k: 'v' }, ...good }, data);
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 500; i++) {
      const b = Buffer.from(bytes);
      for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      try {
        io.parseSafetensors(b, 'fuzz').dispose();
      } catch (e) {
        expect((e as { code?: string }).code).toBe('ERR_FORMAT');
      }
    }
  });
});

describe('safetensors: valid files', () => {
  test('F32/F16/BF16/I64/I32, a 0-d and an empty tensor, an unaligned header', () => {
    const half = Buffer.from(new Uint16Array([0x3c00, 0xc000, 0x7c00, 0x0001, 0x7bff]).buffer); // 1, -2, inf, 2^-24, 65504
    const bf = Buffer.from(new Uint16Array([0x3f80, 0xc040, 0x0000]).buffer); // 1, -3, 0
    const i64 = Buffer.from(new BigInt64Array([-5n, 2147483647n]).buffer);
    const i32 = Buffer.from(new Int32Array([7]).buffer);
    const parts = [f32(1.5, -2.5), half, bf, i64, i32];
    let off = 0;
    const at = (n: number) => [off, (off += n)];
    const header = {
      __metadata__: { format: 'pt' },
      f: { dtype: 'F32', shape: [2], data_offsets: at(8) },
      h: { dtype: 'F16', shape: [5], data_offsets: at(10) },
      b: { dtype: 'BF16', shape: [3], data_offsets: at(6) },
      l: { dtype: 'I64', shape: [2, 1], data_offsets: at(16) },
      s: { dtype: 'I32', shape: [], data_offsets: at(4) },
      e: { dtype: 'F32', shape: [0, 3], data_offsets: [off, off] },
    };
    // A header of odd length puts the data at an unaligned address: the reader must copy, not fail.
    let raw = JSON.stringify(header);
    if ((8 + raw.length) % 2 === 0) raw += ' ';
    const w = io.parseSafetensors(safetensors(null, Buffer.concat(parts), { raw }), 'hand-built');
    const get = (k: string) => Array.from(w.tensors.get(k)!.dataSync());
    expect(get('f')).toEqual([1.5, -2.5]);
    expect(get('h')).toEqual([1, -2, Infinity, 2 ** -24, 65504]);
    expect(get('b')).toEqual([1, -3, 0]);
    expect(get('l')).toEqual([-5, 2147483647]);
    expect(w.tensors.get('l')!.dtype).toBe('int32');
    expect(w.tensors.get('l')!.shape).toEqual([2, 1]);
    expect(w.tensors.get('s')!.shape).toEqual([]);
    expect(get('s')).toEqual([7]);
    expect(w.tensors.get('e')!.shape).toEqual([0, 3]);
    expect(w.metadata).toEqual({ format: 'pt' });
    expect(w.dtypes.get('h')).toBe('F16');
    w.dispose();
  });

  test('save then load round-trips, aligned, atomically', () => {
    const p = path.join(dir, 'round.safetensors');
    const a = ck.randn([3, 4]);
    const n = ck.tensor([3], { dtype: 'int32' }).reshape([]);
    io.saveSafetensors(p, { 'layer.weight': a, 'bn.num_batches_tracked': n }, { note: 'hi' });
    const bytes = fs.readFileSync(p);
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString());
    expect(header['bn.num_batches_tracked']).toEqual({ dtype: 'I64', shape: [], data_offsets: [48, 56] });
    const w = io.loadSafetensors(p);
    expect(Array.from(w.tensors.get('layer.weight')!.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(Array.from(w.tensors.get('bn.num_batches_tracked')!.dataSync())).toEqual([3]);
    expect(w.metadata).toEqual({ note: 'hi' });
    w.dispose();
    // Names come from files: '__proto__' is a name like any other, never the object's prototype.
    io.saveSafetensors(p, new Map([['__proto__', a], ['constructor', n]]), { __proto__: 'm' } as unknown as Record<string, string>);
    const odd = io.loadSafetensors(p);
    expect([...odd.tensors.keys()]).toEqual(['__proto__', 'constructor']);
    odd.dispose();
    io.saveSafetensors(p, new Map([['x', n]]), {}, { intDtype: 'I32' });
    const w2 = io.loadSafetensors(p);
    expect(w2.dtypes.get('x')).toBe('I32');
    w2.dispose();
    // A save that fails half-way leaves the previous file whole and no temporary behind.
    const gone = ck.zeros([2]);
    gone.dispose();
    expect(() => io.saveSafetensors(p, { ok: a, gone })).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
    expect(io.loadSafetensors(p).tensors.has('x')).toBe(true);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    a.dispose();
    n.dispose();
  });
});

// ---- zip and pickle builders ---------------------------------------------------------------------

const u32 = (v: number) => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255];
const P = {
  proto: [0x80, 2],
  stop: [0x2e],
  mark: [0x28],
  tuple: [0x74],
  emptyTuple: [0x29],
  emptyDict: [0x7d],
  emptyList: [0x5d],
  reduce: [0x52],
  persid: [0x51],
  setitem: [0x73],
  setitems: [0x75],
  append: [0x61],
  newfalse: [0x89],
  none: [0x4e],
  str: (s: string) => {
    const b = Buffer.from(s, 'utf8');
    return [0x58, ...u32(b.length), ...b];
  },
  int: (v: number) => (v < 256 ? [0x4b, v] : [0x4a, ...u32(v)]),
  global: (m: string, n: string) => [0x63, ...Buffer.from(`${m}\n${n}\n`)],
  ints: (v: number[]) => [0x28, ...v.flatMap((x) => P.int(x)), 0x74],
};

/** The pickle bytes of _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()). */
function tensorOps(t: { key: string; type?: string; typeModule?: string; numel: number; offset?: number; size: number[]; stride: number[] }): number[] {
  return [
    ...P.global('torch._utils', '_rebuild_tensor_v2'),
    ...P.mark,
    ...P.mark, ...P.str('storage'), ...P.global(t.typeModule ?? 'torch', t.type ?? 'FloatStorage'), ...P.str(t.key), ...P.str('cpu'), ...P.int(t.numel), ...P.tuple,
    ...P.persid,
    ...P.int(t.offset ?? 0), ...P.ints(t.size), ...P.ints(t.stride), ...P.newfalse,
    ...P.global('collections', 'OrderedDict'), ...P.emptyTuple, ...P.reduce,
    ...P.tuple,
    ...P.reduce,
  ];
}

function stateDictPickle(items: [string, number[]][]): Buffer {
  return Buffer.from([...P.proto, ...P.emptyDict, ...P.mark, ...items.flatMap(([k, v]) => [...P.str(k), ...v]), ...P.setitems, ...P.stop]);
}

const storage12 = Buffer.from(new Float32Array(Array.from({ length: 12 }, (_, i) => i)).buffer);
function checkpoint(pkl: Buffer | number[], extra: ZipIn[] = [], opts: { deflate?: boolean } = {}): Buffer {
  return zip([
    { name: 'archive/data.pkl', data: Buffer.from(pkl as number[]), deflate: opts.deflate },
    { name: 'archive/data/0', data: storage12, deflate: opts.deflate },
    ...extra,
    { name: 'archive/version', data: Buffer.from('3\n') },
  ]);
}

describe('loadTorch: valid checkpoints built by hand', () => {
  const pkl = stateDictPickle([
    ['t', tensorOps({ key: '0', numel: 12, size: [4, 3], stride: [1, 4] })], // a transposed view
    ['rows', tensorOps({ key: '0', numel: 12, offset: 4, size: [2, 4], stride: [4, 1] })], // offset into a shared storage
    ['h', tensorOps({ key: '1', type: 'HalfStorage', numel: 2, size: [2], stride: [1] })],
    ['n', tensorOps({ key: '2', type: 'LongStorage', numel: 1, size: [], stride: [] })],
  ]);
  const extra = [
    { name: 'archive/data/1', data: Buffer.from(new Uint16Array([0x3c00, 0xc000]).buffer) },
    { name: 'archive/data/2', data: Buffer.from(new BigInt64Array([42n]).buffer) },
  ];
  for (const deflate of [false, true]) {
    test(`strides, offsets, shared storages, half and int64 (${deflate ? 'deflated' : 'stored'})`, () => {
      const p = file(checkpoint(pkl, extra.map((e) => ({ ...e, deflate })), { deflate }), 'pth');
      const w = io.loadTorch(p);
      expect([...w.tensors.keys()]).toEqual(['t', 'rows', 'h', 'n']);
      expect(w.tensors.get('t')!.toArray()).toEqual([[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]]);
      expect(w.tensors.get('rows')!.toArray()).toEqual([[4, 5, 6, 7], [8, 9, 10, 11]]);
      expect(w.tensors.get('h')!.toArray()).toEqual([1, -2]);
      expect(w.tensors.get('n')!.dtype).toBe('int32');
      expect(w.tensors.get('n')!.toArray()).toEqual(42);
      expect(w.dtypes.get('h')).toBe('F16');
      w.dispose();
    });
  }

  test('a training checkpoint: the nested state dict, scalars as metadata', () => {
    const inner = [...P.emptyDict, ...P.str('w'), ...tensorOps({ key: '0', numel: 12, size: [12], stride: [1] }), ...P.setitem];
    const pkl2 = Buffer.from([...P.proto, ...P.emptyDict, ...P.str('epoch'), ...P.int(7), ...P.setitem, ...P.str('state_dict'), ...inner, ...P.setitem, ...P.stop]);
    const w = io.loadTorch(file(checkpoint(pkl2), 'pth'));
    expect([...w.tensors.keys()]).toEqual(['w']);
    expect(w.metadata).toEqual({ epoch: '7', state_dict_key: 'state_dict' });
    w.dispose();
  });
});

describe('loadTorch: hostile and corrupt checkpoints are ERR_FORMAT errors', () => {
  const t0 = tensorOps({ key: '0', numel: 12, size: [12], stride: [1] });
  const pk = (...ops: number[][]) => Buffer.from([...P.proto, ...ops.flat(), ...P.stop]);
  const call = (m: string, n: string) => [...P.global(m, n), ...P.str('echo pwned'), 0x85 /* TUPLE1 */, ...P.reduce];
  const deepTuples = Buffer.from([...P.proto, ...P.emptyDict, ...P.str('x'), ...P.none, ...new Array(200000).fill(0x85), ...P.setitem, ...P.stop]);
  const deepLists = Buffer.from([...P.proto, ...P.emptyDict, ...P.str('x'), ...new Array(100000).fill(0x5d), ...new Array(99999).fill(0x61), ...P.setitem, ...P.stop]);
  const selfRef = pk(P.emptyDict, [0x71, 0], P.str('self'), [0x68, 0], P.setitem);
  const pickles: [string, Buffer, RegExp][] = [
    ['os.system through GLOBAL + REDUCE', pk(call('os', 'system')), /global 'os\.system' is not allowed/],
    ['posix.system', pk(call('posix', 'system')), /'posix\.system' is not allowed/],
    ['subprocess.Popen', pk(call('subprocess', 'Popen')), /'subprocess\.Popen' is not allowed/],
    ['builtins.eval through STACK_GLOBAL', pk([0x8c, 8, ...Buffer.from('builtins'), 0x8c, 4, ...Buffer.from('eval'), 0x93], P.str('1+1'), [0x85], P.reduce), /'builtins\.eval' is not allowed/],
    ['builtins.getattr', pk(call('builtins', 'getattr')), /'builtins\.getattr' is not allowed/],
    ['torch.load', pk(call('torch', 'load')), /'torch\.load' is not allowed/],
    ['a storage class called through REDUCE', pk(P.global('torch', 'FloatStorage'), P.emptyTuple, P.reduce), /may appear in a state dict but not be called/],
    ['calling a string', pk(P.str('os.system'), P.emptyTuple, P.reduce), /calls a str, which is not callable/],
    ['INST', pk([0x69, ...Buffer.from('os\nsystem\n')]), /opcode INST \(0x69\) .* not allowed/],
    ['OBJ', pk(P.mark, P.global('collections', 'OrderedDict'), [0x6f]), /opcode OBJ/],
    ['NEWOBJ', pk(P.global('collections', 'OrderedDict'), P.emptyTuple, [0x81]), /opcode NEWOBJ/],
    ['EXT1', pk([0x82, 1]), /opcode EXT1/],
    ['PERSID (text)', pk([0x50, ...Buffer.from('0\n')]), /opcode PERSID/],
    ['an undefined opcode 0xff', pk([0xff]), /opcode 0xff/],
    ['an enormous BINUNICODE length', pk([0x58, 0xf0, 0xff, 0xff, 0xff, 0x41]), /BINUNICODE at byte \d+: needs 4294967280 more bytes/],
    ['an enormous LONG1', pk([0x8a, 200, ...new Array(200).fill(1)]), /200-byte integer/],
    ['20000 nested MARKs', pk(new Array(20000).fill(0x28)), /nested MARKs/],
    ['200000 nested tuples', deepTuples, /nested deeper than 64/],
    ['100000 nested lists', deepLists, /nested deeper than 64/],
    ['two million NONEs', pk(new Array(2_000_000).fill(0x4e)), /stack is deeper than/],
    ['a dict that contains itself', selfRef, /refers to itself|cycle/],
    ['a GET of a memo never stored', pk([0x68, 9]), /memo entry 9 was never stored/],
    ['STOP on an empty stack', Buffer.from([...P.proto, ...P.stop]), /pops from an empty stack/],
    ['no STOP', Buffer.from([...P.proto, ...P.emptyDict]), /without a STOP/],
    ['an odd SETITEMS', pk(P.emptyDict, P.mark, P.str('a'), P.setitems), /odd number of items/],
    ['APPEND to a dict', pk(P.emptyDict, P.none, P.append), /appends to a dict/],
    ['a GLOBAL without a newline', pk([0x63, ...new Array(600).fill(0x41)]), /no newline/],
    ['a list at the top', pk(P.emptyList), /holds a list, not a dict/],
    ['a tensor reaching past its storage', stateDictPickle([['w', tensorOps({ key: '0', numel: 12, offset: 5, size: [4, 3], stride: [3, 1] })]]), /reaches element 16 of a storage of 12/],
    ['a negative size', stateDictPickle([['w', [...P.global('torch._utils', '_rebuild_tensor_v2'), ...P.mark, ...P.mark, ...P.str('storage'), ...P.global('torch', 'FloatStorage'), ...P.str('0'), ...P.str('cpu'), ...P.int(12), ...P.tuple, ...P.persid, ...P.int(0), ...P.mark, 0x4a, ...u32(-1 >>> 0), ...P.tuple, ...P.ints([1]), ...P.newfalse, ...P.global('collections', 'OrderedDict'), ...P.emptyTuple, ...P.reduce, ...P.tuple, ...P.reduce]]]), /non-negative integers/],
    ['a storage type of os.system', stateDictPickle([['w', tensorOps({ key: '0', typeModule: 'os', type: 'system', numel: 12, size: [12], stride: [1] })]]), /'os\.system' is not allowed/],
    ['a storage type torch does not have', stateDictPickle([['w', tensorOps({ key: '0', type: 'EvilStorage', numel: 12, size: [12], stride: [1] })]]), /'torch\.EvilStorage' is not allowed/],
    ['a storage key with a path', stateDictPickle([['w', tensorOps({ key: '../../etc/passwd', numel: 12, size: [12], stride: [1] })]]), /not a short name/],
    ['a storage missing from the archive', stateDictPickle([['w', tensorOps({ key: '7', numel: 12, size: [12], stride: [1] })]]), /has no archive\/data\/7/],
    ['a storage of the wrong byte length', stateDictPickle([['w', tensorOps({ key: '0', numel: 13, size: [12], stride: [1] })]]), /should be 52 bytes, the archive holds 48/],
    ['a stride-0 view expanding 12 floats to 2^30', stateDictPickle([['w', tensorOps({ key: '0', numel: 12, size: [1 << 30], stride: [0] })]]), /past 8x its own size/],
    ['ten thousand views of one storage', stateDictPickle(Array.from({ length: 10000 }, (_, i) => [`w${i}`, tensorOps({ key: '0', numel: 12, size: [1 << 20, 12], stride: [0, 1] })] as [string, number[]])), /past 8x its own size/],
    ['rebuild with too few arguments', pk(P.emptyDict, P.str('w'), P.global('torch._utils', '_rebuild_tensor_v2'), P.emptyTuple, P.reduce, P.setitem), /expected 6 or 7 arguments/],
  ];
  test.each(pickles)('%s', (_, pkl, message) => {
    const p = file(checkpoint(pkl), 'pth');
    expectFormatError(() => io.loadTorch(p), message);
  });

  test('a valid pickle still loads (the cases above differ from it only where they say)', () => {
    const w = io.loadTorch(file(checkpoint(stateDictPickle([['w', t0]])), 'pth'));
    expect(w.tensors.get('w')!.shape).toEqual([12]);
    w.dispose();
  });

  const pkl = stateDictPickle([['w', t0]]);
  const good = checkpoint(pkl);
  const zips: [string, Buffer, RegExp][] = [
    ['an empty file', Buffer.alloc(0), /too short to be a zip/],
    ['random bytes', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)), /not a zip archive/],
    ['a legacy (pre-1.6) pickle checkpoint', Buffer.from([0x80, 2, 0x8a, 10]), /legacy/],
    ['a zip without data.pkl', zip([{ name: 'archive/data/0', data: storage12 }]), /no <archive>\/data\.pkl/],
    ['a zip with data.pkl nested too deep', zip([{ name: 'a/b/data.pkl', data: pkl }]), /no <archive>\/data\.pkl/],
    ['two archives', zip([{ name: 'a/data.pkl', data: pkl }, { name: 'b/data.pkl', data: pkl }]), /more than one data\.pkl/],
    ['a truncated zip', good.subarray(0, good.length - 30), /not a zip archive|central directory/],
    ['a central directory past the end', zip([{ name: 'archive/data.pkl', data: pkl }], { cdOffsetDelta: 100000 }), /outside the file/],
    ['a deflate bomb (inflates past its declared size)', zip([{ name: 'archive/data.pkl', data: Buffer.alloc(10_000_000), deflate: true, size: 100 }]), /inflates past its declared/],
    ['a CRC mismatch', zip([{ name: 'archive/data.pkl', data: pkl, crc: 1234 }, { name: 'archive/data/0', data: storage12 }]), /CRC-32/],
    ['a corrupt storage (CRC)', zip([{ name: 'archive/data.pkl', data: pkl }, { name: 'archive/data/0', data: storage12, crc: 99 }]), /'archive\/data\/0' fails its CRC-32/],
    ['a deflated storage that claims 1 GB', zip([{ name: 'archive/data.pkl', data: stateDictPickle([['w', tensorOps({ key: '0', numel: 1 << 28, size: [12], stride: [1] })]]) }, { name: 'archive/data/0', data: Buffer.alloc(1 << 16), deflate: true, size: 1 << 30 }]), /storage '0' would take the checkpoint past 8x/],
    ['a data.pkl over 64 MB', zip([{ name: 'archive/data.pkl', data: Buffer.alloc(16), size: 65 * 1024 * 1024, deflate: true }]), /more than a state dict's pickle/],
  ];
  test.each(zips)('%s', (_, bytes, message) => {
    const p = file(bytes, 'pth');
    expectFormatError(() => io.loadTorch(p), message);
  });

  test('every truncation and random corruption of a valid checkpoint is ERR_FORMAT or loads', () => {
    for (let n = 0; n < good.length; n++) expectFormatError(() => io.parseTorch(Buffer.from(good.subarray(0, n)), `prefix ${n}`), /./);
    let seed = 777;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    // Corrupt the pickle before zipping (so the CRC matches and the unpickler sees the damage).
    for (let i = 0; i < 1000; i++) {
      const b = Buffer.from(pkl);
      for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      try {
        io.parseTorch(checkpoint(b), 'fuzz').dispose();
      } catch (e) {
        if ((e as { code?: string }).code !== 'ERR_FORMAT') throw e;
      }
    }
  });
});

// ---- telling the formats apart ---------------------------------------------------------------------

describe('weight files are told apart by full signatures', () => {
  /** A one-tensor safetensors file whose header is exactly n bytes (JSON padded with spaces). */
  function withHeaderLength(n: number): Buffer {
    const json = JSON.stringify({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } });
    return safetensors(null, f32(n), { raw: json + ' '.repeat(n - json.length) });
  }

  test('a safetensors header of every length mod 256 loads, 0x80 first bytes included (80 02..05 look like a pickle)', () => {
    const lengths = [...Array.from({ length: 256 }, (_, r) => 512 + r), 0x280, 0x380, 0x480, 0x580, 0x10280];
    for (const n of lengths) {
      const buf = withHeaderLength(n);
      expect([n, io.detectWeightFormat(buf)]).toEqual([n, 'safetensors']);
      const w = io.parseWeights(buf, `header ${n}`);
      expect(w.tensors.get('w')!.toArray()).toEqual([n]);
      w.dispose();
      const w2 = ck.models.openWeights(file(buf, n % 2 ? 'pth' : 'bin'));
      expect(w2.tensors.get('w')!.toArray()).toEqual([n]);
      w2.dispose();
    }
    // asked for a checkpoint explicitly, such a file is named for what it is (not 'legacy pickle')
    expectFormatError(() => io.parseTorch(withHeaderLength(0x280)), /this is a safetensors file/);
  });

  test('saveSafetensors files with a header length of 128 mod 256 load into a zoo model', () => {
    ck.manualSeed(0);
    const src = ck.models.lenet5();
    const sd = src.stateDict();
    // metadata of growing length until the written header's first byte is 0x80
    let p = '';
    for (let pad = 0; ; pad++) {
      p = path.join(dir, 'h128.safetensors');
      io.saveSafetensors(p, sd, { note: 'x'.repeat(pad) });
      const head = fs.readFileSync(p).subarray(0, 8);
      if (head[0] === 0x80) break;
      expect(pad).toBeLessThan(300);
    }
    expect(io.detectWeightFormat(fs.readFileSync(p))).toBe('safetensors');
    const m = ck.models.lenet5({ weights: p, onNote: () => {} });
    expect(m.weightsReport!.loaded).toBe(Object.keys(sd).length);
    const back = m.stateDict();
    for (const [k, t] of Object.entries(sd)) expect(Array.from(back[k].dataSync())).toEqual(Array.from(t.dataSync()));
    for (const t of [...Object.values(sd), ...Object.values(back)]) t.dispose();
  });

  test('a zip local header is a checkpoint, 80 02..05 without a safetensors header a legacy pickle, anything else a safetensors error', () => {
    const pth = checkpoint(stateDictPickle([['w', tensorOps({ key: '0', numel: 12, size: [12], stride: [1] })]]));
    expect(io.detectWeightFormat(pth)).toBe('torch-zip');
    const w = io.parseWeights(pth);
    expect(w.tensors.get('w')!.numel()).toBe(12);
    w.dispose();
    for (const proto of [2, 3, 4, 5]) {
      const legacy = Buffer.from([0x80, proto, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
      expect(io.detectWeightFormat(legacy)).toBe('torch-legacy');
      expectFormatError(() => io.parseWeights(legacy), /legacy/);
    }
    // 'PK' alone (an empty zip's end record) and 0x80 with protocol 1 or 6 are none of the three
    for (const b of [Buffer.from('PK\x05\x06' + '\0'.repeat(18), 'latin1'), Buffer.from([0x80, 1, 0, 0, 0, 0, 0, 0, 0x7b]), Buffer.from([0x80, 6])]) {
      expect(io.detectWeightFormat(b)).toBeNull();
      expectFormatError(() => io.parseWeights(b), /safetensors|header|too short/);
    }
  });

  test('a file that is not there, or a folder, is ERR_DATA naming it', () => {
    const missing = path.join(dir, 'nope.safetensors');
    expect(() => ck.models.openWeights(missing)).toThrow(expect.objectContaining({ code: 'ERR_DATA', path: missing, message: expect.stringMatching(/nope\.safetensors.*no such file/) }));
    expect(() => io.loadSafetensors(dir)).toThrow(expect.objectContaining({ code: 'ERR_DATA', path: dir }));
  });
});

describe('safetensors: a name given twice is refused, not last-wins', () => {
  test.each([
    ['a tensor named twice', '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', /names 'a' twice/],
    ['an escaped duplicate', '{"a\\u0062":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"ab":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', /names 'ab' twice/],
    ['a key twice inside an entry', '{"a":{"dtype":"F32","dtype":"I32","shape":[2],"data_offsets":[0,8]}}', /names 'dtype' twice/],
    ['__metadata__ twice', '{"__metadata__":{"k":"1"},"__metadata__":{"k":"2"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', /names '__metadata__' twice/],
  ])('%s', (_, raw, message) => {
    expectFormatError(() => io.parseSafetensors(safetensors(null, f32(1, 2), { raw })), message);
  });

  test('the same names at different levels, and in strings, are not duplicates', () => {
    const raw = '{"__metadata__":{"a":"{\\"a\\":1,\\"a\\":2}","dtype":"x"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    const w = io.parseSafetensors(safetensors(null, f32(1, 2), { raw }));
    expect(w.tensors.get('a')!.toArray()).toEqual([1, 2]);
    expect(w.metadata).toEqual({ a: '{"a":1,"a":2}', dtype: 'x' });
    w.dispose();
  });
});
