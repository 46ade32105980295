#!/usr/bin/env node
// Writes dist/index.mjs: an ES-module entry re-exporting the CommonJS build, so `import { tensor } from
// 'convkit'` and `require('convkit')` share one module instance (one addon, one memory tracker).
'use strict';
const fs = require('fs');
const path = require('path');
const dist = path.resolve(__dirname, '..', 'dist');
process.env.CONVKIT_QUIET = '1'; // loading the package to list its exports is not a run
const names = Object.keys(require(path.join(dist, 'index.js'))).filter((n) => n !== 'default' && n !== '__esModule');
const src =
  "import { createRequire } from 'module';\n" +
  "const require = createRequire(import.meta.url);\n" +
  "const ck = require('./index.js');\n" +
  'export default ck;\n' +
  names.map((n) => `export const ${n} = ck.${n};`).join('\n') + '\n';
fs.writeFileSync(path.join(dist, 'index.mjs'), src);
