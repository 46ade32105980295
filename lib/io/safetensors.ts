/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`, then the data,
 * offsets relative to the end of the header. Reading validates everything before it builds a tensor
 * (errors are ERR_FORMAT and say what is wrong), then views the one file Buffer as typed arrays.
 */
import { tensor } from '../creation';
import { ckError } from '../errors';
import { Tensor } from '../tensor';
import { bfloat16ToFloat32, formatError, halfToFloat32, int64ToInt32, leBytes, leView, setOwn } from './binary';
import { readWhole, writeAll, writeAtomically } from './read_file';
import { readWeightFile, WeightFile } from './types';

/** A header bigger than this is not a weight file's header but an attempt to make us allocate. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const DTYPE_SIZE: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4 };

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;
}

/**
 * The first key that an object of this (already valid) JSON text names twice, or null. JSON.parse
 * keeps the last of duplicates silently; a header that names a tensor twice is refused instead.
 */
export function duplicateJsonKey(text: string): string | null {
  const objects: (Set<string> | null)[] = []; // a Set of keys per open object, null per open array
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) { // '"': skip the string, escapes included
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      const keys = objects[objects.length - 1];
      if (expectKey && keys) {
        const k = JSON.parse(text.slice(i, j + 1)) as string;
        if (keys.has(k)) return k;
        keys.add(k);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b) { // {
      objects.push(new Set());
      expectKey = true;
    } else if (c === 0x5b) { // [
      objects.push(null);
      expectKey = false;
    } else if (c === 0x7d || c === 0x5d) objects.pop(); // } ]
    else if (c === 0x2c) expectKey = objects[objects.length - 1] !== null; // ,
  }
  return null;
}

/** Whether bytes start like a safetensors file: a header length that fits, then a JSON object. */
export function isSafetensorsHeader(buf: Uint8Array): boolean {
  if (buf.length < 10) return false;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = view.getBigUint64(0, true);
  if (n < 2n || n > BigInt(Math.min(MAX_HEADER_BYTES, buf.length - 8))) return false;
  // JSON may begin with whitespace; the reference writer puts '{' first.
  for (let i = 8; i < 8 + Number(n); i++) {
    const c = buf[i];
    if (c === 0x7b) return true;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return false;
}

function parseHeader(buf: Buffer, source: string): { entries: Entry[]; metadata: Record<string, string>; dataStart: number } {
  if (buf.length < 8) throw formatError(source, `the file is ${buf.length} bytes, too short for the 8-byte header length`);
  const n64 = buf.readBigUInt64LE(0);
  if (n64 > BigInt(MAX_HEADER_BYTES))
    throw formatError(source, `header length ${n64} is absurd (more than ${MAX_HEADER_BYTES} bytes); not a safetensors file?`);
  const n = Number(n64);
  if (8 + n > buf.length) throw formatError(source, `header length ${n} is larger than the file (${buf.length} bytes)`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + n));
  } catch {
    throw formatError(source, 'the header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw formatError(source, `the header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) throw formatError(source, `the header is ${describe(header)}, not a JSON object`);
  const dup = duplicateJsonKey(text);
  if (dup !== null) throw formatError(source, `the header names '${dup.slice(0, 200)}' twice (a JSON reader would keep only the last silently)`);

  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (info === null) continue;
      if (!isPlainObject(info)) throw formatError(source, `__metadata__ is ${describe(info)}, not an object of strings`);
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== 'string') throw formatError(source, `__metadata__ value '${k}' is ${describe(v)}, not a string`);
        setOwn(metadata, k, v);
      }
      continue;
    }
    const what = `tensor '${name}'`;
    if (!isPlainObject(info)) throw formatError(source, `${what}: its entry is ${describe(info)}, not an object`);
    const { dtype, shape, data_offsets: offs } = info;
    if (typeof dtype !== 'string') throw formatError(source, `${what}: dtype is ${describe(dtype)}, not a string`);
    if (!(dtype in DTYPE_SIZE))
      throw formatError(source, `${what}: unknown or unsupported dtype '${dtype.slice(0, 40)}' (supported: ${Object.keys(DTYPE_SIZE).join(', ')})`);
    if (!Array.isArray(shape) || !shape.every((s) => Number.isSafeInteger(s) && s >= 0))
      throw formatError(source, `${what}: shape ${JSON.stringify(shape)?.slice(0, 80)} is not a list of non-negative integers`);
    if (shape.length > 8) throw formatError(source, `${what}: ${shape.length} dimensions; convkit tensors have at most 8`);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0))
      throw formatError(source, `${what}: data_offsets ${JSON.stringify(offs)?.slice(0, 80)} is not a pair of non-negative integers`);
    const [begin, end] = offs as [number, number];
    if (begin > end) throw formatError(source, `${what}: data_offsets [${begin}, ${end}] are not ordered (begin after end)`);
    let bytes = DTYPE_SIZE[dtype];
    for (const s of shape as number[]) {
      bytes *= s;
      if (!Number.isSafeInteger(bytes)) throw formatError(source, `${what}: shape ${JSON.stringify(shape)} is too large`);
    }
    if (bytes !== end - begin)
      throw formatError(source, `${what}: shape [${shape.join(', ')}] of ${dtype} needs ${bytes} bytes, but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }

  // The tensors must tile the data exactly: sorted by offset, each starts where the previous ended.
  const dataStart = 8 + n;
  const dataLen = buf.length - dataStart;
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: Entry | null = null;
  for (const e of sorted) {
    if (e.end > dataLen)
      throw formatError(source, `tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] are out of range (the data section is ${dataLen} bytes)`);
    if (e.begin < pos)
      throw formatError(source, `tensor '${e.name}' [${e.begin}, ${e.end}) overlaps tensor '${prev!.name}' [${prev!.begin}, ${prev!.end})`);
    if (e.begin > pos) throw formatError(source, `bytes [${pos}, ${e.begin}) of the data belong to no tensor (a gap before '${e.name}')`);
    pos = e.end;
    prev = e;
  }
  if (pos !== dataLen) throw formatError(source, `the tensors cover ${pos} bytes but the data section is ${dataLen} bytes (data not covering the buffer)`);
  return { entries, metadata, dataStart };
}

function toTensor(buf: Buffer, e: Entry, dataStart: number, source: string): Tensor {
  const off = dataStart + e.begin;
  const n = (e.end - e.begin) / DTYPE_SIZE[e.dtype];
  const shape = e.shape;
  switch (e.dtype) {
    case 'F32':
      return tensor(leView(buf, off, n, Float32Array), { shape });
    case 'F16':
      return tensor(halfToFloat32(leView(buf, off, n, Uint16Array)), { shape });
    case 'BF16':
      return tensor(bfloat16ToFloat32(leView(buf, off, n, Uint16Array)), { shape });
    case 'I32':
      return tensor(leView(buf, off, n, Int32Array), { shape, dtype: 'int32' });
    case 'I64':
      return tensor(int64ToInt32(leView(buf, off, n, BigInt64Array), source, `tensor '${e.name}' (I64)`), { shape, dtype: 'int32' });
    default:
      throw formatError(source, `tensor '${e.name}': unsupported dtype ${e.dtype}`);
  }
}

/** Parses safetensors bytes already in memory; `source` names them in errors. */
export function parseSafetensors(buf: Buffer, source = '<buffer>'): WeightFile {
  const { entries, metadata, dataStart } = parseHeader(buf, source);
  return readWeightFile(entries, (e) => ({ name: e.name, tensor: toTensor(buf, e, dataStart, source), dtype: e.dtype }), metadata);
}

/** Reads a .safetensors file: tensors (float32, or int32 for integer types) by name, and the metadata. */
export function loadSafetensors(path: string): WeightFile {
  return parseSafetensors(readWhole(path), path);
}

export interface SaveSafetensorsOptions {
  /**
   * How integer tensors are stored. 'I64' (the default) is what PyTorch writes for num_batches_tracked
   * and class indices; convkit holds them as int32 and widens on save.
   */
  intDtype?: 'I64' | 'I32';
}

/**
 * Writes tensors (a Map or a record, e.g. model.stateDict()) as safetensors, atomically: a temporary
 * file in the same directory, renamed over `path` once complete.
 */
export function saveSafetensors(
  path: string, tensors: Map<string, Tensor> | Record<string, Tensor>, metadata: Record<string, string> = {}, opts: SaveSafetensorsOptions = {},
): void {
  const intDtype = opts.intDtype ?? 'I64';
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw ckError('ERR_ARG', `saveSafetensors: metadata value '${k}' must be a string, got ${typeof v}`, 'TypeError');
  }
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let pos = 0;
  const dtypes: string[] = [];
  for (const [name, t] of list) {
    if (!(t instanceof Tensor)) throw ckError('ERR_ARG', `saveSafetensors: '${name}' is not a Tensor`, 'TypeError');
    if (name === '__metadata__') throw ckError('ERR_ARG', "saveSafetensors: '__metadata__' is reserved and cannot name a tensor");
    const dtype = t.dtype === 'float32' ? 'F32' : intDtype;
    const bytes = t.numel() * DTYPE_SIZE[dtype];
    setOwn(header, name, { dtype, shape: [...t.shape], data_offsets: [pos, pos + bytes] });
    dtypes.push(dtype);
    pos += bytes;
  }
  let json = JSON.stringify(header);
  // Pad with spaces (as the reference writer does) so the data starts 8-byte aligned and every
  // tensor can be viewed in place by a reader.
  const raw = Buffer.byteLength(json);
  json += ' '.repeat((8 - ((8 + raw) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  writeAtomically(path, (fd) => {
    writeAll(fd, len);
    writeAll(fd, headerBytes);
    list.forEach(([, t], i) => {
      const data = t.dataSync();
      let out: Uint8Array;
      if (dtypes[i] === 'I64') {
        const wide = new BigInt64Array(data.length);
        for (let j = 0; j < data.length; j++) wide[j] = BigInt(data[j]);
        out = leBytes(wide);
      } else out = leBytes(data);
      writeAll(fd, out);
    });
  });
}
