#!/usr/bin/env node
// Writes data/fashion-mnist/: the first 6000 training and first 1000 test images of Fashion-MNIST (with
// their labels) as gzipped IDX files, the small real dataset convkit ships so the out-of-the-box run
// needs no download. Usage: node scripts/make-small-dataset.js [source-dir] [--train N] [--test N]
//   source-dir: the official IDX files, gzipped or not (default /usr/share/datasets/fashion-mnist, from
//   Debian's dataset-fashion-mnist package).
// The output is deterministic (gzip level 9, no timestamp), so rerunning reproduces the same bytes.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const crypto = require('crypto');

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : dflt);
const valued = new Set(['--train', '--test']);
const src = argv.find((a, i) => !a.startsWith('--') && !valued.has(argv[i - 1])) || '/usr/share/datasets/fashion-mnist';
const counts = { train: opt('--train', 6000), t10k: opt('--test', 1000) };
const out = path.resolve(__dirname, '..', 'data', 'fashion-mnist');

function readIdx(base, magic) {
  for (const name of [`${base}.gz`, base]) {
    const file = path.join(src, name);
    if (!fs.existsSync(file)) continue;
    let buf = fs.readFileSync(file);
    if (buf[0] === 0x1f && buf[1] === 0x8b) buf = zlib.gunzipSync(buf);
    if (buf.readUInt32BE(0) !== magic) throw new Error(`${file}: magic ${buf.readUInt32BE(0)}, expected ${magic}`);
    const ndim = buf[3];
    const dims = Array.from({ length: ndim }, (_, d) => buf.readUInt32BE(4 + 4 * d));
    return { file, dims, data: buf.subarray(4 + 4 * ndim) };
  }
  throw new Error(`no ${base}[.gz] in ${src} (install Debian's dataset-fashion-mnist, or pass the folder of the official files)`);
}

function writeIdx(base, magic, dims, data) {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  const gz = zlib.gzipSync(Buffer.concat([header, data]), { level: 9 });
  const file = path.join(out, `${base}.gz`);
  fs.writeFileSync(file, gz);
  return { file, bytes: gz.length, sha256: crypto.createHash('sha256').update(gz).digest('hex') };
}

fs.mkdirSync(out, { recursive: true });
let total = 0;
for (const split of ['train', 't10k']) {
  const n = counts[split];
  const images = readIdx(`${split}-images-idx3-ubyte`, 2051);
  const labels = readIdx(`${split}-labels-idx1-ubyte`, 2049);
  if (n > images.dims[0]) throw new Error(`${split}: asked for ${n} images, the source has ${images.dims[0]}`);
  const per = images.dims[1] * images.dims[2];
  const w1 = writeIdx(`${split}-images-idx3-ubyte`, 2051, [n, images.dims[1], images.dims[2]], images.data.subarray(0, n * per));
  const w2 = writeIdx(`${split}-labels-idx1-ubyte`, 2049, [n], labels.data.subarray(0, n));
  for (const w of [w1, w2]) {
    total += w.bytes;
    console.log(`${path.relative(process.cwd(), w.file)}  ${w.bytes} bytes  sha256 ${w.sha256}`);
  }
}
console.log(`${total} bytes in ${path.relative(process.cwd(), out)} (from ${src})`);
