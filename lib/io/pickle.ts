/**
 * The one unpickler of convkit, for PyTorch checkpoints (io/torch.ts) and CIFAR-10 python batches
 * (data/pickle.ts): the opcodes of plain data (protocols 0-5's binary forms) and nothing else. It never
 * imports or calls anything: GLOBAL/STACK_GLOBAL resolve only names on the caller's allowlist, and
 * REDUCE calls only the TypeScript stand-ins the allowlist gives for them. Anything else (another
 * opcode, another global) is an ERR_FORMAT error that names it.
 *
 * Bounded against hostile input: every read is checked against the end of the data (a huge length
 * field is an error, not an allocation), each opcode consumes at least one byte so the work is linear
 * in the pickle's size, the position only moves forward (every length is checked, a negative one refused),
 * and the stack, mark stack and memo have caps. Byte strings are views of the data, not copies.
 */
import { formatError } from './binary';

export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}
/** A Python 2 str (BINSTRING, read as pickle.load(encoding='bytes') does), bytes or bytearray: a view of the data. */
export class PyBytes {
  constructor(readonly bytes: Uint8Array) {}
  /** The bytes as a latin-1 string (each byte one code unit). */
  latin1(): string {
    let s = '';
    for (let i = 0; i < this.bytes.length; i += 8192) s += String.fromCharCode(...this.bytes.subarray(i, i + 8192));
    return s;
  }
}
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}
export type DictKey = string | number | boolean | null;
export class PyDict {
  readonly map = new Map<DictKey, PyValue>();
  /** What BUILD set on the object (an OrderedDict's __dict__, e.g. a state dict's _metadata). */
  state: PyValue = null;
  constructor(readonly ordered = false) {}
}
/** Values the allowlisted callables and persistent_load return. */
export abstract class PyOpaque {
  abstract get typeName(): string;
  /** What BUILD does to this object (its __setstate__); absent: BUILD on it is refused. */
  setState?(state: PyValue): void;
}
export type PyValue = null | boolean | number | string | PyValue[] | PyTuple | PyDict | PyGlobal | PyOpaque | PyBytes;

export interface AllowedGlobal {
  /** Called by REDUCE with the argument tuple; absent: the global may appear but not be called. */
  call?: (args: PyValue[]) => PyValue;
}

export interface UnpickleOptions {
  /** 'module.name' -> what it may do. Everything not listed is refused. */
  globals: Record<string, AllowedGlobal>;
  /** BINPERSISTID: turns a persistent id into a value (storages, for torch). */
  persistentLoad?: (pid: PyValue) => PyValue;
  source: string;
  /** Appended to the error for a global that is not allowed (what this kind of file may hold). */
  refusalHint?: string;
}

export const PICKLE_LIMITS = { stack: 1_000_000, marks: 10_000, memo: 1_000_000 };

// Names of the opcodes we refuse, so the error can say which one it met.
const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT',
  0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND',
  0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET',
  0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2',
  0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

