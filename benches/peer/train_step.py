"""Time one GAN training iteration of the MNIST model in PyTorch (CPU).

This is the reference point for `benches/train_step.rs`: the same model and
the same iteration, written the way a PyTorch user would write it.

Model (the MNIST setup of Goodfellow et al. 2014, arXiv:1406.2661):
  G: z (100, uniform on [-sqrt 3, sqrt 3]) -> 1200 ReLU -> 1200 ReLU -> 784 sigmoid
  D: maxout 240 units x 5 pieces -> maxout 240 x 5 -> 1 logit, inverted
     dropout on the input of every D layer (keep 0.8 on pixels, 0.5 on hidden)
  Losses on logits through softplus; classic momentum SGD, lr 0.1 divided by
  1.000004 after every update, momentum 0.5.

One iteration (k = 1, batch 100):
  1. D step: G forward without gradients on 100 noise vectors, D forward and
     backward on 100 real and the 100 generated samples (separate dropout
     masks, one backward of the summed loss), update D.
  2. G step: G forward on 100 fresh noise vectors, D forward, backward of the
     non-saturating loss softplus(-D(G(z))) through D into G, update G only.
     D's parameters do not require gradients during this step, so autograd
     skips D's weight gradients, as a hand-written trainer would.

Prints one JSON line: {"impl": "pytorch", "threads": T, "iters_per_sec": ...}.
`iters_per_sec` is the number of timed iterations over their summed wall time
(the minibatch gather is outside the timed part); `median_iter_ms` is less
sensitive to other processes on a shared machine.
"""

import argparse
import gzip
import json
import math
import pathlib
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

BATCH = 100
NOISE_DIM = 100
IMAGE_DIM = 784
TRAIN_IMAGES = 50_000
IDX3_MAGIC = 2051
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_IMAGES = REPO_ROOT / "data" / "mnist" / "train-images-idx3-ubyte.gz"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=50,
                        help="timed iterations (default 50)")
    parser.add_argument("--warmup", type=int, default=5,
                        help="untimed iterations before timing (default 5)")
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads for torch.set_num_threads (default 1)")
    parser.add_argument("--images", type=pathlib.Path, default=DEFAULT_IMAGES,
                        help="gzip IDX file of MNIST training images "
                             "(default data/mnist/train-images-idx3-ubyte.gz)")
    parser.add_argument("--random-data", action="store_true",
                        help="use uniform random pixels of the same shape instead of MNIST")
    parser.add_argument("--seed", type=int, default=0, help="torch and numpy seed (default 0)")
    args = parser.parse_args(argv)
    for name in ("iterations", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be 0 or more, got {args.warmup}")
    return args


def load_mnist_images(path):
    """Read a gzip IDX3 file into a (n, 784) float32 array scaled to [0, 1]."""
    try:
        raw = gzip.open(path, "rb").read()
    except (OSError, EOFError) as err:
        sys.exit(f"failed to read MNIST images {path}: {err}; pass --images PATH or --random-data")
    if len(raw) < 16:
        sys.exit(f"invalid MNIST image file {path}: {len(raw)} bytes, "
                 "too short for the 16-byte IDX3 header")
    magic, count, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    if magic != IDX3_MAGIC or rows * cols != IMAGE_DIM:
        sys.exit(f"invalid MNIST image file {path}: magic {magic} (expected {IDX3_MAGIC}), "
                 f"images {rows}x{cols} (expected 28x28)")
    expected = 16 + int(count) * IMAGE_DIM
    if len(raw) != expected:
        sys.exit(f"invalid MNIST image file {path}: {len(raw)} bytes, "
                 f"expected {expected} for {count} images")
    pixels = np.frombuffer(raw[16:], dtype=np.uint8).reshape(int(count), IMAGE_DIM)
    return pixels.astype(np.float32) / 255.0


def fill_uniform(tensor, bound):
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)


