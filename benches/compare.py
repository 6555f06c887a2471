"""Compare distgan's training iteration with the PyTorch peer, interleaved.

Builds `benches/train_step` (release), then for each round runs, at every
thread count, the Rust benchmark, the PyTorch peer and PyTorch's matmul on
the same GEMM shapes one after the other, rotating their order every round
so a slow spell on a shared machine hits all of them alike. Prints a
Markdown table of medians over the rounds.

Usage, from the repository root:
    python3 benches/compare.py --rounds 5 --threads 1 2
Needs the peer's virtual environment (see docs/benchmarks.md); the Python
running this script needs only the standard library.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
PEER = REPO_ROOT / "benches" / "peer" / "train_step.py"
MATMUL_MIX = REPO_ROOT / "benches" / "peer" / "matmul_mix.py"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of each program per thread count (default 5)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    parser.add_argument("--iterations", type=int, default=30, help="timed iterations per run (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed iterations per run (default 5)")
    parser.add_argument("--python", type=pathlib.Path, default=REPO_ROOT / ".venv" / "bin" / "python",
                        help="interpreter with torch and numpy (default .venv/bin/python)")
    parser.add_argument("--peer-data", choices=["random", "mnist"], default="random",
                        help="peer's real rows; the Rust benchmark uses random rows (default random)")
    parser.add_argument("--raw", type=pathlib.Path, help="also write every run's JSON line to this file")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.iterations < 1 or min(args.threads) < 1:
        parser.error("--rounds, --iterations and every --threads value must be at least 1")
    if not args.python.exists():
        parser.error(f"interpreter {args.python} not found: create it with "
                     "`python3 -m venv .venv && .venv/bin/pip install torch numpy` or pass --python")
    return args


def build_bench():
    """Build the Rust benchmark and return the path of its executable."""
    command = ["cargo", "bench", "--bench", "train_step", "--no-run", "--message-format=json"]
    result = subprocess.run(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, check=True)
    for line in result.stdout.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message["target"]["name"] == "train_step" \
                and message.get("executable"):
            return message["executable"]
    sys.exit("cargo built no train_step executable; run the cargo command above to see why")


def run_json(command):
    """Run one benchmark process and return the JSON object on its last stdout line."""
    result = subprocess.run(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    if result.returncode != 0:
        sys.exit(f"benchmark failed with exit code {result.returncode}: {' '.join(map(str, command))}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_rounds(args, bench):
    common = ["--iterations", str(args.iterations), "--warmup", str(args.warmup)]
    runs = []
    for round_index in range(args.rounds):
        for threads in args.threads:
            rust = [bench, "--threads", str(threads), *common]
            peer = [args.python, PEER, "--threads", str(threads), *common]
            if args.peer_data == "random":
                peer.append("--random-data")
            matmul = [args.python, MATMUL_MIX, "--threads", str(threads),
                      "--passes", str(args.iterations), "--warmup", str(args.warmup)]
            commands = [rust, peer, matmul]
            shift = round_index % len(commands)
            for command in commands[shift:] + commands[:shift]:
                result = run_json(command)
                result["round"] = round_index
                print(json.dumps(result), file=sys.stderr)
                runs.append(result)
    return runs


def median_of(runs, impl, threads, key):
    values = [run[key] for run in runs if run["impl"] == impl and run["threads"] == threads]
    return statistics.median(values)


def median_ratio(runs, threads):
    """Median over rounds of distgan's over PyTorch's iterations per second.

    The two runs of a round are adjacent in time, so their ratio is less
    affected by a change of load than the ratio of the two medians.
    """
    rates = {(run["round"], run["impl"]): run["iters_per_sec"] for run in runs
             if run["threads"] == threads and run["impl"] in ("distgan", "pytorch")}
    rounds = {round_index for round_index, _ in rates}
    return statistics.median(rates[(r, "distgan")] / rates[(r, "pytorch")] for r in rounds)


def print_table(runs, thread_counts):
    print("| threads | distgan it/s | PyTorch it/s | ratio | distgan GFLOP/s | sgemm GFLOP/s | of sgemm "
          "| PyTorch matmul GFLOP/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for threads in thread_counts:
        ours = median_of(runs, "distgan", threads, "iters_per_sec")
        peer = median_of(runs, "pytorch", threads, "iters_per_sec")
        gflops = median_of(runs, "distgan", threads, "gflops")
        sgemm = median_of(runs, "distgan", threads, "sgemm_gflops")
        fraction = median_of(runs, "distgan", threads, "fraction_of_sgemm")
        matmul = median_of(runs, "pytorch-matmul", threads, "gflops")
        ratio = median_ratio(runs, threads)
        print(f"| {threads} | {ours:.2f} | {peer:.2f} | {ratio:.2f} | {gflops:.1f} | {sgemm:.1f} "
              f"| {100 * fraction:.0f}% | {matmul:.1f} |")


def main(argv):
    args = parse_args(argv)
    bench = build_bench()
    load_before = os.getloadavg()[0]
    runs = run_rounds(args, bench)
    load_after = os.getloadavg()[0]
    if args.raw:
        args.raw.write_text("".join(json.dumps(run) + "\n" for run in runs))
    print(f"{args.rounds} rounds of {args.iterations} iterations; 1-minute load average "
          f"{load_before:.2f} before, {load_after:.2f} after\n")
    print_table(runs, args.threads)
    print("\nratio: median over rounds of distgan's it/s over PyTorch's in the same round")


if __name__ == "__main__":
    main(sys.argv[1:])
