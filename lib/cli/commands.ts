/** `convkit eval`, `info`, `summary` and `convert`: the commands that inspect rather than train. */
import * as fs from 'fs';
import * as os from 'os';
import { info } from '../info';
import { memory } from '../memory';
import { DataLoader } from '../data';
import { saveSafetensors } from '../io/safetensors';
import { loadWeights } from '../io/weights_file';
import { saveTorch } from '../io/torch_save';
import { openWeights, loadWeightsInto } from '../models';
import { CrossEntropyLoss } from '../nn/layers';
import { summary } from '../utils';
import { openData } from './datasets';
import { CliError } from './errors';
import { zooEntry } from './models';
import { bestDevice, evaluate } from './train';

type Out = NodeJS.WriteStream;

export async function evalCommand(o: { weights: string; data?: string; model?: string; device?: string; batchSize: number; limitTest?: number; json: boolean }, out: Out): Promise<{ acc: number; confusion: number[][] }> {
  if (!fs.existsSync(o.weights)) throw new CliError(`--weights ${o.weights}: no such file`);
  const w = openWeights(o.weights);
  try {
    const meta = w.metadata;
    const modelName = o.model ?? meta['convkit.model'] ?? 'cifar10Net';
    const { name, entry } = zooEntry(modelName);
    const size = meta['convkit.image_size'] ? Number(meta['convkit.image_size']) : undefined;
    const bundle = openData(o.data, { size, testOnly: true, limitTest: o.limitTest });
    const model = entry.build({ inChannels: bundle.channels, numClasses: bundle.classes.length });
    loadWeightsInto(model, w, { head: entry.head, stem: entry.stem, source: o.weights, onNote: (n) => process.stderr.write(`note: ${n}\n`) });
    const device = o.device ?? bestDevice();
    model.to(device as 'cpu');
    const loader = new DataLoader(bundle.test, { batchSize: o.batchSize, device: device as 'cpu' });
    const k = bundle.classes.length;
    const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
    const r = await evaluate(model, loader, new CrossEntropyLoss(), confusion);
    if (o.json) {
      out.write(`${JSON.stringify({ model: name, data: bundle.root, kind: bundle.kind, images: bundle.test.length, loss: r.loss, acc: r.acc, classes: bundle.classes, confusion })}\n`);
    } else {
      out.write(`${name} from ${o.weights} on ${bundle.kind} ${bundle.root} (${bundle.test.length} test images, ${device})\n`);
      out.write(`accuracy ${(100 * r.acc).toFixed(2)}%  loss ${r.loss.toFixed(4)}\n\nconfusion matrix (rows: true class, columns: predicted)\n`);
      const w0 = Math.max(...bundle.classes.map((c) => c.length));
      const cw = Math.max(5, ...confusion.flat().map((v) => String(v).length + 1));
      out.write(`${''.padEnd(w0)} ${bundle.classes.map((_, j) => String(j).padStart(cw)).join('')}   recall\n`);
      confusion.forEach((row, i) => {
        const tot = row.reduce((a, v) => a + v, 0);
        out.write(`${bundle.classes[i].padEnd(w0)} ${row.map((v) => String(v).padStart(cw)).join('')}   ${tot ? ((100 * row[i]) / tot).toFixed(1) : '-'}%\n`);
      });
    }
    return { acc: r.acc, confusion };
  } finally {
    w.dispose();
  }
}

function driverVersion(): string | null {
  try {
    const t = fs.readFileSync('/proc/driver/nvidia/version', 'utf8');
    return /Kernel Module\s+([\d.]+)/.exec(t)?.[1] ?? t.split('\n')[0];
  } catch {
    return null;
  }
}

export function infoCommand(o: { json: boolean }, out: Out): void {
  const i = info();
  const mem = memory();
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
  const report = {
    convkit: i.version, node: process.version, platform: `${process.platform}-${process.arch}`,
    binary: i.binary, flavour: i.flavour, reason: i.reason, cudaArchs: i.cudaArchs, cuda: i.cuda, driver: driverVersion(),
    threads: i.threads, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memory: { total: os.totalmem(), free: os.freemem(), rss: process.memoryUsage().rss, tensors: mem },
  };
  if (o.json) {
    out.write(`${JSON.stringify(report)}\n`);
    return;
  }
  const lines = [
    `convkit ${i.version} (Node.js ${process.version}, ${report.platform})`,
    `binary:   ${i.binary}`,
    `flavour:  ${i.flavour} - ${i.reason}`,
    `CUDA:     ${i.cuda.compiled ? `compiled (${i.cudaArchs || 'no archs listed'}), runtime ${i.cuda.runtime || '-'}` : 'not compiled into this binary'}; ` +
      `${i.cuda.available ? `available${i.cuda.emulated ? ' (host emulation)' : ''}` : 'not available'}`,
    ...i.cuda.devices.map((d, k) => `  device ${k}: ${d}`),
    `driver:   ${report.driver ?? 'no NVIDIA driver found'}`,
    `cuDNN:    not reported by this convkit build`,
    `threads:  ${i.threads} (of ${report.cpus} CPUs: ${report.cpuModel})`,
    `memory:   ${gib(report.memory.free)} free of ${gib(report.memory.total)}; this process ${gib(report.memory.rss)} resident; ` +
      `${mem.liveTensors} live tensors (${mem.devices.map((d) => `${d.device} ${d.bytes} bytes`).join(', ') || 'none'})`,
  ];
  out.write(`${lines.join('\n')}\n`);
}

function parseInput(s: string): number[] {
  const dims = s.split(/[x,]/).map(Number);
  if (dims.length !== 3 || dims.some((d) => !Number.isInteger(d) || d < 1)) throw new CliError(`--input ${s}: expected CxHxW, e.g. 3x224x224`);
  return dims;
}

export function summaryCommand(o: { model: string; input?: string; numClasses?: number; json: boolean }, out: Out): void {
  const { name, entry } = zooEntry(o.model);
  const [c, h, w] = o.input ? parseInput(o.input) : entry.defaultInput;
  const model = entry.build({ inChannels: c, numClasses: o.numClasses ?? (entry.defaultInput[1] === 224 ? 1000 : 10) });
  const s = summary(model, [1, c, h, w]);
  if (o.json) out.write(`${JSON.stringify({ model: name, inputShape: s.inputShape, outputShape: s.outputShape, totalParameters: s.totalParameters, trainableParameters: s.trainableParameters, rows: s.rows })}\n`);
  else out.write(`${name}\n${s.toString()}\n`);
}

export function convertCommand(input: string, output: string, out: Out): void {
  if (!fs.existsSync(input)) throw new CliError(`${input}: no such file`);
  const w = loadWeights(input); // recognised by content, not by the file name
  try {
    const meta: Record<string, string> = { format: 'pt', ...w.metadata, 'convkit.converted_from': input };
    // The output's extension picks the format: .pth/.pt is torch.save's, anything else safetensors.
    if (/\.(pth|pt)$/i.test(output)) saveTorch(w.tensors, output);
    else saveSafetensors(output, w.tensors, meta);
    const n = [...w.tensors.values()].reduce((a, t) => a + t.numel(), 0);
    out.write(`${input} -> ${output}: ${w.tensors.size} tensors, ${n.toLocaleString('en-US')} values\n`);
  } finally {
    w.dispose();
  }
}
