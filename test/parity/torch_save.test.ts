/**
 * io.saveTorch writes what PyTorch 1.13's `torch.load(path, weights_only=True)` reads: a ResNet-18 state
 * dict loads strictly into torchvision's resnet18 and gives convkit's logits (eval and train mode); the
 * file reads back bit-identical through io.loadTorch; views of one buffer come back as views of one
 * storage; integers are int64 as PyTorch holds them; every entry's data is 64-byte aligned, as torch.save
 * writes it.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ck from '../../lib';
import { expectClose } from '../helpers/compare';
import { runTorch, stopTorch } from '../helpers/torch';

afterAll(() => stopTorch());

let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ck-savetorch-'))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const bytesOf = (t: ck.Tensor) => Buffer.from(t.dataSync().buffer);

test('a ResNet-18 state dict loads in PyTorch (weights_only) into torchvision resnet18 with the same logits, and back through loadTorch bit-identical', async () => {
  ck.manualSeed(3);
  const model = ck.models.resnet18();
  const sd = model.stateDict();
  // non-trivial batch-norm statistics and affine parameters, as after training
  ck.noGrad(() => {
    for (const [k, t] of Object.entries(sd)) {
      if (k.endsWith('running_mean')) t.copy_(ck.randn([...t.shape]).mul(0.1));
      else if (k.endsWith('running_var')) t.copy_(ck.rand([...t.shape]).add(0.5));
      else if (/bn\d?\.weight$|downsample\.1\.weight$/.test(k)) t.copy_(ck.rand([...t.shape]).add(0.5));
      else if (k.endsWith('num_batches_tracked')) t.fill_(123);
    }
  });
  const file = path.join(dir, 'resnet18.pth');
  ck.io.saveTorch(sd, file);

  // back through convkit's own reader, bit-identical, int64 on disk for the counters
  const w = ck.io.loadTorch(file);
  try {
    expect([...w.tensors.keys()]).toEqual(Object.keys(sd));
    for (const [k, t] of Object.entries(sd)) {
      const r = w.tensors.get(k)!;
      expect([k, r.dtype, [...r.shape]]).toEqual([k, t.dtype, [...t.shape]]);
      expect(bytesOf(r).equals(bytesOf(t))).toBe(true);
      expect(w.dtypes.get(k)).toBe(t.dtype === 'float32' ? 'F32' : 'I64');
    }
  } finally {
    w.dispose();
  }

  const x = ck.randn([2, 3, 64, 64]);
  model.eval();
  const evalLogits = ck.noGrad(() => model.forward(x));
  model.train();
  const trainLogits = ck.noGrad(() => model.forward(x));
  const code = `
import torchvision
sd = torch.load(${JSON.stringify(file)}, weights_only=True)
m = torchvision.models.resnet18()
r = m.load_state_dict(sd, strict=True)
assert not r.missing_keys and not r.unexpected_keys, r
m.eval()
with torch.no_grad():
    ev = m(x)
m.train()
with torch.no_grad():
    tr = m(x)
out = {'eval': ev, 'train': tr, 'keys': list(sd.keys()), 'dtypes': sorted({str(t.dtype) for t in sd.values()}),
       'nbt': sd['bn1.num_batches_tracked'].item(), 'nbt_dtype': str(sd['bn1.num_batches_tracked'].dtype),
       'grad': any(t.requires_grad for t in sd.values()), 'type': type(sd).__name__}`;
  const want = (await runTorch(code, { x })) as unknown as Record<string, never>;
  expect(want.type).toBe('OrderedDict');
  expect(want.keys).toEqual(Object.keys(sd));
  expect(want.dtypes).toEqual(['torch.float32', 'torch.int64']);
  expect(want.nbt).toBe(123);
  expect(want.nbt_dtype).toBe('torch.int64');
  expect(want.grad).toBe(false);
  expectClose(evalLogits, want.eval, { atol: 1e-5, rtol: 1e-4 }, 'eval logits');
  expectClose(trainLogits, want.train, { atol: 1e-5, rtol: 1e-4 }, 'train logits');
}, 120000);

test('views of one buffer are saved as views of one storage; 0-d, empty and int32 tensors; 64-byte aligned entries', async () => {
  const base = ck.arange(0, 12, 1, { dtype: 'float32' }).reshape([3, 4]);
  const tensors = {
    a: base,
    b: base.narrow(1, 1, 2), // [[1, 2], [5, 6], [9, 10]]: offset 1, strides [4, 1]
    c: base.t(), // strides [1, 4]
    n: ck.tensor(5, { dtype: 'int32' }),
    e: ck.zeros([0, 3]),
    i: ck.tensor([[-7, 2147483647]], { dtype: 'int32' }),
  };
  const file = path.join(dir, 'views.pth');
  ck.io.saveTorch(tensors, file);
  const file32 = path.join(dir, 'views-int32.pth');
  ck.io.saveTorch(tensors, file32, { intDtype: 'int32' });
  const code = `
import zipfile, struct
def aligned(p):
    offs = []
    with zipfile.ZipFile(p) as z:
        raw = open(p, 'rb').read()
        for info in z.infolist():
            assert info.compress_type == zipfile.ZIP_STORED, info
            h = info.header_offset
            n, e = struct.unpack('<HH', raw[h + 26:h + 30])
            offs.append((h + 30 + n + e) % 64)
        names = z.namelist()
    return offs, names
sd = torch.load(${JSON.stringify(file)}, weights_only=True)
sd32 = torch.load(${JSON.stringify(file32)}, weights_only=True)
offs, names = aligned(${JSON.stringify(file)})
same = sd['a'].storage().data_ptr() == sd['b'].storage().data_ptr() == sd['c'].storage().data_ptr()
meta = [list(sd['b'].stride()), sd['b'].storage_offset(), list(sd['c'].stride()), list(sd['n'].shape), list(sd['e'].shape),
        str(sd['n'].dtype), str(sd32['n'].dtype), str(sd['i'].dtype), len(sd['a'].storage())]
sd['a'].add_(100)  # one storage: the views see it
out = {'vals': [sd['b'], sd['c'], sd['n'], sd['i'], sd32['i']], 'same': same, 'meta': meta, 'offs': offs, 'names': names}`;
  const want = (await runTorch(code)) as unknown as { vals: { data: number[] }[]; same: boolean; meta: unknown[]; offs: number[]; names: string[] };
  expect(want.same).toBe(true);
  expect(want.meta).toEqual([[4, 1], 1, [1, 4], [], [0, 3], 'torch.int64', 'torch.int32', 'torch.int64', 12]);
  expect(want.vals[0].data).toEqual([101, 102, 105, 106, 109, 110]);
  expect(want.vals[1].data).toEqual([100, 104, 108, 101, 105, 109, 102, 106, 110, 103, 107, 111]);
  expect(want.vals[2].data).toEqual([5]);
  expect(want.vals[3].data).toEqual([-7, 2147483647]);
  expect(want.vals[4].data).toEqual([-7, 2147483647]);
  expect(want.offs.every((o) => o === 0)).toBe(true);
  expect(want.names).toEqual(['archive/data.pkl', 'archive/data/0', 'archive/data/1', 'archive/data/2', 'archive/data/3', 'archive/version']);

  const w = ck.io.loadTorch(file);
  try {
    for (const [k, t] of Object.entries(tensors)) {
      expect([k, [...w.tensors.get(k)!.shape]]).toEqual([k, [...t.shape]]);
      expect([k, Array.from(w.tensors.get(k)!.dataSync())]).toEqual([k, Array.from(t.dataSync())]);
    }
  } finally {
    w.dispose();
  }
});

test('saveTorch refuses what is not a tensor, and a disposed tensor, with coded errors and no file left', () => {
  const file = path.join(dir, 'bad.pth');
  expect(() => ck.io.saveTorch({ a: 3 as unknown as ck.Tensor }, file)).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
  const t = ck.zeros([2]);
  t.dispose();
  expect(() => ck.io.saveTorch({ t }, file)).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
  expect(fs.readdirSync(dir).filter((f) => f.startsWith('bad'))).toEqual([]);
});
