/**
 * io.saveTorch: writes a state dict as PyTorch's own checkpoint format (torch.save, PyTorch >= 1.6), so
 * that `torch.load(path, weights_only=True)` reads it with no extra package. The file is a zip of
 * stored (uncompressed) entries, each one's data aligned to 64 bytes as torch.save aligns them:
 *
 *   archive/data.pkl   protocol-2 pickle of an OrderedDict name -> torch._utils._rebuild_tensor_v2(
 *                      storage, storage_offset, size, stride, requires_grad=False, OrderedDict())
 *                      where each storage is a persistent id ('storage', torch.FloatStorage, key,
 *                      'cpu', numel)
 *   archive/data/<key> the storage's elements, raw little-endian
 *   archive/version    "3"
 *
 * Tensors that view one storage (tied weights, slices of one buffer) are written as views of one
 * storage, as torch.save writes them, so they share memory again after torch.load. Only the GLOBALs
 * and opcodes that PyTorch 1.13's weights_only unpickler allows are used.
 */
import { crc32 } from './crc';
import { ckError } from '../errors';
import { Tensor } from '../tensor';
import { StorageRef } from '../memory';
import { leBytes } from './binary';
import { writeAll, writeAtomically } from './read_file';

export interface SaveTorchOptions {
  /**
   * How integer tensors are stored: 'int64' (the default) is what PyTorch holds num_batches_tracked
   * and class indices in; convkit holds them as int32 and widens on save.
   */
  intDtype?: 'int64' | 'int32';
  /** The folder name inside the zip (torch.save uses the file's base name; any name loads). Default 'archive'. */
  archiveName?: string;
}


