/**
 * The device's memory (issue 17): the stream-ordered pool keeps freed blocks cached until emptyCache(),
 * memory() reports reserved and cached bytes per device, a memory fraction caps the pool, and the
 * DataLoader's pinMemory batches upload with no staging.
 */
import * as ck from '../../lib';
import { requireCuda } from './helpers';

beforeAll(requireCuda);

const dev0 = () => ck.memory().devices.find((d) => d.device === 'cuda:0')!;

test('freed blocks stay cached in the pool until emptyCache(); memory() reports reserved and cached bytes', () => {
  // Earlier suites' garbage may be finalized (freed) at any point here, so the checks are bounds, not equalities.
  const ts = Array.from({ length: 4 }, () => ck.zeros([64 * 1024], { device: 'cuda' })); // 256 KiB each
  const held = ck.cuda.memory(0);
  expect(held.used).toBeGreaterThanOrEqual(4 * 256 * 1024);
  for (const t of ts) t.dispose();
  ck.cuda.synchronize();
  const after = ck.cuda.memory(0);
  expect(held.used - after.used).toBeGreaterThanOrEqual(4 * 256 * 1024);
  expect(after.cached).toBeGreaterThanOrEqual(4 * 256 * 1024); // kept for the next tensor of the size
  const d = dev0();
  expect(d.cachedBytes).toBeGreaterThanOrEqual(4 * 256 * 1024);
  expect(d.reservedBytes).toBeGreaterThanOrEqual(d.cachedBytes + d.bytes);
  ck.emptyCache();
  const trimmed = ck.cuda.memory(0);
  expect(trimmed.cached).toBeLessThan(256 * 1024);
  expect(trimmed.reserved).toBeLessThan(after.reserved - 3 * 256 * 1024);
});

test('setMemoryFraction caps the pool: an allocation past the cap is ERR_CUDA_OOM naming it', () => {
  const m = ck.cuda.memory(0);
  ck.cuda.setMemoryFraction((m.used + 1024 * 1024) / m.total, 0);
  try {
    expect(ck.cuda.memory(0).limit).toBeGreaterThan(m.used);
    const small = ck.zeros([1024], { device: 'cuda' }); // 4 KiB: under the cap
    let err: unknown = null;
    try {
      ck.zeros([1024 * 1024], { device: 'cuda' }); // 4 MiB: over it
    } catch (e) {
      err = e;
    }
    expect((err as ck.ConvkitError).code).toBe('ERR_CUDA_OOM');
    expect((err as Error).message).toMatch(/CONVKIT_CUDA_MEMORY_FRACTION|setMemoryFraction/);
    small.dispose();
  } finally {
    ck.cuda.setMemoryFraction(1, 0);
  }
  expect(() => ck.cuda.setMemoryFraction(0, 0)).toThrow(/fraction must be in \(0, 1\]/);
  const ok = ck.zeros([1024 * 1024], { device: 'cuda' });
  ok.dispose();
});

test('DataLoader pinMemory: pinned batches upload with no staging and no synchronisation', async () => {
  const ds = new ck.data.TensorDataset(ck.randn([6, 3]), ck.randint(0, 2, [6], { dtype: 'int32' }));
  const loader = new ck.data.DataLoader(ds, { batchSize: 3, pinMemory: true });
  expect(() => new ck.data.DataLoader(ds, { batchSize: 3, pinMemory: true, device: 'cuda' })).toThrow(/pinMemory/);
  let batches = 0;
  ck.cudaStats.enable();
  for await (const [x, y] of loader) {
    expect(x.isPinned()).toBe(true);
    expect(y.isPinned()).toBe(true);
    const gx = x.to('cuda', { nonBlocking: true });
    const gy = y.to('cuda', { nonBlocking: true });
    expect(gx.device.toString()).toBe('cuda:0');
    gx.dispose();
    gy.dispose();
    batches++;
  }
  const s = ck.cuda.stats();
  ck.cudaStats.disable();
  expect(batches).toBe(2);
  expect(s.uploadsPinned).toBe(4);
  expect(s.uploadsPageable).toBe(0);
  expect(s.hostSyncs).toBe(0);
  await loader.close();
});
