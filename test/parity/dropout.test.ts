/**
 * Dropout: scaling, drop rate, identity in eval.
 */
import * as ck from '../../lib';
import { stopTorch } from '../helpers/torch';

const { nn } = ck;
const F = ck.nn.functional;
afterAll(() => stopTorch());

describe('dropout', () => {
  test('scales kept elements by 1/(1-p), drops about p, is the identity in eval', () => {
    ck.manualSeed(18);
    const x = ck.ones([20000]).requiresGrad_();
    const y = F.dropout(x, 0.3, true);
    const v = y.dataSync();
    let zeros = 0;
    for (const e of v) {
      if (e === 0) zeros++;
      else expect(Math.abs(e - 1 / 0.7)).toBeLessThan(1e-6);
    }
    expect(Math.abs(zeros / v.length - 0.3)).toBeLessThan(0.015);
    y.sum().backward();
    expect(Array.from(x.grad!.dataSync())).toEqual(Array.from(v));
    const d = new nn.Dropout(0.3);
    d.eval();
    expect(d.forward(ck.ones([5])).toArray()).toEqual([1, 1, 1, 1, 1]);
    ck.manualSeed(18);
    const again = F.dropout(ck.ones([20000]), 0.3, true).dataSync();
    expect(Array.from(again)).toEqual(Array.from(v));
  });
});
