/**
 * io.loadTorch: a PyTorch .pth/.pt checkpoint (torch.save's zip format, PyTorch >= 1.6) read with no
 * Python. The archive holds `<archive>/data.pkl` (the pickled object, whose tensors refer to storages
 * by persistent id) and one raw little-endian file per storage at `<archive>/data/<key>`. The pickle
 * goes through our restricted unpickler; tensors are rebuilt from storage, offset, size and stride,
 * and made contiguous.
 */
import { tensor } from '../creation';
import {
  bfloat16ToFloat32, float64ToFloat32, formatError, halfToFloat32, int64ToInt32, leView, setOwn, widenToInt32,
} from './binary';
import { PyBytes, PyDict, PyGlobal, PyOpaque, PyTuple, PyValue, typeOf, unpickle } from './pickle';
import { readWhole } from './read_file';
import { isSafetensorsHeader } from './safetensors';
import { readWeightFile, WeightFile } from './types';
import { ZipReader } from './zip';

/** The pickle of a state dict is small (tens of KB for ResNet-50); a huge one is not a state dict. */
const MAX_PICKLE_BYTES = 64 * 1024 * 1024;
/** Containers nested deeper than this are not a checkpoint (and would overflow a recursive walk). */
const MAX_DEPTH = 64;
/**
 * What a checkpoint may unpack to: 8x its own size (half-precision storages double, tied weights view
 * one storage twice) plus a margin. Beyond that it is a bomb: a deflated entry that claims gigabytes,
 * or stride-0 and repeated views that would expand one small storage into huge tensors.
 */
const EXPANSION = 8;
const EXPANSION_MARGIN = 256 * 1024 * 1024;

interface StorageKind {
  dtype: string;
  size: number;
  float: boolean;
}
const STORAGES: Record<string, StorageKind> = {
  FloatStorage: { dtype: 'F32', size: 4, float: true },
  DoubleStorage: { dtype: 'F64', size: 8, float: true },
  HalfStorage: { dtype: 'F16', size: 2, float: true },
  BFloat16Storage: { dtype: 'BF16', size: 2, float: true },
  LongStorage: { dtype: 'I64', size: 8, float: false },
  IntStorage: { dtype: 'I32', size: 4, float: false },
  ShortStorage: { dtype: 'I16', size: 2, float: false },
  CharStorage: { dtype: 'I8', size: 1, float: false },
  ByteStorage: { dtype: 'U8', size: 1, float: false },
  BoolStorage: { dtype: 'BOOL', size: 1, float: false },
};

class StorageSpec extends PyOpaque {
  constructor(readonly kind: StorageKind, readonly key: string, readonly numel: number) {
    super();
  }
  get typeName(): string {
    return 'storage';
  }
}

class TensorSpec extends PyOpaque {
  constructor(readonly storage: StorageSpec, readonly offset: number, readonly size: number[], readonly stride: number[]) {
    super();
  }
  get typeName(): string {
    return 'tensor';
  }
}

function ints(v: PyValue, what: string): number[] {
  if (!(v instanceof PyTuple) || !v.items.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0))
    throw new Error(`${what} must be a tuple of non-negative integers, got a ${typeOf(v)}`);
  return v.items as number[];
}

function rebuildTensor(args: PyValue[]): TensorSpec {
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  if (args.length < 6 || args.length > 7) throw new Error(`expected 6 or 7 arguments, got ${args.length}`);
  const [storage, offset] = args;
  if (!(storage instanceof StorageSpec)) throw new Error(`argument 1 must be a storage, got a ${typeOf(storage)}`);
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new Error('the storage offset must be a non-negative integer');
  const size = ints(args[2], 'size');
  const stride = ints(args[3], 'stride');
  if (size.length !== stride.length) throw new Error(`size has ${size.length} dims but stride has ${stride.length}`);
  if (size.length > 8) throw new Error(`${size.length} dimensions; convkit tensors have at most 8`);
  let last = offset;
  let numel = 1;
  for (let i = 0; i < size.length; i++) {
    numel *= size[i];
    if (size[i] > 0) last += (size[i] - 1) * stride[i];
  }
  if (numel > 0 && last >= storage.numel)
    throw new Error(`a tensor of size (${size}) stride (${stride}) at offset ${offset} reaches element ${last} of a storage of ${storage.numel}`);
  return new TensorSpec(storage, offset, size, stride);
}

