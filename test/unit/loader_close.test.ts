/**
 * DataLoader workers never load the native addon, and closing a loader (an early `break`) cannot abort the
 * process at any moment of a worker's life. Workers used to load convkit.node through an import chain
 * (transforms/transform.ts -> tensor.ts -> binding.ts); close() terminating one while the addon registered
 * itself killed the process with SIGABRT ("terminate called after throwing an instance of 'Napi::Error'"),
 * about 1 run in 10 of 20 early breaks with 4 workers. The breaks run in a child process so that an abort
 * shows as a signal rather than killing jest.
 */
import { spawnSync } from 'child_process';
import { Worker } from 'worker_threads';
import * as path from 'path';
import { childEnv, compiledLib } from '../helpers/compiled_lib';

// 200 early breaks in all (more with 4 workers: a 32-worker loader boots 32 threads per break, ~0.7 s on 2
// cores). CONVKIT_LOADER_BREAKS=N runs N breaks for each loader instead.
const env = Number(process.env.CONVKIT_LOADER_BREAKS);
const PLAN: [number, number][] = env > 0 ? [[4, env], [32, env]] : [[4, 150], [32, 50]];

function child(script: string, timeout = 600000) {
  return spawnSync(process.execPath, ['-e', script], { env: childEnv(), encoding: 'utf8', timeout, maxBuffer: 1 << 24 });
}

test.each(PLAN)('early breaks from a %i-worker loader, %i times: exit code 0, no signal', (workers, BREAKS) => {
  const { index } = compiledLib();
  const script = `
    const ck = require(${JSON.stringify(index)});
    (async () => {
      ck.manualSeed(0);
      const ds = new ck.data.TensorDataset(ck.randn([${2 * workers}, 3, 4, 4]), ck.randint(0, 10, [${2 * workers}]));
      const loader = new ck.data.DataLoader(ds, { batchSize: 2, numWorkers: ${workers} });
      // One whole epoch first: every worker starts and loads a batch (a worker that required the addon
      // would fail here, loudly, through the guard in lib/binding.ts).
      let batches = 0;
      for await (const b of loader) { batches++; b.forEach((t) => t.dispose()); }
      if (batches !== ${workers}) throw new Error('epoch gave ' + batches + ' batches');
      let first = 0;
      for (let i = 0; i < ${BREAKS}; i++) {
        for await (const b of loader) {
          first += b[0].shape[0];
          b.forEach((t) => t.dispose());
          break;
        }
      }
      process.stdout.write('breaks ' + first / 2 + ' live ' + ck.memory().liveTensors);
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const r = child(script);
  expect({ signal: r.signal, status: r.status, stderr: r.stderr }).toEqual({ signal: null, status: 0, stderr: '' });
  // every break saw its first batch, and the loop left only the dataset's two tensors alive
  expect(r.stdout).toBe(`breaks ${BREAKS} live 2`);
}, 600000);

test('requiring the addon inside a DataLoader worker fails loudly with ERR_BINDING', async () => {
  const { dir } = compiledLib();
  const binding = path.join(dir, 'lib', 'binding.js');
  const code = `
    const { parentPort } = require('worker_threads');
    try { require(${JSON.stringify(binding)}); parentPort.postMessage({ loaded: true }); }
    catch (e) { parentPort.postMessage({ code: e.code, message: e.message }); }`;
  const run = (convkitLoaderWorker: boolean) =>
    new Promise<{ loaded?: boolean; code?: string; message?: string }>((resolve, reject) => {
      const w = new Worker(code, { eval: true, env: childEnv(), workerData: { convkitLoaderWorker } });
      w.once('message', (m) => {
        resolve(m);
        void w.terminate();
      });
      w.once('error', reject);
    });
  const inLoader = await run(true);
  expect(inLoader.code).toBe('ERR_BINDING');
  expect(inLoader.message).toMatch(/inside a DataLoader worker thread/);
  // any other worker thread may load it
  expect(await run(false)).toEqual({ loaded: true });
});

test("the loader worker's entry imports no module that loads the addon", async () => {
  const { dir } = compiledLib();
  const entry = path.join(dir, 'lib', 'data', 'worker.js');
  // Records every module the entry's import graph loads, in a worker marked as a loader worker.
  const code = `
    const Module = require('module');
    const { parentPort } = require('worker_threads');
    const seen = [];
    const load = Module._load;
    Module._load = function (request, parent) { seen.push(request); return load.apply(this, arguments); };
    try { require(${JSON.stringify(entry)}); parentPort.postMessage({ seen }); }
    catch (e) { parentPort.postMessage({ error: e.message, seen }); }`;
  const got = await new Promise<{ seen: string[]; error?: string }>((resolve, reject) => {
    const w = new Worker(code, {
      eval: true,
      env: childEnv(),
      workerData: { convkitLoaderWorker: true, dataset: null }, // the entry reports a bad spec per request, it does not throw
    });
    w.once('message', (m) => {
      resolve(m);
      void w.terminate();
    });
    w.once('error', reject);
  });
  expect(got.error).toBeUndefined();
  expect(got.seen.length).toBeGreaterThan(10);
  expect(got.seen.filter((r) => /binding$|\.node$|node-gyp-build/.test(r))).toEqual([]);
});
