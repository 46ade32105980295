#!/usr/bin/env node
// A small jest-compatible runner for the compiled CUDA tests on a GPU box that has no npm packages:
// describe/test/it/beforeAll/afterAll and the expect() matchers the test/cuda suites use. Writes a JSON
// report with each test's result, time, and the largest |cuda - cpu| it measured.
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
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (a && a.__matcher) return a.match(b);
  if (b && b.__matcher) return b.match(a);
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

function expect(actual) {
  const make = (negate) => {
    const check = (ok, msg) => {
      if (ok === negate) throw new Error(`expect(${fmt(actual)})${negate ? '.not' : ''}: ${msg}`);
    };
    return {
      toBe: (v) => check(Object.is(actual, v), `toBe ${fmt(v)}`),
      toEqual: (v) => check(deepEqual(actual, v), `toEqual ${fmt(v)}`),
      toBeNull: () => check(actual === null, 'toBeNull'),
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
  return m;
}
expect.objectContaining = objectContaining;

const root = { name: '', tests: [], children: [], before: [], after: [] };
let scope = root;
global.describe = (name, fn) => {
  const s = { name, tests: [], children: [], before: [], after: [], parent: scope };
  scope.children.push(s);
  const prev = scope;
  scope = s;
  fn();
  scope = prev;
};
global.test = global.it = (name, fn, timeout) => scope.tests.push({ name, fn, timeout });
global.beforeAll = (fn) => scope.before.push(fn);
global.afterAll = (fn) => scope.after.push(fn);
global.expect = expect;
// test/helpers/compare.ts reports each comparison's max error here
global.__ckMaxError = (what, err) => {
  if (current) current.maxError = Math.max(current.maxError ?? 0, err);
};

async function runScope(s, prefix, file) {
  const label = s.name ? `${prefix}${s.name} › ` : prefix;
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
      await t.fn();
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

(async () => {
  for (const f of files) {
    root.tests = [];
    root.children = [];
    root.before = [];
    root.after = [];
    scope = root;
    require(path.resolve(f));
    await runScope(root, '', path.basename(f));
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  fs.writeFileSync(reportPath, JSON.stringify({ passed, failed, results }, null, 2) + '\n');
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