function rebuildParameter(args: PyValue[]): TensorSpec {
  // (data, requires_grad, backward_hooks[, state])
  if (args.length < 3 || args.length > 4) throw new Error(`expected 3 or 4 arguments, got ${args.length}`);
  if (!(args[0] instanceof TensorSpec)) throw new Error(`argument 1 must be a tensor, got a ${typeOf(args[0])}`);
  return args[0];
}

function orderedDict(args: PyValue[]): PyDict {
  const d = new PyDict(true);
  if (args.length === 0) return d;
  const items = args[0];
  if (args.length > 1 || !Array.isArray(items)) throw new Error('expected no arguments or one list of pairs');
  for (const it of items) {
    if (!(it instanceof PyTuple) || it.items.length !== 2) throw new Error('expected (key, value) pairs');
    const k = it.items[0];
    if (k !== null && typeof k === 'object') throw new Error(`a ${typeOf(k)} as a dict key is not supported`);
    d.map.set(k, it.items[1]);
  }
  return d;
}

function torchGlobals() {
  const g: Record<string, { call?: (args: PyValue[]) => PyValue }> = {
    'collections.OrderedDict': { call: orderedDict },
    'torch._utils._rebuild_tensor_v2': { call: rebuildTensor },
    'torch._utils._rebuild_parameter': { call: rebuildParameter },
    'torch._utils._rebuild_parameter_with_state': { call: rebuildParameter },
  };
  for (const name of Object.keys(STORAGES)) g[`torch.${name}`] = {};
  return g;
}

function persistentLoader(source: string) {
  const storages = new Map<string, StorageSpec>();
  return (pid: PyValue): PyValue => {
    // ('storage', storage_type, key, location, numel)
    if (!(pid instanceof PyTuple) || pid.items.length !== 5 || pid.items[0] !== 'storage')
      throw formatError(source, `pickle: persistent id is a ${typeOf(pid)}, not ('storage', type, key, location, numel)`);
    const [, type, key, , numel] = pid.items;
    if (!(type instanceof PyGlobal) || type.module !== 'torch' || !(type.name in STORAGES))
      throw formatError(source, `pickle: persistent id names storage type ${typeOf(type)}`);
    if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(key)) throw formatError(source, 'pickle: a storage key is not a short name');
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw formatError(source, `pickle: storage '${key}' has a bad element count`);
    const kind = STORAGES[type.name];
    const prev = storages.get(key);
    if (prev) {
      if (prev.kind !== kind || prev.numel !== numel) throw formatError(source, `pickle: storage '${key}' is declared twice with different types or sizes`);
      return prev;
    }
    const s = new StorageSpec(kind, key, numel);
    storages.set(key, s);
    return s;
  };
}

function storageArray(bytes: Buffer, s: StorageSpec, source: string): Float32Array | Int32Array {
  const n = s.numel;
  const what = `storage '${s.key}' (${s.kind.dtype})`;
  if (bytes.length !== n * s.kind.size) throw formatError(source, `${what} should be ${n * s.kind.size} bytes, the archive holds ${bytes.length}`);
  switch (s.kind.dtype) {
    case 'F32': return leView(bytes, 0, n, Float32Array);
    case 'F64': return float64ToFloat32(leView(bytes, 0, n, Float64Array));
    case 'F16': return halfToFloat32(leView(bytes, 0, n, Uint16Array));
    case 'BF16': return bfloat16ToFloat32(leView(bytes, 0, n, Uint16Array));
    case 'I64': return int64ToInt32(leView(bytes, 0, n, BigInt64Array), source, what);
    case 'I32': return leView(bytes, 0, n, Int32Array);
    case 'I16': return widenToInt32(leView(bytes, 0, n, Int16Array));
    case 'I8': return widenToInt32(new Int8Array(bytes.buffer, bytes.byteOffset, n));
    case 'BOOL': {
      // A bool is true for any non-zero byte; torch.load's tensor holds True/False, so 0/1 here.
      const src = new Uint8Array(bytes.buffer, bytes.byteOffset, n);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = src[i] !== 0 ? 1 : 0;
      return out;
    }
    default: return widenToInt32(new Uint8Array(bytes.buffer, bytes.byteOffset, n));
  }
}

