/**
 * The `convkit` command as users run it, compiled: dist/cli/main.js built once per test file (beforeAll),
 * with a fresh temporary folder to run in, removed afterwards.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const root = path.resolve(__dirname, '../..');
export const cli = path.join(root, 'dist', 'cli', 'main.js');
export const cliEnv = { ...process.env, CONVKIT_QUIET: '1', CONVKIT_BINARY: process.env.CONVKIT_BINARY ?? 'cpu' };

/** Registers the build and the temporary folder; `work()` is that folder once beforeAll has run. */
export function compiledCli(prefix: string): { work: () => string } {
  let work = '';
  beforeAll(() => {
    const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed:\n${r.stdout}${r.stderr}`);
    work = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  }, 180000);
  afterAll(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });
  return { work: () => work };
}
