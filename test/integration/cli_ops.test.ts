/**
 * `convkit train` as an operator meets it: SIGTERM (what schedulers and `docker stop` send) saves a
 * checkpoint at the current batch and --resume then ends on weights bit-identical to an uninterrupted
 * run; a second run on the same folder is refused while the first runs; a stale lock and the temporary
 * files of a write cut short by kill -9 are cleaned up; a full disk or quota is one coded line that
 * says what was kept. The CLI runs compiled (into build-ops-test/, so this file and cli.test.ts, which
 * compiles into dist/, can run in parallel) as child processes; needs the native CPU binary.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LOCK_FILE, ownerState } from '../../lib/cli/lock';

const root = path.resolve(__dirname, '../..');
const build = path.join(root, 'build-ops-test');
const cli = path.join(build, 'cli', 'main.js');
// CONVKIT_PROGRESS_MS=0: one progress line per batch on stderr, so the test sees where the run is.
const env = { ...process.env, CONVKIT_QUIET: '1', CONVKIT_BINARY: process.env.CONVKIT_BINARY ?? 'cpu', CONVKIT_PROGRESS_MS: '0' };
// Two epochs of 12 batches on a slice of the shipped Fashion-MNIST subset.
const RUN = ['--epochs', '2', '--limit-train', '384', '--limit-test', '64', '--batch-size', '32', '--seed', '11'];
let work = '';
let straight = '';
let preload = '';

interface Result { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Starts `convkit <args>`; waitFor resolves once stderr matches. */
function start(args: string[], nodeArgs: string[] = [], extraEnv: Record<string, string> = {}) {
  const child = spawn(process.execPath, [...nodeArgs, cli, ...args], { cwd: work, env: { ...env, ...extraEnv } });
  let stdout = '';
  let stderr = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => {
    stderr += d;
    for (const w of waiters.splice(0)) {
      if (w.re.test(stderr)) w.resolve();
      else waiters.push(w);
    }
  });
  const done = new Promise<Result>((res) => child.on('close', (status, signal) => res({ status, signal, stdout, stderr })));
  const waitFor = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      if (re.test(stderr)) return resolve();
      waiters.push({ re, resolve });
      void done.then((r) => reject(new Error(`exited (${r.status}) before stderr matched ${re}:\n${r.stderr}`)));
    });
  return { child, done, waitFor, stderr: () => stderr };
}

const convkit = (args: string[], nodeArgs: string[] = [], extraEnv: Record<string, string> = {}) => start(args, nodeArgs, extraEnv).done;

const temps = (dir: string) => fs.readdirSync(dir).filter((f) => f.includes('.tmp-'));

beforeAll(async () => {
  const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', build], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed:\n${r.stdout}${r.stderr}`);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-ops-'));
  // Fails writes of the files whose path matches CK_FAIL_FILE the way a full disk does: the first
  // CK_FAIL_SKIP such files are written whole; in the next one the first CK_FAIL_AFTER writes land
  // and the one after throws Node's own ENOSPC/EDQUOT error (or, with CK_FAIL_HANG, blocks until the
  // process is killed). Everything else is the real code path.
  preload = path.join(work, 'disk_full.js');
  fs.writeFileSync(preload, `
const fs = require('fs');
const re = new RegExp(process.env.CK_FAIL_FILE);
let skip = Number(process.env.CK_FAIL_SKIP || 0);
const after = Number(process.env.CK_FAIL_AFTER || 0);
const code = process.env.CK_FAIL_CODE || 'ENOSPC';
const calls = new Map();
const writeSync = fs.writeSync;
fs.writeSync = function (fd, ...rest) {
  let p = '';
  try { p = fs.readlinkSync('/proc/self/fd/' + fd); } catch {}
  if (re.test(p)) {
    if (!calls.has(p)) calls.set(p, skip-- > 0 ? -Infinity : 0);
    const n = calls.get(p);
    calls.set(p, n + 1);
    if (n >= after && process.env.CK_FAIL_HANG) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // until kill -9
    if (n >= after) {
      const e = new Error(code + ': ' + (code === 'ENOSPC' ? 'no space left on device' : 'disk quota exceeded') + ', write');
      Object.assign(e, { errno: code === 'ENOSPC' ? -28 : -122, code, syscall: 'write' });
      throw e;
    }
  }
  return writeSync.call(this, fd, ...rest);
};
`);
  // The uninterrupted reference run.
  straight = path.join(work, 'straight');
  const s = await convkit(['train', ...RUN, '--quiet', '--out', straight]);
  if (s.status !== 0) throw new Error(`reference run failed:\n${s.stderr}`);
}, 300000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(build, { recursive: true, force: true });
});

