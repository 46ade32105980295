/**
 * What the CIFAR-10 python release is pickled from: a dict of byte strings, ints, lists and one numpy
 * uint8 array. The pickle is read by convkit's one unpickler (io/pickle.ts); this file only gives it the
 * numpy globals such a batch refers to (the array and dtype reconstructors, and codecs.encode, with which
 * Python 3 writes bytes under protocol 2), each interpreted by hand. Nothing is ever executed; any other
 * global or opcode is an ERR_FORMAT naming the file.
 *
 * Python 2 `str` (BINSTRING) comes back as bytes, as pickle.load(encoding='bytes') gives it; dict keys,
 * bytes or str, become JS strings (latin-1).
 */
import { PyBytes, PyDict, PyGlobal, PyOpaque, PyTuple, PyValue, typeOf, unpickle as unpickleData } from '../io/pickle';
import { DataError, formatError } from './errors';

export { PyBytes };

export interface NdArray {
  kind: 'ndarray';
  dtype: string; // numpy's dtype.str, e.g. '|u1', '<i8'
  shape: number[];
  fortranOrder: boolean;
  data: Uint8Array;
}

/** Containers nested deeper than this in a batch are not a CIFAR-10 batch (and would overflow a recursive walk). */
const MAX_DEPTH = 64;

/** Text whose characters are all below 256, as its latin-1 bytes (charged to the copy budget). */
function latin1Bytes(text: string, charge: (n: number) => void): Uint8Array {
  charge(text.length);
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\xff]/.test(text)) throw new Error('text with characters beyond latin-1 as bytes');
  return Buffer.from(text, 'latin1');
}

class DType extends PyOpaque {
  readonly kind = 'dtype';
  byteorder = '|';
  constructor(readonly name: string) {
    super();
  }
  get typeName(): string {
    return 'numpy.dtype';
  }
  /** numpy's dtype.str: byte order and the kind/size code ('|u1', '<f4'). */
  get str(): string {
    return `${this.byteorder === '=' ? '<' : this.byteorder}${this.name}`;
  }
  get itemsize(): number {
    const m = /^[biufcSUV]([1-9][0-9]?)$/.exec(this.name);
    if (!m) throw new Error(`dtype '${this.name.slice(0, 20)}' is not a plain numeric type`);
    return Number(m[1]);
  }
  setState(state: PyValue): void {
    // (version, byteorder, subarray, names, fields, elsize, alignment, flags)
    if (!(state instanceof PyTuple) || state.items.length < 2) throw new Error(`state is a ${typeOf(state)}, not a dtype state tuple`);
    const bo = state.items[1] instanceof PyBytes ? state.items[1].latin1() : state.items[1];
    if (typeof bo !== 'string' || !['|', '<', '>', '='].includes(bo)) throw new Error('byte order is not one of | < > =');
    this.byteorder = bo;
  }
}

class NdArrayObj extends PyOpaque implements NdArray {
  readonly kind = 'ndarray';
  dtype = '';
  shape: number[] = [];
  fortranOrder = false;
  data: Uint8Array = new Uint8Array(0);
  /** charge: the copy budget; buildable: made by _reconstruct, so BUILD fills it in (once). */
  constructor(private readonly charge: (n: number) => void, private buildable: boolean) {
    super();
  }
  get typeName(): string {
    return 'numpy.ndarray';
  }
  fill(dt: PyValue, shape: PyValue, fortran: PyValue, raw: PyValue): this {
    if (!(dt instanceof DType)) throw new Error(`the array's dtype is a ${typeOf(dt)}`);
    if (!(shape instanceof PyTuple) || shape.items.length > 8 || !shape.items.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0))
      throw new Error('the array has an invalid shape');
    const dims = shape.items as number[];
    let bytes: Uint8Array;
    if (raw instanceof PyBytes) bytes = raw.bytes;
    else if (typeof raw === 'string') {
      bytes = latin1Bytes(raw, this.charge);
    } else throw new Error(`the array data is a ${typeOf(raw)}, not a byte string`);
    let want = dt.itemsize;
    for (const d of dims) want *= d;
    if (want !== bytes.length) throw new Error(`the array data holds ${bytes.length} bytes, its shape (${dims.join(', ')}) of ${dt.str} needs ${want}`);
    this.dtype = dt.str;
    this.shape = dims;
    this.fortranOrder = fortran === true;
    this.data = bytes;
    return this;
  }
  setState(state: PyValue): void {
    if (!this.buildable) throw new Error('BUILD on an array that is already built');
    // (version, shape, dtype, is_fortran, rawdata)
    if (!(state instanceof PyTuple) || state.items.length !== 5) throw new Error(`state is a ${typeOf(state)}, not (version, shape, dtype, fortran, data)`);
    const [, shape, dt, fortran, raw] = state.items;
    this.fill(dt, shape, fortran, raw);
    this.buildable = false;
  }
}

