/**
 * A CPU tensor's bytes are reported to V8 as external memory when its storage is allocated, and given back by
 * every path that releases it: dispose(), the end of the scope that made it (tidy), and the garbage
 * collector's finalizer for a tensor nobody disposed. Without the last one V8 kept counting freed memory and
 * collected ever more often (issue 15). native.externalMemory() reads V8's count (process.memoryUsage().external
 * does not include what addons report).
 */
import * as v8 from 'v8';
import * as vm from 'vm';
import * as ck from '../../lib';
import { native } from '../../lib/binding';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const external = () => native.externalMemory();
const MiB = 2 ** 20;
const SIZE = 64 * MiB; // large next to whatever else moves V8's external count meanwhile
const SLACK = 8 * MiB;

afterAll(() => ck.emptyCache());

// Allocates SIZE bytes that nothing references once `make` returns, then collects until V8's count is back.
async function dropAndCollect(make: () => void): Promise<void> {
  gc();
  await new Promise(setImmediate);
  const before = external();
  make();
  expect(external() - before).toBeGreaterThanOrEqual(SIZE - SLACK);
  // Node defers Node-API finalizers to setImmediate; rounds of gc + yield let them run. One-sided: other
  // garbage (earlier test files in this process) may be given back meanwhile too.
  for (let i = 0; i < 50 && external() - before >= SLACK; i++) {
    gc();
    await new Promise((r) => setTimeout(r, i < 10 ? 0 : 20));
  }
  expect(external() - before).toBeLessThan(SLACK);
}

test('allocation reports the bytes and dispose() gives them back', () => {
  const before = external();
  const t = ck.empty([SIZE / 4]);
  expect(external() - before).toBeGreaterThanOrEqual(SIZE - SLACK);
  t.dispose();
  expect(Math.abs(external() - before)).toBeLessThan(SLACK);
  t.dispose(); // idempotent: nothing is given back twice
  expect(Math.abs(external() - before)).toBeLessThan(SLACK);
});

test('the end of a tidy scope gives back the bytes of the tensors it made', () => {
  const before = external();
  let inside = 0;
  ck.tidy(() => {
    ck.empty([SIZE / 4]);
    inside = external();
  });
  expect(inside - before).toBeGreaterThanOrEqual(SIZE - SLACK);
  expect(Math.abs(external() - before)).toBeLessThan(SLACK);
});

test('a tensor the garbage collector finalizes gives its bytes back too', async () => {
  await dropAndCollect(() => {
    ck.empty([SIZE / 4]); // dropped at once, never disposed
  });
});

test('a native storage dropped without dispose gives its bytes back from the native finalizer', async () => {
  // Below the tensor layer (whose FinalizationRegistry disposes a collected tensor's storage): the addon's
  // own finalizer, Storage::Finalize, is the last path.
  await dropAndCollect(() => {
    native.alloc(-1, SIZE);
  });
});
