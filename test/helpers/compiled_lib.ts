/**
 * The library compiled to plain JavaScript from the current sources, for tests that must run convkit in a
 * child process (to observe a signal, or to measure a clean process's memory): every lib/ file is
 * transpiled (no type check, as ts-jest does here) into a folder under the checkout's ignored tmp/, so
 * node_modules resolves as usual and DataLoader workers find a compiled worker.js. Children should get
 * childEnv(), which points CONVKIT_BINARY at the binary this test process loaded.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';
import { binaryPath } from '../../lib/binding';

const root = path.resolve(__dirname, '..', '..');

function walk(dir: string, out: string[]): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const f = path.join(dir, e.name);
    if (e.isDirectory()) walk(f, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(f);
  }
  return out;
}

let built: { dir: string; index: string } | null = null;

/** Compiles lib/ once per test file; returns the folder and the path of its index.js. Removed at exit. */
export function compiledLib(): { dir: string; index: string } {
  if (built) return built;
  fs.mkdirSync(path.join(root, 'tmp'), { recursive: true });
  const dir = fs.mkdtempSync(path.join(root, 'tmp', 'compiled-lib-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const libRoot = path.join(root, 'lib');
  for (const file of walk(libRoot, [])) {
    const out = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    const dest = path.join(dir, 'lib', path.relative(libRoot, file)).replace(/\.ts$/, '.js');
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, out.outputText);
  }
  built = { dir, index: path.join(dir, 'lib', 'index.js') };
  return built;
}

/** The environment for a child that loads compiledLib(): the same native binary as this process, quiet. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, CONVKIT_BINARY: binaryPath, CONVKIT_QUIET: '1', ...extra };
}