class Generator(torch.nn.Module):
    def __init__(self, mean_image):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            [torch.nn.Linear(NOISE_DIM, 1200), torch.nn.Linear(1200, 1200),
             torch.nn.Linear(1200, IMAGE_DIM)])
        for layer in self.layers:
            fill_uniform(layer.weight, 0.05)
            torch.nn.init.zeros_(layer.bias)
        # Output bias = logit of the mean training image, so the untrained G
        # starts at the data mean.
        mean = mean_image.clamp(1e-7, 1 - 1e-7)
        with torch.no_grad():
            self.layers[2].bias.copy_(torch.log(mean) - torch.log1p(-mean))

    def forward(self, z):
        h = F.relu(self.layers[0](z))
        h = F.relu(self.layers[1](h))
        return torch.sigmoid(self.layers[2](h))


class Discriminator(torch.nn.Module):
    PIECES = 5

    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            [torch.nn.Linear(IMAGE_DIM, 1200), torch.nn.Linear(240, 1200),
             torch.nn.Linear(240, 1)])
        for layer in self.layers:
            fill_uniform(layer.weight, 0.005)
            torch.nn.init.zeros_(layer.bias)

    def maxout(self, h):
        # Max over consecutive groups of 5 outputs: (batch, 1200) -> (batch, 240).
        return h.view(h.shape[0], -1, self.PIECES).amax(dim=2)

    def forward(self, x):
        # F.dropout is inverted dropout: kept units are scaled by 1 / keep.
        h = self.maxout(self.layers[0](F.dropout(x, p=0.2, training=True)))
        h = self.maxout(self.layers[1](F.dropout(h, p=0.5, training=True)))
        return self.layers[2](F.dropout(h, p=0.5, training=True)).squeeze(1)


class MomentumSgd:
    """Classic momentum, v = mu v - lr g, theta += v, with lr /= 1.000004 per update."""

    def __init__(self, params, lr=0.1, momentum=0.5, decay=1.000004, min_lr=1e-6):
        self.params = list(params)
        self.velocity = [torch.zeros_like(p) for p in self.params]
        self.lr, self.momentum, self.decay, self.min_lr = lr, momentum, decay, min_lr

    @torch.no_grad()
    def step(self):
        for param, velocity in zip(self.params, self.velocity):
            velocity.mul_(self.momentum).add_(param.grad, alpha=-self.lr)
            param.add_(velocity)
            param.grad = None
        self.lr = max(self.lr / self.decay, self.min_lr)


def noise(batch):
    bound = math.sqrt(3.0)
    return torch.rand(batch, NOISE_DIM) * (2 * bound) - bound


def train_iteration(g, d, g_opt, d_opt, real):
    with torch.no_grad():
        fake = g(noise(BATCH))
    d_loss = 0.5 * (F.softplus(-d(real)) + F.softplus(d(fake))).mean()
    d_loss.backward()
    d_opt.step()

    d.requires_grad_(False)
    g_loss = F.softplus(-d(g(noise(BATCH)))).mean()
    g_loss.backward()
    g_opt.step()
    d.requires_grad_(True)


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    if args.random_data:
        images = rng.random((TRAIN_IMAGES, IMAGE_DIM), dtype=np.float32)
    else:
        images = load_mnist_images(args.images)[:TRAIN_IMAGES]
    images = torch.from_numpy(images)

    g = Generator(images.mean(dim=0))
    d = Discriminator()
    g_opt, d_opt = MomentumSgd(g.parameters()), MomentumSgd(d.parameters())
    order = torch.from_numpy(rng.permutation(images.shape[0]))
    batches_per_epoch = images.shape[0] // BATCH

    def run(count, first):
        """Run `count` iterations and return each one's wall time in seconds."""
        times = []
        for i in range(first, first + count):
            b = i % batches_per_epoch
            real = images[order[b * BATCH:(b + 1) * BATCH]]
            start = time.perf_counter()
            train_iteration(g, d, g_opt, d_opt, real)
            times.append(time.perf_counter() - start)
        return times

    run(args.warmup, 0)
    times = run(args.iterations, args.warmup)
    seconds = sum(times)

    print(json.dumps({
        "impl": "pytorch",
        "threads": args.threads,
        "iters_per_sec": args.iterations / seconds,
        "median_iter_ms": 1000 * statistics.median(times),
        "iterations": args.iterations,
        "seconds": seconds,
        "data": "random" if args.random_data else "mnist",
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