/** The elements of a strided tensor over `src`, in row-major order (a subarray when already so laid out). */
function gather<T extends Float32Array | Int32Array>(src: T, spec: TensorSpec): T {
  const { size, stride, offset } = spec;
  const numel = size.reduce((a, b) => a * b, 1);
  let contiguous = true;
  for (let d = size.length - 1, expect = 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expect) contiguous = false;
    expect *= size[d];
  }
  if (contiguous) return src.subarray(offset, offset + numel) as T;
  const out = new (src.constructor as { new (n: number): T })(numel);
  const nd = size.length;
  const idx = new Array<number>(nd).fill(0);
  let p = offset;
  for (let i = 0; i < numel; i++) {
    out[i] = src[p];
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      p += stride[d];
      if (idx[d] < size[d]) break;
      p -= stride[d] * size[d];
      idx[d] = 0;
    }
  }
  return out;
}

function isTensorDict(v: PyValue): boolean {
  return v instanceof PyDict && [...v.map.values()].every((x) => x instanceof TensorSpec);
}

/**
 * The state dict inside the unpickled object: the object itself when it maps names to tensors, the
 * usual nested entry of a training checkpoint ('state_dict', 'model', ...), else every tensor in it
 * under dotted paths. Top-level scalars of a checkpoint (epoch, ...) become metadata.
 */
function findTensors(root: PyValue, source: string): { specs: Map<string, TensorSpec>; metadata: Record<string, string> } {
  if (!(root instanceof PyDict)) throw formatError(source, `the checkpoint holds a ${typeOf(root)}, not a dict of tensors`);
  const specs = new Map<string, TensorSpec>();
  const metadata: Record<string, string> = {};
  const take = (d: PyDict, prefix: string) => {
    for (const [k, v] of d.map) specs.set(prefix + String(k), v as TensorSpec);
  };
  if (isTensorDict(root)) {
    take(root, '');
    return { specs, metadata };
  }
  for (const [k, v] of root.map) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') setOwn(metadata, String(k), String(v));
  }
  for (const name of ['state_dict', 'model_state_dict', 'model', 'net', 'module']) {
    const v = root.map.get(name);
    if (v !== undefined && isTensorDict(v)) {
      take(v as PyDict, '');
      metadata.state_dict_key = name;
      return { specs, metadata };
    }
  }
  const seen = new Set<object>();
  const walk = (v: PyValue, path: string, depth: number): void => {
    if (v instanceof TensorSpec) {
      specs.set(path, v);
      return;
    }
    if (v === null || typeof v !== 'object' || v instanceof PyGlobal || v instanceof PyOpaque || v instanceof PyBytes) return;
    if (depth > MAX_DEPTH) throw formatError(source, `containers nested deeper than ${MAX_DEPTH} levels`);
    if (seen.has(v)) throw formatError(source, `the object refers to itself at '${path}' (a cycle)`);
    seen.add(v);
    const sub = (k: string) => (path ? `${path}.${k}` : k);
    if (v instanceof PyDict) for (const [k, x] of v.map) walk(x, sub(String(k)), depth + 1);
    else {
      const items = v instanceof PyTuple ? v.items : v;
      items.forEach((x, i) => walk(x, sub(String(i)), depth + 1));
    }
    seen.delete(v);
  };
  walk(root, '', 0);
  return { specs, metadata };
}

