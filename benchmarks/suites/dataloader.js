// dataloader: images per second through DataLoader with the tutorial's CIFAR-10 augmentation
// (RandomCrop(32, padding 4), RandomHorizontalFlip, ToTensor, Normalize), numWorkers 0 vs 2, against
// torch.utils.data.DataLoader on the same CIFAR-10 binary batches (benchmarks/torch/twin.py 'dataloader':
// PIL images and torchvision transforms, as torchvision's CIFAR10 does it). One more row runs the
// batch-level path: ToTensor per sample in the loader, then transforms.batchAugment on each batch.
//
// Both sides shuffle, use batch size 128 and keep their workers between epochs (persistent workers), so
// a timed epoch is steady-state loading. The data is synthetic (random pixels in the official binary
// layout): the cost of the pipeline does not depend on what the pixels show.
//
// DataLoader is asynchronous and the harness times synchronous calls, so this suite runs on its own:
//   node benchmarks/suites/dataloader.js [--quick] [--device cpu|cuda] [--out DIR]
// (after `npm run build:ts`). Under `npm run bench` it contributes no rows, and says so.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');

module.exports = function dataloaderCases() {
  console.error('dataloader: asynchronous, so it runs on its own: node benchmarks/suites/dataloader.js [--quick]');
  return [];
};

const MEAN = [0.4914, 0.4822, 0.4465];
const STD = [0.247, 0.243, 0.261];

function writeCifar(dir, files, perFile) {
  fs.mkdirSync(dir, { recursive: true });
  let s = 12345;
  const out = [];
  for (let f = 0; f < files; f++) {
    const buf = Buffer.alloc(perFile * 3073);
    for (let i = 0; i < buf.length; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      buf[i] = s >>> 24;
    }
    for (let r = 0; r < perFile; r++) buf[r * 3073] %= 10;
    const file = path.join(dir, `data_batch_${f + 1}.bin`);
    fs.writeFileSync(file, buf);
    out.push(file);
  }
  return out;
}

class Twin {
  constructor(device) {
    const env = { ...process.env, PYTHONUNBUFFERED: '1' };
    if (device === 'cpu') {
      delete env.OPENBLAS_CORETYPE;
      delete env.OPENBLAS_L2_SIZE;
    }
    const py = process.env.CONVKIT_TORCH_PYTHON || '/usr/bin/python3';
    this.proc = spawn(py, [path.join(__dirname, '..', 'torch', 'twin.py')], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    this.waiters = [];
    readline.createInterface({ input: this.proc.stdout }).on('line', (l) => this.waiters.shift()(JSON.parse(l)));
  }
  request(req) {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.proc.stdin.write(JSON.stringify(req) + '\n');
    });
  }
  close() {
    this.proc.stdin.end();
  }
}

async function main() {
  const argv = process.argv.slice(2);
  const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
  const quick = argv.includes('--quick');
  const device = opt('--device', 'cpu');
  const outDir = opt('--out', path.join(__dirname, '..', 'results'));
  let ck;
  try {
    ck = require('../../dist');
  } catch (e) {
    throw new Error(`benchmarks need the compiled library: run \`npm run build:ts\` first (${e.message.split('\n')[0]})`);
  }
  const { machine, stats } = require('../harness');
  const T = ck.transforms;
  const files = 5; // the training split is data_batch_1..5
  const perFile = quick ? 2000 : 10000;
  const n = files * perFile;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ck-bench-cifar-'));
  const batchFiles = writeCifar(path.join(dir, 'cifar-10-batches-bin'), files, perFile);
  const rounds = quick ? 2 : 3;
  const reps = quick ? 2 : 3;
  const batch = 128;

  const perSample = () => new T.Compose([new T.RandomCrop(32, { padding: 4 }), new T.RandomHorizontalFlip(), new T.ToTensor(), new T.Normalize(MEAN, STD)]);
  const cases = [
    { name: 'per-sample', workers: 0, transform: perSample, batchAug: false },
    { name: 'per-sample', workers: 2, transform: perSample, batchAug: false },
    { name: 'batchAugment', workers: 2, transform: () => new T.ToTensor(), batchAug: true },
  ];

  const m = machine();
  console.log(`convkit ${ck.info().version} (${ck.info().flavour}) DataLoader vs PyTorch, CIFAR-10 augmentation, ${n} images, batch ${batch}, device ${device}, ${m.cpu} (${m.cores} cores)`);
  console.log(`${'pipeline'.padEnd(14)} ${'workers'.padStart(7)} ${'convkit img/s'.padStart(14)} ${'torch img/s'.padStart(12)} ${'ratio'.padStart(7)}  (ratio > 1: convkit faster; torch always per-sample with PIL)`);
  const twin = new Twin(device);
  const rows = [];
  for (const c of cases) {
    const ds = new ck.data.CIFAR10(dir, { transform: c.transform() });
    const loader = new ck.data.DataLoader(ds, { batchSize: batch, shuffle: true, numWorkers: c.workers, persistentWorkers: true, device });
    const epoch = async () => {
      for await (const [x, y] of loader) {
        const out = c.batchAug ? T.batchAugment(x, { padding: 4, mean: MEAN, std: STD }) : x;
        if (out !== x) out.dispose();
        x.dispose();
        y.dispose();
      }
      if (device !== 'cpu') ck.cuda.synchronize();
    };
    const params = { files: batchFiles, batch, workers: c.workers, mean: MEAN, std: STD };
    await epoch(); // warm-up: worker start, JIT
    const ckTimes = [];
    const ptTimes = [];
    let error = null;
    let torchVersion = '';
    for (let r = 0; r < rounds && !error; r++) {
      for (let k = 0; k < reps; k++) {
        const t0 = process.hrtime.bigint();
        await epoch();
        ckTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      const reply = await twin.request({ case: 'dataloader', params, reps, warmup: r === 0 ? 1 : 0, threads: 1, device });
      if (reply.error) error = reply.error;
      else {
        ptTimes.push(...reply.times_ms);
        torchVersion = reply.torch;
      }
    }
    await loader.close();
    const a = stats(ckTimes);
    const b = error ? null : stats(ptTimes);
    const row = {
      name: c.name, shape: `cifar ${n} bs${batch} w${c.workers}`, convkit: a, torch: b, torchVersion, error,
      imagesPerSecond: { convkit: (n / a.median) * 1e3, torch: b ? (n / b.median) * 1e3 : null },
      ratio: b ? b.median / a.median : null,
    };
    rows.push(row);
    const fmt = (v) => (v === null ? '-' : Math.round(v).toString());
    console.log(
      `${c.name.padEnd(14)} ${String(c.workers).padStart(7)} ${fmt(row.imagesPerSecond.convkit).padStart(14)} ${fmt(row.imagesPerSecond.torch).padStart(12)} ${row.ratio === null ? '      -' : `${row.ratio.toFixed(2)}x`.padStart(7)}` +
        (error ? `  PyTorch failed: ${error}` : '') +
        `  (spread ck ${(a.spread * 100).toFixed(0)}%${b ? `, torch ${(b.spread * 100).toFixed(0)}%` : ''})`,
    );
  }
  twin.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const date = new Date().toISOString().slice(0, 10);
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${date}-${device}${quick ? '-quick' : ''}-dataloader.json`);
  const report = { date: new Date().toISOString(), machine: m, device, convkit: ck.info(), options: { quick, rounds, reps, batch, images: n }, rows };
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  console.log(`\nreport: ${path.relative(process.cwd(), file)}`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e.stack || String(e));
    process.exit(1);
  });
}
