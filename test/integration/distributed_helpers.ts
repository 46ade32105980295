/**
 * Shared pieces of the distributed tests: the compiled library for rank processes, a runner that starts
 * N ranks (plain processes or through `convkit launch`) with a time limit, free ports, and the tutorial's
 * CIFAR10Net written once in PyTorch for the parity runs.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { childEnv, compiledLib } from '../helpers/compiled_lib';

const root = path.resolve(__dirname, '..', '..');

/** The compiled library, with package.json and data/ beside it so its CLI (lib/cli/main.js) runs too. */
export function lib(): { index: string; cli: string } {
  const c = compiledLib();
  if (!fs.existsSync(path.join(c.dir, 'package.json'))) {
    fs.copyFileSync(path.join(root, 'package.json'), path.join(c.dir, 'package.json'));
    fs.symlinkSync(path.join(root, 'data'), path.join(c.dir, 'data'));
  }
  return { index: c.index, cli: path.join(c.dir, 'lib', 'cli', 'main.js') };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command to its end (killed after limitMs). */
export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, limitMs: number, cwd?: string): Promise<Done> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const p = spawn(cmd, args, { env, cwd });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), limitMs);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Starts ranks `ranks` of a world of `worldSize` running `script` (node, or python for a .py file). */
export function runRanks(script: string, worldSize: number, port: number, extra: Record<string, string>, limitMs: number, ranks?: number[]): Promise<Done[]> {
  const which = ranks ?? Array.from({ length: worldSize }, (_, r) => r);
  const py = script.endsWith('.py');
  return Promise.all(which.map((r) => run(py ? '/usr/bin/python3' : process.execPath, [script], childEnv({
    MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), RANK: String(r), LOCAL_RANK: String(r), WORLD_SIZE: String(worldSize),
    OMP_NUM_THREADS: '1', ...extra,
  }), limitMs)));
}

/** Writes a rank script into dir, its `require` of convkit pointing at the compiled library. */
export function writeScript(dir: string, name: string, body: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, name.endsWith('.py') ? body : `const ck = require(${JSON.stringify(lib().index)});\n${body}`);
  return f;
}

/** The tutorial's CIFAR10Net in PyTorch (Dropout's p from the caller), for the parity scripts. */
export const TORCH_CIFAR10NET = `
import torch.nn as nn
def cbr(i, o):
    return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU()]
class CIFAR10Net(nn.Module):
    def __init__(self, dropout):
        super().__init__()
        self.features = nn.Sequential(*cbr(3, 32), *cbr(32, 32), nn.MaxPool2d(2), *cbr(32, 64), *cbr(64, 64), nn.MaxPool2d(2),
                                      *cbr(64, 128), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(128, 10))
    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.view(x.size(0), -1))
`;
