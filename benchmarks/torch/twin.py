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
NO_GRAD_CASES = {"matmul", "relu", "add_relu", "maxpool", "adaptive_avgpool", "linear", "conv2d_dir", "resnet18_infer", "adamw_resnet18"}


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


@case("conv2d_fwd_bwd")
def conv2d_fwd_bwd(p, dev):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(p["N"], p["C"], p["H"], p["H"], generator=g).to(dev).requires_grad_()
    w = (torch.randn(p["O"], p["C"], p["K"], p["K"], generator=g) * 0.1).to(dev).requires_grad_()
    b = torch.zeros(p["O"]).to(dev).requires_grad_()
    gy = torch.randn(p["N"], p["O"], p["H"], p["H"], generator=g).to(dev)

    def run():
        y = torch.nn.functional.conv2d(x, w, b, padding=p["padding"])
        y.backward(gy)
        x.grad = w.grad = b.grad = None
    return run


@case("conv2d_fwd_bwd_strided")
def conv2d_fwd_bwd_strided(p, dev):
    # ResNet-style conv: any kernel, stride and padding; cuDNN benchmark mode as the request says.
    torch.backends.cudnn.benchmark = bool(p.get("benchmark", False))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(p["N"], p["C"], p["H"], p["H"], generator=g).to(dev).requires_grad_()
    w = (torch.randn(p["O"], p["C"], p["K"], p["K"], generator=g) * 0.1).to(dev).requires_grad_()
    b = torch.zeros(p["O"]).to(dev).requires_grad_()
    oh = (p["H"] + 2 * p["padding"] - p["K"]) // p["stride"] + 1
    gy = torch.randn(p["N"], p["O"], oh, oh, generator=g).to(dev)

    def run():
        y = torch.nn.functional.conv2d(x, w, b, stride=p["stride"], padding=p["padding"])
        y.backward(gy)
        x.grad = w.grad = b.grad = None
    return run


def cifar_cnn():
    nn = torch.nn

    def cbr(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU()]
    # the tutorial's CIFAR10Net: features, view(N, -1), classifier
    return nn.Sequential(*cbr(3, 32), *cbr(32, 32), nn.MaxPool2d(2), *cbr(32, 64), *cbr(64, 64), nn.MaxPool2d(2),
                         *cbr(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Dropout(0.3), nn.Linear(128, 10))


@case("cifar_cnn_fwd_bwd")
def cifar_cnn_fwd_bwd(p, dev):
    torch.manual_seed(0)
    model = cifar_cnn().to(dev).train()
    x = torch.randn(p["N"], 3, 32, 32).to(dev)
    y = torch.randint(0, 10, (p["N"],)).to(dev)

    def run():
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
    return run


def _randn(shape, dev, grad=False):
    t = torch.randn(*shape).to(dev)
    return t.requires_grad_() if grad else t


@case("batchnorm_fwd_bwd")
def batchnorm_fwd_bwd(p, dev):
    s = p["shape"]
    x, g, b = _randn(s, dev, True), _randn([s[1]], dev, True), _randn([s[1]], dev, True)
    rm, rv, dy = torch.zeros(s[1]).to(dev), torch.ones(s[1]).to(dev), _randn(s, dev)

    def run():
        torch.nn.functional.batch_norm(x, rm, rv, g, b, training=True).backward(dy)
        x.grad = g.grad = b.grad = None
    return run


@case("relu")
def relu(p, dev):
    x = _randn(p["shape"], dev)
    return lambda: torch.relu(x)


@case("add_relu")
def add_relu(p, dev):
    a, b = _randn(p["shape"], dev), _randn(p["shape"], dev)
    return lambda: torch.relu(a + b)


@case("maxpool")
def maxpool(p, dev):
    x = _randn(p["shape"], dev)
    return lambda: torch.nn.functional.max_pool2d(x, p["k"])


@case("adaptive_avgpool")
def adaptive_avgpool(p, dev):
    x = _randn(p["shape"], dev)
    return lambda: torch.nn.functional.adaptive_avg_pool2d(x, 1)


@case("linear")
def linear(p, dev):
    x, w, b = _randn([p["N"], p["I"]], dev), _randn([p["O"], p["I"]], dev), _randn([p["O"]], dev)
    return lambda: torch.nn.functional.linear(x, w, b)


@case("cross_entropy")
def cross_entropy(p, dev):
    x = _randn([p["N"], p["K"]], dev, True)
    y = torch.randint(0, p["K"], (p["N"],)).to(dev)

    def run():
        torch.nn.functional.cross_entropy(x, y).backward()
        x.grad = None
    return run



# ---- the index family (benchmarks/suites/index_ops.js) ----
@case("cat")
def cat(p, dev):
    xs = [_randn(p["shape"], dev) for _ in range(p["n"])]
    return lambda: torch.cat(xs, 1)


@case("where")
def where(p, dev):
    a, b = _randn(p["shape"], dev), _randn(p["shape"], dev)
    c = _randn(p["shape"][1:], dev) > 0
    return lambda: torch.where(c, a, b)


@case("gather_fwd_bwd")
def gather_fwd_bwd(p, dev):
    x = _randn(p["shape"], dev, True)
    i = torch.randint(0, p["shape"][1], (p["shape"][0], p["k"])).to(dev)

    def run():
        x.gather(1, i).sum().backward()
        x.grad = None
    return run


@case("index_select")
def index_select(p, dev):
    x = _randn(p["shape"], dev)
    i = torch.randint(0, p["shape"][0], (p["k"],)).to(dev)
    return lambda: torch.index_select(x, 0, i)


@case("sort")
def sort(p, dev):
    x = _randn(p["shape"], dev)
    return lambda: torch.sort(x, 1)


@case("topk")
def topk(p, dev):
    x = _randn(p["shape"], dev)
    return lambda: torch.topk(x, p["k"])

_LOADERS = {}


@case("dataloader")
def dataloader(p, dev):
    """One epoch of the tutorial's CIFAR-10 augmentation through torch.utils.data.DataLoader, over the
    same CIFAR-10 binary batches the convkit side reads (PIL images, as torchvision's CIFAR10 gives)."""
    key = json.dumps(p, sort_keys=True) + dev
    if key not in _LOADERS:  # built once per configuration, so persistent workers stay warm across rounds
        import numpy as np
        import torchvision.transforms as T
        from PIL import Image

        raw = np.concatenate([np.fromfile(f, np.uint8).reshape(-1, 3073) for f in p["files"]])
        labels = raw[:, 0].astype(np.int64)
        images = np.ascontiguousarray(raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(p["mean"], p["std"])])

        class Cifar(torch.utils.data.Dataset):
            def __len__(self):
                return len(labels)

            def __getitem__(self, i):
                return tf(Image.fromarray(images[i])), int(labels[i])

        _LOADERS[key] = torch.utils.data.DataLoader(
            Cifar(), batch_size=p["batch"], shuffle=True, num_workers=p["workers"],
            persistent_workers=p["workers"] > 0, pin_memory=dev == "cuda")
    loader = _LOADERS[key]

    def epoch():
        for x, y in loader:
            if dev == "cuda":
                x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)

    return epoch


