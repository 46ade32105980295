/**
 * Host memory for tensors (csrc/cpu/host_alloc.cc): freed buffers (large ones and small ones in slabs) are kept per size class and reused,
 * emptyCache() gives them back, CONVKIT_HOST_CACHE_MB caps the cache, a reused buffer never leaks its old
 * contents into zeros(), and a training loop's resident memory stays near its live tensors (through glibc
 * alone it reached 2.7 GB for a 57 MB working set).
 */
import { spawnSync } from 'child_process';
import * as ck from '../../lib';

const cpu = () => ck.memory().devices.find((d) => d.device === 'cpu')!;
const MiB = 2 ** 20;

afterEach(() => ck.emptyCache());

test('a freed large buffer is cached and reused by the next request of its size class', () => {
  ck.emptyCache();
  expect(cpu().cachedBytes).toBe(0);
  const a = ck.empty([MiB]); // 4 MiB
  a.dispose();
  expect(cpu().cachedBytes).toBe(4 * MiB);
  const b = ck.empty([MiB - 1000]); // same class (4 MiB exactly, rounded up to a quarter power of two)
  expect(cpu().cachedBytes).toBe(0);
  const c = ck.empty([MiB]); // a new block: the cached one is in use
  b.dispose();
  c.dispose();
  expect(cpu().cachedBytes).toBe(8 * MiB);
  ck.emptyCache();
  expect(cpu().cachedBytes).toBe(0);
});

test('a freed small buffer is cached in its slab, reused by the next request of its class, and given back by emptyCache', () => {
  ck.emptyCache();
  expect(cpu().cachedBytes).toBe(0);
  const a = ck.empty([1000]); // 4000 bytes: the 4 KiB class
  a.dispose();
  expect(cpu().cachedBytes).toBe(4096);
  const b = ck.empty([900]); // 3600 bytes: same class, takes the cached block
  expect(cpu().cachedBytes).toBe(0);
  const c = ck.empty([16]); // another class: nothing cached for it
  expect(cpu().cachedBytes).toBe(0);
  b.dispose();
  c.dispose();
  expect(cpu().cachedBytes).toBe(4096 + 64);
  ck.emptyCache();
  expect(cpu().cachedBytes).toBe(0);
});

test('size classes: 64-byte steps up to 1 KiB, then at most 25% rounding', () => {
  // observed through cachedBytes: a freed block is cached at its class size
  const classOf = (bytes: number) => {
    ck.emptyCache();
    ck.empty([bytes / 4]).dispose();
    const n = cpu().cachedBytes;
    ck.emptyCache();
    return n;
  };
  expect(classOf(4)).toBe(64);
  expect(classOf(1024)).toBe(1024);
  expect(classOf(1028)).toBe(1280);
  expect(classOf(2052)).toBe(2560);
  expect(classOf(200704)).toBe(229376);
  expect(classOf(262140)).toBe(262144);
});

test('200 KB tensors made and freed 12,000 times with one live tensor keep resident memory flat', () => {
  // Through glibc malloc each freed buffer left a hole that later small allocations split: 57 -> 900 MB.
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
  const x = ck.randn([50176]);
  try {
    for (let i = 0; i < 500; i++) ck.tidy(() => void x.add(1));
    const before = rss();
    for (let i = 0; i < 12000; i++) ck.tidy(() => void x.add(1));
    expect((rss() - before) / MiB).toBeLessThan(48);
    expect(cpu().cachedBytes).toBeLessThan(MiB);
  } finally {
    x.dispose();
  }
});

test.each([MiB, 1000])('a reused buffer (%i elements) holds its old bytes, and zeros()/full() still give what they say', (n) => {
  ck.full([n], 7).dispose();
  const z = ck.zeros([n]);
  const f = ck.full([n], -2);
  try {
    expect(z.sum().item()).toBe(0);
    expect(f.min().item()).toBe(-2);
    expect(f.max().item()).toBe(-2);
  } finally {
    z.dispose();
    f.dispose();
  }
});

test('CONVKIT_HOST_CACHE_MB caps the cache (0 turns it off)', () => {
  const script = `const ck = require(${JSON.stringify(require.resolve('../../dist'))});
    for (let i = 0; i < 4; i++) ck.empty([${MiB}]).dispose();
    const a = [0, 1, 2].map(() => ck.empty([${MiB}])); a.forEach((t) => t.dispose());
    process.stdout.write(String(ck.memory().devices[0].cachedBytes));`;
  const run = (mb: string) => spawnSync(process.execPath, ['-e', script], { env: { ...process.env, CONVKIT_HOST_CACHE_MB: mb, CONVKIT_QUIET: '1' }, encoding: 'utf8' });
  for (const [mb, want] of [['0', 0], ['9', 8 * MiB], ['100', 12 * MiB]] as const) {
    const r = run(mb);
    expect(r.stderr).toBe('');
    expect(Number(r.stdout)).toBe(want);
  }
});

test("a training loop's resident memory stays near its working set", () => {
  ck.manualSeed(0);
  const model = ck.models.cifar10Net({ inChannels: 1 });
  const opt = new ck.optim.AdamW(model.parameters(), { lr: 1e-3 });
  const x = ck.randn([64, 1, 28, 28]);
  const y = ck.randint(0, 10, [64]);
  const xt = ck.randn([256, 1, 28, 28]);
  const step = () => ck.tidy(() => {
    opt.zeroGrad();
    ck.nn.functional.crossEntropy(model.forward(x), y).backward();
    opt.step();
    return undefined;
  });
  try {
    step();
    model.eval();
    ck.noGrad(() => ck.tidy(() => void model.forward(xt)));
    model.train();
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < 25; i++) {
      step();
      if (i % 5 === 4) {
        model.eval();
        ck.noGrad(() => ck.tidy(() => void model.forward(xt)));
        model.train();
      }
    }
    const grown = (process.memoryUsage().rss - rss0) / MiB;
    // the working set of a step is ~60 MB; glibc alone grew by about 100 MB a step here
    expect(grown).toBeLessThan(64);
    expect(cpu().cachedBytes).toBeLessThan(256 * MiB);
  } finally {
    opt.zeroGrad();
    for (const t of [x, y, xt]) t.dispose();
    for (const p of model.parameters()) p.dispose();
    for (const b of model.buffers()) b.dispose();
  }
}, 120000);
