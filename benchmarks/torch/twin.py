"""PyTorch twin of the convkit benchmarks: one JSON request per line on stdin, one reply per line.

Request: {"case": name, "params": {...}, "reps": n, "warmup": w, "threads": t, "device": "cpu"|"cuda"}.
Reply: {"times_ms": [...], "torch": version, "blas": info}. Each case builds its inputs once, runs `warmup`
untimed calls, then `reps` timed calls (CUDA: events around each call, synchronised).
"""
import json
import sys
import time

import torch

CASES = {}


def case(name):
    def reg(fn):
        CASES[name] = fn
        return fn
    return reg


@case("matmul")
def matmul(p, dev):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(p["M"], p["K"], generator=g).to(dev)
    b = torch.randn(p["K"], p["N"], generator=g).to(dev)
    return lambda: torch.matmul(a, b)


def timed(fn, reps, warmup, dev):
    for _ in range(warmup):
        fn()
    out = []
    if dev == "cuda":
        torch.cuda.synchronize()
        for _ in range(reps):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            e.synchronize()
            out.append(s.elapsed_time(e))
    else:
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1e3)
    return out


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            torch.set_num_threads(req.get("threads", 1))
            dev = req.get("device", "cpu")
            torch.backends.cuda.matmul.allow_tf32 = bool(req.get("tf32", False))
            torch.backends.cudnn.allow_tf32 = bool(req.get("tf32", False))
            fn = CASES[req["case"]](req["params"], dev)
            with torch.no_grad():
                times = timed(fn, req["reps"], req["warmup"], dev)
            reply = {"times_ms": times, "torch": torch.__version__, "threads": torch.get_num_threads()}
        except Exception as e:  # reported in the table, not a crash of the run
            reply = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
