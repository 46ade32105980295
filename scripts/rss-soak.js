#!/usr/bin/env node
// The README's training loop (CIFAR-10 CNN, AdamW, ck.tidy() per step) for many steps, printing the
// process's resident memory (VmRSS from /proc/self/status) every so often, with convkit's own counters.
// Needs the compiled library (npm run build:ts). Linux only.
//   node scripts/rss-soak.js [--steps 10000] [--every 500] [--batch 32] [--size 32] [--threads N] [--sync]
// By default the loop yields to the event loop once per step, as a loop fed by a DataLoader or any I/O
// does; --sync runs it without ever yielding, where Node-API finalizers (run by Node from setImmediate for
// this addon's NAPI_VERSION) never run, so every tensor's small native wrapper stays until the loop ends.
'use strict';
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const steps = opt('steps', 10000);
const every = opt('every', 500);
const batch = opt('batch', 32);
const size = opt('size', 32);
const threads = opt('threads', 0);
const sync = args.includes('--sync');

const ck = require(path.join(__dirname, '..', 'dist'));
if (threads > 0) ck.setNumThreads(threads);
// Resident memory of glibc's main-arena heap ([heap] in /proc/self/smaps).
const brkMB = () => {
  const m = /\[heap\]\n(?:.*\n)*?Rss:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/smaps', 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
};
const rssMB = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;

ck.manualSeed(0);
const model = ck.models.cifar10Net().to('cpu');
const criterion = new ck.nn.CrossEntropyLoss({ labelSmoothing: 0.1 });
const optimizer = new ck.optim.AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.01 });
const x = ck.randn([batch, 3, size, size]);
const y = ck.randint(0, 10, [batch]);
const step = () => ck.tidy(() => {
  optimizer.zeroGrad();
  const loss = criterion.forward(model.forward(x), y);
  loss.backward();
  optimizer.step();
  return loss.item();
});

console.log(`steps=${steps} batch=${batch} size=${size} threads=${ck.getNumThreads()} ${sync ? 'sync' : 'yielding'}`);
console.log('step\tVmRSS_MB\tmalloc_heap_MB\tV8_heap_MB\tms_per_step\tlive_tensors\tcpu_bytes_MB\tcached_MB\tloss');
(async () => {
let t0 = process.hrtime.bigint();
for (let i = 1; i <= steps; i++) {
  const loss = step();
  if (!sync) await new Promise(setImmediate);
  if (i === 1 || i % every === 0) {
    const t1 = process.hrtime.bigint();
    const n = i === 1 ? 1 : every;
    const m = ck.memory();
    const cpu = m.devices.find((d) => d.device === 'cpu');
    console.log([i, rssMB().toFixed(1), brkMB().toFixed(1), (process.memoryUsage().heapTotal / 2 ** 20).toFixed(1), (Number(t1 - t0) / 1e6 / n).toFixed(2), m.liveTensors,
      (cpu.bytes / 2 ** 20).toFixed(2), (cpu.cachedBytes / 2 ** 20).toFixed(2), loss.toFixed(4)].join('\t'));
    t0 = process.hrtime.bigint();
  }
}
})();
