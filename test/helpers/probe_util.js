// What the native probes (scripts run by test/unit in a fresh process per CONVKIT_CPU_ISA: bf16_probe.js,
// winograd_probe.js, conv_direct_probe.js) share: the binary of argv[2], a seeded uniform [-1, 1) generator,
// float32 uploads/downloads through the binding, and the max-normalised error against a reference.
'use strict';
const path = require('path');

const native = require(path.resolve(process.argv[2]));

/** A seeded linear congruential generator of floats in [-1, 1). */
function lcg(seed) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
}

/** A host storage holding arr's bytes (at least 4: an empty array still gets a storage). */
function upload(arr) {
  const s = native.alloc(-1, Math.max(4, arr.byteLength));
  native.upload({ storage: s, byteOffset: 0 }, arr);
  return s;
}

/** The first n floats of storage s. */
function download(s, n) {
  const o = new Float32Array(n);
  native.download({ storage: s, byteOffset: 0 }, o);
  return o;
}

/** max |got - want| / max |want|. */
function relErr(got, want) {
  let e = 0, m = 0;
  for (let i = 0; i < want.length; i++) {
    e = Math.max(e, Math.abs(got[i] - want[i]));
    m = Math.max(m, Math.abs(want[i]));
  }
  return e / m;
}

module.exports = { native, lcg, upload, download, relErr };
