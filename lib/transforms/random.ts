/**
 * The random draws of the transforms, all from convkit's seeded stream (manualSeed), each mirroring
 * the torch call torchvision makes at that point so a transform consumes one draw where torchvision
 * draws one number.
 */
import { randomUniformHost } from '../random';
import { roundHalfEven } from './image';

const f = Math.fround;

/** torch.rand(1).item(): uniform on [0, 1). */
export function rand(): number {
  return randomUniformHost();
}

/** torch.empty(1).uniform_(a, b).item(): a float32 on [a, b). */
export function uniform(a: number, b: number): number {
  return f(a + (b - a) * randomUniformHost());
}

/** torch.randint(low, high, (1,)).item(): an integer on [low, high). */
export function randint(low: number, high: number): number {
  return low + Math.floor(randomUniformHost() * (high - low));
}

/** torch.randperm(n): Fisher-Yates over n - 1 draws. */
export function randperm(n: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(randomUniformHost() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** n standard normal float32 values (Box-Muller, two uniforms per pair). */
export function normal(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - randomUniformHost(); // (0, 1]: log stays finite
    const u2 = randomUniformHost();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/**
 * The 10 tries of torchvision's random-area crop (RandomResizedCrop, RandomErasing), drawn lazily in its
 * order: a target area `area * U(scale)` and a log-uniform aspect ratio r in `ratio`, yielded as
 * `[round(sqrt(target * r)), round(sqrt(target / r))]` (width and height for the crop, height and width
 * for erasing, as torchvision pairs them). The caller stops at the first try that fits.
 */
export function* areaAspectTries(area: number, scale: [number, number], ratio: [number, number]): Generator<[number, number]> {
  const logRatio = [f(Math.log(f(ratio[0]))), f(Math.log(f(ratio[1])))];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * uniform(scale[0], scale[1]);
    const aspectRatio = f(Math.exp(uniform(logRatio[0], logRatio[1])));
    yield [roundHalfEven(Math.sqrt(target * aspectRatio)), roundHalfEven(Math.sqrt(target / aspectRatio))];
  }
}
