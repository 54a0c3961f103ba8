"""How often the search recovers the planted structure: the fraction of seeds whose
searched genotype has a cell with inputs a.f3 and b.f2 (the only pair that predicts the
label). Prints a table and writes benchmarks/results/planted_recovery.json.

    python benchmarks/planted_recovery.py [--seeds 10] [--first-seed 0]
        [--config small|default] [--precision fp32|bf16|fp16] [--device auto|cpu|cuda]

`small` is the configuration of tests/search/test_search.py (1 cell, 1 step, C = 16,
6 epochs, `--selection paper`); `default` is `bmnas search`'s defaults (2 cells, 2 steps,
C = 32, 30 epochs).
`--device` as `bmnas search`'s (auto: CUDA when a GPU really runs); the JSON records the
device used. One thread: on a shared machine, OpenMP threads that wait for a busy core make runs
erratic.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from bmnas_dsl.data.planted import make_planted
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.lang.parser import parse
from bmnas_dsl.nn.device import resolve_device
from bmnas_dsl.runs.checks import PRECISIONS
from bmnas_dsl.search.runner import Training, run_search, space_for

CONFIGS = {
    # The test's configuration, with the alpha selection it runs (docs/search.md).
    "small": (
        {"C": 16, "L": 6, "cells": 1, "steps": 1},
        {"epochs": 6, "selection": "paper"},
    ),
    "default": ({}, {}),
}
PLANTED = {"a.f3", "b.f2"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seeds FIRST .. FIRST + SEEDS - 1 (to split the seeds over processes)",
    )
    parser.add_argument("--config", choices=sorted(CONFIGS), default="small")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--json", default="benchmarks/results/planted_recovery.json")
    args = parser.parse_args(argv)
    device = str(resolve_device(args.device))
    knobs, training = CONFIGS[args.config]
    bank = make_planted()
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            text = run_search(
                bank,
                space_for(bank, **knobs),
                Training(
                    seed=seed,
                    threads=1,
                    precision=args.precision,
                    device=device,
                    **training,
                ),
                "planted",
                Path(folder),
                "planted.bmg",
            )
        cells = [(c.x.text, c.y.text) for c in parse(text).models[0].cells]
        rows.append(
            {
                "seed": seed,
                "cells": cells,
                "recovered": any({x, y} == PLANTED for x, y in cells),
                "seconds": round(time.perf_counter() - start, 2),
            }
        )
        print(
            f"seed {seed}: {cells} recovered={rows[-1]['recovered']}", file=sys.stderr
        )
    rate = sum(r["recovered"] for r in rows) / len(rows)
    print(
        f"config {args.config}, {args.precision} on {device}: recovered {rate:.0%} of "
        f"{len(rows)} seeds"
    )
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(
        out,
        json.dumps(
            {
                "config": args.config,
                "precision": args.precision,
                "device": device,
                "first_seed": args.first_seed,
                "rate": rate,
                "runs": rows,
            },
            indent=2,
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