describe('SIGTERM and the run-folder lock', () => {
  it('SIGTERM mid-epoch saves a checkpoint there (exit 143); --resume ends on weights bit-identical to an uninterrupted run', async () => {
    const dir = path.join(work, 'sigterm');
    const a = start(['train', ...RUN, '--out', dir]);
    // A few batches into epoch 1 (progress lines: "epoch 1/2 3/12 ...").
    await a.waitFor(/^epoch 1\/2 3\/12 /m);

    // While it runs, a second writer of the same folder (a new run or a resume) is refused at once,
    // naming the first's pid.
    const lock = JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8'));
    expect(lock.pid).toBe(a.child.pid);
    expect(lock.host).toBe(os.hostname());
    const [again, resume] = await Promise.all([convkit(['train', ...RUN, '--out', dir]), convkit(['train', '--resume', dir])]);
    expect(a.child.exitCode).toBeNull(); // the first run was still running all along
    for (const r of [again, resume]) {
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(
        new RegExp(`^convkit: the run folder .*sigterm is in use by convkit train pid ${a.child.pid} on ${os.hostname()}, started \\S+; .*kill -TERM ${a.child.pid}.* \\(ERR_RUN_LOCKED\\)\\n$`),
      );
    }

    // SIGTERM inside an epoch: if the refusals above took long enough for epoch 1 to near its end,
    // wait for epoch 2 to be under way.
    const lastBatch = Number([...a.stderr().matchAll(/^epoch \d\/2 (\d+)\/12 /gm)].pop()![1]);
    if (lastBatch > 8) await a.waitFor(/^epoch 2\/2 2\/12 /m);
    a.child.kill('SIGTERM');
    const r = await a.done;
    expect(r.signal).toBeNull(); // handled, not killed by it
    expect(r.status).toBe(143);
    expect(r.stderr).toMatch(/\nSIGTERM: saving a checkpoint at the end of this batch/);
    // It names the epoch it stopped in (1-based, unfinished), not the last one finished.
    const m = /\ninterrupted in epoch (\d+) after batch (\d+): checkpoint saved in (.*); continue with: convkit train --resume (.*)\n$/.exec(r.stderr);
    expect(m).not.toBeNull();
    const [, epoch, batch] = m!.map(Number);
    expect((epoch - 1) * 12 + batch).toBeGreaterThanOrEqual(3);
    expect(batch).toBeGreaterThan(0); // inside an epoch, not at its end
    expect(batch).toBeLessThan(12);
    expect(r.stderr).not.toMatch(/ at .*\.js:\d+/);
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false); // released on the signal's exit path
    expect(fs.existsSync(path.join(dir, 'final.safetensors'))).toBe(false);
    expect(temps(dir)).toEqual([]);

    const resumed = await convkit(['train', '--resume', dir]);
    expect(resumed.stderr).not.toMatch(/convkit:|Error| at /); // progress lines only
    expect(resumed.status).toBe(0);
    expect(resumed.stdout).toContain(`resuming in epoch ${epoch} after batch ${batch}`);
    const got = fs.readFileSync(path.join(dir, 'final.safetensors'));
    const want = fs.readFileSync(path.join(straight, 'final.safetensors'));
    expect(got.length).toBeGreaterThan(4 * 140_000); // the tutorial CNN: 141,354 float32 parameters and its buffers
    expect(got.equals(want)).toBe(true);
    // The same curve to the last bit, timings (and the step-time breakdown) aside.
    const curve = (d: string) =>
      fs.readFileSync(path.join(d, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => {
        const { time_s: _t, images_per_s: _i, breakdown: _b, ...rest } = JSON.parse(l);
        return rest;
      });
    expect(curve(dir)).toEqual(curve(straight));
    expect(curve(dir)).toHaveLength(2);
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  }, 240000);

  it('kill -9 mid-write: the next run takes over the dead run\'s lock with a note and removes its temporary file', async () => {
    const dir = path.join(work, 'killed');
    const tiny = ['train', '--epochs', '1', '--limit-train', '64', '--limit-test', '32', '--batch-size', '32', '--out', dir];
    // The first run stops in the middle of writing its checkpoint, 8 bytes in; then kill -9.
    const a = start(tiny, ['--require', preload], { CK_FAIL_FILE: 'checkpoint\\.safetensors\\.tmp-', CK_FAIL_AFTER: '1', CK_FAIL_HANG: '1' });
    try {
      const deadline = Date.now() + 100000;
      while (!(fs.existsSync(dir) && temps(dir).some((f) => fs.statSync(path.join(dir, f)).size === 8))) {
        if (Date.now() > deadline || a.child.exitCode !== null) throw new Error(`no temporary checkpoint appeared:\n${a.stderr()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      a.child.kill('SIGKILL');
    }
    expect((await a.done).signal).toBe('SIGKILL');
    const left = temps(dir);
    expect(left).toEqual([expect.stringMatching(new RegExp(`^checkpoint\\.safetensors\\.tmp-${a.child.pid}-[0-9a-z]+$`))]);
    const lock = JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8'));
    expect(lock.pid).toBe(a.child.pid);
    // A file of the user's that only looks like a temporary file is kept.
    fs.writeFileSync(path.join(dir, 'notes.txt.tmp-1-abc'), 'mine');

    const r = await convkit(tiny);
    expect(r.stderr).not.toMatch(/Error|at .*\.js:\d+/);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`note: took over the lock of convkit train pid ${a.child.pid} on ${os.hostname()}, started ${lock.started}, which is no longer running`);
    expect(r.stdout).toContain(`note: removed 1 temporary file(s) (8 bytes) left by an interrupted write: ${left[0]}`);
    expect(temps(dir)).toEqual(['notes.txt.tmp-1-abc']);
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'final.safetensors'))).toBe(true);
  }, 240000);

  it('processes racing for a stale lock: exactly one gets it', () => {
    const dir = path.join(work, 'race');
    fs.mkdirSync(dir);
    const dead = spawnSync(process.execPath, ['-e', '']).pid; // exited: its pid is free
    fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: dead, host: os.hostname(), started: '2026-01-01T00:00:00.000Z', procStart: null, token: 'old', command: 'train' }));
    // Four processes (the lock module alone: no addon) start acquiring at the same instant and hold
    // what they got for a second.
    const at = Date.now() + 1500;
    const script = `
const { RunLock } = require(${JSON.stringify(path.join(build, 'cli', 'lock.js'))});
while (Date.now() < ${at});
try {
  const l = RunLock.acquire(${JSON.stringify(dir)}, (n) => console.log('note', n));
  console.log('got');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
  l.release();
} catch (e) { console.log(e.code); }`;
    const kids = Array.from({ length: 4 }, () => spawn(process.execPath, ['-e', script], { env }));
    return Promise.all(kids.map((k) => new Promise<string>((res) => {
      let out = '';
      k.stdout.on('data', (d) => (out += d));
      k.on('close', () => res(out));
    }))).then((outs) => {
      expect(outs.filter((o) => o.includes('got'))).toHaveLength(1);
      expect(outs.filter((o) => o.trim() === 'ERR_RUN_LOCKED')).toHaveLength(3);
      // The note comes from the process that removed the stale lock, and only if it then also won the
      // create: a racer that found the file gone in between may create it first (and says nothing).
      const notes = outs.filter((o) => o.includes('note took over'));
      expect(notes.length).toBeLessThanOrEqual(1);
      for (const o of notes) expect(o).toContain('got');
      expect(fs.readdirSync(dir)).toEqual([]); // released, takeover guard gone
    });
  }, 60000);

  it('a lock of another host is not taken over; one whose pid now belongs to another process is', async () => {
    const dir = path.join(work, 'elsewhere');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: 4242, host: 'gpu-node-7', started: '2026-01-01T00:00:00.000Z', procStart: null, token: 't', command: 'train' }));
    const r = await convkit(['train', '--out', dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^convkit: the run folder .* is in use by convkit train pid 4242 on gpu-node-7, started 2026-01-01T00:00:00.000Z \(another host: it cannot be checked from here\); .*delete .*\.convkit-train\.lock \(ERR_RUN_LOCKED\)\n$/);
    expect(fs.readdirSync(dir)).toEqual([LOCK_FILE]); // nothing else touched
    // This process is alive; recorded with another kernel start time, its pid is a reused one.
    const me = { pid: process.pid, host: os.hostname(), started: '', token: 't', command: '' };
    const stat = fs.readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    const started = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    expect(ownerState({ ...me, procStart: started })).toBe('alive');
    expect(ownerState({ ...me, procStart: String(Number(started) + 1) })).toBe('dead');
    expect(ownerState({ ...me, procStart: null })).toBe('alive');
    expect(ownerState({ ...me, pid: spawnSync(process.execPath, ['-e', '']).pid!, procStart: null })).toBe('dead');
  }, 60000);
});

describe('disk full', () => {
  it('ENOSPC while writing the checkpoint: one coded line naming the intact checkpoint; --resume then ends on the same weights', async () => {
    const dir = path.join(work, 'full');
    // The epoch-1 checkpoint is written whole; the epoch-2 one fails after its first write landed.
    const r = await convkit(['train', ...RUN, '--quiet', '--out', dir], ['--require', preload], { CK_FAIL_FILE: 'checkpoint\\.safetensors\\.tmp-', CK_FAIL_SKIP: '1', CK_FAIL_AFTER: '1' });
    expect(r.status).toBe(1);
    const ck = path.join(dir, 'checkpoint.safetensors');
    expect(r.stderr).toBe(
      `convkit: no space left on the device (ENOSPC) while writing ${ck}, which was left as it was; ` +
        `the last complete checkpoint (after epoch 1) at ${ck} is intact; free some space, then continue with: convkit train --resume ${dir} (ERR_DISK_FULL)\n`,
    );
    expect(temps(dir)).toEqual([]); // the half-written temporary file is gone
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'final.safetensors'))).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(1);

    const resumed = await convkit(['train', '--resume', dir, '--quiet']);
    expect(resumed.stderr).toBe('');
    expect(resumed.status).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'final.safetensors')).equals(fs.readFileSync(path.join(straight, 'final.safetensors')))).toBe(true);
  }, 240000);

  it('EDQUOT before any checkpoint: says none was written, leaves no temporary file and no lock', async () => {
    const dir = path.join(work, 'quota');
    const r = await convkit(['train', '--epochs', '1', '--limit-train', '32', '--limit-test', '32', '--out', dir], ['--require', preload], { CK_FAIL_FILE: 'settings\\.json\\.tmp-', CK_FAIL_CODE: 'EDQUOT' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `convkit: disk quota exceeded (EDQUOT) while writing ${path.join(dir, 'settings.json')}, which was left as it was; ` +
        'no checkpoint had been written yet; free some space, then start the run again (ERR_DISK_FULL)\n',
    );
    expect(fs.existsSync(dir)).toBe(false); // the folder it made, empty, is gone too
  }, 60000);
});
