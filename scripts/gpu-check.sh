#!/usr/bin/env bash
# Runs on the GPU box from the folder scripts/gpu-bundle.sh made, and writes its report to <report-dir>:
#   environment.txt      nvidia-smi (full output, -L and a query), driver and CUDA versions, the
#                        compute-sanitizer and nvcc versions (or their absence), convkit's info()
#   cuda-tests.json/.log test/cuda on the device (scripts/mini-jest.js)
#   two-gpu.log          a two-GPU smoke test (two-gpu.js) when nvidia-smi -L lists two or more GPUs
#   sanitizer-<tool>.log test/cuda (cudnn suite left out) under compute-sanitizer --tool memcheck,
#                        racecheck, synccheck and initcheck, when the box has it;
#   sanitizer-summary.txt one line per tool
#   tf32/                native TF32 conv vs cuDNN TF32 (ResNet-18 3x3, batch 128) and the ResNet-18 224
#                        step native TF32 vs PyTorch; tf32/tf32-summary.txt has the ratios
#   graph-step/          CIFAR-10 CNN and ResNet-18 32x32 training steps (batch 128): eager vs CUDA graph vs
#                        PyTorch eager and PyTorch CUDA graphs; graph-step/graph-step-summary.txt
#   bench.log, *.json/svg the benchmarks against the box's PyTorch, one report per suite
#   summary.json         every phase: status (passed, failed, errors, timeout, skipped, absent), seconds
# Every phase has its own time cap and the whole run a budget (CONVKIT_GPU_BUDGET_S, default 570 s), so it
# ends within 10 minutes on an H100. CONVKIT_GPU_BENCH=0 skips the benchmarks, =dry runs one tiny case
# (used by the CI dry run on the emulated build, where nvidia-smi and compute-sanitizer are absent and
# recorded as such). Exit status: 0 when no phase failed, timed out or found errors.
# Usage: ./gpu-check.sh <report-dir>
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUTDIR=${1:?usage: gpu-check.sh <report-dir>}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
START=$(date +%s)
# CONVKIT_GPU_CAP_SCALE multiplies every cap and the budget (the CI dry run runs on a slow emulation).
SCALE=${CONVKIT_GPU_CAP_SCALE:-1}
BUDGET=$((${CONVKIT_GPU_BUDGET_S:-570} * SCALE))
BENCH=${CONVKIT_GPU_BENCH:-1}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PHASES="$OUTDIR/.phases.tsv"
: > "$PHASES"

