/**
 * The evaluation loop in a fresh process, for test/integration/eval_memory.test.ts:
 *   node eval_loop_child.js <compiled lib index.js> <data root> plain|tidy <batches to run, 0: all>
 * plain: `model.eval(); for await (const [x, y] of loader) correct += model.forward(x).argmax(1).eq(y).sum().item()`
 * tidy:  the same body inside ck.tidy(() => ck.noGrad(() => ...)).
 * Prints one JSON line: peak RSS (getrusage), peak live native bytes seen at each step, accuracy,
 * and the convkit warnings emitted.
 */
const [, , libIndex, root, mode, maxBatches] = process.argv;
const ck = require(libIndex);
const warnings = [];
process.on('warning', (w) => { if (w.code && String(w.code).startsWith('CONVKIT')) warnings.push({ code: w.code, message: w.message }); });

async function main() {
  ck.manualSeed(0);
  const model = ck.models.cifar10Net({ inChannels: 1 });
  const ds = new ck.data.FashionMNIST(root, { train: true, transform: new ck.transforms.ToTensor() });
  const loader = new ck.data.DataLoader(ds, { batchSize: 256 });
  let peakLive = 0;
  let correct = 0;
  let seen = 0;
  let b = 0;
  model.eval();
  for await (const [x, y] of loader) {
    if (process.env.EVAL_TRACE) process.stderr.write(`start ${(ck.memory().devices.reduce((a, d) => a + d.bytes, 0) / 2 ** 20).toFixed(0)}MB `);
    if (mode === 'plain') correct += model.forward(x).argmax(1).eq(y).sum().item();
    else correct += ck.tidy(() => ck.noGrad(() => model.forward(x).argmax(1).eq(y).sum().item()));
    seen += x.shape[0];
    const live = ck.memory().devices.reduce((a, d) => a + d.bytes, 0);
    peakLive = Math.max(peakLive, live);
    if (process.env.EVAL_TRACE) process.stderr.write(`${b} ${(live / 2 ** 20).toFixed(0)}MB rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} cached ${(ck.memory().devices[0].cachedBytes / 2 ** 20).toFixed(0)} heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)}\n`);
    if (++b === Number(maxBatches)) break;
  }
  // Warnings are emitted on the next tick.
  await new Promise((r) => setImmediate(r));
  const ru = process.resourceUsage();
  process.stdout.write(JSON.stringify({ mode, batches: b, seen, acc: correct / seen, peakRssBytes: ru.maxRSS * 1024, peakLiveBytes: peakLive, peakNativeBytes: ck.memory().devices.reduce((a, d) => a + d.peakBytes, 0), warnings }) + '\n');
}
main().catch((e) => { console.error(e); process.exit(1); });
