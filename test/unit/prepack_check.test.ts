/**
 * `npm pack` / `npm publish` from a clone without the prebuilt binaries fails loudly (issue 19, must-show 4):
 * the prepack script (scripts/prepack-check.js) exits non-zero and says how to build them. Run here on a
 * copy of the package's manifest and script in a temporary folder, as a fresh clone has them: no
 * prebuilds/, and no node_modules (prepack runs before prepare builds anything).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..');
let clone = '';

beforeAll(() => {
  clone = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-prepack-'));
  fs.mkdirSync(path.join(clone, 'scripts'));
  fs.mkdirSync(path.join(clone, 'csrc'));
  fs.copyFileSync(path.join(root, 'package.json'), path.join(clone, 'package.json'));
  fs.copyFileSync(path.join(root, 'scripts', 'prepack-check.js'), path.join(clone, 'scripts', 'prepack-check.js'));
  fs.writeFileSync(path.join(clone, 'csrc', 'source.cc'), '// a native source\n');
});
afterAll(() => {
  if (clone) fs.rmSync(clone, { recursive: true, force: true });
});

const check = (env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [path.join(clone, 'scripts', 'prepack-check.js')], { cwd: clone, encoding: 'utf8', env: { ...process.env, ...env } });

test('npm pack in a clone without prebuilds exits non-zero and says to run npm run prebuild', () => {
  const r = spawnSync('npm', ['pack', '--pack-destination', clone], { cwd: clone, encoding: 'utf8', timeout: 120000 });
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/refusing to pack without current prebuilt binaries: prebuilds\/[\w-]+\/convkit\.napi\.cpu\.node is missing/);
  expect(r.stderr).toMatch(/npm run prebuild/);
  expect(fs.readdirSync(clone).some((f) => f.endsWith('.tgz'))).toBe(false);
});

test('current prebuilds pass; one older than a native source is refused; CONVKIT_PACK_ALLOW_MISSING=1 overrides', () => {
  const dir = path.join(clone, 'prebuilds', `${process.platform}-${process.arch}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['cpu', 'cuda']) fs.writeFileSync(path.join(dir, `convkit.napi.${f}.node`), 'binary');
  const past = new Date(Date.now() - 60000);
  fs.utimesSync(path.join(clone, 'csrc', 'source.cc'), past, past);
  expect(check().status).toBe(0);

  const future = new Date(Date.now() + 60000);
  fs.utimesSync(path.join(clone, 'csrc', 'source.cc'), future, future);
  const stale = check();
  expect(stale.status).toBe(1);
  expect(stale.stderr).toMatch(/convkit\.napi\.cpu\.node is older than the native sources/);

  const allowed = check({ CONVKIT_PACK_ALLOW_MISSING: '1' });
  expect(allowed.status).toBe(0);
  expect(allowed.stderr).toMatch(/packing without them/);
});