if [ ! -x "$HERE/node" ]; then
  # xz, or Python's lzma where the box has no xz
  { xz -dc "$HERE/node.xz" 2>/dev/null ||
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$HERE/node.xz"; } > "$HERE/node.tmp" &&
    chmod +x "$HERE/node.tmp" && mv "$HERE/node.tmp" "$HERE/node" || { echo "[gpu-check] cannot unpack node.xz" >&2; exit 2; }
fi
NODE="$HERE/node"
export CONVKIT_BINARY="$HERE/convkit.node"
FLAVOUR=$(sed -n 's/^flavour=//p' "$HERE/BUNDLE" 2>/dev/null)
FLAVOUR=${FLAVOUR:-cuda}
# The benchmark twin needs the box's PyTorch: the first of these that imports torch.
if [ -z "${CONVKIT_TORCH_PYTHON:-}" ]; then
  for py in "$(command -v python3)" /usr/bin/python3 /opt/torch/.venv/bin/python3; do
    if [ -n "$py" ] && [ -x "$py" ] && "$py" -c 'import torch' > /dev/null 2>&1; then export CONVKIT_TORCH_PYTHON=$py; break; fi
  done
fi
export CONVKIT_TORCH_PYTHON=${CONVKIT_TORCH_PYTHON:-/usr/bin/python3}

# Seconds a phase may take: its own cap, or what is left of the budget (less a margin for the summary).
cap() {
  local want=$(($1 * SCALE)) left=$((BUDGET - ($(date +%s) - START) - 10))
  [ "$left" -lt "$want" ] && want=$left
  [ "$want" -lt 0 ] && want=0
  echo "$want"
}
# record <phase> <status> <seconds> <note>, then rewrite summary.json (so a killed run still has one)
record() {
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4//$'\t'/ }" >> "$PHASES"
  echo "[gpu-check] $1: $2 (${3} s)${4:+ - $4}"
  write_summary
}
write_summary() {
  "$NODE" -e '
    const fs = require("fs");
    const [phasesFile, out, bundleFile, start, flavour, budget] = process.argv.slice(1);
    const phases = fs.readFileSync(phasesFile, "utf8").split("\n").filter(Boolean).map((l) => {
      const [name, status, seconds, note] = l.split("\t");
      return { name, status, seconds: Number(seconds), note };
    });
    const bundle = {};
    try { for (const l of fs.readFileSync(bundleFile, "utf8").split("\n")) { const i = l.indexOf("="); if (i > 0) bundle[l.slice(0, i)] = l.slice(i + 1); } } catch {}
    const bad = phases.filter((p) => ["failed", "errors", "timeout"].includes(p.status)).map((p) => p.name);
    fs.writeFileSync(out, JSON.stringify({ flavour, bundle, started: new Date(Number(start) * 1000).toISOString(),
      seconds: Math.round(Date.now() / 1000 - Number(start)), budgetSeconds: Number(budget), ok: bad.length === 0, bad, phases }, null, 2) + "\n");
  ' "$PHASES" "$OUTDIR/summary.json" "$HERE/BUNDLE" "$START" "$FLAVOUR" "$BUDGET"
}
# run_capped <seconds> <log> cmd...: runs with a timeout, output to <log>; returns the exit status
run_capped() {
  local t=$1 log=$2
  shift 2
  if [ "$t" -lt 5 ]; then
    echo "not run: out of time (budget ${BUDGET} s)" > "$log"
    return 125
  fi
  timeout -k 10 "$t" "$@" > "$log" 2>&1
}
since() { echo $(($(date +%s) - $1)); }
tests_line() { "$NODE" -e 'try { const r = require(process.argv[1]); console.log(`${r.passed} passed, ${r.failed} failed`); } catch { console.log("no report"); }' "$1"; }

# ---- environment
t0=$(date +%s)
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -srm), $(nproc) CPUs"
  echo "bundle: $(tr '\n' ' ' < "$HERE/BUNDLE" 2>/dev/null)"
  echo "node: $("$NODE" --version)"
  if command -v nvidia-smi > /dev/null; then
    drv=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1)
    cudav=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -n 1)
    echo "driver: ${drv:-unknown}"
    echo "cuda (driver API): ${cudav:-unknown}"
    echo "gpus: $(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')"
    echo "== nvidia-smi --query-gpu"
    nvidia-smi --query-gpu=index,name,pci.bus_id,driver_version,memory.total,compute_cap,clocks.max.sm,power.limit --format=csv 2>&1
    echo "== nvidia-smi -L"
    nvidia-smi -L 2>&1
    echo "== nvidia-smi"
    nvidia-smi 2>&1
  else
    echo "driver: none (nvidia-smi: not found)"
    echo "cuda (driver API): none"
    echo "gpus: 0"
  fi
  if command -v nvcc > /dev/null; then echo "nvcc: $(nvcc --version | tail -n 2 | tr '\n' ' ')"; else echo "nvcc: not found"; fi
  SAN=$(command -v compute-sanitizer || { [ -x /usr/local/cuda/bin/compute-sanitizer ] && echo /usr/local/cuda/bin/compute-sanitizer; })
  if [ -n "$SAN" ]; then echo "compute-sanitizer: $("$SAN" --version 2>&1 | grep -i version | tail -n 1)"; else echo "compute-sanitizer: not found"; fi
  echo "torch python: $CONVKIT_TORCH_PYTHON ($("$CONVKIT_TORCH_PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -n 1))"
  "$NODE" -e "const ck=require('$HERE/js/lib'); console.log('convkit: ' + JSON.stringify(ck.info()))"
} > "$OUTDIR/environment.txt" 2>&1
env_rc=$?
cat "$OUTDIR/environment.txt"
SAN=$(command -v compute-sanitizer || { [ -x /usr/local/cuda/bin/compute-sanitizer ] && echo /usr/local/cuda/bin/compute-sanitizer; })
NGPU=0
command -v nvidia-smi > /dev/null && NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')
if ! grep -q '^convkit: ' "$OUTDIR/environment.txt"; then record environment failed "$(since "$t0")" "the addon did not load (exit $env_rc); see environment.txt"
elif ! grep '^convkit: ' "$OUTDIR/environment.txt" | grep -q '"available":true'; then record environment failed "$(since "$t0")" "the $FLAVOUR build sees no usable CUDA device; see environment.txt"
else record environment passed "$(since "$t0")" "$FLAVOUR build, $NGPU GPU(s)"; fi

