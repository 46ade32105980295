#!/usr/bin/env python3
"""The PyTorch twin of `convkit train`'s default recipe, for benchmarks/train_compare.js.

The tutorial's CIFAR-10 CNN (CIFAR10Net: conv-bn-relu pairs 32-32, max pool, 64-64, max pool, one 128,
global average pooling, dropout 0.3, linear), AdamW (lr 1e-3, weight decay 0.01), cosine annealing stepped per
batch over the whole run, batch 64, cross-entropy, Normalize(0.286, 0.353), no augmentation. Reads IDX
files (gzipped or not) from --data. Prints one JSON line: accuracy per epoch, final accuracy, seconds.

With --augment or --workers N it trains the way a PyTorch user writes the loop: a Dataset with torchvision
transforms (RandomCrop(28, padding=4) + RandomHorizontalFlip when --augment, then Normalize) and a
DataLoader(shuffle=True, num_workers=N), the twin of `convkit train --augment --workers N`.
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
from torch import nn


MEAN, STD = 0.286, 0.353


def read_idx(folder, base):
    for name in (base, base + '.gz'):
        p = os.path.join(folder, name)
        if os.path.exists(p):
            with (gzip.open if p.endswith('.gz') else open)(p, 'rb') as f:
                data = f.read()
            ndim = data[3]
            dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    raise FileNotFoundError(f'no {base}[.gz] in {folder}')


def split(folder, prefix, limit):
    x = read_idx(folder, f'{prefix}-images-idx3-ubyte')
    y = read_idx(folder, f'{prefix}-labels-idx1-ubyte')
    if limit:
        x, y = x[:limit], y[:limit]
    x = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(y.astype(np.int64))


class IdxDataset(torch.utils.data.Dataset):
    """Normalised 1x28x28 images, the torchvision transforms applied per sample as torchvision's datasets do."""

    def __init__(self, x, y, transform):
        self.x, self.y, self.transform = x, y, transform

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        img = self.x[i]
        return (self.transform(img) if self.transform else img), self.y[i]


def conv_bn_relu(i, o):
    return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU()]


class Cifar10Net(nn.Module):
    def __init__(self, in_channels=1, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn_relu(in_channels, 32), *conv_bn_relu(32, 32), nn.MaxPool2d(2),
            *conv_bn_relu(32, 64), *conv_bn_relu(64, 64), nn.MaxPool2d(2),
            *conv_bn_relu(64, 128), nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Sequential(nn.Dropout(0.3), nn.Linear(128, num_classes))

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.view(x.size(0), -1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--epochs', type=int, default=5)
    ap.add_argument('--batch-size', type=int, default=64)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=0)
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--limit-train', type=int, default=0)
    ap.add_argument('--limit-test', type=int, default=0)
    ap.add_argument('--augment', action='store_true')
    ap.add_argument('--workers', type=int, default=-1)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    xtr, ytr = split(a.data, 'train', a.limit_train)
    xte, yte = split(a.data, 't10k', a.limit_test)
    raw_train = xtr
    xtr, xte = (xtr - MEAN) / STD, (xte - MEAN) / STD
    xtr, ytr, xte, yte = xtr.to(dev), ytr.to(dev), xte.to(dev), yte.to(dev)
    model = Cifar10Net().to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    steps = (len(xtr) + a.batch_size - 1) // a.batch_size
    loader = None
    if a.augment or a.workers >= 0:
        from torchvision import transforms as T
        # crops pad with black before normalising, as convkit's pipeline does
        side = raw_train.shape[-1]
        tf = T.Compose(([T.RandomCrop(side, padding=max(1, int(side / 8 + 0.5))), T.RandomHorizontalFlip()] if a.augment else []) + [T.Normalize((MEAN,), (STD,))])
        loader = torch.utils.data.DataLoader(IdxDataset(raw_train, ytr.cpu(), tf), batch_size=a.batch_size, shuffle=True,
                                             num_workers=max(0, a.workers), persistent_workers=a.workers > 0,
                                             pin_memory=dev.type == 'cuda')
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, a.epochs * steps)
    crit = nn.CrossEntropyLoss()
    accs = []
    epoch_seconds = []
    train_seconds = []
    t0 = time.time()

    def step(x, y):
        opt.zero_grad()
        loss = crit(model(x), y)
        loss.backward()
        opt.step()
        sched.step()

    for _ in range(a.epochs):
        te = time.time()
        model.train()
        if loader is not None:
            for x, y in loader:
                step(x.to(dev, non_blocking=True), y.to(dev, non_blocking=True))
        else:
            perm = torch.randperm(len(xtr), device=dev)
            for b in range(steps):
                idx = perm[b * a.batch_size:(b + 1) * a.batch_size]
                step(xtr[idx], ytr[idx])
        if dev.type == 'cuda':
            torch.cuda.synchronize()
        train_seconds.append(time.time() - te)
        model.eval()
        correct = 0
        with torch.no_grad():
            for b in range(0, len(xte), 256):
                correct += (model(xte[b:b + 256]).argmax(1) == yte[b:b + 256]).sum().item()
        accs.append(correct / len(xte))
        epoch_seconds.append(time.time() - te)
    if dev.type == 'cuda':
        torch.cuda.synchronize()
    print(json.dumps({'framework': 'pytorch', 'torch': torch.__version__, 'device': str(dev), 'threads': torch.get_num_threads(),
                      'epochs': a.epochs, 'acc_per_epoch': accs, 'test_acc': accs[-1], 'seconds': time.time() - t0, 'epoch_seconds': epoch_seconds, 'train_seconds': train_seconds,
                      'train_size': len(xtr), 'test_size': len(xte)}))


if __name__ == '__main__':
    main()