// ---- pickle (protocol 2), just what a state dict needs -----------------------------------------------
class PickleWriter {
  private parts: Buffer[] = [];
  op(code: number): void {
    this.parts.push(Buffer.from([code]));
  }
  global(module: string, name: string): void {
    this.parts.push(Buffer.from(`c${module}\n${name}\n`, 'utf8'));
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    const h = Buffer.alloc(5);
    h[0] = 0x58; // BINUNICODE
    h.writeUInt32LE(b.length, 1);
    this.parts.push(h, b);
  }
  int(n: number): void {
    if (!Number.isSafeInteger(n)) throw ckError('ERR_ARG', `saveTorch: ${n} is not an integer`);
    if (n >= 0 && n < 256) this.parts.push(Buffer.from([0x4b, n])); // BININT1
    else if (n >= 0 && n < 65536) {
      const b = Buffer.alloc(3);
      b[0] = 0x4d; // BININT2
      b.writeUInt16LE(n, 1);
      this.parts.push(b);
    } else if (n >= -0x80000000 && n <= 0x7fffffff) {
      const b = Buffer.alloc(5);
      b[0] = 0x4a; // BININT
      b.writeInt32LE(n, 1);
      this.parts.push(b);
    } else {
      const b = Buffer.alloc(10);
      b[0] = 0x8a; // LONG1, 8 bytes two's complement little-endian
      b[1] = 8;
      b.writeBigInt64LE(BigInt(n), 2);
      this.parts.push(b);
    }
  }
  intTuple(xs: readonly number[]): void {
    if (xs.length === 0) return this.op(0x29); // EMPTY_TUPLE
    this.op(0x28); // MARK
    for (const x of xs) this.int(x);
    this.op(0x74); // TUPLE
  }
  emptyOrderedDict(): void {
    this.global('collections', 'OrderedDict');
    this.op(0x29); // EMPTY_TUPLE
    this.op(0x52); // REDUCE
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

// ---- zip (stored entries, 64-byte aligned data) --------------------------------------------------------
const ALIGN = 64;

class ZipWriter {
  private pos = 0;
  private central: Buffer[] = [];
  private count = 0;
  constructor(private readonly fd: number) {}
  add(name: string, data: Uint8Array): void {
    const nameBytes = Buffer.from(name, 'utf8');
    if (this.pos + data.length > 0xfffffffe || data.length > 0xfffffffe)
      throw ckError('ERR_ARG', `saveTorch: the checkpoint passes 4 GiB at '${name}'; files this large (zip64) are not supported`, 'RangeError');
    // An extra field ('FB', as torch.save writes) pads the header so the data starts 64-byte aligned.
    const base = this.pos + 30 + nameBytes.length + 4;
    const pad = (ALIGN - (base % ALIGN)) % ALIGN;
    const extra = Buffer.alloc(4 + pad, 0x5a); // 'Z' filler
    extra.write('FB', 0, 'latin1');
    extra.writeUInt16LE(pad, 2);
    const crc = crc32(data);
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(20, 4); // version needed
    h.writeUInt16LE(0, 6); // flags
    h.writeUInt16LE(0, 8); // stored
    h.writeUInt16LE(0, 10); // time
    h.writeUInt16LE(0x21, 12); // date 1980-01-01
    h.writeUInt32LE(crc, 14);
    h.writeUInt32LE(data.length, 18);
    h.writeUInt32LE(data.length, 22);
    h.writeUInt16LE(nameBytes.length, 26);
    h.writeUInt16LE(extra.length, 28);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4); // made by
    c.writeUInt16LE(20, 6); // needed
    c.writeUInt16LE(0, 8);
    c.writeUInt16LE(0, 10);
    c.writeUInt16LE(0, 12);
    c.writeUInt16LE(0x21, 14);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(data.length, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(nameBytes.length, 28);
    c.writeUInt16LE(0, 30); // extra
    c.writeUInt16LE(0, 32); // comment
    c.writeUInt16LE(0, 34); // disk
    c.writeUInt16LE(0, 36); // internal attributes
    c.writeUInt32LE(0, 38); // external attributes
    c.writeUInt32LE(this.pos, 42);
    this.central.push(c, nameBytes);
    this.count++;
    for (const part of [h, nameBytes, extra, data]) writeAll(this.fd, part);
    this.pos += 30 + nameBytes.length + extra.length + data.length;
  }
  finish(): void {
    if (this.count > 0xffff) throw ckError('ERR_ARG', `saveTorch: ${this.count} zip entries; more than 65535 (zip64) are not supported`, 'RangeError');
    const dir = Buffer.concat(this.central);
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(this.count, 8);
    end.writeUInt16LE(this.count, 10);
    end.writeUInt32LE(dir.length, 12);
    end.writeUInt32LE(this.pos, 16);
    writeAll(this.fd, dir);
    writeAll(this.fd, end);
  }
}

// ---- the state dict -------------------------------------------------------------------------------------

interface StoragePlan {
  key: string;
  dtype: 'float32' | 'int32';
  /** A tensor of the group, to read the storage through. */
  anchor: Tensor;
  /** The first and one-past-last element (of the native buffer) that any tensor of the group touches. */
  start: number;
  end: number;
}

/** The elements a view reaches: [offset, last + 1), or null for an empty tensor. */
function spanOf(t: Tensor): [number, number] | null {
  if (t.numel() === 0) return null;
  let last = t.offset;
  t.shape.forEach((n, i) => (last += (n - 1) * t.strides[i]));
  return [t.offset, last + 1];
}

/**
 * Writes `stateDict` (model.stateDict(), a Map or a record of tensors, on any device) as a PyTorch
 * checkpoint, atomically (a temporary file renamed into place).
 */
export function saveTorch(stateDict: Map<string, Tensor> | Record<string, Tensor>, path: string, opts: SaveTorchOptions = {}): void {
  const intDtype = opts.intDtype ?? 'int64';
  const archive = opts.archiveName ?? 'archive';
  if (!/^[A-Za-z0-9_.-]+$/.test(archive)) throw ckError('ERR_ARG', `saveTorch: archiveName '${archive}' must be a plain name`);
  if (typeof path !== 'string' || !path) throw ckError('ERR_ARG', 'saveTorch: path must be a non-empty string', 'TypeError');
  const list = stateDict instanceof Map ? [...stateDict.entries()] : Object.entries(stateDict);
  // One storage per native buffer (and dtype): views of one buffer stay views of one storage.
  const plans: StoragePlan[] = [];
  const byRef = new Map<StorageRef, Map<string, StoragePlan>>();
  const placed: { name: string; t: Tensor; plan: StoragePlan }[] = [];
  for (const [name, t] of list) {
    if (!(t instanceof Tensor)) throw ckError('ERR_ARG', `saveTorch: '${name}' is not a Tensor`, 'TypeError');
    const ref = t.storageRef; // throws ERR_DISPOSED for a disposed tensor
    const span = spanOf(t);
    if (!span) {
      // an empty tensor: an empty storage of its own (it reaches no element of any buffer)
      const plan = { key: String(plans.length), dtype: t.dtype as 'float32' | 'int32', anchor: t, start: 0, end: 0 };
      plans.push(plan);
      placed.push({ name, t, plan });
      continue;
    }
    let forRef = byRef.get(ref);
    if (!forRef) byRef.set(ref, (forRef = new Map()));
    let plan = forRef.get(t.dtype);
    if (!plan) {
      plan = { key: String(plans.length), dtype: t.dtype as 'float32' | 'int32', anchor: t, start: span[0], end: span[1] };
      forRef.set(t.dtype, plan);
      plans.push(plan);
    } else {
      plan.start = Math.min(plan.start, span[0]);
      plan.end = Math.max(plan.end, span[1]);
    }
    placed.push({ name, t, plan });
  }

  const p = new PickleWriter();
  p.op(0x80); // PROTO 2
  p.op(2);
  p.global('collections', 'OrderedDict');
  p.op(0x29);
  p.op(0x52);
  if (placed.length) {
    p.op(0x28); // MARK
    for (const { name, t, plan } of placed) {
      p.str(name);
      p.global('torch._utils', '_rebuild_tensor_v2');
      p.op(0x28); // MARK: the arguments
      p.op(0x28); // MARK: the persistent id
      p.str('storage');
      p.global('torch', plan.dtype === 'float32' ? 'FloatStorage' : intDtype === 'int64' ? 'LongStorage' : 'IntStorage');
      p.str(plan.key);
      p.str('cpu');
      p.int(plan.end - plan.start);
      p.op(0x74); // TUPLE
      p.op(0x51); // BINPERSID
      p.int(t.numel() === 0 ? 0 : t.offset - plan.start);
      p.intTuple(t.shape);
      p.intTuple(t.strides);
      p.op(0x89); // NEWFALSE: requires_grad
      p.emptyOrderedDict(); // backward hooks
      p.op(0x74); // TUPLE
      p.op(0x52); // REDUCE
    }
    p.op(0x75); // SETITEMS
  }
  p.op(0x2e); // STOP

  writeAtomically(path, (fd) => {
    const zip = new ZipWriter(fd);
    zip.add(`${archive}/data.pkl`, p.bytes());
    for (const plan of plans) {
      const n = plan.end - plan.start;
      let data: Float32Array | Int32Array;
      if (n === 0) data = plan.dtype === 'float32' ? new Float32Array(0) : new Int32Array(0);
      else {
        const whole = plan.anchor.viewOf([n], [1], plan.start);
        try {
          data = whole.dataSync();
        } finally {
          whole.dispose();
        }
      }
      let bytes: Uint8Array;
      if (plan.dtype === 'int32' && intDtype === 'int64') {
        const wide = new BigInt64Array(data.length);
        for (let j = 0; j < data.length; j++) wide[j] = BigInt(data[j]);
        bytes = leBytes(wide);
      } else bytes = leBytes(data);
      zip.add(`${archive}/data/${plan.key}`, bytes);
    }
    zip.add(`${archive}/version`, Buffer.from('3\n', 'utf8'));
    zip.finish();
  });
}
