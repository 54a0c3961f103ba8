"""Search time against torch's thread count, on an idle machine and with one core kept
busy by another process (issue 13, item 11: torch's default of one thread per core
collapsed 8.5x on a 2-core machine with one core busy).

    python benchmarks/threads.py [--epochs 3] [--repeats 2] [--data D] [--selection S]

Each configuration is a search (default: a short six-view mfeat search with
`--selection paper`, so that only the epoch loop is timed; `--data mfeat --epochs 30
--selection sample` is `make run`'s search), run in this process; the figures are ratios against one
thread under the same load, measured in the same command, interleaved (so that drift
between moments affects every configuration alike). Writes
benchmarks/results/threads.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bmnas_dsl.data.resolve import resolve_data  # noqa: E402
from bmnas_dsl.fileio import write_atomic  # noqa: E402
from bmnas_dsl.nn.threads import DEFAULT_THREADS  # noqa: E402
from bmnas_dsl.search.runner import run_search, space_for  # noqa: E402
from bmnas_dsl.search.settings import Training  # noqa: E402


def spin() -> None:
    """Another user's job: one core, busy until killed."""
    while True:
        pass


def search_seconds(bank, epochs: int, threads: int, selection: str = "paper") -> float:
    space = space_for(bank)
    training = Training(epochs=epochs, selection=selection, threads=threads)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        run_search(bank, space, training, "mfeat", Path(folder) / "r", "a.bmg")
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--data",
        default="mfeat:fou,fac,kar,pix,zer,mor",
        help="what to search (default: the six views)",
    )
    parser.add_argument(
        "--selection",
        choices=["paper", "sample"],
        default="paper",
        help="paper: the epoch loop only; sample: the default search, with the "
        "candidates' scoring and re-training",
    )
    parser.add_argument("--json", default=str(ROOT / "benchmarks/results/threads.json"))
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    counts = sorted({1, 2, cores, torch.get_num_threads(), DEFAULT_THREADS})
    bank = resolve_data(args.data)
    search_seconds(bank, 1, 1)  # warm caches and lazy imports
    rows = []
    for load in ("idle", "one core busy"):
        busy = None
        # What else runs shows here: "idle" means only as idle as the machine is.
        load_average = round(os.getloadavg()[0], 2)
        if load != "idle":
            busy = multiprocessing.Process(target=spin, daemon=True)
            busy.start()
        try:
            times: dict[int, list[float]] = {n: [] for n in counts}
            for _ in range(args.repeats):
                for n in counts:
                    times[n].append(
                        search_seconds(bank, args.epochs, n, args.selection)
                    )
        finally:
            if busy is not None:
                busy.kill()
                busy.join()
        base = statistics.median(times[1])
        for n in counts:
            seconds = statistics.median(times[n])
            rows.append(
                {
                    "load": load,
                    "load_average_before": load_average,
                    "threads": n,
                    "seconds": round(seconds, 3),
                    "vs_one_thread": round(seconds / base, 3),
                    "default": n == DEFAULT_THREADS,
                }
            )
    result = {
        "cores": cores,
        "torch_default_threads": torch.get_num_threads(),
        "bmnas_default_threads": DEFAULT_THREADS,
        "epochs": args.epochs,
        "data": args.data,
        "selection": args.selection,
        "repeats": args.repeats,
        "rows": rows,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.json, json.dumps(result, indent=2) + "\n")
    print(f"cores {cores}, torch default {torch.get_num_threads()} threads, ", end="")
    print(
        f"bmnas default {DEFAULT_THREADS}; {args.epochs}-epoch search of {args.data}, "
        f"--selection {args.selection}"
    )
    print("| load | 1-min load average before | threads | seconds | vs 1 thread |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        mark = " (default)" if row["default"] else ""
        print(
            f"| {row['load']} | {row['load_average_before']:.2f} | "
            f"{row['threads']}{mark} | {row['seconds']:.2f} | "
            f"{row['vs_one_thread']:.2f}x |"
        )


if __name__ == "__main__":
    main()
