/**
 * The documented training loop leaves nothing behind: after the first step, live tensor count and bytes
 * per device stay exactly constant for 300 steps of the CIFAR-10 CNN (run on the CPU here, and on the
 * CUDA device by test/cuda/memory.test.ts).
 */
import * as ck from '../../lib';
import { trainingMemoryRun } from '../helpers/memory_loop';

test('300 training steps of the CIFAR-10 CNN on the cpu keep memory flat', () => {
  const r = trainingMemoryRun('cpu', 300, { batch: 4, size: 16 });
  expect(r.after).toEqual(r.first);
  expect(r.losses.every((l) => Number.isFinite(l))).toBe(true);
  expect(ck.memory().liveTensors).toBeGreaterThan(0);
}, 300000);