/** The archive's folder: the one top-level directory holding data.pkl. */
function archivePrefix(zip: ZipReader, source: string): string {
  const found = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (found.length === 0) {
    const names = [...zip.entries.keys()].slice(0, 5).join(', ');
    throw formatError(source, `no <archive>/data.pkl in the zip (entries: ${names || 'none'}); not a PyTorch checkpoint`);
  }
  if (found.length > 1) throw formatError(source, `more than one data.pkl in the zip (${found.join(', ')})`);
  return found[0].slice(0, -'data.pkl'.length);
}

/** Parses checkpoint bytes already in memory; `source` names them in errors. */
export function parseTorch(buf: Buffer, source = '<buffer>'): WeightFile {
  const zipMagic = buf.length >= 4 && buf.readUInt32LE(0) === 0x04034b50;
  if (!zipMagic && isSafetensorsHeader(buf)) throw formatError(source, 'this is a safetensors file, not a PyTorch checkpoint (io.loadWeights reads either)');
  if (buf.length >= 2 && buf[0] === 0x80 && buf[1] <= 5)
    throw formatError(source, 'this is the legacy (pre-1.6, non-zip) PyTorch format; re-save it with torch.save in PyTorch >= 1.6');
  const zip = new ZipReader(buf, source);
  const prefix = archivePrefix(zip, source);
  const order = zip.entries.get(`${prefix}byteorder`);
  if (order && zip.read(order.name).toString('latin1') !== 'little')
    throw formatError(source, 'the checkpoint was written on a big-endian machine; only little-endian checkpoints are supported');
  let budget = EXPANSION * buf.length + EXPANSION_MARGIN;
  const spend = (bytes: number, what: string) => {
    budget -= bytes;
    if (budget < 0)
      throw formatError(source, `${what} would take the checkpoint past ${EXPANSION}x its own size in memory (a zip bomb, or views that expand a storage?)`);
  };
  const pklEntry = zip.entries.get(`${prefix}data.pkl`)!;
  if (pklEntry.size > MAX_PICKLE_BYTES) throw formatError(source, `data.pkl is ${pklEntry.size} bytes, more than a state dict's pickle (${MAX_PICKLE_BYTES})`);
  if (pklEntry.method !== 0) spend(pklEntry.size, 'data.pkl');
  const pkl = zip.read(pklEntry.name);
  const root = unpickle(pkl, {
    globals: torchGlobals(), persistentLoad: persistentLoader(source), source,
    refusalHint: 'a state dict needs only tensors, storages and OrderedDict; torch.save(model.state_dict(), path) writes a loadable file',
  });
  const { specs, metadata } = findTensors(root, source);

  // Charge all the tensors up front, so a bomb fails before anything is allocated.
  let total = 0;
  for (const spec of specs.values()) total += spec.size.reduce((a, b) => a * b, 1) * 4;
  spend(total, `${specs.size} tensors of ${total} bytes`);
  const arrays = new Map<string, Float32Array | Int32Array>();
  return readWeightFile(specs, ([name, spec]) => {
    const s = spec.storage;
    let arr = arrays.get(s.key);
    if (!arr) {
      const entry = `${prefix}data/${s.key}`;
      const e = zip.entries.get(entry);
      if (!e) throw formatError(source, `tensor '${name}' refers to storage '${s.key}', but the archive has no ${entry}`);
      if (e.method !== 0) spend(e.size, `storage '${s.key}'`);
      if (s.kind.size !== 4) spend(s.numel * 4, `storage '${s.key}'`); // widened or narrowed into a new array
      arr = storageArray(zip.read(entry), s, source);
      arrays.set(s.key, arr);
    }
    const data = gather(arr, spec);
    return { name, tensor: tensor(data, { shape: spec.size, dtype: s.kind.float ? 'float32' : 'int32' }), dtype: s.kind.dtype };
  }, metadata);
}

/** Reads a PyTorch .pth/.pt zip checkpoint (a state dict, or a checkpoint dict holding one). */
export function loadTorch(path: string): WeightFile {
  return parseTorch(readWhole(path), path);
}
