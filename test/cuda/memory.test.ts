/**
 * The documented training loop on the CUDA device: live tensors and device bytes stay exactly constant
 * after the first step, for 300 steps of the CIFAR-10 CNN (batch 1 at 8x8 so the emulated device
 * finishes in CI time; the bookkeeping under test does not depend on the shapes).
 */
import { trainingMemoryRun } from '../helpers/memory_loop';
import { requireCuda } from './helpers';

beforeAll(() => requireCuda());

test('300 training steps on the cuda device keep memory flat', () => {
  const r = trainingMemoryRun('cuda', Number(process.env.CONVKIT_MEMORY_STEPS ?? 300), { batch: 1, size: 8 });
  expect(r.after).toEqual(r.first);
  expect(r.first.bytes['cuda:0']).toBeGreaterThan(0);
  expect(r.losses.every((l) => Number.isFinite(l))).toBe(true);
}, 1200000);
