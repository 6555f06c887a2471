"""Time PyTorch's matmul on the GEMMs of one training iteration.

The PyTorch counterpart of the sgemm passes in `benches/train_step`: every
GEMM of one k = 1 iteration of the MNIST GAN at batch 100, each as many
times as the iteration performs it, with the backward products taken on
transposed views (`dy @ w.t()`, `x.t() @ dy`) as autograd does. It shows
how fast the BLAS under PyTorch (MKL in the official wheels) runs the same
shapes as distgan's OpenBLAS.

Prints one JSON line: {"impl": "pytorch-matmul", "threads": T, "median_ms": ..., "gflops": ...}.
"""

import argparse
import json
import statistics
import sys
import time

import torch

BATCH = 100
GENERATOR = [(100, 1200), (1200, 1200), (1200, 784)]
DISCRIMINATOR = [(784, 1200), (240, 1200), (240, 1)]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=30, help="timed passes (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed passes first (default 5)")
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads for torch.set_num_threads (default 1)")
    args = parser.parse_args(argv)
    if args.passes < 1 or args.threads < 1 or args.warmup < 0:
        parser.error("--passes and --threads must be at least 1 and --warmup at least 0")
    return args


def iteration_gemms():
    """List (m, k, n, pass, count) for one iteration, as `benches/train_step` does."""
    gemms = []

    def add(layer, kind, count):
        in_dim, out_dim = layer
        shape = {"forward": (BATCH, in_dim, out_dim), "dx": (BATCH, out_dim, in_dim),
                 "dW": (in_dim, BATCH, out_dim)}[kind]
        gemms.append((*shape, kind, count))

    # D step: G forward only; D forward, dW and dx (not into the data) on both passes.
    for layer in GENERATOR:
        add(layer, "forward", 1)
    for i, layer in enumerate(DISCRIMINATOR):
        add(layer, "forward", 2)
        add(layer, "dW", 2)
        if i > 0:
            add(layer, "dx", 2)
    # G step: G and D forward, dx through D, dW of G and dx of all but G's first layer.
    for layer in GENERATOR:
        add(layer, "forward", 1)
    for layer in DISCRIMINATOR:
        add(layer, "forward", 1)
        add(layer, "dx", 1)
    for i, layer in enumerate(GENERATOR):
        add(layer, "dW", 1)
        if i > 0:
            add(layer, "dx", 1)
    return gemms


def make_product(m, k, n, kind):
    """Return a closure computing one product with the layouts autograd uses."""
    if kind == "forward":
        x, w = torch.rand(m, k), torch.rand(k, n)
        return lambda: x @ w
    if kind == "dx":
        dy, w = torch.rand(m, k), torch.rand(n, k)
        return lambda: dy @ w.t()
    x, dy = torch.rand(k, m), torch.rand(k, n)
    return lambda: x.t() @ dy


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    gemms = iteration_gemms()
    products = [(make_product(m, k, n, kind), count) for m, k, n, kind, count in gemms]
    flops = sum(2 * m * k * n * count for m, k, n, _, count in gemms)

    times = []
    for index in range(args.warmup + args.passes):
        start = time.perf_counter()
        for product, count in products:
            for _ in range(count):
                product()
        if index >= args.warmup:
            times.append(time.perf_counter() - start)

    median = statistics.median(times)
    print(json.dumps({
        "impl": "pytorch-matmul",
        "threads": args.threads,
        "median_ms": 1000 * median,
        "gflops": flops / median / 1e9,
        "gflop_per_pass": flops / 1e9,
        "passes": args.passes,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
