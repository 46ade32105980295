#!/usr/bin/env node
// A small jest-compatible runner for the compiled CUDA tests on a GPU box that has no npm packages:
// describe/test/it/beforeAll/afterAll and the expect() matchers the test/cuda suites use. Writes a JSON
// report with each test's result, time, and the largest |cuda - cpu| it measured.
// Each test file runs in its own Node process, as under jest (module state such as ck.backends does not
// leak from one file into the next, and a crash loses only that file, reported as a failure).
// Usage: node mini-jest.js <report.json> <test.js ...>
'use strict';
const path = require('path');
const fs = require('fs');

const [reportPath, ...files] = process.argv.slice(2);
const results = [];
let current = null;

function fmt(v) {
  try {
    return typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? String(x) : x));
  } catch {
    return String(v);
  }
}

function deepEqual(a, b) {
  if (Object.is(a, b)) return true;
  if (a && a.__matcher) return a.match(b);
  if (b && b.__matcher) return b.match(a);
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual(a[k], b[k]));
}

function objectContaining(o) {
  return { __matcher: true, match: (v) => v !== null && typeof v === 'object' && Object.keys(o).every((k) => deepEqual(o[k], v[k])), toString: () => `objectContaining(${fmt(o)})` };
}

function throwsMatch(err, want) {
  if (want === undefined) return true;
  if (want instanceof RegExp) return want.test(String(err && err.message));
  if (typeof want === 'string') return String(err && err.message).includes(want);
  if (typeof want === 'function') return err instanceof want || (err && err.name === want.name);
  if (want && want.__matcher) return want.match(err);
  return false;
}

function closeTo(a, b, digits = 2) {
  if (a === b) return true;
  return Math.abs(a - b) < Math.pow(10, -digits) / 2;
}

function expect(actual) {
  const make = (negate) => {
    const check = (ok, msg) => {
      if (ok === negate) throw new Error(`expect(${fmt(actual)})${negate ? '.not' : ''}: ${msg}`);
    };
    return {
      toBe: (v) => check(Object.is(actual, v), `toBe ${fmt(v)}`),
      toEqual: (v) => check(deepEqual(actual, v), `toEqual ${fmt(v)}`),
      toStrictEqual: (v) => check(deepEqual(actual, v), `toStrictEqual ${fmt(v)}`),
      toBeNull: () => check(actual === null, 'toBeNull'),
      toBeUndefined: () => check(actual === undefined, 'toBeUndefined'),
      toBeTruthy: () => check(!!actual, 'toBeTruthy'),
      toBeFalsy: () => check(!actual, 'toBeFalsy'),
      toBeNaN: () => check(Number.isNaN(actual), 'toBeNaN'),
      toBeCloseTo: (v, digits) => check(closeTo(actual, v, digits), `toBeCloseTo ${v}`),
      toBeInstanceOf: (c) => check(actual instanceof c, `toBeInstanceOf ${c && c.name}`),
      toHaveLength: (n) => check(actual != null && actual.length === n, `toHaveLength ${n}`),
      toHaveProperty: (k) => check(actual != null && k in Object(actual), `toHaveProperty ${fmt(k)}`),
      toMatch: (re) => check(typeof actual === 'string' && (re instanceof RegExp ? re.test(actual) : actual.includes(re)), `toMatch ${String(re)}`),
      toMatchObject: (o) => check(objectContaining(o).match(actual), `toMatchObject ${fmt(o)}`),
      toBeDefined: () => check(actual !== undefined, 'toBeDefined'),
      toBeGreaterThan: (v) => check(actual > v, `toBeGreaterThan ${v}`),
      toBeGreaterThanOrEqual: (v) => check(actual >= v, `toBeGreaterThanOrEqual ${v}`),
      toBeLessThan: (v) => check(actual < v, `toBeLessThan ${v}`),
      toBeLessThanOrEqual: (v) => check(actual <= v, `toBeLessThanOrEqual ${v}`),
      toContain: (v) => check(actual.includes(v), `toContain ${fmt(v)}`),
      toThrow: (want) => {
        let threw = false;
        let err;
        try {
          actual();
        } catch (e) {
          threw = true;
          err = e;
        }
        check(threw && throwsMatch(err, want), `toThrow ${want && want.toString ? want.toString() : fmt(want)} (got ${threw ? String(err && err.message) : 'no throw'})`);
      },
    };
  };
  const m = make(false);
  m.not = make(true);
  m.toThrowError = m.toThrow;
  m.not.toThrowError = m.not.toThrow;
  return m;
}
expect.objectContaining = objectContaining;
expect.any = (c) => ({ __matcher: true, match: (v) => v != null && (v instanceof c || Object(v).constructor === c), toString: () => `any(${c.name})` });
expect.stringMatching = (re) => ({ __matcher: true, match: (v) => typeof v === 'string' && new RegExp(re).test(v), toString: () => `stringMatching(${String(re)})` });
expect.stringContaining = (t) => ({ __matcher: true, match: (v) => typeof v === 'string' && v.includes(t), toString: () => `stringContaining(${fmt(t)})` });

