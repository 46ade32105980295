/**
 * `convkit train --cuda-graph`: the training step (zero the gradients, forward, loss, backward, optimizer step)
 * captured once into a CUDA graph (ck.cuda.CUDAGraph) and replayed for every full batch, as torch.cuda.graphs
 * recommends: a few eager warm-up steps first (so the optimizer's state exists; the runtime has no side stream,
 * so they run on the device's stream), then one capture into static input and target tensors that each batch is
 * copied into. A last partial batch has another shape and runs eagerly; evaluation stays eager. The scheduler
 * changes the learning rate between replays: the capturable optimizer rewrites its device copy before each
 * replay (lib/optim/adam.ts), so the replayed step follows the schedule; dropout draws a new mask at each replay
 * (lib/cuda/graph.ts), the one eager step k would draw.
 */
import { CUDAGraph } from '../cuda/graph';
import { zeros } from '../creation';
import { keep, tidy } from '../memory';
import type { CrossEntropyLoss } from '../nn/layers';
import type { Module } from '../nn/module';
import type { Optimizer } from '../optim';
import { Tensor } from '../tensor';
import { CliError } from './errors';

/** Eager steps before the capture. */
export const GRAPH_WARMUP_STEPS = 3;

/** What a step leaves for the metrics: valid until the next step. */
export interface StepOutputs {
  loss: Tensor;
  out: Tensor;
  y: Tensor;
}

export class GraphStep {
  private graph: CUDAGraph | null = null;
  private sx: Tensor | null = null;
  private sy: Tensor | null = null;
  private outputs: { loss: Tensor; out: Tensor } | null = null;
  private warm = 0;
  /** Graph replays so far. */
  replays = 0;

  constructor(private readonly p: { model: Module; optimizer: Optimizer; criterion: CrossEntropyLoss; device: string; batchSize: number }) {}

  /** The eager step; its tensors die with the caller's tidy() unless returned. */
  private body(x: Tensor, y: Tensor): { loss: Tensor; out: Tensor } {
    this.p.optimizer.zeroGrad();
    const out = this.p.model.forward(x) as Tensor;
    const loss = this.p.criterion.forward(out, y);
    loss.backward();
    this.p.optimizer.step();
    return { loss, out };
  }

  /**
   * One step on a batch still on the host, through the graph when the batch is full and the warm-up is done;
   * null when the caller should run its eager step instead (warm-up, or a partial batch).
   */
  step(x: Tensor, y: Tensor): StepOutputs | null {
    if (x.shape[0] !== this.p.batchSize || this.warm < GRAPH_WARMUP_STEPS) {
      if (x.shape[0] === this.p.batchSize) this.warm++;
      return null;
    }
    if (!this.graph) this.capture(x, y);
    this.sx!.copy_(x);
    this.sy!.copy_(y);
    this.graph!.replay();
    this.replays++;
    return { ...this.outputs!, y: this.sy! };
  }

  private capture(x: Tensor, y: Tensor): void {
    const device = this.p.device === 'cuda' ? 0 : Number(this.p.device.replace(/^cuda:/, ''));
    this.sx = keep(zeros([...x.shape], { dtype: x.dtype, device: this.p.device as 'cpu' }));
    this.sy = keep(zeros([...y.shape], { dtype: y.dtype, device: this.p.device as 'cpu' }));
    const g = new CUDAGraph();
    try {
      this.outputs = g.capture(() => tidy(() => this.body(this.sx!, this.sy!)), { device });
    } catch (e) {
      const why = (e as Error).message;
      throw new CliError(`--cuda-graph: the training step could not be captured (${why}); train without --cuda-graph`, 'ERR_UNSUPPORTED', 1);
    }
    keep(this.outputs.loss);
    keep(this.outputs.out);
    this.graph = g;
  }

  dispose(): void {
    this.graph?.reset();
    for (const t of [this.sx, this.sy, this.outputs?.loss, this.outputs?.out]) t?.dispose();
    this.graph = null;
    this.outputs = null;
  }
}
