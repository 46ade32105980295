/**
 * PyTorch habits a new user brings (issue 19, point 6), each answered with a coded error that says what to
 * do, or simply working: torchvision weight names, model.to(dtype), load_state_dict(torch.load(path)),
 * `--help` of the benchmark runner, and the CPU fallback staying silent until CUDA is asked for.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ck from '../../lib';

test("models.resnet18({ weights: 'IMAGENET1K_V1' }) explains where weights come from instead of ENOENT", () => {
  let err: (Error & { code?: string }) | null = null;
  try {
    ck.models.resnet18({ weights: 'IMAGENET1K_V1' });
  } catch (e) {
    err = e as Error & { code?: string };
  }
  expect(err).toBeInstanceOf(TypeError);
  expect(err!.code).toBe('ERR_ARG');
  expect(err!.message).not.toMatch(/ENOENT/);
  expect(err!.message).toMatch(/'IMAGENET1K_V1' is the name of torchvision's pretrained weights, not a file/);
  expect(err!.message).toMatch(/torchvision\.models\.resnet18\(weights='IMAGENET1K_V1'\)\.state_dict\(\), 'resnet18\.pth'/);
  expect(err!.message).toMatch(/models\.resnet18\(\{ weights: 'resnet18\.pth' \}\)/);
  expect(err!.message).toMatch(/convkit convert resnet18\.pth resnet18\.safetensors/);
  // The enum's full spelling, and a path that does not exist (a missing file: ERR_DATA naming it).
  expect(() => ck.models.vgg11Bn({ weights: 'VGG11_BN_Weights.IMAGENET1K_V1' })).toThrow(/torchvision\.models\.vgg11_bn\(weights='IMAGENET1K_V1'\)/);
  const missing = path.join(os.tmpdir(), 'convkit-no-such-weights.pth');
  expect(() => ck.models.resnet18({ weights: missing })).toThrow(expect.objectContaining({ code: 'ERR_DATA', path: missing, message: expect.stringMatching(/no file at .*convkit-no-such-weights\.pth\. convkit downloads no weights/) }));
});

test("model.to('float16') says it is a dtype, not an unknown device", () => {
  const model = new ck.nn.Linear(2, 2);
  expect(() => model.to('float16' as never)).toThrow(expect.objectContaining({ code: 'ERR_DTYPE', message: expect.stringMatching(/'float16' is a dtype, not a device/) }));
  expect(() => model.to('tpu' as never)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE', message: expect.stringMatching(/unknown device 'tpu'/) }));
});

test('model.loadStateDict(io.loadTorch(path)) loads, as load_state_dict(torch.load(path))', () => {
  ck.manualSeed(0);
  const a = new ck.nn.Linear(3, 2);
  ck.manualSeed(1);
  const b = new ck.nn.Linear(3, 2);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-habits-')), 'linear.pth');
  ck.io.saveTorch(a.stateDict(), file);
  const loaded = ck.io.loadTorch(file);
  expect(b.loadStateDict(loaded)).toEqual({ missingKeys: [], unexpectedKeys: [] });
  expect(Array.from(b.weight.dataSync())).toEqual(Array.from(a.weight.dataSync()));
  expect(Array.from(b.bias!.dataSync())).toEqual(Array.from(a.bias!.dataSync()));
  loaded.dispose();
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
});

test('ck.save / ck.load: torch.save and torch.load for state dicts (.pth that PyTorch reads, .safetensors)', () => {
  ck.manualSeed(0);
  const model = new ck.nn.Sequential(new ck.nn.Conv2d(1, 2, 3), new ck.nn.BatchNorm2d(2));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-save-'));
  const want = model.stateDict();
  for (const file of ['m.pth', 'm.safetensors']) {
    ck.save(model, path.join(dir, file));
    ck.manualSeed(1);
    const other = new ck.nn.Sequential(new ck.nn.Conv2d(1, 2, 3), new ck.nn.BatchNorm2d(2));
    const loaded = ck.load(path.join(dir, file));
    expect(other.loadStateDict(loaded)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    const got = other.stateDict();
    for (const [k, t] of Object.entries(want)) expect([k, Array.from(got[k].dataSync())]).toEqual([k, Array.from(t.dataSync())]);
    loaded.dispose();
  }
  // PyTorch reads the .pth with torch.load, keys and values as saved.
  const py = spawnSync(process.env.CONVKIT_TORCH_PYTHON ?? '/usr/bin/python3', ['-c',
    `import torch, json; sd = torch.load(${JSON.stringify(path.join(dir, 'm.pth'))}, weights_only=True); print(json.dumps({k: v.flatten().tolist() for k, v in sd.items()}))`], { encoding: 'utf8' });
  expect(py.status).toBe(0);
  const theirs = JSON.parse(py.stdout) as Record<string, number[]>;
  expect(Object.keys(theirs)).toEqual(Object.keys(want));
  for (const [k, t] of Object.entries(want)) expect(theirs[k]!.map(Math.fround)).toEqual(Array.from(t.dataSync()));
  expect(() => ck.save(null as never, path.join(dir, 'x.pth'))).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('node benchmarks/run.js --help prints the usage and runs nothing', () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'benchmarks', 'run.js'), '--help'], { encoding: 'utf8', timeout: 30000 });
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^usage: node benchmarks\/run\.js \[suite \.\.\.\]/);
  expect(r.stdout).toMatch(/--quick/);
  expect(r.stdout).not.toMatch(/vs PyTorch, device/);
});

test('without CUDA, a CUDA request says why (the reason the loader kept)', () => {
  if (ck.cuda.isAvailable()) return expect(ck.zeros([1], { device: 'cuda' }).device.toString()).toBe('cuda:0');
  expect(() => ck.zeros([1], { device: 'cuda' })).toThrow(expect.objectContaining({ code: 'ERR_DEVICE', message: expect.stringMatching(/device 'cuda' requested but CUDA is not available: ./) }));
  expect(ck.info().reason.length).toBeGreaterThan(0);
  // That loading itself prints nothing when the CUDA binary is passed over is checked on the installed
  // package, which has one to pass over (test/integration/packed_install.test.ts).
});
