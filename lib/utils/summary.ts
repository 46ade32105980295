/**
 * summary(model, inputShape): per-module output shapes and parameter counts, found by running one
 * forward pass on zeros with every module's forward wrapped (modules called twice appear twice).
 */
import { noGrad } from '../autograd/grad_mode';
import { zeros } from '../creation';
import { fmtShape } from '../errors';
import { Module } from '../nn/module';
import { Tensor } from '../tensor';

export interface SummaryRow {
  name: string;
  type: string;
  depth: number;
  /** null when the module returned something other than one tensor. */
  outputShape: number[] | null;
  /** Parameters of the module, its children's included. */
  parameters: number;
}

export interface Summary {
  rows: SummaryRow[];
  inputShape: number[];
  outputShape: number[] | null;
  totalParameters: number;
  trainableParameters: number;
  toString(): string;
}

function render(s: Omit<Summary, 'toString'>): string {
  const lines = s.rows.map((r) => [`${'  '.repeat(Math.max(r.depth - 1, 0))}${r.name} (${r.type})`, r.outputShape ? fmtShape(r.outputShape) : '-', r.parameters.toLocaleString('en-US')]);
  const head = ['Layer (type)', 'Output shape', 'Param #'];
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => `${l[0].padEnd(w[0])}  ${l[1].padEnd(w[1])}  ${l[2].padStart(w[2])}`;
  const rule = '-'.repeat(w[0] + w[1] + w[2] + 4);
  return [
    rule, fmt(head), rule, ...lines.map(fmt), rule,
    `Input shape: ${fmtShape(s.inputShape)}  Output shape: ${s.outputShape ? fmtShape(s.outputShape) : '-'}`,
    `Total params: ${s.totalParameters.toLocaleString('en-US')}`,
    `Trainable params: ${s.trainableParameters.toLocaleString('en-US')}`,
    `Non-trainable params: ${(s.totalParameters - s.trainableParameters).toLocaleString('en-US')}`,
    rule,
  ].join('\n');
}

/**
 * Runs model on zeros of inputShape (batch included, e.g. [1, 3, 224, 224]) in eval mode under
 * noGrad (so no running statistic moves), on the device of the model's parameters, and restores
 * every module's mode and forward afterwards.
 */
export function summary(model: Module, inputShape: number[]): Summary {
  const rows: SummaryRow[] = [];
  const named = [...model.namedModules()].filter(([name]) => name !== '');
  const modes = new Map<Module, boolean>(model.modules().map((m) => [m, m.training]));
  const wrapped: [Module, PropertyDescriptor | undefined][] = [];
  const count = (m: Module) => m.parameters().reduce((a, p) => a + p.numel(), 0);
  const device = model.parameters()[0]?.device;
  let out: unknown = null;
  try {
    for (const [name, m] of named) {
      const own = Object.getOwnPropertyDescriptor(m, 'forward');
      const orig = m.forward;
      const depth = name.split('.').length;
      wrapped.push([m, own]);
      Object.defineProperty(m, 'forward', {
        configurable: true,
        enumerable: false,
        writable: true,
        value: (...args: unknown[]) => {
          const row: SummaryRow = { name, type: m.typeName, depth, outputShape: null, parameters: count(m) };
          rows.push(row);
          const y = orig.apply(m, args);
          if (y instanceof Tensor) row.outputShape = [...y.shape];
          return y;
        },
      });
    }
    model.eval();
    const x = zeros(inputShape, { device });
    try {
      out = noGrad(() => model.forward(x));
    } finally {
      x.dispose();
    }
  } finally {
    for (const [m, own] of wrapped) {
      if (own) Object.defineProperty(m, 'forward', own);
      else delete (m as unknown as Record<string, unknown>).forward;
    }
    for (const [m, mode] of modes) m.training = mode;
  }
  const outputShape = out instanceof Tensor ? [...out.shape] : null;
  if (out instanceof Tensor) out.dispose();
  const params = model.parameters();
  const base = {
    rows,
    inputShape: [...inputShape],
    outputShape,
    totalParameters: params.reduce((a, p) => a + p.numel(), 0),
    trainableParameters: params.filter((p) => p.requiresGrad).reduce((a, p) => a + p.numel(), 0),
  };
  return { ...base, toString: () => render(base) };
}
