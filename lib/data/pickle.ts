/**
 * A restricted unpickler for exactly what the CIFAR-10 Python release holds: a dict of byte strings,
 * ints, lists and one numpy uint8 array. Nothing is ever executed: the only globals accepted are the
 * numpy array and dtype reconstructors (and codecs.encode, with which Python 3 writes bytes under
 * protocol 2), each interpreted by hand; any other global or opcode is an ERR_FORMAT naming the file.
 *
 * Protocols 2 to 5 (in-band buffers). Python 2 `str` (BINSTRING) comes back as bytes, as
 * pickle.load(encoding='bytes') gives it; dict keys, bytes or str, become JS strings (latin-1).
 */
import { formatError } from './errors';

export class PyBytes {
  constructor(readonly bytes: Uint8Array) {}
  toString(): string {
    return latin1(this.bytes);
  }
}

export interface NdArray {
  kind: 'ndarray';
  dtype: string; // numpy's dtype.str, e.g. '|u1', '<i8'
  shape: number[];
  fortranOrder: boolean;
  data: Uint8Array;
}

interface DType {
  kind: 'dtype';
  name: string;
  byteorder: string;
}

class Global {
  constructor(readonly name: string) {}
}

const ALLOWED = new Set([
  'numpy.core.multiarray._reconstruct', 'numpy._core.multiarray._reconstruct',
  'numpy.ndarray', 'numpy.dtype',
  'numpy.core.numeric._frombuffer', 'numpy._core.numeric._frombuffer',
  '_codecs.encode',
]);

const MARK = Symbol('mark');

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

function keyOf(k: unknown, file: string): string {
  if (typeof k === 'string') return k;
  if (k instanceof PyBytes) return latin1(k.bytes);
  if (typeof k === 'number') return String(k);
  throw formatError(file, `pickle: unsupported dict key type ${typeof k}`);
}

function ndarrayFrom(dt: DType, shape: unknown, fortran: unknown, raw: unknown, file: string): NdArray {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw formatError(file, 'pickle: ndarray with an invalid shape');
  const bytes = raw instanceof PyBytes ? raw.bytes : typeof raw === 'string' ? Uint8Array.from(raw, (c) => c.charCodeAt(0) & 0xff) : null;
  if (!bytes) throw formatError(file, 'pickle: ndarray data is not a byte string');
  const dtype = `${dt.byteorder === '=' ? '<' : dt.byteorder}${dt.name}`;
  return { kind: 'ndarray', dtype, shape: shape as number[], fortranOrder: !!fortran, data: bytes };
}