export function typeOf(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'string') return 'str';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyDict) return v.ordered ? 'OrderedDict' : 'dict';
  if (v instanceof PyGlobal) return `global ${v.qualified}`;
  if (v instanceof PyBytes) return 'bytes';
  return v.typeName;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function unpickle(data: Uint8Array, opts: UnpickleOptions): PyValue {
  const { source } = opts;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const end = data.length;
  let pos = 0;
  let opPos = 0;
  let opName = '';
  const stack: PyValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();

  const fail = (msg: string): never => {
    throw formatError(source, `pickle: ${msg}`);
  };
  const failAt = (msg: string): never => fail(`${opName} at byte ${opPos}: ${msg}`);
  const need = (n: number): void => {
    if (n > end - pos) failAt(`needs ${n} more bytes, only ${end - pos} left (truncated or corrupt)`);
  };
  const u8 = (): number => {
    need(1);
    return data[pos++];
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  /** An 8-byte length: refused (not rounded) when it exceeds what is left of the data. */
  const u64len = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(end - pos)) failAt(`length ${v} runs past the end of the data (${end - pos} bytes left)`);
    return Number(v);
  };
  const bytes = (n: number): PyBytes => {
    if (n < 0) failAt(`negative length ${n}`);
    need(n);
    pos += n;
    return new PyBytes(data.subarray(pos - n, pos));
  };
  const text = (n: number): string => {
    need(n);
    let s: string;
    try {
      s = utf8.decode(data.subarray(pos, pos + n));
    } catch {
      return failAt('string is not valid UTF-8');
    }
    pos += n;
    return s;
  };
  const line = (): string => {
    // GLOBAL's module and name: short ASCII lines; a missing newline must not scan the whole file.
    const limit = Math.min(end, pos + 512);
    for (let i = pos; i < limit; i++) {
      if (data[i] === 0x0a) {
        const s = text(i - pos);
        pos++;
        return s;
      }
    }
    return failAt('no newline within 512 bytes');
  };
  const push = (v: PyValue): void => {
    if (stack.length >= PICKLE_LIMITS.stack) failAt(`the stack is deeper than ${PICKLE_LIMITS.stack} items`);
    stack.push(v);
  };
  const pop = (): PyValue => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) failAt('pops from an empty stack');
    return stack.pop() as PyValue;
  };
  const top = (): PyValue => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) failAt('needs a value on the stack, the stack is empty');
    return stack[stack.length - 1];
  };
  const popMark = (): PyValue[] => {
    if (!marks.length) failAt('no MARK to pop to');
    const m = marks.pop() as number;
    return stack.splice(m);
  };
  const put = (idx: number): void => {
    if (!memo.has(idx) && memo.size >= PICKLE_LIMITS.memo) failAt(`the memo holds more than ${PICKLE_LIMITS.memo} entries`);
    memo.set(idx, top());
  };
  const get = (idx: number): void => {
    if (!memo.has(idx)) failAt(`memo entry ${idx} was never stored`);
    push(memo.get(idx) as PyValue);
  };
  const key = (k: PyValue): DictKey => {
    if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'boolean') return k;
    if (k instanceof PyBytes) return k.latin1(); // Python 2 str keys (b'data' in a CIFAR-10 batch)
    return failAt(`a ${typeOf(k)} as a dict key is not supported`);
  };
  const global = (module: string, name: string): PyGlobal => {
    const q = `${module}.${name}`;
    if (!Object.prototype.hasOwnProperty.call(opts.globals, q))
      failAt(`global '${q}' is not allowed (nothing is imported or run${opts.refusalHint ? `; ${opts.refusalHint}` : ''})`);
    return new PyGlobal(module, name);
  };

  while (true) {
    if (pos >= end) fail('the data ends without a STOP opcode (truncated)');
    opPos = pos;
    const op = data[pos++];
    opName = OPCODE_NAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`;
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > 5) failAt(`protocol ${v} is newer than any Python writes`);
        break;
      }
      case 0x95: { // FRAME: a length prefix for buffering; the opcodes inside are read as usual
        need(8);
        const n = view.getBigUint64(pos, true);
        pos += 8;
        if (n > BigInt(end - pos)) failAt(`frame of ${n} bytes runs past the end of the data`);
        break;
      }
      case 0x2e: { // STOP
        const v = pop();
        return v;
      }
      case 0x28: // MARK
        if (marks.length >= PICKLE_LIMITS.marks) failAt(`more than ${PICKLE_LIMITS.marks} nested MARKs`);
        marks.push(stack.length);
        break;
      case 0x7d: push(new PyDict()); break; // EMPTY_DICT
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x29: push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: { // BININT
        need(4);
        push(view.getInt32(pos, true));
        pos += 4;
        break;
      }
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: { // LONG1: little-endian two's complement
        const n = u8();
        need(n);
        if (n > 8) failAt(`a ${n}-byte integer is larger than any tensor size or offset`);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[pos + i]);
        if (n > 0 && data[pos + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        pos += n;
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) failAt(`integer ${v} is beyond 2^53`);
        push(Number(v));
        break;
      }
      case 0x47: { // BINFLOAT (big-endian)
        need(8);
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x58: push(text(u32())); break; // BINUNICODE
      case 0x8c: push(text(u8())); break; // SHORT_BINUNICODE
      case 0x8d: push(text(u64len())); break; // BINUNICODE8
      case 0x55: push(bytes(u8())); break; // SHORT_BINSTRING
      case 0x54: { // BINSTRING: a signed 4-byte length (a negative one must not move the position back)
        need(4);
        const n = view.getInt32(pos, true);
        pos += 4;
        push(bytes(n));
        break;
      }
      case 0x43: push(bytes(u8())); break; // SHORT_BINBYTES
      case 0x42: push(bytes(u32())); break; // BINBYTES
      case 0x8e: push(bytes(u64len())); break; // BINBYTES8
      case 0x96: push(bytes(u64len())); break; // BYTEARRAY8
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x6c: push(popMark()); break; // LIST
      case 0x64: { // DICT
        const items = popMark();
        if (items.length % 2) failAt(`an odd number of items (${items.length}) for key/value pairs`);
        const d = new PyDict();
        for (let i = 0; i < items.length; i += 2) d.map.set(key(items[i]), items[i + 1]);
        push(d);
        break;
      }
      case 0x74: push(new PyTuple(popMark())); break; // TUPLE
      case 0x85: { // TUPLE1
        const a = pop();
        push(new PyTuple([a]));
        break;
      }
      case 0x86: { // TUPLE2
        const b = pop();
        const a = pop();
        push(new PyTuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        push(new PyTuple([a, b, c]));
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        const d = top();
        if (!(d instanceof PyDict)) failAt(`sets an item on a ${typeOf(d)}, not a dict`);
        (d as PyDict).map.set(key(k), v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        const d = top();
        if (!(d instanceof PyDict)) failAt(`sets items on a ${typeOf(d)}, not a dict`);
        if (items.length % 2) failAt(`an odd number of items (${items.length}) for key/value pairs`);
        for (let i = 0; i < items.length; i += 2) (d as PyDict).map.set(key(items[i]), items[i + 1]);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) failAt(`appends to a ${typeOf(l)}, not a list`);
        (l as PyValue[]).push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) failAt(`appends to a ${typeOf(l)}, not a list`);
        for (const v of items) (l as PyValue[]).push(v);
        break;
      }
      case 0x71: put(u8()); break; // BINPUT
      case 0x72: put(u32()); break; // LONG_BINPUT
      case 0x94: put(memo.size); break; // MEMOIZE
      case 0x68: get(u8()); break; // BINGET
      case 0x6a: get(u32()); break; // LONG_BINGET
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        push(global(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') failAt('module and name must be strings');
        push(global(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        if (!(fn instanceof PyGlobal)) failAt(`calls a ${typeOf(fn)}, which is not callable`);
        const g = fn as PyGlobal;
        const call = opts.globals[g.qualified].call;
        if (!call) failAt(`'${g.qualified}' may appear in a state dict but not be called`);
        if (!(args instanceof PyTuple)) failAt(`the arguments of '${g.qualified}' are a ${typeOf(args)}, not a tuple`);
        try {
          push(call!((args as PyTuple).items));
        } catch (e) {
          if ((e as { code?: string }).code === 'ERR_FORMAT') throw e;
          failAt(`'${g.qualified}': ${(e as Error).message}`);
        }
        break;
      }
      case 0x51: { // BINPERSISTID
        const pid = pop();
        if (!opts.persistentLoad) failAt('persistent ids are not expected here');
        try {
          push(opts.persistentLoad!(pid));
        } catch (e) {
          if ((e as { code?: string }).code === 'ERR_FORMAT') throw e;
          failAt((e as Error).message);
        }
        break;
      }
      case 0x62: { // BUILD: an OrderedDict's attribute dict (a state dict's _metadata), or an allowed object's own state
        const state = pop();
        const obj = top();
        if (obj instanceof PyOpaque && obj.setState) {
          try {
            obj.setState(state);
          } catch (e) {
            if ((e as { code?: string }).code === 'ERR_FORMAT') throw e;
            failAt(`${obj.typeName}: ${(e as Error).message}`);
          }
          break;
        }
        if (!(obj instanceof PyDict)) failAt(`sets state on a ${typeOf(obj)}; only dicts take state here`);
        const s = state instanceof PyTuple && state.items.length === 2 && state.items[1] === null ? state.items[0] : state;
        if (!(s instanceof PyDict) && s !== null) failAt(`state is a ${typeOf(state)}, not a dict`);
        (obj as PyDict).state = s;
        break;
      }
      default:
        failAt(`opcode ${opName} (0x${op.toString(16).padStart(2, '0')}) is not allowed (only the opcodes of plain data are read)`);
    }
  }
}
