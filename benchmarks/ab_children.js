// The two sides of a single-machine A/B benchmark (benchmarks/conv_layers.js, benchmarks/step_ops.js): a convkit
// child per binary (this same script forked with an environment flag, timing case i over reps calls on request)
// and a Python child running a PyTorch twin that reads the case list from its first stdin line, then answers one
// JSON number (ms per call) per "i reps" line. Both report CPU time; the caller interleaves the sides.
'use strict';
const path = require('path');
const { spawn, fork } = require('child_process');
const readline = require('readline');

const PYTHON = process.env.PYTHON || '/usr/bin/python3';

/** A forked copy of `script` with env[flag] = '1' and CONVKIT_BINARY = binary; extraEnv 'NAME=VALUE' for it alone. */
function ckChild(script, args, flag, binary, extraEnv = '', threads = 1) {
  const env = { ...process.env, [flag]: '1', CONVKIT_BINARY: binary, OMP_NUM_THREADS: String(threads) };
  if (extraEnv) env[extraEnv.slice(0, extraEnv.indexOf('='))] = extraEnv.slice(extraEnv.indexOf('=') + 1);
  const child = fork(script, args, { env });
  let waiting = null;
  child.on('message', (m) => { if (waiting) { const w = waiting; waiting = null; w(m); } });
  return {
    ready: new Promise((res) => { waiting = res; }),
    time(i, reps) { return new Promise((res) => { waiting = res; child.send({ i, reps }); }); },
    close() { child.kill(); },
  };
}

/** The PyTorch side: python -c code pyArgs..., fed the cases; time() resolves to the JSON it answers. */
function pyChild(code, cases, pyArgs = [], threads = 1) {
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), CK_BENCH_TORCH_DIR: path.join(__dirname, 'torch') };
  const child = spawn(PYTHON, ['-c', code, ...pyArgs], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = readline.createInterface({ input: child.stdout });
  const queue = [];
  rl.on('line', (l) => { const w = queue.shift(); if (w) w(l); });
  child.on('exit', (status) => { if (queue.length) { console.error(`python exited (${status})`); process.exit(1); } });
  child.stdin.write(JSON.stringify(cases) + '\n');
  return {
    ready: new Promise((res) => queue.push(res)),
    time(i, reps) { return new Promise((res) => { queue.push((l) => res(JSON.parse(l))); child.stdin.write(`${i} ${reps}\n`); }); },
    close() { child.stdin.end(); },
  };
}

/** The Python twin's timing loop, appended to its setup code: `runs` (one callable per case) must exist. */
const PY_TIMING_LOOP = `
print('ready', flush=True)
for line in sys.stdin:
    i, reps = map(int, line.split())
    run = runs[i]
    run()
    t0 = time.process_time()
    for _ in range(reps):
        run()
    print(json.dumps((time.process_time() - t0) * 1000 / reps), flush=True)
`;

/** The options both benchmarks take: --rounds N (7), --recipe mnist|cifar|both, --only regex, --base, --base-env. */
function abOptions(args) {
  const opt = (name, dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : dflt;
  };
  return { opt, ROUNDS: Number(opt('rounds', 7)), RECIPE: opt('recipe', 'both'), ONLY: opt('only', ''), BASE: opt('base', ''), BASE_ENV: opt('base-env', '') };
}

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

module.exports = { ckChild, pyChild, PY_TIMING_LOOP, median, abOptions };
