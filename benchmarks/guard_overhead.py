"""What the numeric guards cost: one search update (architecture + weights) and one
training epoch, with the guards as shipped against the same code with the guards
replaced by no-ops, alternated in one process (docs/reliability.md).

    python benchmarks/guard_overhead.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bmnas_dsl.backend.compile import compile_genotype  # noqa: E402
from bmnas_dsl.data.resolve import resolve_data  # noqa: E402
from bmnas_dsl.fileio import write_atomic  # noqa: E402
from bmnas_dsl.search import runner  # noqa: E402
from bmnas_dsl.train import runner as train_module  # noqa: E402
from bmnas_dsl.train.settings import TrainSettings  # noqa: E402

GUARDS = ("check_loss", "check_gradients", "check_tensors")
# The searched mfeat genotype of seed 0 (docs/results.md): 2 cells, 2 steps each.
GENOTYPE = """bmg 1
model searched {
    dims C = 32, L = 8
    classes 10
    dropout 0.1
    modality fou { conv2 : [32, 19]  conv3 : [64, 10] }
    modality zer { pooled : [64] }
    cell c1 (x = fou.conv2, y = fou.conv3) {
        s1 = Sum(y, x)
        s2 = Sum(s1, x)
        out = s1, s2
    }
    cell c2 (x = fou.conv3, y = zer.pooled) {
        s1 = Attention(x, y)
        s2 = Sum(s1, y)
        out = s1, s2
    }
    output c1, c2
}
"""


@contextmanager
def guards_off():
    """Replace the guards where the loops look them up; restore them afterwards."""
    saved = {}
    for module in (runner, train_module):
        for name in GUARDS:
            saved[module, name] = getattr(module, name)
            setattr(module, name, lambda *args, **kwargs: None)
    try:
        yield
    finally:
        for (module, name), function in saved.items():
            setattr(module, name, function)


def timed(run: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def compare(name: str, run: Callable[[], object], rounds: int, repeats: int) -> dict:
    """Alternate guarded and unguarded rounds so that drift hits both alike."""
    on, off = [], []
    run()
    for _ in range(rounds):
        on += timed(run, repeats)
        with guards_off():
            off += timed(run, repeats)
    median_on, median_off = statistics.median(on), statistics.median(off)
    return {
        "what": name,
        "guarded_ms": round(1000 * median_on, 3),
        "unguarded_ms": round(1000 * median_off, 3),
        "ratio": round(median_on / median_off, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", default=str(REPO / "benchmarks/results/guards.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bank = resolve_data("mfeat")
    search = runner.Search(
        bank, runner.space_for(bank), runner.Training(epochs=1000), "mfeat"
    )
    train_index = search.train_index[:64]
    val_index = search.val_index[:64]

    def search_update() -> None:
        search._step(val_index, True)
        search._step(train_index, False)

    _, module = compile_genotype(GENOTYPE, "concat.bmg")
    trainer = train_module.Trainer(module, bank, TrainSettings(epochs=1000))
    rows = [
        compare("search update (arch + weights)", search_update, args.rounds, 20),
        compare("training epoch (1,600 samples)", trainer.run_epoch, args.rounds, 2),
    ]
    print(f"{'what':<32} {'guarded ms':>11} {'unguarded ms':>13} {'ratio':>6}")
    for row in rows:
        print(
            f"{row['what']:<32} {row['guarded_ms']:>11} {row['unguarded_ms']:>13} "
            f"{row['ratio']:>6}"
        )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.json, json.dumps({"threads": args.threads, "rows": rows}))


if __name__ == "__main__":
    main()