# ---- test/cuda on the device
TESTS=("$HERE"/js/test/cuda/*.test.js)
echo "== test/cuda on the device (${#TESTS[@]} files)"
t0=$(date +%s)
# On the emulated build (the dry run) memory.test runs 20 training steps, not 300: the plumbing is under test.
steps=()
[ "$FLAVOUR" = emu ] && steps=(CONVKIT_MEMORY_STEPS="${CONVKIT_MEMORY_STEPS:-20}")
run_capped "$(cap 100)" "$OUTDIR/cuda-tests.log" env "${steps[@]}" "$NODE" "$HERE/mini-jest.js" "$OUTDIR/cuda-tests.json" "${TESTS[@]}"
rc=$?
tail -n 5 "$OUTDIR/cuda-tests.log"
case $rc in
  0) record cuda-tests passed "$(since "$t0")" "$(tests_line "$OUTDIR/cuda-tests.json")" ;;
  124 | 137) record cuda-tests timeout "$(since "$t0")" "$(grep -c '^PASS ' "$OUTDIR/cuda-tests.log") passed before the cap" ;;
  *) record cuda-tests failed "$(since "$t0")" "$(tests_line "$OUTDIR/cuda-tests.json")" ;;
esac

# ---- two GPUs: a tensor made on cuda:1, ops there, copied to cuda:0, compared with the CPU
t0=$(date +%s)
if [ "$NGPU" -ge 2 ]; then
  run_capped "$(cap 40)" "$OUTDIR/two-gpu.log" "$NODE" "$HERE/two-gpu.js"
  rc=$?
  cat "$OUTDIR/two-gpu.log"
  case $rc in 0) st=passed ;; 124 | 137) st=timeout ;; *) st=failed ;; esac
  record two-gpu "$st" "$(since "$t0")" "$NGPU GPUs"
elif [ "$FLAVOUR" = emu ]; then
  # The dry run: the same script on the one emulated device (cuda:0 stands in for cuda:1).
  run_capped "$(cap 40)" "$OUTDIR/two-gpu.log" env CONVKIT_TWO_GPU_REHEARSAL=1 "$NODE" "$HERE/two-gpu.js"
  rc=$?
  cat "$OUTDIR/two-gpu.log"
  case $rc in 0) st=passed ;; 124 | 137) st=timeout ;; *) st=failed ;; esac
  record two-gpu "$st" "$(since "$t0")" "rehearsal on the one emulated device"
else
  echo "not run: nvidia-smi -L lists $NGPU GPU(s)" > "$OUTDIR/two-gpu.log"
  record two-gpu skipped 0 "$NGPU GPU(s)"
fi

# ---- NCCL (issue 20, must-show 5): backend 'nccl' on the box's own NCCL, found by convkit's search (the
# loader path, pip's nvidia-nccl wheel under site-packages/nvidia/nccl/lib, PyTorch's torch/lib). When the
# search finds none but the PyTorch Python has one, CONVKIT_NCCL_PATH points at it (said in the log). World
# size 1 (collectives, DDP = plain training); with two or more GPUs also 2 ranks = single GPU. The dry run
# uses the emulated NCCL beside the emulated convkit.node, and rehearses the 2-rank run on its one device.
t0=$(date +%s)
nccl_env=()
if [ "$FLAVOUR" = cuda ] && ! "$NODE" -e "process.exit(require('$HERE/js/lib').distributed.ncclInfo().available ? 0 : 1)" 2> /dev/null; then
  nccl_dir=$("$CONVKIT_TORCH_PYTHON" -c '
import glob, os, site, sys
roots = site.getsitepackages() + [site.getusersitepackages()]
for r in roots:
    for sub in ("nvidia/nccl/lib", "nvidia/cu13/lib", "torch/lib"):
        if os.path.exists(os.path.join(r, sub, "libnccl.so.2")):
            print(os.path.join(r, sub)); sys.exit(0)' 2> /dev/null)
  [ -n "$nccl_dir" ] && nccl_env=(CONVKIT_NCCL_PATH="$nccl_dir")
fi
{ [ ${#nccl_env[@]} -gt 0 ] && echo "convkit's search found no NCCL; using ${nccl_env[0]} (from $CONVKIT_TORCH_PYTHON)"; } > "$OUTDIR/nccl.log"
nccl_ranks=1
{ [ "$NGPU" -ge 2 ] || [ "$FLAVOUR" = emu ]; } && nccl_ranks=2
run_capped "$(cap 120)" "$OUTDIR/nccl.tmp" env "${nccl_env[@]}" CONVKIT_NCCL_RANKS=$nccl_ranks "$NODE" "$HERE/nccl-check.js"
rc=$?
cat "$OUTDIR/nccl.tmp" >> "$OUTDIR/nccl.log"
rm -f "$OUTDIR/nccl.tmp"
cat "$OUTDIR/nccl.log"
case $rc in 0) st=passed ;; 124 | 137) st=timeout ;; *) st=failed ;; esac
record nccl "$st" "$(since "$t0")" "$(grep '^nccl: ' "$OUTDIR/nccl.log" | head -n 1); $nccl_ranks rank(s)"

# ---- TF32 convolution: the hand-written TF32 kernels against cuDNN TF32 (convkit's and PyTorch's) on
# ResNet-18's 3x3 shapes at batch 128 (forward + backward), and the ResNet-18 224x224 batch-32 training
# step with the native TF32 kernels against PyTorch's (cuDNN, TF32). Before the sanitizers so that a
# short lease measures it. tf32/tf32-summary.txt gives the ratios (speed: time of the other / time of native).
# CONVKIT_GPU_TF32=0 skips it.
t0=$(date +%s)
if [ "$BENCH" != 1 ] || [ "${CONVKIT_GPU_TF32:-1}" = 0 ]; then
  record tf32 skipped 0 "CONVKIT_GPU_BENCH=$BENCH, CONVKIT_GPU_TF32=${CONVKIT_GPU_TF32:-1}"
else
  mkdir -p "$OUTDIR/tf32"
  st=passed
  run_capped "$(cap 150)" "$OUTDIR/tf32/conv.log" env CONVKIT_LIB="$HERE/js/lib" CONVKIT_BENCH_CONV_N=128 \
    CONVKIT_BENCH_CONV_3X3=1 CONVKIT_BENCH_CONV_VARIANTS='nat tf32,cudnn tf32' \
    "$NODE" "$HERE/benchmarks/run.js" conv_cudnn --device cuda --quick --out "$OUTDIR/tf32" || st=failed
  run_capped "$(cap 120)" "$OUTDIR/tf32/resnet.log" env CONVKIT_LIB="$HERE/js/lib" CONVKIT_BENCH_R18_224_ONLY=1 \
    CONVKIT_BENCH_CONV_VARIANTS='nat tf32,cudnn tf32' \
    "$NODE" "$HERE/benchmarks/run.js" resnet --device cuda --quick --out "$OUTDIR/tf32" || st=failed
  "$NODE" -e '
    const fs = require("fs"), path = require("path");
    const dir = process.argv[1];
    const rows = [];
    for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".json"))) rows.push(...JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")).rows);
    const out = [];
    const byShape = {};
    for (const r of rows) (byShape[r.shape] = byShape[r.shape] || {})[r.name] = r;
    for (const [shape, v] of Object.entries(byShape)) {
      const nat = v["conv nat tf32"] || v["r18 step nat tf32"], cud = v["conv cudnn tf32"] || v["r18 step cudnn tf32"];
      if (!nat || !nat.convkit) continue;
      const pt = nat.torch ? (nat.torch.median / nat.convkit.median).toFixed(2) + "x" : "n/a";
      const cd = cud && cud.convkit ? (cud.convkit.median / nat.convkit.median).toFixed(2) + "x" : "n/a";
      out.push(`${nat.name.padEnd(18)} ${shape.padEnd(28)} native TF32 ${nat.convkit.median.toFixed(3)} ms; speed vs convkit cuDNN TF32 ${cd}, vs PyTorch (cuDNN TF32) ${pt}`);
    }
    out.push("targets (issue 16): conv rows >= 0.8x cuDNN TF32; r18 step >= 0.7x PyTorch");
    fs.writeFileSync(path.join(dir, "tf32-summary.txt"), out.join("\n") + "\n");
    console.log(out.join("\n"));
  ' "$OUTDIR/tf32" || st=failed
  record tf32 "$st" "$(since "$t0")" "see tf32/tf32-summary.txt"
fi

# ---- the asynchronous step (issue 17): a whole training step (forward, backward, clipGradNorm_, capturable AdamW)
# of the CIFAR-10 CNN and of ResNet-18 at 32x32, batch 128, eager and as a replayed CUDA graph, each against PyTorch
# (eager, and torch.cuda.CUDAGraph where the box's PyTorch has it): graph-step/graph-step-summary.txt. Before the sanitizers so
# a short lease measures it; the dry run (CONVKIT_GPU_BENCH=dry) runs its first case at batch 2, 8x8.
t0=$(date +%s)
if [ "$BENCH" = 0 ] || [ "${CONVKIT_GPU_GRAPH_STEP:-1}" = 0 ]; then
  record graph-step skipped 0 "CONVKIT_GPU_BENCH=$BENCH, CONVKIT_GPU_GRAPH_STEP=${CONVKIT_GPU_GRAPH_STEP:-1}"
else
  mkdir -p "$OUTDIR/graph-step"
  gmode=(--quick)
  [ "$BENCH" = dry ] && gmode=(--dry)
  run_capped "$(cap 150)" "$OUTDIR/graph-step/graph-step.log" env CONVKIT_LIB="$HERE/js/lib" \
    "$NODE" "$HERE/benchmarks/run.js" graph_step --device cuda "${gmode[@]}" --out "$OUTDIR/graph-step"
  rc=$?
  case $rc in 0) st=passed ;; 124 | 137) st=timeout ;; *) st=failed ;; esac
  "$NODE" -e '
    const fs = require("fs"), path = require("path");
    const dir = process.argv[1];
    const rows = [];
    for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".json"))) rows.push(...JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")).rows);
    if (!rows.length) { console.error("no graph_step report"); process.exit(1); }
    const ms = (s) => (s ? s.median.toFixed(3) + " ms" : "n/a");
    const out = rows.map((r) => `${r.name.padEnd(16)} ${r.shape.padEnd(18)} convkit ${ms(r.convkit)}; PyTorch ${r.error ? "failed: " + r.error : ms(r.torch)}` +
      (r.convkit && r.torch ? `; PyTorch / convkit ${(r.torch.median / r.convkit.median).toFixed(2)}x` : ""));
    fs.writeFileSync(path.join(dir, "graph-step-summary.txt"), out.join("\n") + "\n");
    console.log(out.join("\n"));
  ' "$OUTDIR/graph-step" || st=failed
  record graph-step "$st" "$(since "$t0")" "see graph-step/graph-step-summary.txt"
fi

# ---- compute-sanitizer over test/cuda (cuDNN's suite left out: its kernels are not ours)
SAN_TESTS=()
for f in "${TESTS[@]}"; do [[ $(basename "$f") == cudnn.test.js ]] || SAN_TESTS+=("$f"); done
: > "$OUTDIR/sanitizer-summary.txt"
for tool in memcheck racecheck synccheck initcheck; do
  log="$OUTDIR/sanitizer-$tool.log"
  t0=$(date +%s)
  if [ -z "$SAN" ] || [ "$FLAVOUR" != cuda ]; then
    why=$([ -z "$SAN" ] && echo "compute-sanitizer not found" || echo "the $FLAVOUR build has no GPU kernels")
    echo "not run: $why" > "$log"
    echo "$tool: absent ($why)" >> "$OUTDIR/sanitizer-summary.txt"
    record "sanitizer-$tool" absent 0 "$why"
    continue
  fi
  case $tool in memcheck) c=75 ;; racecheck) c=75 ;; synccheck) c=40 ;; initcheck) c=50 ;; esac
  extra=()
  [ "$tool" = racecheck ] && extra=(--racecheck-report all)
  # 20 training steps instead of 300 in memory.test: every kernel still runs, within the cap.
  run_capped "$(cap $c)" "$log" env CONVKIT_MEMORY_STEPS=20 "$SAN" --tool "$tool" "${extra[@]}" --error-exitcode 86 \
    --target-processes all --print-limit 100 "$NODE" "$HERE/mini-jest.js" "$WORK/sanitizer-$tool.json" "${SAN_TESTS[@]}"
  rc=$?
  errs=$(grep -E '=+ (ERROR|RACECHECK) SUMMARY' "$log" | tail -n 1 | sed 's/^=* *//')
  case $rc in
    0) st=passed ;;
    86) st=errors ;;
    124 | 137) st=timeout ;;
    125) st=skipped ;;
    *) st=failed ;;
  esac
  note="${errs:-no summary line}; tests: $(tests_line "$WORK/sanitizer-$tool.json")"
  echo "$tool: $st in $(since "$t0") s; $note" >> "$OUTDIR/sanitizer-summary.txt"
  record "sanitizer-$tool" "$st" "$(since "$t0")" "$note"