/** The numpy globals a CIFAR-10 batch may name, with a budget on the bytes they copy (a memoised string reused). */
function numpyGlobals(budgetBytes: number) {
  let budget = budgetBytes;
  const charge = (n: number) => {
    budget -= n;
    if (budget < 0) throw new Error(`copies more than ${budgetBytes} bytes out of the pickle (the same data reused again and again?)`);
  };
  const reconstruct = {
    call: (args: PyValue[]): PyValue => {
      // _reconstruct(ndarray, (0,), b'b'): an empty array that BUILD fills in
      if (!(args[0] instanceof PyGlobal) || args[0].qualified !== 'numpy.ndarray') throw new Error('_reconstruct of something other than numpy.ndarray');
      return new NdArrayObj(charge, true);
    },
  };
  const frombuffer = {
    call: (args: PyValue[]): PyValue => {
      // protocol 5: _frombuffer(buffer, dtype, shape, order)
      if (args.length !== 4) throw new Error(`expected 4 arguments, got ${args.length}`);
      const [raw, dt, shape, order] = args;
      return new NdArrayObj(charge, false).fill(dt, shape, order === 'F', raw);
    },
  };
  return {
    'numpy.core.multiarray._reconstruct': reconstruct,
    'numpy._core.multiarray._reconstruct': reconstruct,
    'numpy.core.numeric._frombuffer': frombuffer,
    'numpy._core.numeric._frombuffer': frombuffer,
    'numpy.ndarray': {},
    'numpy.dtype': {
      call: (args: PyValue[]): PyValue => {
        const n = args[0] instanceof PyBytes ? args[0].latin1() : args[0];
        if (typeof n !== 'string' || n.length > 8) throw new Error('numpy.dtype without a short type name');
        return new DType(n);
      },
    },
    '_codecs.encode': {
      call: (args: PyValue[]): PyValue => {
        // How Python 3 pickles bytes under protocol 2: codecs.encode(latin-1 text, 'latin1')
        const [text, enc] = args;
        if (args.length !== 2 || typeof text !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) throw new Error('only codecs.encode(text, "latin1") is read');
        return new PyBytes(latin1Bytes(text, charge));
      },
    },
  };
}

/** Reads a pickle of numpy arrays and plain data into convkit's Python values (PyDict, PyTuple, arrays ...). */
export function unpicklePy(buf: Uint8Array, file: string): PyValue {
  try {
    return unpickleData(buf, {
      globals: numpyGlobals(2 * buf.length + (1 << 20)),
      source: file,
      refusalHint: 'a CIFAR-10 batch holds only numpy arrays and plain data',
    });
  } catch (e) {
    const err = e as DataError;
    if (err && err.code === 'ERR_FORMAT' && err.path === undefined) err.path = file;
    throw e;
  }
}

/**
 * Parses a pickle of numpy arrays and plain data: dicts become Map<string, unknown>, tuples and lists
 * arrays, numpy arrays NdArray, bytes PyBytes. A structure that refers to itself keeps doing so.
 */
export function unpickle(buf: Uint8Array, file: string): unknown {
  const root = unpicklePy(buf, file);
  const done = new Map<object, unknown>();
  const convert = (v: PyValue, depth: number): unknown => {
    if (v === null || typeof v !== 'object' || v instanceof PyBytes || v instanceof NdArrayObj) return v;
    if (done.has(v)) return done.get(v);
    if (depth > MAX_DEPTH) throw formatError(file, `pickle: containers nested deeper than ${MAX_DEPTH} levels`);
    if (v instanceof PyDict) {
      const m = new Map<string, unknown>();
      done.set(v, m);
      for (const [k, x] of v.map) m.set(String(k), convert(x, depth + 1));
      return m;
    }
    if (v instanceof PyTuple || Array.isArray(v)) {
      const out: unknown[] = [];
      done.set(v, out);
      for (const x of v instanceof PyTuple ? v.items : v) out.push(convert(x, depth + 1));
      return out;
    }
    if (v instanceof PyGlobal) return v.qualified;
    if (v instanceof DType) return v.str;
    throw formatError(file, `pickle: holds a ${typeOf(v)}`);
  };
  return convert(root, 0);
}