@case("conv2d_dir")
def conv2d_dir(p, dev):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(p["N"], p["C"], p["H"], p["H"], generator=g).to(dev)
    w = (torch.randn(p["O"], p["C"], p["K"], p["K"], generator=g) * 0.05).to(dev)
    oh = (p["H"] + 2 * p["padding"] - p["K"]) // p["stride"] + 1
    gy = torch.randn(p["N"], p["O"], oh, oh, generator=g).to(dev)
    kw = dict(stride=p["stride"], padding=p["padding"])
    if p["dir"] == "fwd":
        return lambda: torch.nn.functional.conv2d(x, w, **kw)
    if p["dir"] == "bwd_data":
        return lambda: torch.nn.grad.conv2d_input(x.shape, w, gy, **kw)
    return lambda: torch.nn.grad.conv2d_weight(x, w.shape, gy, **kw)


def _resnet18(n_classes=1000):
    import torchvision
    return torchvision.models.resnet18(num_classes=n_classes)


@case("resnet18_step")
def resnet18_step(p, dev):
    torch.manual_seed(0)
    model = _resnet18(10).to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(p["N"], 3, p["size"], p["size"]).to(dev)
    y = torch.randint(0, 10, (p["N"],)).to(dev)

    def run():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return run


@case("train_step")
def train_step(p, dev):
    # benchmarks/suites/graph_step.js: a whole step (clip_grad_norm_, AdamW capturable=True), eagerly or replayed
    # from a CUDA graph (PyTorch's recipe: warm-up on a side stream, grads set to None before the capture so
    # backward allocates them in the graph).
    torch.manual_seed(0)
    model = (cifar_cnn() if p["model"] == "cnn" else _resnet18(10)).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, capturable=dev == "cuda", foreach=False)
    x = torch.randn(p["N"], 3, p.get("size", 32), p.get("size", 32)).to(dev)
    y = torch.randint(0, 10, (p["N"],)).to(dev)

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    if not p.get("graph"):
        return step
    if dev != "cuda" or not hasattr(torch.cuda, "CUDAGraph"):
        raise RuntimeError("CUDA graphs need a CUDA device and torch.cuda.CUDAGraph")
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(g):
        torch.nn.functional.cross_entropy(model(x), y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return g.replay


@case("resnet18_infer")
def resnet18_infer(p, dev):
    model = _resnet18().to(dev).eval()
    x = torch.randn(p["N"], 3, p["size"], p["size"]).to(dev)

    def run():
        with torch.no_grad():
            model(x)
    return run


@case("adamw_resnet18")
def adamw_resnet18(p, dev):
    model = _resnet18().to(dev)
    for q in model.parameters():
        q.grad = torch.randn_like(q) * 0.01
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=False)
    return lambda: opt.step()


def timed(fn, reps, warmup, inner, dev):
    """reps samples, each the mean time of `inner` back-to-back calls, in ms."""
    for _ in range(warmup):
        fn()
    out = []
    if dev == "cuda":
        torch.cuda.synchronize()
        for _ in range(reps):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            for _ in range(inner):
                fn()
            e.record()
            e.synchronize()
            out.append(s.elapsed_time(e) / inner)
    else:
        for _ in range(reps):
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            out.append((time.perf_counter() - t0) * 1e3 / inner)
    return out


# The case last built, kept across the rounds of one benchmark row so every round times the same tensors.
_built = {"key": None, "fn": None}


def case_fn(req, dev):
    key = json.dumps([req["case"], req["params"], dev, req.get("tf32", False)], sort_keys=True)
    if _built["key"] != key:
        _built["key"], _built["fn"] = None, None
        _built["fn"] = CASES[req["case"]](req["params"], dev)
        _built["key"] = key
    return _built["fn"]


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
            fn = case_fn(req, dev)
            with torch.set_grad_enabled(req["case"] not in NO_GRAD_CASES):
                times = timed(fn, req["reps"], req["warmup"], req.get("inner", 1), dev)
            reply = {"times_ms": times, "torch": torch.__version__, "threads": torch.get_num_threads()}
        except Exception as e:  # reported in the table, not a crash of the run
            reply = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
