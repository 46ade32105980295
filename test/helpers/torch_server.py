"""Live PyTorch reference for the parity tests.

Reads one JSON request per line on stdin: {"id", "code", "inputs": {name: {"shape", "dtype", "data"}}}.
Runs `code` with `torch`, `F` (torch.nn.functional), `nn` and the inputs as tensors in scope; the code
assigns its result to `out` (a tensor, a number, or a list/dict of them). Writes one JSON line back.
Float data travels as lists of floats (float32 values are exact in JSON doubles).
"""
import json
import math
import sys
import traceback

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)

DTYPES = {"float32": torch.float32, "int32": torch.int32, "int64": torch.int64}


def to_tensor(spec):
    data = [float(x) if isinstance(x, str) else x for x in spec["data"]]
    t = torch.tensor(data, dtype=DTYPES[spec.get("dtype", "float32")])
    return t.reshape(spec["shape"])


def encode(v):
    if isinstance(v, torch.Tensor):
        v = v.detach()
        kind = "float32" if v.is_floating_point() else "int32"
        flat = v.reshape(-1).tolist()
        if v.dtype == torch.bool:
            flat = [int(x) for x in flat]
        if kind == "float32":
            flat = [x if math.isfinite(x) else ("nan" if x != x else ("inf" if x > 0 else "-inf")) for x in flat]
        return {"shape": list(v.shape), "dtype": kind, "data": flat}
    if isinstance(v, (list, tuple)):
        return [encode(x) for x in v]
    if isinstance(v, dict):
        return {k: encode(x) for k, x in v.items()}
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if v != v else ("inf" if v > 0 else "-inf")
    return v


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        try:
            scope = {"torch": torch, "F": F, "nn": nn, "math": math}
            for name, spec in req.get("inputs", {}).items():
                scope[name] = to_tensor(spec)
            exec(req["code"], scope)
            resp = {"id": req["id"], "ok": True, "out": encode(scope.get("out"))}
        except Exception:  # the test shows PyTorch's own message
            resp = {"id": req["id"], "ok": False, "error": traceback.format_exc()}
        sys.stdout.write(json.dumps(resp) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