done
cat "$OUTDIR/sanitizer-summary.txt"

# ---- benchmarks against PyTorch, one report per suite so a slow suite does not lose the others
t0=$(date +%s)
if [ "$BENCH" = 0 ]; then
  echo "not run: CONVKIT_GPU_BENCH=0" > "$OUTDIR/bench.log"
  record bench skipped 0 "CONVKIT_GPU_BENCH=0"
else
  if [ "$BENCH" = dry ]; then suites=(matmul); mode=(--dry); else suites=($(ls "$HERE/benchmarks/suites" | sed 's/\.js$//' | grep -v '^graph_step$')); mode=(--quick); fi
  : > "$OUTDIR/bench.log"
  st=passed
  done_suites=()
  for s in "${suites[@]}"; do
    t=$(cap 180)
    if [ "$t" -lt 5 ]; then st=timeout; echo "== $s: not run, out of time" >> "$OUTDIR/bench.log"; continue; fi
    echo "== $s" >> "$OUTDIR/bench.log"
    before=$(ls "$OUTDIR"/*.json 2>/dev/null | wc -l)
    CONVKIT_LIB="$HERE/js/lib" timeout -k 10 "$t" "$NODE" "$HERE/benchmarks/run.js" "$s" --device cuda "${mode[@]}" --out "$OUTDIR" \
      >> "$OUTDIR/bench.log" 2>&1
    rc=$?
    # run.js exits 0 when its PyTorch twin dies (a promise left pending): a suite counts once its report exists.
    [ "$rc" = 0 ] && [ "$(ls "$OUTDIR"/*.json | wc -l)" -le "$before" ] && rc=1 && echo "== $s: no report written" >> "$OUTDIR/bench.log"
    case $rc in 0) done_suites+=("$s") ;; 124 | 137) st=timeout ;; *) st=failed ;; esac
  done
  cat "$OUTDIR/bench.log"
  record bench "$st" "$(since "$t0")" "${BENCH/1/quick} mode; reports for: ${done_suites[*]:-none}"
fi

echo "[gpu-check] report in $OUTDIR ($(since "$START") s)"
"$NODE" -e 'process.exit(require(process.argv[1]).ok ? 0 : 1)' "$OUTDIR/summary.json"
