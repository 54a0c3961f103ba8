"""Front-end time against input size: for nine shapes of input (chained cells, a long
line, a long name, deep nesting, many errors, many comments, a line of `# # #`, a long
step chain, many undefined operands), the time to analyse and render 8x the input over the time for 1x.
Linear is 8x, quadratic 64x; the run fails above 20x (docs/reliability.md).

    python benchmarks/scaling.py

The suite checks the same inputs deterministically by counting Python calls
(tests/lang/test_untrusted_source.py::test_front_end_work_is_linear); work inside a
single C call (a regex, a split) only shows here, in time.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from fuzz import MINIMAL  # noqa: E402

from bmnas_dsl.fileio import write_atomic  # noqa: E402
from bmnas_dsl.passes.pipeline import analyse_text  # noqa: E402

BOUND = 20.0
FLOOR_SECONDS = 0.002  # shorter times are mostly noise


def chain(n: int) -> str:
    cells = "".join(
        f"    cell k{i} (x = {'c2' if i == 0 else f'k{i - 1}'}, y = a.f2) {{\n"
        "        s = Sum(x, y)\n        out = s\n    }\n"
        for i in range(n)
    )
    return MINIMAL.replace("    output c1, c2", f"{cells}    output k{n - 1}")


# (what grows, text of size n, n for about 20-40 ms): analyse + render must stay linear.
SCALING: list[tuple[str, Callable[[int], str], int]] = [
    ("cells", chain, 60),
    ("long line", lambda n: MINIMAL.replace("[32]", "[" + "1, " * n + "1]"), 4_000),
    ("long name", lambda n: MINIMAL.replace("model tiny", "model " + "m" * n), 200_000),
    ("deep nesting", lambda n: "bmg 1\nmodel m " + "{" * n, 200_000),
    ("errors", lambda n: MINIMAL.replace("classes 3", "classes 0\n" * n), 1_000),
    (
        "comments",
        lambda n: MINIMAL.replace("classes 3", "classes 3\n" + "# c\n" * n),
        5_000,
    ),
    ("hash comment line", lambda n: "# " * n + "\nx", 100_000),
    (
        "step chain",
        lambda n: MINIMAL.replace(
            "s1 = Sum(x, y)",
            "t0 = Sum(x, y)\n"
            + "".join(f"t{i} = Sum(t{i - 1}, y)\n" for i in range(1, n))
            + "s1 = Sum(x, y)",
        ),
        300,
    ),
    (
        # Each undefined operand gets an error; at most 100 get a "did you mean".
        "undefined operands",
        lambda n: MINIMAL.replace(
            "s1 = Sum(x, y)",
            "".join(f"t{i} = Sum(x, q{i}z)\n" for i in range(n)) + "s1 = Sum(x, y)",
        ),
        300,
    ),
]


def best_seconds(text: str, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        analyse_text(text).render_diagnostics()
        best = min(best, time.perf_counter() - start)
    return best


def measure(name: str, make: Callable[[int], str], n: int) -> dict:
    small, large = make(n), make(8 * n)
    best_seconds(small, 1)  # warm-up
    small_s, large_s = best_seconds(small), best_seconds(large)
    return {
        "input": name,
        "bytes": [len(small.encode()), len(large.encode())],
        "ms": [round(1000 * small_s, 2), round(1000 * large_s, 2)],
        "ratio": round(large_s / max(small_s, FLOOR_SECONDS), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", default=str(ROOT / "benchmarks/results/scaling.json"))
    args = parser.parse_args()
    rows = [measure(name, make, n) for name, make, n in SCALING]
    print(
        f"{'input':<18} {'bytes 1x':>10} {'bytes 8x':>11} {'ms 1x':>8} {'ms 8x':>8} {'8x/1x':>6}"
    )
    for row in rows:
        print(
            f"{row['input']:<18} {row['bytes'][0]:>10,} {row['bytes'][1]:>11,} "
            f"{row['ms'][0]:>8} {row['ms'][1]:>8} {row['ratio']:>6}"
        )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.json, json.dumps({"bound": BOUND, "rows": rows}, indent=2))
    worst = max(rows, key=lambda row: row["ratio"])
    if worst["ratio"] >= BOUND:
        raise SystemExit(
            f"{worst['input']}: 8x the input took {worst['ratio']}x the time"
        )


if __name__ == "__main__":
    main()
