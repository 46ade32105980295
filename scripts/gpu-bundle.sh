#!/usr/bin/env bash
# Packs what a GPU box needs to check convkit for real, for a box that may have the NVIDIA driver and
# Python but no Node.js and no network: the real CUDA addon, the compiled library and test/cuda suites
# as plain JavaScript (run by scripts/mini-jest.js, no jest or TypeScript needed), the benchmark
# harness, the two-GPU smoke test, and this machine's Node.js binary (xz-compressed; gpu-check.sh
# unpacks it). BUNDLE records what was packed.
# Usage: scripts/gpu-bundle.sh [out-dir]     (default: gpu-bundle/, ignored by git; at most 60 MB, so it
#        travels to a device machine, whose limit is 64 MiB for everything sent)
# CONVKIT_CUDA_ARCHS picks the GPU architectures (default 90: H100/H200).
# CONVKIT_BUNDLE_FLAVOUR=emu packs the emulated build instead (no nvcc needed): the CI dry run of
# gpu-check.sh. CONVKIT_BUNDLE_BUILD=0 uses build-<flavour>/Release/convkit.node as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu-bundle}
ARCHS=${CONVKIT_CUDA_ARCHS:-90}
FLAVOUR=${CONVKIT_BUNDLE_FLAVOUR:-cuda}
case $FLAVOUR in cuda | emu) ;; *) echo "[gpu-bundle] CONVKIT_BUNDLE_FLAVOUR must be cuda or emu" >&2; exit 2 ;; esac

rm -rf "$OUT"
mkdir -p "$OUT"
if [ "${CONVKIT_BUNDLE_BUILD:-1}" != 0 ]; then
  if [ "$FLAVOUR" = cuda ]; then CONVKIT_CUDA_ARCHS="$ARCHS" node scripts/build-native.js cuda
  else node scripts/build-native.js emu; fi
fi
BIN=build-$FLAVOUR/Release/convkit.node
[ -f "$BIN" ] || { echo "[gpu-bundle] $BIN is missing" >&2; exit 1; }
npx tsc -p tsconfig.gpu.json --outDir "$OUT/js"
cp package.json "$OUT/js/package.json"            # lib/info.ts reads the version from ../package.json
cp "$BIN" "$OUT/convkit.node"
strip --strip-unneeded "$OUT/convkit.node"
# The emulated build's NCCL stand-in is found beside convkit.node (the dry run's nccl phase).
[ "$FLAVOUR" = emu ] && [ -f "build-emu/Release/convkit_nccl_emu.so" ] && cp build-emu/Release/convkit_nccl_emu.so "$OUT/"
mkdir -p "$OUT/benchmarks"
cp -r benchmarks/run.js benchmarks/harness.js benchmarks/conv_variants.js benchmarks/suites benchmarks/torch "$OUT/benchmarks/"
cp scripts/mini-jest.js scripts/gpu-check.sh "$OUT/"
cp scripts/two-gpu-smoke.js "$OUT/two-gpu.js"
cp scripts/nccl-check.js "$OUT/nccl-check.js"
# The dry run only needs the unpacking to work: a fast xz level saves CI half a minute.
xz -T0 "$([ "$FLAVOUR" = cuda ] && echo -6 || echo -0)" -c "$(node -p process.execPath)" > "$OUT/node.xz"
{
  echo "flavour=$FLAVOUR"
  [ "$FLAVOUR" = cuda ] && echo "archs=$ARCHS"
  echo "commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo -dirty)"
  echo "packed=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "node=$(node --version)"
} > "$OUT/BUNDLE"

size=$(du -sb "$OUT" | cut -f1)
echo "[gpu-bundle] $OUT: $((size / 1024 / 1024)) MiB, $FLAVOUR build$([ "$FLAVOUR" = cuda ] && echo " (sm_${ARCHS//;/, sm_})")"
if [ "$size" -gt $((60 * 1000 * 1000)) ]; then
  echo "[gpu-bundle] over 60 MB" >&2
  exit 1
fi
