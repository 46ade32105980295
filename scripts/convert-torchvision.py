#!/usr/bin/env python3
"""Convert a torchvision checkpoint into a .safetensors file that convkit loads by name.

    convert-torchvision.py resnet18_random.pth -o resnet18.safetensors
    convert-torchvision.py resnet18 -o resnet18.safetensors   # weights already in the torch cache

The source is a .pth/.pt state dict (or a training checkpoint holding one under 'state_dict' /
'model'), or a torchvision model name whose default weights were downloaded before into the local
torch hub cache (nothing is downloaded here). Keys stay exactly PyTorch's. BatchNorm layers saved
before PyTorch 0.4.1 (torchvision's own ImageNet checkpoints among them) have no
`num_batches_tracked`; it is filled in as a 0-d int64 zero, which is what PyTorch's load_state_dict
assumes for them.

The writer is plain Python (the `safetensors` package is optional and not used), and
`read_safetensors` is its inverse, so tests can load convkit's files back into PyTorch without it.
"""
import argparse
import glob
import json
import os
import struct
import sys
from collections import OrderedDict

import torch

DTYPE_NAMES = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
}
NAME_DTYPES = {v: k for k, v in DTYPE_NAMES.items()}
NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net", "module")


def write_safetensors(path, tensors, metadata=None):
    """Writes an ordered mapping name -> tensor; atomically (temporary file, then rename)."""
    if sys.byteorder != "little":
        raise SystemExit("safetensors data is little-endian; this writer runs on little-endian machines only")
    header = OrderedDict()
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().cpu()
        if t.dtype == torch.float64:
            t = t.float()  # convkit computes in float32; say so rather than fail
        if t.dtype not in DTYPE_NAMES:
            raise SystemExit(f"{name}: dtype {t.dtype} has no safetensors mapping convkit reads")
        # One byte per element of a flat copy: works for every dtype, bfloat16 included.
        data = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (8 + len(text.encode("utf-8"))) % 8) % 8)  # data starts 8-byte aligned
    raw = text.encode("utf-8")
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(raw)))
            f.write(raw)
            for b in blobs:
                f.write(b)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_safetensors(path):
    """The inverse of write_safetensors: (OrderedDict name -> tensor, metadata dict)."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    if n > 100 * 1024 * 1024 or 8 + n > len(buf):
        raise ValueError(f"{path}: bad header length {n}")
    header = json.loads(buf[8 : 8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    metadata = header.pop("__metadata__", None) or {}
    data = buf[8 + n :]
    out = OrderedDict()
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = NAME_DTYPES[info["dtype"]]
        raw = bytearray(data[begin:end])  # writable, so torch.frombuffer does not warn
        t = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"]).clone()
    return out, metadata


def find_cached(name):
    """The cached .pth of torchvision model `name`'s default weights, or exit with what to do."""
    ckpt_dir = os.path.join(torch.hub.get_dir(), "checkpoints")
    candidates = []
    try:
        import torchvision

        weights = torchvision.models.get_model_weights(name).DEFAULT
        candidates.append(os.path.join(ckpt_dir, os.path.basename(weights.url)))
    except Exception:  # older torchvision, or a name it does not know: fall back to the file name
        pass
    candidates += sorted(glob.glob(os.path.join(ckpt_dir, f"{name}-*.pth")))
    for c in candidates:
        if os.path.isfile(c):
            return c
    raise SystemExit(
        f"no cached weights for '{name}' in {ckpt_dir}; download them once with "
        f"torchvision.models.{name}(weights='DEFAULT') on a machine with network access, or pass a .pth path"
    )


def load_state_dict(path):
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch < 1.13 has no weights_only
        obj = torch.load(path, map_location="cpu")
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for k in NESTED_KEYS:
            if isinstance(obj.get(k), dict):
                obj = obj[k]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise SystemExit(f"{path}: not a state dict of tensors")
    keys = list(obj.keys())
    if keys and all(k.startswith("module.") for k in keys):  # saved from DataParallel
        obj = OrderedDict((k[len("module.") :], v) for k, v in obj.items())
    return obj


def fill_num_batches_tracked(sd):
    """Adds a 0 int64 num_batches_tracked after each BatchNorm's running_var that lacks one."""
    out = OrderedDict()
    filled = 0
    for k, v in sd.items():
        out[k] = v
        if k.endswith("running_var"):
            nbt = k[: -len("running_var")] + "num_batches_tracked"
            if nbt not in sd:
                out[nbt] = torch.tensor(0, dtype=torch.int64)
                filled += 1
    return out, filled


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="a .pth/.pt state dict, or a torchvision model name with weights in the torch cache")
    ap.add_argument("-o", "--output", help="the .safetensors file to write (default: the source name with .safetensors)")
    args = ap.parse_args(argv)

    path = args.source if os.path.isfile(args.source) else find_cached(args.source)
    out = args.output or os.path.splitext(os.path.basename(path))[0] + ".safetensors"
    sd, filled = fill_num_batches_tracked(load_state_dict(path))
    params = sum(v.numel() for k, v in sd.items() if v.is_floating_point() and "running_" not in k)
    write_safetensors(out, sd, {"format": "pt", "source": os.path.basename(path), "converter": "convkit convert-torchvision.py"})
    print(f"wrote {out}: {len(sd)} tensors, {params} parameters, filled {filled} num_batches_tracked")


if __name__ == "__main__":
    main()
