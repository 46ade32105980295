/** Pieces every zoo model shares: intermediate-freeing chains and torchvision's weight init. */
import { forwardChain } from '../nn/fusion';
import { Module, TensorModule } from '../nn/module';
import { BatchNorm2d, Conv2d, Linear } from '../nn/layers';
import * as init from '../nn/init';
import { Tensor } from '../tensor';
import type { WeightsReport } from './weights';

/** A zoo model: remembers what loading a weight file did (null when built without weights). */
export abstract class ZooModel extends Module {
  weightsReport: WeightsReport | null = null;
}

/**
 * x through each module in turn. Each intermediate is this chain's own and is freed once the next
 * module has its output (autograd keeps what backward needs); x itself belongs to the caller.
 */
export function chain(x: Tensor, ...mods: TensorModule[]): Tensor {
  return forwardChain(x, mods);  // Conv-BN-ReLU fuse where they apply (lib/nn/fusion.ts)
}

/** Like chain, and x is freed too (x is an intermediate of the caller's). */
export function chainFree(x: Tensor, ...mods: TensorModule[]): Tensor {
  const out = chain(x, ...mods);
  if (out !== x) x.dispose();
  return out;
}

/** t.flatten(1), freeing t. */
export function flattenFree(t: Tensor): Tensor {
  const f = t.flatten(1);
  t.dispose();
  return f;
}

/**
 * torchvision's init for ResNet and VGG: convs kaiming_normal_(fan_out, relu) with zero bias, batch
 * norms weight 1 / bias 0, and (VGG only) linears normal(0, 0.01) with zero bias.
 */
export function torchvisionInit(model: Module, opts: { linearStd?: number } = {}): void {
  for (const m of model.modules()) {
    if (m instanceof Conv2d) {
      init.kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
      if (m.bias) init.zeros_(m.bias);
    } else if (m instanceof BatchNorm2d) {
      if (m.weight) init.ones_(m.weight);
      if (m.bias) init.zeros_(m.bias);
    } else if (m instanceof Linear && opts.linearStd !== undefined) {
      init.normal_(m.weight, 0, opts.linearStd);
      if (m.bias) init.zeros_(m.bias);
    }
  }
}
