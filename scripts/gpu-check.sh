#!/usr/bin/env bash
# Runs on the GPU box from the folder scripts/gpu-bundle.sh made: the CUDA tests for real, then (unless
# CONVKIT_GPU_BENCH=0) the GPU benchmarks against the box's PyTorch, and writes a dated report to the
# directory it is given. Usage: ./gpu-check.sh <report-dir>
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUTDIR=${1:?usage: gpu-check.sh <report-dir>}
mkdir -p "$OUTDIR"
if [ ! -x "$HERE/node" ]; then
  xz -dc "$HERE/node.xz" > "$HERE/node" && chmod +x "$HERE/node"
fi
export CONVKIT_BINARY="$HERE/convkit.node"
NODE="$HERE/node"
status=0

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 | sed 's/^/gpu: /'
  "$NODE" -e "const ck=require('$HERE/js/lib'); const i=ck.info(); console.log('convkit: ' + JSON.stringify(i))"
} > "$OUTDIR/environment.txt" 2>&1
cat "$OUTDIR/environment.txt"

echo "== test/cuda on the real GPU"
timeout 240 "$NODE" "$HERE/mini-jest.js" "$OUTDIR/cuda-tests.json" "$HERE"/js/test/cuda/*.test.js > "$OUTDIR/cuda-tests.log" 2>&1 || status=1
tail -n 40 "$OUTDIR/cuda-tests.log"

if [ "${CONVKIT_GPU_BENCH:-1}" != "0" ]; then
  echo "== GPU benchmarks against PyTorch"
  CONVKIT_LIB="$HERE/js/lib" timeout 240 "$NODE" "$HERE/benchmarks/run.js" --device cuda --quick --out "$OUTDIR" \
    > "$OUTDIR/bench.log" 2>&1 || status=1
  cat "$OUTDIR/bench.log"
fi
exit $status
