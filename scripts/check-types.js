#!/usr/bin/env node
// The types a user's strict project sees (issue 19): builds the package's declarations as `npm run build:ts`
// does (stripInternal: no @internal member in the public .d.ts) into tmp/, then compiles, with
// test/strict-project/tsconfig.json (strict, noUncheckedIndexedAccess, exactOptionalPropertyTypes,
// skipLibCheck off, so the .d.ts files themselves are checked), every ```ts block of README.md and
// docs/*.md, every file of examples/ and of test/strict-project/, importing 'convkit' from those
// declarations. A cast (`as T`, `<T>x`, or a non-null `!`) in any of them fails the check: the point is
// that the documented code needs none. Then builds the API reference with TypeDoc (typedoc.json),
// warnings counted as errors (typedoc.json's intentionallyNotExported lists the types named in public
// signatures whose own index does not export them yet). Exits non-zero on any failure. `--no-docs` skips TypeDoc.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const work = path.join(root, 'tmp', 'check-types');
const decl = path.join(work, 'decl');
const src = path.join(work, 'src');
const tsc = require.resolve('typescript/bin/tsc');
const failures = [];

function run(what, cmd, args) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8' });
  const out = `${r.stdout || ''}${r.stderr || ''}`.trim();
  console.log(`[check-types] ${what}: ${r.status === 0 ? 'ok' : `FAILED (exit ${r.status})`} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (r.status !== 0) failures.push(`${what}:\n${out}`);
  return out;
}

fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(src, { recursive: true });
run('declarations (tsconfig.build.json, stripInternal)', process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', decl, '--emitDeclarationOnly', '--declarationMap', 'false']);

// The sources to compile: copies, so that README blocks become files and 'convkit' resolves to decl/.
const files = [];
function add(name, text, origin) {
  const f = path.join(src, name);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, text);
  files.push({ file: f, origin });
}
for (const doc of ['README.md', ...fs.readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]) {
  const text = fs.readFileSync(path.join(root, doc), 'utf8');
  const re = /^```ts\n([\s\S]*?)^```/gm;
  let m;
  let n = 0;
  while ((m = re.exec(text))) {
    const line = text.slice(0, m.index).split('\n').length;
    // Each block is a module of its own (top-level await allowed, as in an ES module script).
    add(`docs/${doc.replace(/[/.]/g, '_')}_${++n}.ts`, `${m[1]}\nexport {};\n`, `${doc}:${line + 1}`);
  }
}
for (const dir of ['examples', 'test/strict-project'])
  for (const f of fs.readdirSync(path.join(root, dir)).filter((n) => n.endsWith('.ts')))
    add(`${dir.replace('/', '_')}/${f}`, fs.readFileSync(path.join(root, dir, f), 'utf8'), `${dir}/${f}`);

// No casts: `as` followed by a type (not `import * as`, not inside strings or comments, roughly), `<T>expr`,
// and non-null assertions.
const castRe = /(?<!import \* )(?<![\w$'"`])\bas\s+(?!const\b)[A-Za-z_{[(]|[\w)\]]!(?=[.)[,;\s])/;
for (const { file, origin } of files) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines.forEach((l, i) => {
    const code = l.replace(/\/\/.*$/, '').replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`/g, "''").replace(/^\s*\*.*$/, '');
    if (/^\s*import \* as /.test(code)) return;
    if (castRe.test(code)) failures.push(`cast in ${origin} (line ${i + 1} of the block or file): ${l.trim()}`);
  });
}

const config = {
  extends: path.join(root, 'test', 'strict-project', 'tsconfig.json'),
  compilerOptions: {
    baseUrl: work,
    paths: { convkit: [path.join(decl, 'index.d.ts')] },
    typeRoots: [path.join(root, 'node_modules', '@types')],
  },
  files: files.map((f) => f.file),
};
fs.writeFileSync(path.join(work, 'tsconfig.json'), JSON.stringify(config, null, 2));
const out = run(`strict compile of ${files.length} files (README and docs blocks, examples/, test/strict-project/)`, process.execPath, [tsc, '-p', path.join(work, 'tsconfig.json')]);
if (out && failures.length) {
  // Name the README/doc block each error is in.
  for (const { file, origin } of files) failures[failures.length - 1] = failures[failures.length - 1].split(path.relative(root, file)).join(origin);
}

if (!process.argv.includes('--no-docs')) {
  // CONVKIT_TYPEDOC_BIN: a typedoc installed elsewhere (the pinned version), for a checkout without it.
  const typedoc = process.env.CONVKIT_TYPEDOC_BIN || path.join(root, 'node_modules', 'typedoc', 'bin', 'typedoc');
  if (!fs.existsSync(typedoc)) failures.push('typedoc is not installed (npm ci installs it: devDependencies)');
  else run('API reference (typedoc, warnings as errors)', process.execPath, [typedoc, '--options', 'typedoc.json', '--treatWarningsAsErrors']);
}

if (failures.length) {
  console.error(`\n[check-types] ${failures.length} problem(s):\n\n${failures.join('\n\n')}`);
  process.exit(1);
}
console.log('[check-types] all passed');
