#!/usr/bin/env bash
# Packs what a GPU box needs to check convkit for real, for a box that may have the NVIDIA driver and
# Python but no Node.js and no network: the real CUDA addon, the compiled library and test/cuda suites
# as plain JavaScript (run by scripts/mini-jest.js, no jest or TypeScript needed), the benchmark
# harness, and this machine's Node.js binary (xz-compressed; gpu-check.sh unpacks it).
# Usage: scripts/gpu-bundle.sh [out-dir]     (default: gpu-bundle/, ignored by git; at most 60 MB)
# CONVKIT_CUDA_ARCHS picks the GPU architectures (default 90: H100/H200).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu-bundle}
ARCHS=${CONVKIT_CUDA_ARCHS:-90}

rm -rf "$OUT"
mkdir -p "$OUT"
CONVKIT_CUDA_ARCHS="$ARCHS" node scripts/build-native.js cuda
npx tsc -p tsconfig.gpu.json --outDir "$OUT/js"
cp package.json "$OUT/js/package.json"            # lib/info.ts reads the version from ../package.json
cp build-cuda/Release/convkit.node "$OUT/convkit.node"
strip --strip-unneeded "$OUT/convkit.node"
mkdir -p "$OUT/benchmarks"
cp -r benchmarks/run.js benchmarks/harness.js benchmarks/suites benchmarks/torch "$OUT/benchmarks/"
cp scripts/mini-jest.js scripts/gpu-check.sh "$OUT/"
xz -T0 -6 -c "$(node -p process.execPath)" > "$OUT/node.xz"

size=$(du -sb "$OUT" | cut -f1)
echo "[gpu-bundle] $OUT: $((size / 1024 / 1024)) MiB (sm_${ARCHS//;/, sm_})"
if [ "$size" -gt $((60 * 1000 * 1000)) ]; then
  echo "[gpu-bundle] over 60 MB" >&2
  exit 1
fi
