/**
 * Shared by the test/cuda suites: the CUDA device must exist (these suites only run against a CUDA
 * build: the emulated one in CI, the real one on a GPU box), and `both` runs an op on the CPU and on the
 * device from the same inputs and compares |cuda - cpu| <= atol + rtol * |cpu|.
 */
import * as ck from '../../lib';
import { expectClose, Tol } from '../helpers/compare';

export function requireCuda(): void {
  if (!ck.cuda.isAvailable())
    throw new Error(`test/cuda needs a CUDA device (real or emulated); this binary is '${ck.info().flavour}' (${ck.info().cuda.runtime})`);
}

export function both(inputs: ck.Tensor[], op: (...xs: ck.Tensor[]) => ck.Tensor, tol: Tol, what: string): number {
  return ck.tidy(() => {
    const want = op(...inputs);
    const dev = inputs.map((x) => x.cuda());
    const got = op(...dev);
    expect(got.device.toString()).toBe('cuda:0');
    expect(got.dtype).toBe(want.dtype);
    return expectClose(got.cpu(), want, tol, what);
  });
}