/** Parses a pickle; dicts become Map<string, unknown>, tuples and lists arrays, numpy arrays NdArray. */
export function unpickle(buf: Uint8Array, file: string): unknown {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  const bad = (what: string) => formatError(file, `not a valid pickle (${what} at byte ${pos})`);
  const need = (n: number) => {
    if (pos + n > buf.length) throw formatError(file, `pickle is truncated (needs ${n} more bytes at byte ${pos} of ${buf.length})`);
  };
  const u8 = () => (need(1), buf[pos++]);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u64 = () => {
    need(8);
    const lo = view.getUint32(pos, true);
    const hi = view.getUint32(pos + 4, true);
    pos += 8;
    if (hi > 0x1fffff) throw bad('8-byte length too large');
    return hi * 2 ** 32 + lo;
  };
  const bytes = (n: number) => (need(n), (pos += n), buf.subarray(pos - n, pos));
  const line = () => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) throw bad('unterminated GLOBAL');
    const s = latin1(buf.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = () => {
    if (!stack.length) throw bad('stack underflow');
    return stack.pop();
  };
  const popMark = () => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw bad('MARK missing');
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const top = () => {
    if (!stack.length) throw bad('stack underflow');
    return stack[stack.length - 1];
  };
  const global = (name: string) => {
    if (!ALLOWED.has(name)) throw formatError(file, `pickle refers to '${name}', which is not allowed (only numpy arrays and plain data are read)`);
    return new Global(name);
  };
  const utf8 = new TextDecoder('utf-8', { fatal: false });

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: u64(); break; // FRAME: framing does not change the opcode stream
      case 0x2e: // STOP
        if (stack.length !== 1) throw bad('STOP with a stack of ' + stack.length);
        return stack[0];
      case 0x28: stack.push(MARK); break;
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break;
      case 0x89: stack.push(false); break;
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: { // LONG1
        const n = u8();
        const b = bytes(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (n > 0 && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(Number(v));
        break;
      }
      case 0x47: need(8); stack.push(view.getFloat64(pos, false)); pos += 8; break; // BINFLOAT
      case 0x55: stack.push(new PyBytes(bytes(u8()))); break; // SHORT_BINSTRING (py2 str)
      case 0x54: stack.push(new PyBytes(bytes(i32()))); break; // BINSTRING
      case 0x43: stack.push(new PyBytes(bytes(u8()))); break; // SHORT_BINBYTES
      case 0x42: stack.push(new PyBytes(bytes(u32()))); break; // BINBYTES
      case 0x8e: stack.push(new PyBytes(bytes(u64()))); break; // BINBYTES8
      case 0x96: stack.push(new PyBytes(bytes(u64()))); break; // BYTEARRAY8
      case 0x8c: stack.push(utf8.decode(bytes(u8()))); break; // SHORT_BINUNICODE
      case 0x58: stack.push(utf8.decode(bytes(u32()))); break; // BINUNICODE
      case 0x8d: stack.push(utf8.decode(bytes(u64()))); break; // BINUNICODE8
      case 0x63: { // GLOBAL
        const mod = line();
        const name = line();
        stack.push(global(`${mod}.${name}`));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const mod = pop();
        if (typeof mod !== 'string' || typeof name !== 'string') throw bad('STACK_GLOBAL without strings');
        stack.push(global(`${mod}.${name}`));
        break;
      }
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push([a, b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push([a, b, c]); break; } // TUPLE3
      case 0x74: stack.push(popMark()); break; // TUPLE
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x64: { // DICT
        const items = popMark();
        const m = new Map<string, unknown>();
        for (let i = 0; i + 1 < items.length; i += 2) m.set(keyOf(items[i], file), items[i + 1]);
        stack.push(m);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) throw bad('APPEND to a non-list');
        l.push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) throw bad('APPENDS to a non-list');
        for (const v of items) l.push(v);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        const d = top();
        if (!(d instanceof Map)) throw bad('SETITEM on a non-dict');
        d.set(keyOf(k, file), v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        const d = top();
        if (!(d instanceof Map)) throw bad('SETITEMS on a non-dict');
        for (let i = 0; i + 1 < items.length; i += 2) d.set(keyOf(items[i], file), items[i + 1]);
        break;
      }
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) throw bad(`memo ${k} missing`);
        stack.push(memo.get(k));
        break;
      }
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        if (!(fn instanceof Global) || !Array.isArray(args)) throw bad('REDUCE of something other than an allowed global');
        stack.push(reduce(fn.name, args, file));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        build(obj, state, file);
        break;
      }
      default:
        throw bad(`unsupported opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}

function reduce(name: string, args: unknown[], file: string): unknown {
  if (name.endsWith('._reconstruct')) {
    // _reconstruct(ndarray, (0,), b'b'): an empty array that BUILD fills in
    if (!(args[0] instanceof Global) || args[0].name !== 'numpy.ndarray') throw formatError(file, 'pickle: _reconstruct of something other than numpy.ndarray');
    return { kind: 'ndarray', dtype: '', shape: [], fortranOrder: false, data: new Uint8Array(0) } as NdArray;
  }
  if (name === 'numpy.dtype') {
    const n = args[0] instanceof PyBytes ? args[0].toString() : args[0];
    if (typeof n !== 'string') throw formatError(file, 'pickle: numpy.dtype without a type name');
    return { kind: 'dtype', name: n, byteorder: '|' } as DType;
  }
  if (name.endsWith('._frombuffer')) {
    // protocol 5: _frombuffer(buffer, dtype, shape, order)
    const [raw, dt, shape, order] = args as [unknown, DType, unknown, unknown];
    if (!dt || dt.kind !== 'dtype') throw formatError(file, 'pickle: _frombuffer without a dtype');
    return ndarrayFrom(dt, shape, order === 'F', raw, file);
  }
  if (name === '_codecs.encode') {
    // How Python 3 pickles bytes under protocol 2: codecs.encode(latin-1 text, 'latin1')
    const [text, enc] = args;
    if (typeof text !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) throw formatError(file, 'pickle: codecs.encode other than latin1 text');
    return new PyBytes(Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff));
  }
  throw formatError(file, `pickle: cannot call '${name}'`);
}

function build(obj: unknown, state: unknown, file: string): void {
  const o = obj as { kind?: string };
  if (o && o.kind === 'dtype' && Array.isArray(state)) {
    // (version, byteorder, subarray, names, fields, elsize, alignment, flags)
    const bo = state[1] instanceof PyBytes ? state[1].toString() : state[1];
    if (typeof bo === 'string') (obj as DType).byteorder = bo;
    return;
  }
  if (o && o.kind === 'ndarray' && Array.isArray(state)) {
    // (version, shape, dtype, is_fortran, rawdata)
    const [, shape, dt, fortran, raw] = state as [unknown, unknown, DType, unknown, unknown];
    if (!dt || dt.kind !== 'dtype') throw formatError(file, 'pickle: ndarray state without a dtype');
    Object.assign(obj as NdArray, ndarrayFrom(dt, shape, fortran, raw, file));
    return;
  }
  throw formatError(file, 'pickle: BUILD of an object that is not a numpy array or dtype');
}
