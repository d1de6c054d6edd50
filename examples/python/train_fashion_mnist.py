#!/usr/bin/env python3
"""A plain PyTorch LeNet-5 on Fashion-MNIST (Debian's dataset-fashion-mnist), made low-precision by
two lines of rngfree (marked below). The model, data normalization, optimizer settings, cosine
schedule and epoch length are those of `rngfree train --model lenet5` (docs/training.md), so
accuracies can be compared: SGD (momentum 0.9, weight decay 5e-4 on every parameter) or, with
`--optimizer adamw`, AdamW as the engine's `--optimizer adamw` (betas 0.9 / 0.99, eps 1e-8, decoupled
weight decay only on tensors of two or more dimensions, moments in FP32 as the presets leave M and
V). As the engine, an epoch drops the last partial batch (60,000 images at batch 128: 468 steps);
`--keep-last-batch` trains on it too (469 steps).

    PYTHONPATH=build/release/python python3 examples/python/train_fashion_mnist.py \
        --preset int8-sr-harvest --epochs 1 --train-limit 10000 --test-limit 2000

Prints one line per epoch and a final JSON line {"preset", "seed", "test_accuracy", ...}.
"""
import argparse
import gzip
import json
import math
import os
import time

import torch
import torch.nn.functional as F

import rngfree
import rngfree.nn

DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST's, as src/train/data.cpp


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def load(split, limit):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(DATA, prefix + "-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(DATA, prefix + "-labels-idx1-ubyte.gz")).long()
    if limit:
        images, labels = images[:limit], labels[:limit]
    x = (images.float().div(255.0).sub(MEAN).div(STD)).unsqueeze(1)
    return x, labels


class LeNet5(torch.nn.Module):
    """LeNet-5 with ReLU and max pooling, 28x28 inputs padded by 2 (as src/train/models.cpp)."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = torch.nn.Conv2d(6, 16, 5)
        self.fc1 = torch.nn.Linear(16 * 5 * 5, 120)
        self.fc2 = torch.nn.Linear(120, 84)
        self.fc3 = torch.nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def make_optimizer(model, a):
    """The engine's optimizer (src/train/optimizer.cpp) with rngfree's U (and, for SGD, M) rounding."""
    if a.optimizer == "sgd":
        return rngfree.nn.SGD(model, lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay)
    # the engine decays only tensors of 2+ dimensions (weights), not biases; its presets keep m, v in FP32
    groups = [{"params": [p for p in model.parameters() if p.dim() >= 2]},
              {"params": [p for p in model.parameters() if p.dim() < 2], "weight_decay": 0.0}]
    return rngfree.nn.AdamW(model, lr=a.lr, betas=(a.beta1, a.beta2), eps=1e-8, weight_decay=a.weight_decay,
                            state_format=None, params=groups)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="int8-sr-harvest", choices=rngfree.presets())
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05, help="peak learning rate (default 0.05, as the engine's "
                    "for either optimizer)")
    ap.add_argument("--optimizer", default="sgd", choices=["sgd", "adamw"])
    ap.add_argument("--momentum", type=float, default=0.9, help="sgd (default 0.9)")
    ap.add_argument("--weight-decay", type=float, default=5e-4, help="default 5e-4, as the engine's classify task")
    ap.add_argument("--beta1", type=float, default=0.9, help="adamw (default 0.9)")
    ap.add_argument("--beta2", type=float, default=0.99, help="adamw (default 0.99, as the engine's)")
    ap.add_argument("--keep-last-batch", action="store_true",
                    help="also train on the last partial batch of each epoch (the engine drops it)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=0)
    ap.add_argument("--test-limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    t_start = time.time()
    if a.threads:
        torch.set_num_threads(a.threads)

    torch.manual_seed(a.seed)
    x_train, y_train = load("train", a.train_limit)
    x_test, y_test = load("test", a.test_limit)
    model = LeNet5()
    # ---- the two lines of rngfree: quantization sites on every layer, and the U/M-rounding optimizer
    rngfree.nn.quantize_model(model, preset=a.preset, seed=a.seed)
    opt = make_optimizer(model, a)
    # ----
    batch = min(a.batch, len(x_train))  # as the engine, a batch larger than the data shrinks to it
    steps_per_epoch = math.ceil(len(x_train) / batch) if a.keep_last_batch else len(x_train) // batch
    total = steps_per_epoch * a.epochs
    step = 0
    g = torch.Generator().manual_seed(a.seed)
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=g)
        t0, seen, loss_sum, correct = time.time(), 0, 0.0, 0
        for i in range(steps_per_epoch):
            idx = order[i * batch:(i + 1) * batch]
            x, y = x_train[idx], y_train[idx]
            lr = 0.5 * a.lr * (1 + math.cos(math.pi * min(1.0, step / total)))  # cosine to 0, as `rngfree train`
            for group in opt.param_groups:
                group["lr"] = lr
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            seen += len(y)
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
        model.eval()
        with torch.no_grad():
            test_correct = sum((model(x_test[i:i + 1000]).argmax(1) == y_test[i:i + 1000]).sum().item()
                               for i in range(0, len(x_test), 1000))
        acc = test_correct / len(x_test)
        # lr: that of the epoch's last step (as the engine's metrics.csv)
        print("epoch %d: train loss %.4f, train accuracy %.4f, test accuracy %.4f, lr %.9g, %.1f s"
              % (epoch + 1, loss_sum / seen, correct / seen, acc, lr, time.time() - t0), flush=True)
    print(json.dumps({"preset": a.preset, "optimizer": a.optimizer, "seed": a.seed, "epochs": a.epochs,
                      "steps_per_epoch": steps_per_epoch, "train_images": len(x_train),
                      "test_images": len(x_test), "test_accuracy": acc, "seconds": time.time() - t_start}))


if __name__ == "__main__":
    main()
