#!/usr/bin/python3
"""PyTorch without torch.distributed: N processes train the Fashion-MNIST MLP
(784-128-10) and average their gradients through meshtrain's ring instead of
DDP over Gloo (docs/api.md, "Python"). No master, no rendezvous: each process
is a peer of a cluster file; kill one (kill -9 PID) and the others train on.

    /usr/bin/python3 examples/torch_ddp_free.py [--nproc 4] [--epochs 2] [--module-dir build/python]

The same setup as the PyTorch reference (../shared/anchors/train_torch.py):
SGD with lr 0.1 and momentum 0.9, batch 64 per process, contiguous shards,
pixels / 255. The model's parameters and gradients live in two flat float32
tensors that meshtrain reads and writes in place (no copy), and the SGD step
runs on them, so its momentum is attached too: a peer that rejoins gets the
parameters and the momentum of the others. Prints one JSON line per process
at the end (test_acc, samples_per_s, steps) and, from the launcher, the
cluster's total samples per second.
"""
import argparse
import gzip
import json
import os
import socket
import sys
import tempfile
import time

import numpy as np
import torch
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

DATA_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        buf = f.read()
    ndim = buf[3]
    dims = [int.from_bytes(buf[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(buf, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(kind, lo=None, hi=None):
    x = read_idx(os.path.join(DATA_DIR, f"{kind}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(DATA_DIR, f"{kind}-labels-idx1-ubyte.gz"))
    x, y = x[lo:hi], y[lo:hi]
    return (torch.from_numpy(x.reshape(len(x), 784).astype(np.float32) / np.float32(255.0)),
            torch.from_numpy(y.astype(np.int64)))


def flatten_into(model):
    """Moves every parameter and its gradient into views of two flat tensors."""
    params = list(model.parameters())
    n = sum(p.numel() for p in params)
    flat, flat_grad = torch.zeros(n), torch.zeros(n)
    offset = 0
    for p in params:
        k = p.numel()
        flat[offset:offset + k].copy_(p.data.view(-1))
        p.data = flat[offset:offset + k].view_as(p)
        p.grad = flat_grad[offset:offset + k].view_as(p)
        offset += k
    return flat, flat_grad


def worker(rank, args, config, results):
    sys.path.insert(0, args.module_dir)
    import meshtrain
    torch.set_num_threads(1)
    n_train = 60000
    lo, hi = rank * n_train // args.nproc, (rank + 1) * n_train // args.nproc
    xtr, ytr = load("train", lo, hi)
    xte, yte = load("t10k")
    torch.manual_seed(args.seed)  # the same initial model on every peer
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    flat, flat_grad = flatten_into(model)
    velocity = torch.zeros_like(flat)
    batches = (len(xtr) + args.batch - 1) // args.batch
    steps = batches * args.epochs
    peer = meshtrain.Peer(config, f"p{rank}", steps)
    peer.attach(flat.numpy(), velocity.numpy())
    peer.start()
    rng = np.random.RandomState(args.seed * 1000 + rank)
    perm = torch.from_numpy(rng.permutation(len(xtr)))
    t0 = time.perf_counter()
    samples = 0
    while not peer.done:
        if not peer.begin_step():
            continue
        step = peer.step
        if step % batches == 0 and step > 0:
            perm = torch.from_numpy(rng.permutation(len(xtr)))
        idx = perm[(step % batches) * args.batch:(step % batches + 1) * args.batch]
        flat_grad.zero_()
        loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
        loss.backward()
        if not peer.all_reduce(flat_grad.numpy(), len(idx)):
            continue  # a peer died or came back: this step is computed again
        with torch.no_grad():  # SGD with momentum, as torch.optim.SGD (no dampening)
            velocity.mul_(args.momentum).add_(flat_grad)
            flat.sub_(args.lr * velocity)
        peer.end_step()
        samples += len(idx)
    train_s = time.perf_counter() - t0
    peer.finish()
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    line = dict(peer=f"p{rank}", steps=peer.step, test_acc=round(acc, 4), train_s=round(train_s, 3),
                samples_per_s=round(samples / train_s, 1))
    print(json.dumps(line), flush=True)
    results.put(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nproc", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--module-dir", default=os.path.join(os.path.dirname(__file__), "..", "build", "python"),
                    help="where the meshtrain module is (the package installs it for /usr/bin/python3)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "cluster.toml")
        socks = [socket.socket() for _ in range(args.nproc)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        with open(config, "w") as f:
            for k, s in enumerate(socks):
                f.write(f'[[cluster.peers]]\nid = "p{k}"\nendpoint = "tcp://127.0.0.1:{s.getsockname()[1]}"\n\n')
            f.write('[sync]\nmode = "ring"\nstart_timeout_ms = 60000\n')
        for s in socks:
            s.close()
        ctx = mp.get_context("spawn")
        results = ctx.Queue()
        procs = [ctx.Process(target=worker, args=(r, args, config, results)) for r in range(args.nproc)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        lines = []
        while not results.empty():
            lines.append(results.get())
        total = sum(x["samples_per_s"] for x in lines)
        print(json.dumps(dict(nproc=args.nproc, finished=len(lines), samples_per_s_total=round(total, 1),
                              test_acc=[x["test_acc"] for x in lines])))
        sys.exit(1 if len(lines) == 0 else 0)


if __name__ == "__main__":
    main()
