"""`bmnas train --compile` against eager, end to end, compile time included (issue 15,
part 3: "torch.compile ... where it pays, including its compile time amortised over a
run").

    python benchmarks/train_compile.py [--example mmimdb_readme] [--rows 960]
        [--epochs 6] [--mode default] [--threads 1]

Trains the example genotype with `train_genotype` (what `bmnas train` runs) on a random
feature bank of its input shapes (`--rows` training rows, a tenth as many test rows,
random labels of its task), once eager and once with `--compile MODE`, in one process,
the same settings and seed. Reported: each run's first epoch (the compiled run compiles
there), its median later epoch, the wall time of the whole run, and the epoch from which
the compiled run is ahead (compile time paid back). Writes
benchmarks/results/train_compile.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from compiling import cold_compile_cache  # noqa: E402
from train_step import load_example  # noqa: E402

from bmnas_dsl.data.bank import FeatureBank  # noqa: E402
from bmnas_dsl.fileio import write_atomic  # noqa: E402
from bmnas_dsl.runs.checks import COMPILE_MODES  # noqa: E402
from bmnas_dsl.train.runner import train_genotype  # noqa: E402
from bmnas_dsl.train.settings import TrainSettings  # noqa: E402


def random_bank(module: Any, rows: int, seed: int) -> FeatureBank:
    """`rows` training rows and rows // 10 test rows of the genotype's input shapes."""
    rng = np.random.default_rng(seed)
    test = max(1, rows // 10)
    n = rows + test
    features = {
        name: rng.standard_normal((n, *shape), dtype=np.float32)
        for name, shape in module.INPUTS
    }
    if module.TASK == "multilabel":
        labels = (rng.random((n, module.CLASSES)) < 0.2).astype(np.int64)
    else:
        labels = rng.integers(0, module.CLASSES, n)
    return FeatureBank(
        features=features,
        labels=labels,
        split=np.array([0] * rows + [2] * test, dtype=np.int8),
        task=module.TASK,
        classes=module.CLASSES,
        info={"source": "benchmarks/train_compile.py, random"},
    )


def epoch_seconds(run_dir: Path) -> list[float]:
    """Seconds of each epoch, from the run's log (cumulative training seconds)."""
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    cumulative = [json.loads(line)["seconds"] for line in lines]
    return [b - a for a, b in zip([0.0, *cumulative], cumulative, strict=False)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", default="mmimdb_readme")
    parser.add_argument("--rows", type=int, default=960)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=96)
    parser.add_argument("--mode", default="default", choices=COMPILE_MODES[1:])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "train_compile.json")
    )
    args = parser.parse_args(argv)
    module = load_example(args.example)
    text = (ROOT / "examples" / f"{args.example}.bmg").read_text()
    bank = random_bank(module, args.rows, args.seed)
    cold_compile_cache()
    runs = {}
    with tempfile.TemporaryDirectory() as folder:
        for mode in ("off", args.mode):
            settings = TrainSettings(
                epochs=args.epochs,
                batch_size=args.batch_size,
                seed=args.seed,
                threads=args.threads,
                device="cpu",
                compile=mode,
            )
            run_dir = Path(folder) / mode
            begin = time.perf_counter()
            metrics = train_genotype(text, bank, settings, run_dir, show_progress=False)
            wall = time.perf_counter() - begin
            seconds = epoch_seconds(run_dir)
            runs[mode] = {
                "first_epoch_s": round(seconds[0], 3),
                "later_epoch_s": round(statistics.median(seconds[1:]), 3),
                "run_s": round(wall, 2),
                "epochs_s": [round(s, 3) for s in seconds],
                "test": metrics["test"],
            }
    eager, compiled = runs["off"], runs[args.mode]
    ahead = np.cumsum(compiled["epochs_s"]) < np.cumsum(eager["epochs_s"])
    result = {
        "benchmark": "train_compile",
        "example": args.example,
        "rows": args.rows,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "threads": args.threads,
        "mode": args.mode,
        "runs": runs,
        "later_epoch_speedup": round(
            eager["later_epoch_s"] / compiled["later_epoch_s"], 3
        ),
        "run_speedup": round(eager["run_s"] / compiled["run_s"], 3),
        "steps_per_epoch": -(-args.rows // args.batch_size),
        # The first epoch after which the compiled run's training time is the smaller.
        "ahead_from_epoch": int(np.argmax(ahead)) + 1 if ahead.any() else None,
    }
    print(
        f"bmnas train of {args.example}: {args.rows} rows, batch {args.batch_size}, "
        f"{args.epochs} epochs, {args.threads} thread(s)"
    )
    for mode, run in runs.items():
        label = "eager" if mode == "off" else f"--compile {mode}"
        print(
            f"  {label:<22} first epoch {run['first_epoch_s']:>7.2f} s, later "
            f"{run['later_epoch_s']:>6.2f} s, whole run {run['run_s']:>7.2f} s"
        )
    print(
        f"later epochs {result['later_epoch_speedup']}x, whole run "
        f"{result['run_speedup']}x; compiled ahead from epoch "
        f"{result['ahead_from_epoch'] or 'never (within this run)'}"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
