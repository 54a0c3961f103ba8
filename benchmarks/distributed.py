"""Throughput of `bmnas search` and `bmnas train` on 1 and 2 ranks (torchrun, gloo, CPU)
at the same global batch, and what one collective costs on this machine (issue 16).

    python benchmarks/distributed.py [--ranks 1 2] [--epochs 4] [--repeats 2]
                                     [--data mfeat:fou,fac,kar,pix,zer,mor]

Each configuration runs as a user would (`python -m bmnas_dsl ...` for one rank,
`torchrun --standalone --nproc-per-node N -m bmnas_dsl ...` for more), interleaved over
the repeats so that drift between moments affects all alike. An epoch's time is read
from the run's own log (epochs 2 onwards: the first pays for warm-up), so process
start and data loading are not counted. The search is `--selection paper` (only the
epoch loop: the input selection after the last epoch runs whole on every rank); the
training trains the genotype the one-rank search found. Figures are ratios against one
rank in the same command: speed-up = throughput(N) / throughput(1), efficiency =
speed-up / N (1.0 would be perfect scaling). It also times, in this process, the
ways of freezing one parameter set (`freezing_costs`). The latency of one small all-reduce is
measured by this script itself under torchrun (`--latency`), since a distributed step
waits on one per batch-norm layer in forward and backward (docs/distributed.md).

Writes benchmarks/results/distributed.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bmnas_dsl.fileio import write_atomic  # noqa: E402


def command(ranks: int, args: list[str]) -> list[str]:
    if ranks == 1:
        return [sys.executable, "-m", "bmnas_dsl", *args]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    return [*launcher, f"--nproc-per-node={ranks}", "-m", "bmnas_dsl", *args]


def epoch_seconds(run_dir: Path) -> float:
    """Mean seconds of the epochs after the first, from the run's log."""
    seconds = [
        json.loads(line)["seconds"]
        for line in (run_dir / "log.jsonl").read_text().splitlines()
    ]
    return (seconds[-1] - seconds[0]) / (len(seconds) - 1)


def timed_run(ranks: int, args: list[str], cwd: Path, run_dir: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        command(ranks, args), cwd=cwd, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} on {ranks} ranks failed:\n{result.stderr}")
    return epoch_seconds(run_dir)


def latency(repeats: int = 300) -> None:
    """Under torchrun: the mean seconds of one all-reduce of 65 floats (a batch-norm
    layer's statistics at C = 32), printed as JSON by rank 0."""
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    value = torch.zeros(65)
    for _ in range(20):
        dist.all_reduce(value)
    start = time.perf_counter()
    for _ in range(repeats):
        dist.all_reduce(value)
    seconds = (time.perf_counter() - start) / repeats
    if dist.get_rank() == 0:
        print(json.dumps({"all_reduce_65_floats_s": seconds}))
    dist.destroy_process_group()


def measured_latency(ranks: int) -> float:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    run = [*launcher, f"--nproc-per-node={ranks}", __file__, "--latency"]
    result = subprocess.run(run, capture_output=True, text=True, check=True)
    line = [text for text in result.stdout.splitlines() if text.startswith("{")][-1]
    return json.loads(line)["all_reduce_65_floats_s"]


