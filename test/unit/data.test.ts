/**
 * Datasets and the DataLoader. CIFAR-10 files are written here in both official layouts (the binary
 * records, and the Python pickles as Python 2's cPickle wrote them, plus Python 3's protocols) by
 * /usr/bin/python3 with numpy, which also computes the reference; Fashion-MNIST is read from Debian's
 * dataset-fashion-mnist files and checked against numpy; ImageFolder against torchvision's own listing
 * and PIL's decoding. Bad input must fail with ERR_DATA / ERR_FORMAT naming the file. DataLoader
 * batches must not depend on numWorkers, and nothing may hang (every test has a timeout; workers are
 * closed on completion, on break and on error).
 */
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ck from '../../lib';
import { byteBatch, loadItems } from '../../lib/data/batch';
import { collateHost } from '../../lib/data/collate';

const { data, transforms: T } = ck;
jest.setTimeout(120000);

const PY = process.env.CONVKIT_TORCH_PYTHON ?? '/usr/bin/python3';
const FMNIST = '/usr/share/datasets/fashion-mnist';

function py(code: string): string {
  const r = spawnSync(PY, ['-c', code], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return r.stdout;
}
const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

let tmp = '';
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ck-data-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function expectDataError(fn: () => unknown, code: 'ERR_DATA' | 'ERR_FORMAT', file: string | RegExp, msg?: RegExp): void {
  let err: (Error & { code?: string; path?: string }) | null = null;
  try {
    fn();
  } catch (e) {
    err = e as Error & { code?: string; path?: string };
  }
  expect(err).not.toBeNull();
  expect(err!.code).toBe(code);
  if (typeof file === 'string') {
    expect(err!.message).toContain(file);
    expect(err!.path).toBe(file);
  } else expect(err!.message).toMatch(file);
  if (msg) expect(err!.message).toMatch(msg);
}

async function expectDataRejection(p: Promise<unknown>, code: string, file: string): Promise<void> {
  await expect(p).rejects.toMatchObject({ code, path: file });
  await expect(p).rejects.toThrow(file);
}

async function collect(loader: ck.data.DataLoader): Promise<number[][][]> {
  const out: number[][][] = [];
  for await (const batch of loader) {
    out.push(batch.map((t) => Array.from(t.dataSync())));
    batch.forEach((t) => t.dispose());
  }
  return out;
}

// ---- CIFAR-10 ----------------------------------------------------------------------------------

// Writes a small CIFAR-10 in both layouts: 5 training batches of 4 records and a test batch of 3.
// Returns numpy's view of it: sha256 of the (N, 32, 32, 3) HWC bytes (torchvision's .data) and labels.
interface CifarRef {
  train: { sha: string; labels: number[] };
  test: { sha: string; labels: number[] };
}
function writeCifar(root: string, pickleKind: 'py2' | 'p2' | 'p4' | 'p5'): CifarRef {
  const out = py(`
import json, os, pickle, struct, hashlib
import numpy as np
root = ${JSON.stringify(root)}
binr = os.path.join(root, 'cifar-10-batches-bin'); pyr = os.path.join(root, 'cifar-10-batches-py')
os.makedirs(binr, exist_ok=True); os.makedirs(pyr, exist_ok=True)

class Py2Pickler(pickle._Pickler):
    # Python 2's cPickle wrote str (the byte strings of the official release) as (SHORT_)BINSTRING.
    def save_bytes(self, obj):
        n = len(obj)
        self.write((pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack('<i', n)) + obj)
        self.memoize(obj)
    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[bytes] = save_bytes

def dump(d, f):
    kind = ${JSON.stringify(pickleKind)}
    if kind == 'py2': Py2Pickler(f, 2).dump(d)
    else: pickle.dump(d, f, protocol={'p2': 2, 'p4': 4, 'p5': 5}[kind])

ref = {}
for split, names, n in [('train', ['data_batch_%d' % i for i in range(1, 6)], 4), ('test', ['test_batch'], 3)]:
    datas, labels = [], []
    for b, name in enumerate(names):
        rs = np.random.RandomState(100 + b + (50 if split == 'test' else 0))
        data = rs.randint(0, 256, size=(n, 3072)).astype(np.uint8)
        lab = [int(v) for v in rs.randint(0, 10, size=n)]
        with open(os.path.join(binr, name + '.bin'), 'wb') as f:
            for i in range(n): f.write(bytes([lab[i]]) + data[i].tobytes())
        with open(os.path.join(pyr, name), 'wb') as f:
            dump({b'batch_label': ('%s batch %d of 5' % (split, b + 1)).encode(), b'labels': lab, b'data': data,
                  b'filenames': [('img_%d.png' % i).encode() for i in range(n)]}, f)
        with open(os.path.join(pyr, name), 'rb') as f:  # what torchvision's reader gets back
            back = pickle.load(f, encoding='latin1')
        back = {(k.decode() if isinstance(k, bytes) else k): v for k, v in back.items()}
        assert (back['data'] == data).all() and back['labels'] == lab
        datas.append(data); labels += lab
    hwc = np.vstack(datas).reshape(-1, 3, 32, 32).transpose((0, 2, 3, 1))
    ref[split] = {'sha': hashlib.sha256(np.ascontiguousarray(hwc).tobytes()).hexdigest(), 'labels': labels}
print(json.dumps(ref))
`);
  return JSON.parse(out) as CifarRef;
}

describe('CIFAR10', () => {
  test('reads the binary release (records of label + R, G, B planes) into HWC images', () => {
    const root = path.join(tmp, 'cifar-bin');
    const ref = writeCifar(root, 'py2');
    fs.rmSync(path.join(root, 'cifar-10-batches-py'), { recursive: true });
    const train = new data.CIFAR10(root);
    expect(train.format).toBe('binary');
    expect(train.length).toBe(20);
    expect(sha(train.data)).toBe(ref.train.sha);
    expect(Array.from(train.targets)).toEqual(ref.train.labels);
    const test = new data.CIFAR10(path.join(root, 'cifar-10-batches-bin'), { train: false });
    expect(test.length).toBe(3);
    expect(sha(test.data)).toBe(ref.test.sha);
    expect(Array.from(test.targets)).toEqual(ref.test.labels);
    expect(train.classes).toEqual(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
    expect(train.classToIdx.truck).toBe(9);
    // An item: [Image 32x32x3, label]; with ToTensor, (3, 32, 32) floats in [0, 1]
    const [img, label] = train.get(5) as [ck.transforms.Image, number];
    expect([img.height, img.width, img.channels]).toEqual([32, 32, 3]);
    expect(label).toBe(ref.train.labels[5]);
    train.transform = new T.ToTensor();
    const [x] = train.get(-1) as [ck.Tensor, number];
    expect(x.shape).toEqual([3, 32, 32]);
    const last = train.data.subarray(19 * 3072);
    expect(x.dataSync()[1]).toBeCloseTo(last[3] / 255, 7); // channel 0, pixel (0, 1)
    expect(x.dataSync()[1024]).toBeCloseTo(last[1] / 255, 7); // channel 1, pixel (0, 0)
  });

  for (const kind of ['py2', 'p2', 'p4', 'p5'] as const) {
    test(`reads the python release pickled ${kind === 'py2' ? 'as the official files (Python 2 cPickle, protocol 2)' : `by Python 3, protocol ${kind[1]}`}`, () => {
      const root = path.join(tmp, `cifar-${kind}`);
      const ref = writeCifar(root, kind);
      fs.rmSync(path.join(root, 'cifar-10-batches-bin'), { recursive: true });
      const train = new data.CIFAR10(root, { train: true });
      expect(train.format).toBe('python');
      expect(sha(train.data)).toBe(ref.train.sha);
      expect(Array.from(train.targets)).toEqual(ref.train.labels);
      const test = new data.CIFAR10(root, { train: false });
      expect(sha(test.data)).toBe(ref.test.sha);
      expect(Array.from(test.targets)).toEqual(ref.test.labels);
    });
  }

  test('missing, truncated and malformed files fail with the file named', () => {
    const root = path.join(tmp, 'cifar-bad');
    writeCifar(root, 'py2');
    const bin = path.join(root, 'cifar-10-batches-bin');
    const pyd = path.join(root, 'cifar-10-batches-py');
    expectDataError(() => new data.CIFAR10(path.join(tmp, 'nowhere')), 'ERR_DATA', path.join(tmp, 'nowhere'), /cifar-10-batches-bin.*cifar\.html/s);
    // a missing batch
    fs.renameSync(path.join(bin, 'data_batch_3.bin'), path.join(tmp, 'moved.bin'));
    expectDataError(() => new data.CIFAR10(root), 'ERR_DATA', path.join(bin, 'data_batch_3.bin'), /missing/);
    fs.renameSync(path.join(tmp, 'moved.bin'), path.join(bin, 'data_batch_3.bin'));
    // a truncated batch
    const f2 = path.join(bin, 'data_batch_2.bin');
    const whole = fs.readFileSync(f2);
    fs.writeFileSync(f2, whole.subarray(0, whole.length - 100));
    expectDataError(() => new data.CIFAR10(root), 'ERR_FORMAT', f2, /truncated.*3073/);
    // a label out of range (a CIFAR-100 file, say)
    const bad = Buffer.from(whole);
    bad[3073] = 57;
    fs.writeFileSync(f2, bad);
    expectDataError(() => new data.CIFAR10(root), 'ERR_FORMAT', f2, /label 57/);
    fs.writeFileSync(f2, whole);
    expect(new data.CIFAR10(root).length).toBe(20);
    // python layout: truncated pickle, a pickle that calls os.system, a dict without data
    fs.rmSync(bin, { recursive: true });
    const t = path.join(pyd, 'test_batch');
    const pk = fs.readFileSync(t);
    fs.writeFileSync(t, pk.subarray(0, 5000));
    expectDataError(() => new data.CIFAR10(root, { train: false }), 'ERR_FORMAT', t, /truncated/);
    py(`
import pickle, os
class Evil:
    def __reduce__(self): return (os.system, ('echo pwned',))
with open(${JSON.stringify(t)}, 'wb') as f: pickle.dump({b'data': Evil(), b'labels': []}, f, protocol=2)`);
    expectDataError(() => new data.CIFAR10(root, { train: false }), 'ERR_FORMAT', t, /posix\.system.*not allowed/);
    py(`
import pickle
with open(${JSON.stringify(t)}, 'wb') as f: pickle.dump({b'labels': [1, 2]}, f, protocol=2)`);
    expectDataError(() => new data.CIFAR10(root, { train: false }), 'ERR_FORMAT', t, /no 'data'/);
    fs.writeFileSync(t, Buffer.from('not a pickle at all'));
    expectDataError(() => new data.CIFAR10(root, { train: false }), 'ERR_FORMAT', t, /pickle/);
  });

  test('an 8-byte python batch with a BINSTRING of negative length fails at once; malformed batches are coded errors', () => {
    const root = path.join(tmp, 'cifar-hostile');
    const dir = path.join(root, 'cifar-10-batches-py');
    fs.mkdirSync(dir, { recursive: true });
    const t = path.join(dir, 'test_batch');
    // PROTO 2, BINSTRING of length -10, STOP: the old reader stepped back 10 bytes and looped forever
    fs.writeFileSync(t, Buffer.from([0x80, 0x02, 0x54, 0xf6, 0xff, 0xff, 0xff, 0x2e]));
    const t0 = Date.now();
    expectDataError(() => new data.CIFAR10(root, { train: false }), 'ERR_FORMAT', t, /BINSTRING.*negative length -10/);
    expect(Date.now() - t0).toBeLessThan(1000);
    // batches of the right outline with the wrong things inside: each an ERR_FORMAT naming the file
    const cases: [string, RegExp][] = [
      ["{b'data': None, b'labels': [1]}", /no 'data' numpy array/],
      ["{b'data': np.dtype('u1'), b'labels': []}", /no 'data' numpy array/],
      ["{b'data': np.zeros((2, 3072), np.uint8), b'labels': (1, 2)}", /'labels' should be a list of 2 ints, got tuple/],
      ["{b'data': np.zeros((2, 3072), np.uint8), b'labels': [1, None]}", /label 1 is None/],
      ["{b'data': np.zeros((2, 3072), np.uint8), b'labels': [1, 2.5]}", /label 1 is float/],
      ["{b'data': np.zeros((2, 3072), np.float32), b'labels': [1, 2]}", /'data' is a <f4 array/],
      ["{b'data': np.zeros((2, 5), np.uint8), b'labels': [1, 2]}", /shape \(2, 5\)/],
      ["{b'data': np.zeros(3072, np.uint8), b'labels': [1]}", /shape \(3072\)/],
      ["[1, 2, 3]", /does not hold a dict/],
      ["{b'data': np.array([b'x'], dtype=object), b'labels': [1]}", /array data is a list, not a byte string/],
    ];
    py(`
import pickle, numpy as np
for i, obj in enumerate([${cases.map((c) => c[0]).join(', ')}]):
    with open(${JSON.stringify(t)} + '.case%d' % i, 'wb') as f: pickle.dump(obj, f, protocol=2)`);
    cases.forEach(([, msg], i) => {
      fs.renameSync(`${t}.case${i}`, t);
      expectDataError(() => new data.CIFAR10(root, { train: false }), 'ERR_FORMAT', t, msg);
    });
  });
});

// ---- MNIST / Fashion-MNIST -------------------------------------------------------------------------

describe('FashionMNIST and MNIST', () => {
  const hasFmnist = fs.existsSync(path.join(FMNIST, 'train-images-idx3-ubyte.gz'));
  const needFmnist = hasFmnist ? test : test.skip;

  needFmnist('the Debian dataset-fashion-mnist files: 60,000 / 10,000 images equal to numpy\'s read', () => {
    const ref = JSON.parse(py(`
import gzip, hashlib, json
import numpy as np
out = {}
for split in ['train', 't10k']:
    img = np.frombuffer(gzip.open('${FMNIST}/%s-images-idx3-ubyte.gz' % split).read(), np.uint8, offset=16)
    lab = np.frombuffer(gzip.open('${FMNIST}/%s-labels-idx1-ubyte.gz' % split).read(), np.uint8, offset=8)
    img = img.reshape(len(lab), 28, 28)
    out[split] = {'n': int(len(lab)), 'img': hashlib.sha256(img.tobytes()).hexdigest(), 'lab': hashlib.sha256(lab.tobytes()).hexdigest(),
                  'first6000': hashlib.sha256(img[:6000].tobytes()).hexdigest(), 'first1000': hashlib.sha256(img[:1000].tobytes()).hexdigest(),
                  'samples': {str(i): [int(lab[i]), img[i].astype(int).ravel().tolist()] for i in [0, 1, 12345 % len(lab), len(lab) - 1]}}
print(json.dumps(out))`)) as Record<string, { n: number; img: string; lab: string; first6000: string; first1000: string; samples: Record<string, [number, number[]]> }>;
    for (const [train, split] of [[true, 'train'], [false, 't10k']] as const) {
      const ds = new data.FashionMNIST(FMNIST, { train, transform: new T.ToTensor() });
      expect(ds.length).toBe(train ? 60000 : 10000);
      expect(ds.length).toBe(ref[split].n);
      expect(sha(ds.data)).toBe(ref[split].img);
      expect(sha(ds.targets)).toBe(ref[split].lab);
      for (const [i, [label, pixels]] of Object.entries(ref[split].samples)) {
        const [x, y] = ds.get(Number(i)) as [ck.Tensor, number];
        expect(y).toBe(label);
        expect(x.shape).toEqual([1, 28, 28]);
        expect(Array.from(x.dataSync(), (v) => Math.round(v * 255))).toEqual(pixels);
      }
    }
    expect(new data.FashionMNIST(FMNIST).classes[9]).toBe('Ankle boot');
    // the bundled subset is the first 6000 / 1000 of the official splits
    const small = data.bundledFashionMNIST();
    expect(small.length).toBe(6000);
    expect(sha(small.data)).toBe(ref.train.first6000);
    const smallTest = new data.FashionMNIST(undefined, { train: false });
    expect(smallTest.length).toBe(1000);
    expect(sha(smallTest.data)).toBe(ref.t10k.first1000);
    expect(smallTest.files[0]).toBe(path.join(data.BUNDLED_FASHION_MNIST, 't10k-images-idx3-ubyte.gz'));
  });

  test('torchvision\'s <root>/MNIST/raw layout and uncompressed files; MNIST class names', () => {
    const root = path.join(tmp, 'mnist');
    const raw = path.join(root, 'MNIST', 'raw');
    fs.mkdirSync(raw, { recursive: true });
    const imgs = Buffer.alloc(16 + 3 * 4 * 5);
    imgs.writeUInt32BE(2051, 0);
    imgs.writeUInt32BE(3, 4);
    imgs.writeUInt32BE(4, 8);
    imgs.writeUInt32BE(5, 12);
    for (let i = 16; i < imgs.length; i++) imgs[i] = i * 3;
    const labs = Buffer.from([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 9]);
    fs.writeFileSync(path.join(raw, 't10k-images-idx3-ubyte'), imgs);
    fs.writeFileSync(path.join(raw, 't10k-labels-idx1-ubyte'), labs);
    const ds = new data.MNIST(root, { train: false });
    expect(ds.length).toBe(3);
    expect([ds.rows, ds.cols]).toEqual([4, 5]);
    expect(Array.from(ds.targets)).toEqual([7, 2, 9]);
    const [img] = ds.get(2) as [ck.transforms.Image, number];
    expect(Array.from(img.data)).toEqual(Array.from(imgs.subarray(16 + 40, 16 + 60)));
    expect(ds.classes[7]).toBe('7 - seven');
  });

  test('wrong magic, truncated IDX, corrupt gzip, mismatched counts and missing files fail naming the file', () => {
    const dir = path.join(tmp, 'idx-bad');
    fs.mkdirSync(dir, { recursive: true });
    const src = data.BUNDLED_FASHION_MNIST;
    const img = path.join(dir, 't10k-images-idx3-ubyte.gz');
    const lab = path.join(dir, 't10k-labels-idx1-ubyte.gz');
    fs.copyFileSync(path.join(src, 't10k-images-idx3-ubyte.gz'), img);
    fs.copyFileSync(path.join(src, 't10k-labels-idx1-ubyte.gz'), lab);
    expect(new data.FashionMNIST(dir, { train: false }).length).toBe(1000);
    expectDataError(() => new data.FashionMNIST(dir, { train: true }), 'ERR_DATA', /train-images-idx3-ubyte\[\.gz\]/);
    // the labels file where the images should be
    fs.copyFileSync(lab, img);
    expectDataError(() => new data.FashionMNIST(dir, { train: false }), 'ERR_FORMAT', img, /wrong magic number 2049.*expected 2051/);
    // truncated data (uncompressed), then a truncated gzip stream
    const raw = require('zlib').gunzipSync(fs.readFileSync(path.join(src, 't10k-images-idx3-ubyte.gz'))) as Buffer;
    fs.rmSync(img);
    const plain = path.join(dir, 't10k-images-idx3-ubyte');
    fs.writeFileSync(plain, raw.subarray(0, raw.length - 1000));
    expectDataError(() => new data.FashionMNIST(dir, { train: false }), 'ERR_FORMAT', plain, /truncated/);
    fs.rmSync(plain);
    const gz = fs.readFileSync(path.join(src, 't10k-images-idx3-ubyte.gz'));
    fs.writeFileSync(img, gz.subarray(0, gz.length / 2));
    expectDataError(() => new data.FashionMNIST(dir, { train: false }), 'ERR_FORMAT', img, /gzip/);
    // 1000 images, 999 labels
    fs.writeFileSync(img, gz);
    const labRaw = require('zlib').gunzipSync(fs.readFileSync(path.join(src, 't10k-labels-idx1-ubyte.gz'))) as Buffer;
    const short = Buffer.from(labRaw.subarray(0, labRaw.length - 1));
    short.writeUInt32BE(999, 4);
    fs.writeFileSync(lab, short);
    expectDataError(() => new data.FashionMNIST(dir, { train: false }), 'ERR_FORMAT', img, /1000 images but .* 999 labels/);
  });

  test('a gzipped IDX is inflated against the size its header declares, never more', () => {
    const zlib = require('zlib') as typeof import('zlib');
    const dir = path.join(tmp, 'idx-bomb');
    fs.mkdirSync(dir, { recursive: true });
    const head = Buffer.alloc(16);
    head.writeUInt32BE(2051, 0);
    [1, 10, 10].forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
    // a 116-byte file's header, then 64 MiB of zeros: about 64 KB compressed
    const bomb = path.join(dir, 'bomb-idx3-ubyte.gz');
    const gz = zlib.createGzip();
    const parts: Buffer[] = [];
    gz.on('data', (c: Buffer) => parts.push(c));
    gz.write(head);
    const zeros = Buffer.alloc(1 << 20);
    for (let i = 0; i < 64; i++) gz.write(zeros);
    gz.end();
    return new Promise<void>((resolve) => gz.on('end', resolve)).then(() => {
      const packed = Buffer.concat(parts);
      expect(packed.length).toBeLessThan(1 << 20);
      fs.writeFileSync(bomb, packed);
      const before = process.memoryUsage().arrayBuffers;
      expectDataError(() => data.readIdx(bomb, 2051), 'ERR_FORMAT', bomb, /inflates past the 116 bytes its header declares for dimensions \[1, 10, 10\]/);
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 << 20);
      // the same header with exactly its 100 bytes loads; with fewer it is truncated
      const ok = path.join(dir, 'ok-idx3-ubyte.gz');
      fs.writeFileSync(ok, zlib.gzipSync(Buffer.concat([head, Buffer.alloc(100, 7)])));
      const a = data.readIdx(ok, 2051);
      expect(a.dims).toEqual([1, 10, 10]);
      expect(Array.from(a.data).every((v) => v === 7)).toBe(true);
      fs.writeFileSync(ok, zlib.gzipSync(Buffer.concat([head, Buffer.alloc(99)])));
      expectDataError(() => data.readIdx(ok, 2051), 'ERR_FORMAT', ok, /truncated: 99 bytes of data/);
      // a gzip header with a long file name (FNAME) before the deflate data still finds the IDX header
      const named = Buffer.from(zlib.gzipSync(Buffer.concat([head, Buffer.alloc(100, 1)])));
      const fname = Buffer.concat([Buffer.alloc(5000, 0x61), Buffer.from([0])]);
      const withName = Buffer.concat([named.subarray(0, 3), Buffer.from([named[3] | 8]), named.subarray(4, 10), fname, named.subarray(10)]);
      fs.writeFileSync(ok, withName);
      expect(data.readIdx(ok, 2051).dims).toEqual([1, 10, 10]);
    });
  });
});

// ---- ImageFolder -------------------------------------------------------------------------------

describe('ImageFolder', () => {
  let root = '';
  let ref: { classes: string[]; samples: [string, number][]; pixels: Record<string, [number, number, number[]]> };
  beforeAll(() => {
    root = path.join(tmp, 'folder');
    ref = JSON.parse(py(`
import json, os
import numpy as np
from PIL import Image
from torchvision.datasets import ImageFolder
root = ${JSON.stringify(root)}
for d in ['cat', 'cat/sub', 'dog', 'empty_ext', 'zebra']: os.makedirs(os.path.join(root, d), exist_ok=True)
rs = np.random.RandomState(0)
def arr(h, w, c): return rs.randint(0, 256, size=(h, w, c) if c > 1 else (h, w)).astype(np.uint8)
Image.fromarray(arr(5, 4, 3)).save(os.path.join(root, 'cat/b.png'))
Image.fromarray(arr(6, 7, 1), 'L').save(os.path.join(root, 'cat/sub/a.png'))
Image.fromarray(arr(3, 8, 4), 'RGBA').save(os.path.join(root, 'dog/c.png'))
Image.fromarray(arr(16, 16, 3)).save(os.path.join(root, 'dog/d.jpg'), quality=95)
open(os.path.join(root, 'dog/notes.txt'), 'w').write('not an image')
Image.fromarray(arr(4, 4, 3)).save(os.path.join(root, 'empty_ext/x.png'))
Image.fromarray(arr(9, 2, 3)).save(os.path.join(root, 'zebra/z.webp'), lossless=True)
ds = ImageFolder(root)
pix = {p: list(np.array(Image.open(p).convert('RGB')).shape[:2]) + [np.array(Image.open(p).convert('RGB')).ravel().tolist()] for p, _ in ds.samples}
print(json.dumps({'classes': ds.classes, 'samples': ds.samples, 'pixels': pix}))`));
  });

  test('classes and samples as torchvision lists them; PNG and WebP decode as PIL convert("RGB")', async () => {
    const ds = new data.ImageFolder(root);
    expect(ds.classes).toEqual(ref.classes);
    expect(ds.samples).toEqual(ref.samples);
    expect(ds.length).toBe(ref.samples.length);
    expect(ds.targets).toEqual(ref.samples.map((s) => s[1]));
    for (let i = 0; i < ds.length; i++) {
      const [file] = ds.samples[i];
      const [img, label] = (await ds.get(i)) as [ck.transforms.Image, number];
      const [h, w, pixels] = ref.pixels[file];
      expect([img.height, img.width, img.channels, label]).toEqual([h, w, 3, ds.samples[i][1]]);
      if (file.endsWith('.jpg')) {
        // Two JPEG decoders (libjpeg-turbo in PIL, libvips' in sharp) may differ by a level or so.
        const diff = pixels.reduce((a, v, k) => a + Math.abs(v - img.data[k]), 0) / pixels.length;
        expect(diff).toBeLessThan(2);
      } else expect(Array.from(img.data)).toEqual(pixels);
    }
  });

  test('a corrupt image, a missing folder, an empty class and no classes fail with ERR_DATA/ERR_FORMAT', async () => {
    const bad = path.join(tmp, 'folder-bad');
    fs.mkdirSync(path.join(bad, 'a'), { recursive: true });
    fs.writeFileSync(path.join(bad, 'a', 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\n garbage that is not a png'));
    const ds = new data.ImageFolder(bad, { transform: new T.ToTensor() });
    await expectDataRejection(Promise.resolve(ds.get(0)), 'ERR_FORMAT', path.join(bad, 'a', 'broken.png'));
    expectDataError(() => new data.ImageFolder(path.join(tmp, 'no-such-folder')), 'ERR_DATA', path.join(tmp, 'no-such-folder'));
    fs.mkdirSync(path.join(bad, 'b'));
    expectDataError(() => new data.ImageFolder(bad), 'ERR_DATA', bad, /no valid file for the classes b/);
    const flat = path.join(tmp, 'folder-flat');
    fs.mkdirSync(flat, { recursive: true });
    fs.writeFileSync(path.join(flat, 'x.png'), '');
    expectDataError(() => new data.ImageFolder(flat), 'ERR_DATA', flat, /class folder/);
  });

  test('an image over the pixel cap is refused from its header, before decoding, naming the file and both numbers', async () => {
    const zlib = require('zlib') as typeof import('zlib') & { crc32(b: Buffer): number };
    const dir = path.join(tmp, 'folder-bomb', 'a');
    fs.mkdirSync(dir, { recursive: true });
    // A PNG whose header says 16383 x 16383 (what a 261 KB bomb declares); its pixels never get decoded.
    const chunk = (type: string, body: Buffer) => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(body.length);
      const tb = Buffer.concat([Buffer.from(type, 'latin1'), body]);
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(zlib.crc32(tb) >>> 0);
      return Buffer.concat([len, tb, crc]);
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(16383, 0);
    ihdr.writeUInt32BE(16383, 4);
    ihdr[8] = 8; // bit depth
    ihdr[9] = 2; // RGB
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
      chunk('IDAT', zlib.deflateSync(Buffer.alloc(1 + 16383 * 3))), chunk('IEND', Buffer.alloc(0)),
    ]);
    const bomb = path.join(dir, 'bomb.png');
    fs.writeFileSync(bomb, png);
    const ds = new data.ImageFolder(path.dirname(dir), { transform: new T.ToTensor() });
    expect(ds.maxPixels).toBe(178956970);
    const t0 = Date.now();
    await expectDataRejection(Promise.resolve(ds.get(0)), 'ERR_DATA', bomb);
    await expect(Promise.resolve(ds.get(0))).rejects.toThrow(/16383 x 16383 = 268402689 pixels, more than the limit of 178956970/);
    expect(Date.now() - t0).toBeLessThan(2000);
    // the cap is an option, and an environment variable; a small real image over a small cap is refused too
    const small = path.join(root, 'dog', 'd.jpg'); // 16 x 16
    await expect(data.decodeImage(small, { maxPixels: 255 })).rejects.toMatchObject({ code: 'ERR_DATA', path: small, message: expect.stringMatching(/16 x 16 = 256 pixels, more than the limit of 255/) });
    expect((await data.decodeImage(small, { maxPixels: 256 })).width).toBe(16);
    process.env.CONVKIT_MAX_IMAGE_PIXELS = '100';
    try {
      const capped = new data.ImageFolder(root);
      expect(capped.maxPixels).toBe(100);
      await expect(Promise.resolve(capped.get(capped.samples.findIndex((x) => x[0] === small)))).rejects.toMatchObject({ code: 'ERR_DATA', path: small });
      process.env.CONVKIT_MAX_IMAGE_PIXELS = 'lots';
      expect(() => new data.ImageFolder(root)).toThrow(expect.objectContaining({ code: 'ERR_ARG', message: expect.stringMatching(/CONVKIT_MAX_IMAGE_PIXELS/) }));
    } finally {
      delete process.env.CONVKIT_MAX_IMAGE_PIXELS;
    }
    expect(() => new data.ImageFolder(root, { maxPixels: -1 })).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    expect(new data.ImageFolder(root, { maxPixels: Infinity }).maxPixels).toBe(Infinity);
  });

  test('symlink loops and unfollowable links are ERR_DATA naming the path, not ELOOP', () => {
    const base = path.join(tmp, 'folder-links');
    fs.mkdirSync(path.join(base, 'a'), { recursive: true });
    fs.copyFileSync(path.join(root, 'cat', 'b.png'), path.join(base, 'a', 'x.png'));
    // a link back to the root of the walk
    const loop = path.join(base, 'a', 'up');
    fs.symlinkSync('..', loop);
    expectDataError(() => new data.ImageFolder(base), 'ERR_DATA', path.join(base, 'a', 'up', 'a'), /symlink loop/);
    fs.rmSync(loop);
    // a link to itself: stat says ELOOP
    const self = path.join(base, 'a', 'self');
    fs.symlinkSync('self', self);
    expectDataError(() => new data.ImageFolder(base), 'ERR_DATA', self, /ELOOP|too many/i);
    fs.rmSync(self);
    // a link to a sibling folder is not a loop: its images are listed under the link, as os.walk does
    fs.mkdirSync(path.join(base, 'b'));
    fs.copyFileSync(path.join(root, 'cat', 'b.png'), path.join(base, 'b', 'y.png'));
    fs.symlinkSync(path.join('..', 'b'), path.join(base, 'a', 'link'));
    expect(new data.ImageFolder(base).samples).toEqual([
      [path.join(base, 'a', 'x.png'), 0], [path.join(base, 'a', 'link', 'y.png'), 0], [path.join(base, 'b', 'y.png'), 1],
    ]);
  });
});

// ---- TensorDataset, Subset, randomSplit -----------------------------------------------------------

describe('TensorDataset, Subset, randomSplit', () => {
  test('TensorDataset slices every tensor; Subset maps indices', () => {
    const x = ck.arange(0, 24, 1, { dtype: 'float32' }).reshape([6, 2, 2]);
    const y = ck.tensor([5, 4, 3, 2, 1, 0], { dtype: 'int32' });
    const ds = new data.TensorDataset(x, y);
    expect(ds.length).toBe(6);
    const [xi, yi] = ds.get(2);
    expect(xi.toArray()).toEqual([[8, 9], [10, 11]]);
    expect(yi.item()).toBe(3);
    expect(() => new data.TensorDataset(x, ck.zeros([5]))).toThrow(/size mismatch/);
    expect(() => ds.get(6)).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    const sub = new data.Subset(ds, [5, 0, -1]);
    expect(sub.length).toBe(3);
    expect((sub.get(0) as ck.Tensor[])[1].item()).toBe(0);
    expect((sub.get(2) as ck.Tensor[])[1].item()).toBe(0);
    expect(() => new data.Subset(ds, [7])).toThrow(/out of range/);
  });

  test('randomSplit: a seeded partition, by counts or fractions', () => {
    const ds = new data.TensorDataset(ck.arange(0, 10, 1, { dtype: 'float32' }));
    ck.manualSeed(3);
    const [a, b] = data.randomSplit(ds, [7, 3]);
    ck.manualSeed(3);
    const [a2] = data.randomSplit(ds, [7, 3]);
    expect(Array.from(a.indices)).toEqual(Array.from(a2.indices));
    expect([...a.indices, ...b.indices].sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Array.from(a.indices)).not.toEqual([0, 1, 2, 3, 4, 5, 6]);
    const parts = data.randomSplit(ds, [0.5, 0.3, 0.2]);
    expect(parts.map((p) => p.length)).toEqual([5, 3, 2]);
    const odd = data.randomSplit(new data.TensorDataset(ck.zeros([7])), [0.5, 0.5]);
    expect(odd.map((p) => p.length)).toEqual([4, 3]);
    expect(() => data.randomSplit(ds, [4, 4])).toThrow(/does not equal the length/);
  });
});

// ---- DataLoader --------------------------------------------------------------------------------------

describe('DataLoader', () => {
  const cifarRoot = () => path.join(tmp, 'cifar-loader');
  beforeAll(() => {
    writeCifar(cifarRoot(), 'py2');
  });
  const augment = () =>
    new T.Compose([
      new T.RandomCrop(32, { padding: 4 }), new T.RandomHorizontalFlip(), new T.ColorJitter(0.2, 0.2, 0.2, 0.05),
      new T.ToTensor(), new T.Normalize([0.4914, 0.4822, 0.4465], [0.247, 0.243, 0.261]), new T.RandomErasing({ p: 0.5 }),
    ]);

  test('length and batch sizes as PyTorch, with and without dropLast; order without shuffle', async () => {
    const ds = new data.TensorDataset(ck.arange(0, 10, 1, { dtype: 'float32' }).reshape([10, 1]), ck.arange(0, 10));
    const l = new data.DataLoader(ds, { batchSize: 3 });
    expect(l.length).toBe(4);
    const got = await collect(l);
    expect(got.map((b) => b[0].length)).toEqual([3, 3, 3, 1]);
    expect(got.flatMap((b) => b[1])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const d = new data.DataLoader(ds, { batchSize: 3, dropLast: true });
    expect(d.length).toBe(3);
    expect((await collect(d)).length).toBe(3);
    expect(new data.DataLoader(ds, { batchSize: 10, dropLast: true }).length).toBe(1);
    expect(new data.DataLoader(ds, { batchSize: 11, dropLast: true }).length).toBe(0);
    expect(new data.DataLoader(ds).length).toBe(10);
    for await (const [x, y] of new data.DataLoader(ds, { batchSize: 4 })) {
      expect(x.shape[1]).toBe(1);
      expect(x.dtype).toBe('float32');
      expect(y.dtype).toBe('int32');
      break;
    }
    expect(() => new data.DataLoader(ds, { batchSize: 0 })).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
  });

  test('shuffle: a seeded permutation per epoch, reproducible with manualSeed', async () => {
    const ds = new data.TensorDataset(ck.arange(0, 50));
    const l = new data.DataLoader(ds, { batchSize: 7, shuffle: true });
    ck.manualSeed(11);
    const e1 = (await collect(l)).flatMap((b) => b[0]);
    const e2 = (await collect(l)).flatMap((b) => b[0]);
    ck.manualSeed(11);
    const again = (await collect(l)).flatMap((b) => b[0]);
    expect(again).toEqual(e1);
    expect(e2).not.toEqual(e1);
    expect([...e1].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(e1).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  test('CIFAR-10 with random augmentation: numWorkers 0 and 2 give identical batches', async () => {
    const ds = new data.CIFAR10(cifarRoot(), { transform: augment() });
    const run = async (numWorkers: number) => {
      ck.manualSeed(7);
      const l = new data.DataLoader(ds, { batchSize: 6, shuffle: true, numWorkers, persistentWorkers: true });
      const epochs = [await collect(l), await collect(l)];
      await l.close();
      return epochs;
    };
    const a = await run(0);
    const b = await run(2);
    expect(a[0].length).toBe(4);
    expect(a[0][0][0].length).toBe(6 * 3 * 32 * 32);
    expect(b).toEqual(a);
    expect(a[1]).not.toEqual(a[0]);
    // and the same seed gives the same batches again
    expect(await run(0)).toEqual(a);
  });

  test('ImageFolder (async decoding) and a Subset of the bundled Fashion-MNIST through workers', async () => {
    const folder = new data.ImageFolder(path.join(tmp, 'folder'), {
      transform: new T.Compose([new T.RandomResizedCrop(8), new T.RandomRotation(20), new T.ToTensor()]),
    });
    const fm = new data.Subset(data.bundledFashionMNIST({ transform: new T.Compose([new T.RandomCrop(28, { padding: 2 }), new T.ToTensor()]) }), Array.from({ length: 40 }, (_, i) => 100 + i * 3));
    for (const ds of [folder, fm] as ck.data.Dataset[]) {
      ck.manualSeed(1);
      const a = await collect(new data.DataLoader(ds, { batchSize: 4, shuffle: true }));
      ck.manualSeed(1);
      const b = await collect(new data.DataLoader(ds, { batchSize: 4, shuffle: true, numWorkers: 2 }));
      expect(b).toEqual(a);
      expect(a.length).toBe(Math.ceil(ds.length / 4));
    }
  });

  test('in-memory images under ToTensor + Normalize: one-pass batches, bit for bit the per-item path', async () => {
    const norm1 = new T.Normalize([0.286], [0.353]);
    const cifarNorm = new T.Normalize([0.4914, 0.4822, 0.4465], [0.247, 0.2435, 0.2616]);
    const fm = (transform: ck.transforms.TransformLike | null) => data.bundledFashionMNIST({ transform });
    const cifar = (transform: ck.transforms.TransformLike | null) => new data.CIFAR10(cifarRoot(), { transform });
    const idx = (n: number, len: number) => Int32Array.from({ length: n }, (_, i) => (i * 7919 + 3) % len);
    const fused: [string, ck.data.Dataset, Int32Array][] = [
      ['FashionMNIST, ToTensor', fm(new T.ToTensor()), idx(64, 6000)],
      ['FashionMNIST, ToTensor + Normalize', fm(new T.Compose([new T.ToTensor(), norm1])), idx(64, 6000)],
      ['a Subset of a Subset, nested Compose, two Normalizes', new data.Subset(new data.Subset(fm(new T.Compose([new T.Compose([new T.ToTensor()]), norm1, new T.Normalize([0.5], [2])])), idx(500, 6000)), idx(33, 500)),
        idx(9, 33)],
      ['CIFAR10, per-channel Normalize', cifar(new T.Compose([new T.ToTensor(), cifarNorm])), Int32Array.from([19, 0, 5, 5, -1])],
    ];
    for (const [what, ds, indices] of fused) {
      const fast = byteBatch(ds, indices);
      expect([what, fast === null]).toEqual([what, false]);
      const slow = collateHost(await loadItems(ds, indices, 1n));
      expect(fast!.map((f) => [f.shape, f.dtype])).toEqual(slow.map((f) => [f.shape, f.dtype]));
      fast!.forEach((f, k) => expect([what, k, Buffer.from(f.data.buffer).equals(Buffer.from(slow[k].data.buffer))]).toEqual([what, k, true]));
      // what the DataLoader gives is that batch
      ck.manualSeed(3);
      const got = await collect(new data.DataLoader(ds, { batchSize: 4 }));
      expect(got[0][0]).toEqual(Array.from(byteBatch(ds, [0, 1, 2, 3])![0].data));
    }
    // Anything else takes the per-item path: a random or other transform, a subclass, no ToTensor, no transform.
    class MyToTensor extends T.ToTensor {}
    for (const t of [null, new MyToTensor(), new T.Compose([new T.RandomHorizontalFlip(), new T.ToTensor()]), new T.Compose([new T.ToTensor(), (x: ck.Tensor) => x]),
      new T.Compose([new T.Normalize([0], [1])])])
      expect(byteBatch(fm(t), [0, 1])).toBeNull();
    // A subclass with its own raw items (or a Subset of one) is read item by item.
    class Brighter extends data.FashionMNIST {
      getRaw(i: number): unknown[] {
        const [img, label] = super.getRaw(i) as [{ data: Uint8Array }, number];
        return [{ ...img, data: img.data.map((v) => Math.min(255, v + 50)) }, label];
      }
    }
    const bright = new Brighter(null, { transform: new T.ToTensor() });
    expect(byteBatch(bright, [0])).toBeNull();
    expect(byteBatch(new data.Subset(bright, [0, 1]), [0])).toBeNull();
    const viaLoader = await collect(new data.DataLoader(bright, { batchSize: 2 }));
    expect(viaLoader[0][0]).toEqual(Array.from(collateHost(await loadItems(bright, [0, 1], 1n))[0].data));
    expect(viaLoader[0][0]).not.toEqual(Array.from(byteBatch(fm(new T.ToTensor()), [0, 1])![0].data));
    // A Normalize the image does not fit still fails as it does per item.
    expect(byteBatch(fm(new T.Compose([new T.ToTensor(), new T.Normalize([0.1, 0.2], [1, 1])])), [0])).toBeNull();
    await expect(collect(new data.DataLoader(fm(new T.Compose([new T.ToTensor(), new T.Normalize([0.1, 0.2], [1, 1])])), { batchSize: 2 }))).rejects.toThrow(/mean has 2 values for an image with 1 channels/);
    expect(byteBatch(fm(new T.Compose([new T.ToTensor(), new T.Normalize([0.1], [1e-46])])), [0])).toBeNull(); // std 0 in float32
  });

  test('an error in a worker reaches the loop with its code and file; the loader can be reused', async () => {
    const bad = path.join(tmp, 'folder-loader-bad');
    fs.mkdirSync(path.join(bad, 'a'), { recursive: true });
    for (let i = 0; i < 6; i++) fs.copyFileSync(path.join(tmp, 'folder', 'cat', 'b.png'), path.join(bad, 'a', `${i}.png`));
    const broken = path.join(bad, 'a', '3.png');
    fs.writeFileSync(broken, 'corrupt');
    const ds = new data.ImageFolder(bad, { transform: new T.ToTensor() });
    for (const numWorkers of [0, 2]) {
      const l = new data.DataLoader(ds, { batchSize: 2, numWorkers });
      await expectDataRejection(collect(l), 'ERR_FORMAT', broken);
      expect((l as unknown as { pool: unknown }).pool).toBeNull();
    }
  });

  test('break ends the workers; close() is idempotent; tensors still work afterwards', async () => {
    const ds = new data.CIFAR10(cifarRoot(), { transform: new T.ToTensor() });
    const l = new data.DataLoader(ds, { batchSize: 2, numWorkers: 2 });
    let n = 0;
    for await (const [x] of l) {
      expect(x.shape).toEqual([2, 3, 32, 32]);
      if (++n === 2) break;
    }
    expect((l as unknown as { pool: unknown }).pool).toBeNull();
    await l.close();
    await l.close();
    const t = ck.ones([1000]);
    expect(t.sum().item()).toBe(1000);
  });

  test('custom datasets, async items, custom collate; what cannot go to workers says so', async () => {
    const custom = {
      length: 5,
      get: async (i: number) => [ck.full([2], i), i * 2],
    };
    const got = await collect(new data.DataLoader(custom, { batchSize: 2 }));
    expect(got.map((b) => b[1])).toEqual([[0, 2], [4, 6], [8]]);
    expect(got[1][0]).toEqual([2, 2, 3, 3]);
    expect(() => new data.DataLoader(custom, { numWorkers: 2 })).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    const lambdaDs = new data.CIFAR10(cifarRoot(), { transform: new T.Compose([new T.ToTensor(), (x: ck.Tensor) => x.mul(2)]) });
    expect(() => new data.DataLoader(lambdaDs, { numWorkers: 1 })).toThrow(/plain function/);
    const l = new data.DataLoader(lambdaDs, { batchSize: 4 });
    for await (const [x] of l) {
      expect(x.max().item()).toBeGreaterThan(1); // the function ran (values up to 2)
      break;
    }
    const collated = new data.DataLoader(custom, { batchSize: 3, collate: (items) => items.length });
    const sizes: number[] = [];
    for await (const s of collated) sizes.push(s);
    expect(sizes).toEqual([3, 2]);
    expect(() => new data.DataLoader(custom, { numWorkers: 1, collate: (items) => items })).toThrow(/collate/);
    const imagesOnly = new data.CIFAR10(cifarRoot());
    await expect(collect(new data.DataLoader(imagesOnly, { batchSize: 2 }))).rejects.toThrow(/ToTensor/);
  });

  const cudaTest = ck.cuda.isAvailable() ? test : test.skip;
  cudaTest('device: cuda puts every batch on the GPU', async () => {
    const ds = new data.CIFAR10(cifarRoot(), { transform: new T.ToTensor() });
    for await (const [x, y] of new data.DataLoader(ds, { batchSize: 5, device: 'cuda', numWorkers: 1 })) {
      expect(x.device.toString()).toBe('cuda:0');
      expect(y.device.toString()).toBe('cuda:0');
      expect(x.shape).toEqual([5, 3, 32, 32]);
      const cpu = (ds.get(0) as [ck.Tensor, number])[0];
      expect(Array.from(x.select(0, 0).cpu().dataSync())).toEqual(Array.from(cpu.dataSync()));
      break;
    }
  });
});

describe('Compose on tensors', () => {
  it('frees the intermediate tensors its steps make', () => {
    const t = new ck.transforms.Compose([new ck.transforms.Normalize([0.5], [0.5]), new ck.transforms.Normalize([0], [2]), new ck.transforms.Normalize([1], [1])]);
    const x = ck.rand([1, 4, 4]);
    const before = ck.memory().liveTensors;
    const y = t.forward(x) as ck.Tensor;
    expect(ck.memory().liveTensors).toBe(before + 1);
    expect(x.isDisposed).toBe(false);
    const want = x.sub(0.5).div(0.5).div(2).sub(1);
    expect(Math.max(...(y.sub(want).abs().toArray() as number[][][]).flat(2))).toBeLessThan(1e-6);
    for (const v of [x, y, want]) v.dispose();
  });
});
