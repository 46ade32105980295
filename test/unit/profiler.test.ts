/**
 * ck.profiler (must-show 3 of issue 23): a profile of 5 training steps of the zoo's CIFAR-10 CNN, exported as
 * a Chrome trace and checked against the trace-event format (ph/ts/dur/pid/tid/name on every complete event,
 * complete events well nested per thread); every native call the steps made, counted by an independent
 * wrapper installed here, appears in the trace under its entry point's name, every backward op under its
 * autograd name; keyAverages() agrees with the trace (calls, total and self times recomputed from the
 * nesting). And when no profile runs, nothing of the profiler is left on the native object or the classes.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ck from '../../lib';
import { native } from '../../lib/binding';
import { Node } from '../../lib/autograd/node';

const { profiler } = ck;

interface X { name: string; cat?: string; ph: string; ts: number; dur: number; pid: number; tid: number; args?: Record<string, unknown> }

/** Per-call counts of every native function, by a wrapper independent of the profiler's (installed under it). */
function countNativeCalls(): { counts: Map<string, number>; restore: () => void } {
  const n = native as unknown as Record<string, unknown>;
  const counts = new Map<string, number>();
  const saved: [string, unknown][] = [];
  for (const k of Object.keys(n)) {
    const f = n[k];
    if (typeof f !== 'function' || k === 'Storage') continue;
    saved.push([k, f]);
    n[k] = function (this: unknown, ...a: unknown[]) {
      counts.set(k, (counts.get(k) ?? 0) + 1);
      return (f as (...x: unknown[]) => unknown).apply(this, a);
    };
  }
  return { counts, restore: () => saved.forEach(([k, f]) => (n[k] = f)) };
}

function trainSteps(steps: number) {
  ck.manualSeed(0);
  const model = ck.models.cifar10Net({ inChannels: 1, numClasses: 10 });
  const opt = new ck.optim.AdamW(model.parameters(), { lr: 1e-3 });
  const crit = new ck.nn.CrossEntropyLoss();
  const x = ck.randn([4, 1, 16, 16]);
  const y = ck.tensor([1, 2, 3, 4], { dtype: 'int32' });
  const run = (prof: ck.profiler.Profile) => {
    for (let i = 0; i < steps; i++) {
      prof.step();
      ck.tidy(() => {
        opt.zeroGrad();
        const loss = ck.profiler.recordFunction('forward+loss', () => crit.forward(model.forward(x) as ck.Tensor, y));
        loss.backward();
        opt.step();
        return loss.item();
      });
    }
  };
  return { model, run, dispose: () => [x, y].forEach((t) => t.dispose()) };
}

