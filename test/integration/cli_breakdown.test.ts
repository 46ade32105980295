/**
 * `convkit train --profile` (issue 23, must-show 2): the step-time breakdown in metrics.jsonl adds up to
 * each epoch's time (measured on a clock of its own) within 5%, and on the CPU the time outside forward,
 * backward and the optimizer is under 10%; it is printed, drawn in report.html, and comes with a
 * ck.profiler trace of 5 steps. Also the CLI items of issue 19: the progress line fits the terminal
 * without cutting a field, and the report's settings show what each default resolved to.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { fitLine } from '../../lib/cli/progress';
import { PARTS } from '../../lib/cli/breakdown';
import { computeThreads } from '../../lib/cli/setup';
import { cli, cliEnv as env, compiledCli } from '../helpers/cli_bin';

const tmp = compiledCli('convkit-breakdown-');

describe('convkit train --profile', () => {
  let out = '';
  let r: ReturnType<typeof spawnSync>;
  beforeAll(() => {
    out = path.join(tmp.work(), 'run');
    r = spawnSync(process.execPath, [cli, 'train', '--epochs', '2', '--limit-train', '640', '--limit-test', '64', '--batch-size', '64', '--profile', '--out', out],
      { cwd: tmp.work(), env, encoding: 'utf8', timeout: 300000 });
  }, 320000);

  it('records each epoch\'s breakdown; the parts add up to the epoch time within 5%; the non-model share of a CPU epoch is under 10%', () => {
    expect(r.stderr).not.toMatch(/Error|at .*\.js:\d+/);
    expect(r.status).toBe(0);
    const metrics = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics).toHaveLength(2);
    for (const m of metrics) {
      expect(Object.keys(m.breakdown).sort()).toEqual([...PARTS].sort());
      for (const p of PARTS) expect(m.breakdown[p]).toBeGreaterThanOrEqual(0);
      const sum = PARTS.reduce((s, p) => s + m.breakdown[p], 0);
      expect(Math.abs(sum - m.time_s) / m.time_s).toBeLessThan(0.05);
      expect(m.breakdown.forward).toBeGreaterThan(0);
      expect(m.breakdown.backward).toBeGreaterThan(0);
      expect(m.breakdown.h2d / sum).toBeLessThan(0.001); // CPU training: no copy, the batch is already where the model is
      const nonModel = m.breakdown.data + m.breakdown.h2d + m.breakdown.metrics + m.breakdown.other;
      expect(nonModel / sum).toBeLessThan(0.1);
    }
  });

  it('prints the breakdown after each epoch line and writes a ck.profiler trace of 5 steps', () => {
    const stdout = String(r.stdout);
    expect(stdout).toMatch(/step-time breakdown of epoch 1 \([\d.]+ s of [\d.]+ s\):\n {4}waiting for data +[\d.]+ s +[\d.]+%\n/);
    expect(stdout).toMatch(/ {4}non-model share +[\d.]+%\n/);
    const trace = JSON.parse(fs.readFileSync(path.join(out, 'profile-trace.json'), 'utf8'));
    const xs = trace.traceEvents.filter((e: { ph: string }) => e.ph === 'X');
    expect(xs.filter((e: { name: string }) => /^ProfilerStep#\d$/.test(e.name))).toHaveLength(5);
    expect(xs.some((e: { name: string }) => e.name === 'native::conv2dForward')).toBe(true);
    expect(fs.readFileSync(path.join(out, 'profile-ops.txt'), 'utf8')).toMatch(/^-+ .*\nName +Self CPU %/);
  });

  it('draws the breakdown in report.html, and the settings say what each default became', () => {
    const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html).toContain('aria-label="Step time"');
    for (const p of ['forward', 'backward']) expect((html.match(new RegExp(`data-part="${p}"`, 'g')) ?? []).length).toBe(2);
    expect(html).toMatch(/finished: 2 epochs/);
    expect(html).not.toMatch(/<td>null<\/td>/);
    expect(html).toMatch(/<th>weightDecay<\/th><td>0\.01 \(the adamw default\)<\/td>/);
    expect(html).toMatch(/<th>limitTest<\/th><td>64<\/td>/);
    // Legends sit above the plots: every curve point lies below the top margin where the legend is.
    const svgs = html.match(/<svg[\s\S]*?<\/svg>/g)!;
    for (const svg of svgs.slice(0, 3)) {
      const legendYs = [...(svg.match(/<g class="legend">[\s\S]*?<\/g>/)![0].matchAll(/<rect [^>]*y="([\d.]+)" [^>]*height="([\d.]+)"/g))].map((m) => Number(m[1]) + Number(m[2]));
      const pathYs = [...svg.matchAll(/<path [^>]*d="([^"]*)"/g)].flatMap((m) => [...m[1].matchAll(/[ML][\d.]+ ([\d.]+)/g)].map((q) => Number(q[1])));
      expect(pathYs.length).toBeGreaterThan(0);
      expect(Math.max(...legendYs)).toBeLessThan(Math.min(...pathYs));
    }
  });

  it('a run of one epoch says "1 epoch"', () => {
    const one = path.join(tmp.work(), 'one');
    const o = spawnSync(process.execPath, [cli, 'train', '--epochs', '1', '--limit-train', '64', '--limit-test', '32', '--batch-size', '32', '--out', one], { cwd: tmp.work(), env, encoding: 'utf8', timeout: 120000 });
    expect(o.status).toBe(0);
    expect(o.stdout).toMatch(/, 1 epoch of 2 batches of 32,/);
    expect(fs.readFileSync(path.join(one, 'report.html'), 'utf8')).toMatch(/finished: 1 epoch,/);
  }, 130000);
});

describe('threads', () => {
  it('the kernel threads rule: every core with an in-memory dataset, the cores the workers leave with an image folder', () => {
    expect(computeThreads(2, 'fashion-mnist', 2)).toBe(2);
    expect(computeThreads(8, 'cifar10', 4)).toBe(4);
    expect(computeThreads(1, 'image-folder', 4)).toBe(3);
    expect(computeThreads(5, 'image-folder', 4)).toBe(1);
  });

  it('with --workers N and no --threads, the shipped Fashion-MNIST gets every core; --threads wins', () => {
    const cores = os.availableParallelism();
    const run = (extra: string[]) => {
      const o = spawnSync(process.execPath, [cli, 'train', '--epochs', '1', '--limit-train', '32', '--limit-test', '32', '--batch-size', '32', '--json', '--out', path.join(tmp.work(), `t${extra.join('')}`), ...extra],
        { cwd: tmp.work(), env, encoding: 'utf8', timeout: 120000 });
      expect(o.status).toBe(0);
      return JSON.parse(o.stdout.split('\n')[0]) as { event: string; threads: number };
    };
    expect(run(['--workers', '1'])).toMatchObject({ event: 'start', threads: cores });
    expect(run(['--workers', '1', '--threads', '3']).threads).toBe(3);
    // No workers: the kernels' own default (every core), as `convkit info` reports it.
    const info = JSON.parse(spawnSync(process.execPath, [cli, 'info', '--json'], { env, encoding: 'utf8' }).stdout) as { threads: number };
    expect(run([]).threads).toBe(info.threads);
  }, 240000);
});