def freezing_costs(data: str, repeats: int = 30) -> dict[str, float]:
    """How the distributed step freezes one set of parameters, against the toggle of
    requires_grad it replaces (which DDP forbids), in this process on one thread:
    seconds of forward + backward of one architecture step (toggle / autograd.grad over
    alpha, beta, gamma only / a full backward, the naive "zero the other set" way) and
    of one weight step (toggle / a full backward, as DDP's is). Interleaved; medians."""
    import torch

    from bmnas_dsl.data.resolve import resolve_data
    from bmnas_dsl.search.runner import Search, space_for
    from bmnas_dsl.search.settings import Training

    torch.set_num_threads(1)
    bank = resolve_data(data)
    search = Search(bank, space_for(bank), Training(selection="paper"), data)
    rows = search.train_index[:64]
    inputs, labels = search.batch(rows)
    search.model.train()

    def backward_with_frozen(frozen: list[torch.nn.Parameter]) -> None:
        for p in frozen:
            p.requires_grad_(False)
        search.loss(search.model(inputs), labels).backward()
        for p in frozen:
            p.requires_grad_(True)

    def architecture_toggle() -> None:
        backward_with_frozen(search.weights)

    def architecture_grad() -> None:
        loss = search.loss(search.model(inputs), labels)
        torch.autograd.grad(loss, search.architecture, allow_unused=True)

    def full_backward() -> None:
        search.loss(search.model(inputs), labels).backward()

    def weight_toggle() -> None:
        backward_with_frozen(search.architecture)

    ways = {
        "arch_toggle_s": architecture_toggle,
        "arch_autograd_grad_s": architecture_grad,
        "arch_full_backward_s": full_backward,
        "weight_toggle_s": weight_toggle,
        "weight_full_backward_s": full_backward,
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, way in ways.items():
            search.model.zero_grad(set_to_none=True)
            start = time.perf_counter()
            way()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def samples_per_epoch(data: str) -> tuple[int, int]:
    """Rows one search epoch steps over (train + val) and one training epoch fits on
    (train, with --holdout val)."""
    from bmnas_dsl.data.resolve import resolve_data

    bank = resolve_data(data)
    train, val = len(bank.indices("train")), len(bank.indices("val"))
    return train + val, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data", default="mfeat:fou,fac,kar,pix,zer,mor")
    parser.add_argument(
        "--json", default=str(ROOT / "benchmarks/results/distributed.json")
    )
    parser.add_argument("--latency", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.latency:
        latency()
        return
    if 1 not in args.ranks:
        raise SystemExit("--ranks must include 1: the figures are ratios against it")
    epochs = ["--epochs", str(args.epochs)]
    search_rows, train_rows = samples_per_epoch(args.data)
    times: dict[str, dict[int, list[float]]] = {"search": {}, "train": {}}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for repeat in range(args.repeats):
            for ranks in args.ranks:
                name = f"s{ranks}_{repeat}"
                search = ["search", "--data", args.data, "--selection", "paper"]
                search += [*epochs, "-o", f"{name}.bmg"]
                seconds = timed_run(ranks, search, work, work / f"{name}.run")
                times["search"].setdefault(ranks, []).append(seconds)
                genotype = f"s1_{repeat}.bmg"
                train = ["train", genotype, "--data", args.data, "--holdout", "val"]
                train += [*epochs, "-o", f"t{ranks}_{repeat}"]
                seconds = timed_run(ranks, train, work, work / f"t{ranks}_{repeat}")
                times["train"].setdefault(ranks, []).append(seconds)
    latencies = {ranks: measured_latency(ranks) for ranks in args.ranks if ranks > 1}
    freezing = freezing_costs(args.data)
    rows = []
    for kind, rows_per_epoch in (("search", search_rows), ("train", train_rows)):
        base = statistics.median(times[kind][1])
        for ranks in args.ranks:
            seconds = statistics.median(times[kind][ranks])
            speedup = base / seconds
            rows.append(
                {
                    "command": kind,
                    "ranks": ranks,
                    "epoch_s": round(seconds, 3),
                    "samples_per_s": round(rows_per_epoch / seconds, 1),
                    "speedup": round(speedup, 3),
                    "efficiency": round(speedup / ranks, 3),
                }
            )
    result = {
        "data": args.data,
        "epochs": args.epochs,
        "repeats": args.repeats,
        "global_batch_size": 64,
        "cpus": os.cpu_count(),
        "rows": rows,
        "all_reduce_65_floats_s": {str(k): v for k, v in latencies.items()},
        "freezing_s": freezing,
        "raw_epoch_s": {k: {str(r): v for r, v in t.items()} for k, t in times.items()},
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.json, json.dumps(result, indent=2) + "\n")
    print(
        f"{args.data}, global batch 64, {os.cpu_count()} CPUs, median of {args.repeats}"
    )
    print("| command | ranks | s / epoch | samples / s | speed-up | efficiency |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['command']} | {row['ranks']} | {row['epoch_s']:.3f} | "
            f"{row['samples_per_s']:.0f} | {row['speedup']:.2f}x | "
            f"{row['efficiency']:.2f} |"
        )
    for ranks, seconds in latencies.items():
        print(f"one all-reduce of 65 floats, {ranks} ranks: {seconds * 1e6:.0f} us")
    print("\nfreezing one set, one process, forward + backward of one step:")
    print("| step | way | ms | ratio to the toggle |")
    print("|---|---|---:|---:|")
    for name, seconds in freezing.items():
        kind, way = name.split("_", 1)
        base = freezing[f"{kind}_toggle_s"]
        print(
            f"| {kind} | {way[:-2].replace('_', ' ')} | {seconds * 1e3:.2f} | "
            f"{seconds / base:.2f} |"
        )


if __name__ == "__main__":
    main()