describe('ck.profiler', () => {
  test('a Chrome trace of 5 training steps: valid trace events, well nested, every op named, and the table matches it', () => {
    const counter = countNativeCalls();
    let trace: { traceEvents: X[]; displayTimeUnit: string };
    let avgs: ck.profiler.KeyAverages;
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ck-prof-')), 'trace.json');
    try {
      const t = trainSteps(5);
      const prof = new profiler.Profile({ withModules: t.model });
      counter.counts.clear();
      prof.start();
      t.run(prof);
      prof.stop();
      const calls = new Map(counter.counts);
      t.dispose();
      prof.exportChromeTrace(file);
      trace = JSON.parse(fs.readFileSync(file, 'utf8'));
      avgs = prof.keyAverages();

      // ---- the trace-event format
      expect(Array.isArray(trace.traceEvents)).toBe(true);
      const xs = trace.traceEvents.filter((e) => e.ph === 'X');
      for (const e of trace.traceEvents) {
        expect(['X', 'M']).toContain(e.ph);
        expect(typeof e.name).toBe('string');
        expect(e.name.length).toBeGreaterThan(0);
        expect(Number.isInteger(e.pid)).toBe(true);
        expect(Number.isInteger(e.tid)).toBe(true);
      }
      for (const e of xs) {
        expect(Number.isFinite(e.ts)).toBe(true);
        expect(Number.isFinite(e.dur)).toBe(true);
        expect(e.ts).toBeGreaterThanOrEqual(0);
        expect(e.dur).toBeGreaterThanOrEqual(0);
      }
      // Complete events on one thread nest: sorted by start (longest first on ties), each one lies inside
      // the innermost open one or starts after it ends. Integer nanoseconds avoid float noise.
      const ns = (v: number) => Math.round(v * 1000);
      const byTid = new Map<number, X[]>();
      for (const e of xs) byTid.set(e.tid, [...(byTid.get(e.tid) ?? []), e]);
      const selfFromTrace = new Map<string, number>();
      let topLevel = 0;
      for (const evs of byTid.values()) {
        evs.sort((a, b) => ns(a.ts) - ns(b.ts) || ns(b.dur) - ns(a.dur));
        const stack: { e: X; end: number; kids: number }[] = [];
        const pop = () => {
          const s = stack.pop()!;
          selfFromTrace.set(s.e.name, (selfFromTrace.get(s.e.name) ?? 0) + (ns(s.e.dur) - s.kids));
        };
        for (const e of evs) {
          const start = ns(e.ts);
          const end = start + ns(e.dur);
          while (stack.length && start >= stack[stack.length - 1].end) pop();
          if (stack.length) {
            const parent = stack[stack.length - 1];
            expect(end).toBeLessThanOrEqual(parent.end); // no partial overlap
            parent.kids += ns(e.dur);
          } else if (e.tid === 1) topLevel += ns(e.dur);
          stack.push({ e, end, kids: 0 });
        }
        while (stack.length) pop();
      }

      // ---- every op named: each native entry point called during the steps, with as many events as calls
      const nativeEvents = new Map<string, number>();
      for (const e of xs.filter((e) => e.cat === 'native')) {
        const entry = e.name.replace(/^native::/, '').split('.')[0];
        nativeEvents.set(entry, (nativeEvents.get(entry) ?? 0) + 1);
      }
      expect(calls.get('conv2dForward')).toBe(25); // 5 convolutions x 5 steps
      for (const [k, c] of calls) expect([k, nativeEvents.get(k)]).toEqual([k, c]);
      expect([...nativeEvents.keys()].sort()).toEqual([...calls.keys()].sort());
      // elementwise and reduction kernels carry their op code's name
      expect(xs.some((e) => /^native::(unary|binary|reduce)\.[A-Z][a-zA-Z]+$/.test(e.name))).toBe(true);
      expect(xs.some((e) => /^native::(unary|binary|reduce)\.\d/.test(e.name))).toBe(false);
      const names = new Set(xs.map((e) => e.name));
      // BatchNorm2d -> ReLU inside a Sequential runs fused (nn.fusion): one BatchNormReluBackward node, and the
      // fused chain calls no BatchNorm2d forward of its own.
      for (const n of ['autograd::Conv2dBackward', 'autograd::BatchNormReluBackward', 'autograd::AccumulateGrad', 'nn.Module: Conv2d',
        'nn.Module: Cifar10Net', 'backward', 'Optimizer.step#AdamW.step', 'Optimizer.zeroGrad#AdamW.zeroGrad', 'forward+loss'])
        expect(names).toContain(n);
      expect(xs.filter((e) => /^ProfilerStep#\d$/.test(e.name)).length).toBe(5);
      // The steps are top level; the native work sits inside them.
      const convs = xs.filter((e) => e.name === 'native::conv2dForward');
      const steps = xs.filter((e) => e.name.startsWith('ProfilerStep#'));
      for (const c of convs) expect(steps.some((s) => ns(s.ts) <= ns(c.ts) && ns(c.ts) + ns(c.dur) <= ns(s.ts) + ns(s.dur))).toBe(true);

      // ---- the summary table's totals match the trace
      const host = xs.filter((e) => e.tid === 1);
      for (const r of avgs.rows) {
        const mine = host.filter((e) => e.name === r.key);
        expect([r.key, r.count]).toEqual([r.key, mine.length]);
        const dur = mine.reduce((s, e) => s + ns(e.dur), 0);
        expect(Math.abs(ns(r.cpuTotal) - dur)).toBeLessThanOrEqual(mine.length + 1);
        expect(Math.abs(ns(r.selfCpuTotal) - (selfFromTrace.get(r.key) ?? 0))).toBeLessThanOrEqual(4 * mine.length + 4);
      }
      expect(new Set(avgs.rows.map((r) => r.key))).toEqual(new Set(host.map((e) => e.name)));
      // Self times partition the profiled time: their sum is the top-level ranges' duration.
      expect(Math.abs(ns(avgs.selfCpuTotal) - topLevel)).toBeLessThanOrEqual(4 * host.length);
      // Sorted by self time, and the table shows the rows in that order with the total.
      const selfs = avgs.rows.map((r) => r.selfCpuTotal);
      expect(selfs).toEqual([...selfs].sort((a, b) => b - a));
      const table = avgs.table({ rowLimit: 5 });
      const lines = table.split('\n').filter((l) => avgs.rows.slice(0, 5).some((r) => l.startsWith(`${r.key} `)));
      expect(lines.map((l) => l.split(/\s{2,}/)[0])).toEqual(avgs.rows.slice(0, 5).map((r) => r.key));
      expect(table).toMatch(/Self CPU time total: \d/);
      // torch.profiler's sort_by names sort the same columns; an unknown key is a clear error, not a TypeError.
      expect(avgs.sorted('cpu_time_total').map((r) => r.key)).toEqual(avgs.sorted('total').map((r) => r.key));
      expect(avgs.table({ sortBy: 'self_cpu_time_total', rowLimit: 5 })).toBe(table);
      expect(() => avgs.table({ sortBy: 'selfCpuTimeTotal' as never })).toThrow(expect.objectContaining({ code: 'ERR_ARG', message: expect.stringMatching(/unknown sort key 'selfCpuTimeTotal'.*self_cpu_time_total/) }));
    } finally {
      counter.restore();
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });

  test('nothing of the profiler stays installed after stop(), and only one profile runs at a time', async () => {
    const before = { conv: native.conv2dForward, apply: Node.prototype.apply, backward: ck.Tensor.prototype.backward, step: ck.optim.Optimizer.prototype.step, fwd: ck.nn.Conv2d.prototype.forward };
    const p = profiler.profile();
    expect(native.conv2dForward).not.toBe(before.conv);
    expect(() => profiler.profile()).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    p.stop();
    expect({ conv: native.conv2dForward, apply: Node.prototype.apply, backward: ck.Tensor.prototype.backward, step: ck.optim.Optimizer.prototype.step, fwd: ck.nn.Conv2d.prototype.forward }).toEqual(before);
    expect(Object.prototype.hasOwnProperty.call(ck.nn.BatchNorm2d.prototype, 'forward')).toBe(false);
    // Without a profile, recordFunction only runs its function.
    expect(profiler.recordFunction('x', () => 7)).toBe(7);
    expect(profiler.current()).toBeNull();
    // profile(opts, async fn): the range of an async function ends when it settles; the profile is returned stopped.
    const done = await profiler.profile({}, async () => {
      await profiler.recordFunction('outer', async () => {
        await new Promise((r) => setTimeout(r, 5));
        ck.tidy(() => ck.ones([8]).add(1).sum().item());
      });
    });
    expect(done.running).toBe(false);
    const outer = done.events().find((e) => e.name === 'outer')!;
    expect(outer.dur).toBeGreaterThanOrEqual(4000);
    const add = done.events().find((e) => e.name === 'native::binary.Add' || e.name === 'native::unary.AddScalar')!;
    expect(add.ts).toBeGreaterThanOrEqual(outer.ts);
    expect(add.depth).toBeGreaterThan(outer.depth);
    // An error inside fn still stops the profile.
    expect(() => profiler.profile({}, () => {
      throw new Error('boom');
    })).toThrow('boom');
    expect(profiler.current()).toBeNull();
  });

  // test/unit runs with the CPU binary and with the emulated CUDA one (scripts/run-tests.js): on a CUDA
  // device each native call gets a CUDA-event timing on a track of its own; without one, 'cuda' adds nothing.
  test('activities [cpu, cuda]: CUDA-event timings of work on a CUDA device, on their own track', () => {
    const device = ck.cuda.isAvailable() ? 'cuda' : 'cpu';
    const a = ck.randn([16, 16], { device });
    const b = ck.randn([16, 16], { device });
    const prof = profiler.profile({ activities: ['cpu', 'cuda'] }, () => ck.tidy(() => a.matmul(b).relu().sum().item()));
    a.dispose();
    b.dispose();
    const trace = prof.chromeTrace();
    const host = trace.traceEvents.filter((e) => e.ph === 'X' && e.tid === 1 && e.cat === 'native');
    const dev = trace.traceEvents.filter((e) => e.ph === 'X' && e.tid === 2);
    expect(host.map((e) => e.name)).toContain('native::gemm');
    if (device === 'cuda') {
      // one device timing per native call that touched the device, same name, inside the host call
      const onDevice = host.filter((e) => e.args?.device === 'cuda:0');
      expect(onDevice.length).toBeGreaterThan(0);
      expect(dev.map((e) => e.name).sort()).toEqual(onDevice.map((e) => e.name).sort());
      for (const e of dev) expect(e.dur!).toBeGreaterThanOrEqual(0);
      expect(trace.traceEvents.some((e) => e.ph === 'M' && (e.args as { name?: string })?.name === 'CUDA stream (event timings)')).toBe(true);
      expect(prof.keyAverages().table()).toMatch(/CUDA total/);
    } else {
      expect(dev).toEqual([]);
      expect(prof.keyAverages().table()).not.toMatch(/CUDA total/);
    }
    expect(() => new profiler.Profile({ activities: ['tpu' as 'cpu'] })).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
  });
});
