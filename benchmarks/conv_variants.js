// The convolution implementations a CUDA benchmark row runs, for the conv, conv_cudnn and resnet suites:
// convkit's hand-written kernels and cuDNN, each in FP32 and with TF32 allowed. `tf32` goes on the case, so
// the harness sets backends.cudnn.allowTF32 (which governs both) and the PyTorch twin's allow_tf32 to match:
// every row compares like with like. On the CPU there is one row, the native kernels.
//   CONVKIT_BENCH_CONV_VARIANTS=nat,nat tf32,...  keeps only the named variants (gpu-check's focused runs)
'use strict';

let warned = false;
function convVariants(ck, device) {
  if (device !== 'cuda') return [{ tag: '', backend: undefined, tf32: false }];
  const all = [
    { tag: 'nat', backend: 'native', tf32: false },
    { tag: 'nat tf32', backend: 'native', tf32: true },
  ];
  if (ck.backends.cudnn.isAvailable())
    all.push({ tag: 'cudnn', backend: 'cudnn', tf32: false }, { tag: 'cudnn tf32', backend: 'cudnn', tf32: true });
  else if (!warned && (warned = true)) process.stderr.write(`[bench] cuDNN rows left out: ${(ck.backends.cudnn.info().error || '').split('\n')[0]}\n`);
  const only = process.env.CONVKIT_BENCH_CONV_VARIANTS;
  return only ? all.filter((v) => only.split(',').includes(v.tag)) : all;
}

// Makes the variant's backend current; returns the function that restores the previous one.
function useVariant(ck, v) {
  const saved = ck.backends.conv;
  if (v.backend) ck.backends.conv = v.backend;
  return () => {
    ck.backends.conv = saved;
  };
}

module.exports = { convVariants, useVariant };