const root = { name: '', tests: [], children: [], before: [], after: [], beforeEach: [], afterEach: [] };
let scope = root;
global.describe = (name, fn) => {
  const s = { name, tests: [], children: [], before: [], after: [], beforeEach: [], afterEach: [], parent: scope };
  scope.children.push(s);
  const prev = scope;
  scope = s;
  fn();
  scope = prev;
};
global.test = global.it = (name, fn, timeout) => scope.tests.push({ name, fn, timeout });
// test.each / describe.each with a table of rows (arrays are spread); %s %d %i %p %j in the name are filled in.
const fillName = (name, args) => {
  let i = 0;
  return name.replace(/%[sdipjfo#%]/g, (m) => (m === '%%' ? '%' : m === '%#' ? String(i) : i < args.length ? (typeof args[i] === 'string' && m !== '%p' ? args[i++] : fmt(args[i++])) : m));
};
const each = (register) => (table) => (name, fn, timeout) =>
  table.forEach((row) => {
    const args = Array.isArray(row) ? row : [row];
    register(fillName(name, args), () => fn(...args), timeout);
  });
global.test.each = global.it.each = each((n, f, t) => global.test(n, f, t));
global.describe.each = each((n, f) => global.describe(n, f));
global.beforeAll = (fn) => scope.before.push(fn);
global.afterAll = (fn) => scope.after.push(fn);
global.beforeEach = (fn) => scope.beforeEach.push(fn);
global.afterEach = (fn) => scope.afterEach.push(fn);
global.expect = expect;
// test/helpers/compare.ts reports each comparison's max error here
global.__ckMaxError = (what, err) => {
  if (current) current.maxError = Math.max(current.maxError ?? 0, err);
};

const chain = (s, key) => (s ? [...chain(s.parent, key), ...s[key]] : []);

async function runScope(s, prefix, file) {
  const label = s.name ? `${prefix}${s.name} › ` : prefix;
  const beforeEach = chain(s, 'beforeEach');
  const afterEach = chain(s, 'afterEach').reverse();
  try {
    for (const b of s.before) await b();
  } catch (e) {
    results.push({ file, name: `${label}(beforeAll)`, ok: false, error: String(e && e.stack) });
    return;
  }
  for (const t of s.tests) {
    current = { file, name: label + t.name, ok: true, maxError: undefined };
    const t0 = process.hrtime.bigint();
    try {
      for (const b of beforeEach) await b();
      try {
        await t.fn();
      } finally {
        for (const a of afterEach) await a();
      }
    } catch (e) {
      current.ok = false;
      current.error = String((e && e.stack) || e);
    }
    current.ms = Number(process.hrtime.bigint() - t0) / 1e6;
    results.push(current);
    console.log(`${current.ok ? 'PASS' : 'FAIL'} ${current.name} (${current.ms.toFixed(0)} ms${current.maxError !== undefined ? `, max err ${current.maxError.toExponential(2)}` : ''})`);
    if (!current.ok) console.log(current.error.split('\n').slice(0, 4).join('\n'));
    current = null;
  }
  for (const c of s.children) await runScope(c, label, file);
  for (const a of s.after) await a();
}

function runEachFileInItsOwnProcess() {
  const { spawnSync } = require('child_process');
  const os = require('os');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mini-jest-'));
  files.forEach((f, i) => {
    const part = path.join(tmp, `${i}.json`);
    const r = spawnSync(process.execPath, [__filename, part, f], { stdio: 'inherit' });
    let got = null;
    try {
      got = JSON.parse(fs.readFileSync(part, 'utf8'));
    } catch {}
    if (got) results.push(...got.results);
    if (!got || (r.status !== 0 && got.failed === 0)) {
      const why = r.signal ? `killed by ${r.signal}` : `exited ${r.status}`;
      results.push({ file: path.basename(f), name: '(the file as a whole)', ok: false, error: `the test process ${why}` });
      console.log(`FAIL ${path.basename(f)}: the test process ${why}`);
    }
  });
  fs.rmSync(tmp, { recursive: true, force: true });
}

(async () => {
  if (files.length > 1) runEachFileInItsOwnProcess();
  else
    for (const f of files) {
      require(path.resolve(f));
      await runScope(root, '', path.basename(f));
    }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  fs.writeFileSync(reportPath, JSON.stringify({ passed, failed, results }, null, 2) + '\n');
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
