"""Benchmark of the `.bmg` front end: parse, IR, validation, pruning, and `bmnas check`.

What is measured, and why:

1. **Scaling of the front end in the size of the genotype.** The spec promises that no
   input "may take more than linear time in the size of the file". Valid, realistic
   genotypes of 10, 100, 1,000 and 10,000 cells are generated in memory (three
   modalities with a few features each; every cell has 2-3 steps mixing Sum, Attention,
   LinearGLU and ConcatFC; x is the previous cell, so every cell is reachable from
   `output` and pruning does its full work; y alternates between backbone features and
   earlier cells; a few cells are declared after the cell that uses them, so forward
   references are exercised). Each stage is timed on its own with
   `time.perf_counter` -- `parser.parse`, `ir.build_ir`, `validate.validate`,
   `prune.prune` -- and so is the whole of `frontend.analyse_text`; the median of several
   repeats is kept. The per-cell cost of the total at each size is divided by the
   per-cell cost at 1,000 cells: linear scaling keeps that ratio near 1. At 10 cells the
   fixed costs (file header, modalities, per-call set-up) dominate, so its ratio says
   nothing about scaling.

2. **Start-up cost of the command line.** `bmnas check examples/ntu_config1.bmg` (a
   paper-size file) is run as a subprocess, interleaved with `python -c pass` (the same
   interpreter: the baseline, measured in the same run) and with
   `python -c "import bmnas_dsl.cli.main"` (the import cost alone); medians in milliseconds
   and ratios to the baseline are reported.

3. **`bmnas check` never imports torch.** `python -X importtime -m bmnas_dsl check ...`
   lists every imported module on stderr; the script confirms none of them is `torch`
   or a `torch.*` submodule.

Run from the repository root: `python benchmarks/frontend.py` (`--quick` for a smoke
test with sizes 10, 100 and 1,000 and fewer repeats; `--json PATH` to choose where the
figures go, by default `benchmarks/results/frontend.json`, written atomically).
The garbage collector stays enabled (it is part of the real cost), but the previous
repeat's result is dropped and a full collection runs before every timed repeat, so that
no repeat pays for another's heap. The total is also timed with the collector disabled
(`total_gc_off`): CPython's full collections traverse the whole heap, which grows with
the genotype, so comparing the two columns separates the front end's own work from the
collector's. Wall and CPU time are both recorded (CPU well below wall means the machine
was busy with other processes), with the load average, in the JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.ir.graph import build_ir
from bmnas_dsl.lang.parser import parse
from bmnas_dsl.passes.pipeline import analyse_text
from bmnas_dsl.passes.prune import prune
from bmnas_dsl.passes.validate import validate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "examples/ntu_config1.bmg"
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "frontend.json"
REFERENCE_SIZE = 1000
T = TypeVar("T")
STAGES = ("parse", "build_ir", "validate", "prune", "total", "total_gc_off")

# size -> number of timed repeats (an untimed warm-up call precedes them, except at the
# largest size, whose code paths the smaller sizes have already warmed)
FULL_REPEATS = {10: 50, 100: 20, 1000: 5, 10000: 3}
QUICK_REPEATS = {10: 10, 100: 5, 1000: 3}
# The garbage-collector-off total is a diagnostic: one repeat at 10,000 cells is enough.
MAX_GC_OFF_REPEATS = {10000: 1}
SUBPROCESS_RUNS = 7
QUICK_SUBPROCESS_RUNS = 3

MODALITIES: dict[str, list[tuple[str, list[int]]]] = {
    "video": [
        ("layer2", [512, 8, 32, 32]),
        ("layer3", [1024, 8, 16, 16]),
        ("layer4", [2048, 8, 8, 8]),
        ("pooled", [2048]),
    ],
    "skeleton": [
        ("conv5", [128, 4, 4]),
        ("conv6", [256, 2, 2]),
        ("out7", [1024]),
        ("fc7", [512]),
    ],
    "audio": [
        ("mfcc", [40, 100]),
        ("conv3", [256, 25]),
        ("embed", [128]),
    ],
}
OPS = ("Sum", "Attention", "LinearGLU", "ConcatFC")


# --------------------------------------------------------------------------- generation


def _cell_text(index: int, features: Sequence[str]) -> str:
    """Cell `c<index>`: x is the previous cell (a feature for c1), y a feature or older cell."""
    name = f"c{index}"
    x = f"c{index - 1}" if index > 1 else features[0]
    if index > 3 and index % 3 == 0:
        y = f"c{index - 3}"  # an earlier cell, distinct from x
    else:
        y = features[(index * 7 + 1) % len(features)]
        if y == x:
            y = features[(index * 7 + 2) % len(features)]
    op = [OPS[(index + k) % len(OPS)] for k in range(3)]
    lines = [f"    cell {name} (x = {x}, y = {y}) {{"]
    lines.append(f"        s1 = {op[0]}(x, y)")
    lines.append(f"        s2 = {op[1]}(s1, {'x' if index % 2 else 'y'})")
    if index % 3 == 1:  # a third of the cells have three steps
        lines.append(f"        s3 = {op[2]}(s2, s1)")
        lines.append("        out = s2, s3")
    else:
        lines.append("        out = s1, s2")
    lines.append("    }")
    return "\n".join(lines)


def generate(cells: int) -> str:
    """A valid genotype of `cells` cells, every one of them reachable from `output`."""
    features = [f"{m}.{f}" for m, fs in MODALITIES.items() for f, _ in fs]
    parts = [
        f"# generated by benchmarks/frontend.py: {cells} cells",
        "bmg 1",
        "",
        f"model bench{cells} {{",
        "    dims C = 128, L = 8",
        "    classes 60",
        "    task multiclass",
        "    dropout 0.2",
        "",
        "    meta {",
        '        source = "benchmarks/frontend.py"',
        f"        cells = {cells}",
        "    }",
        "",
    ]
    for modality, feats in MODALITIES.items():
        parts.append(f"    modality {modality} {{")
        parts += [f"        {f} : [{', '.join(map(str, shape))}]" for f, shape in feats]
        parts += ["    }", ""]
    # Declaration order: within every block of 5 cells the last two are swapped, so
    # `cell c5 (x = c4, ...)` comes before `cell c4` in the text (a forward reference).
    order = list(range(1, cells + 1))
    for start in range(3, cells - 1, 5):
        order[start], order[start + 1] = order[start + 1], order[start]
    for index in order:
        parts += [_cell_text(index, features), ""]
    listed = [f"c{i}" for i in range(max(1, cells - 3), cells + 1)]
    parts.append(f"    output {', '.join(listed)}")
    parts.append("}")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- timing


def _timed(
    func: Callable[[], T], repeats: int, warm_up: bool = True, gc_off: bool = False
) -> tuple[list[float], list[float], T]:
    """Wall and CPU times (seconds) of `repeats` calls of `func()`, after one untimed
    warm-up call if asked, and the value of the last call (the stages feed one another).

    With `gc_off`, the cyclic garbage collector is disabled while `func` runs: the
    difference from the normal figure is what CPython's collections cost. CPU time well
    below wall time means other processes were competing for the machine.
    """
    if warm_up:
        func()
    wall: list[float] = []
    cpu: list[float] = []
    value: T | None = None
    for _ in range(repeats):
        # The previous result goes first: kept alive, it would enlarge the heap that the
        # collector traverses during the next call, and charge that call for it.
        value = None
        gc.collect()
        if gc_off:
            gc.disable()
        try:
            start, start_cpu = time.perf_counter(), time.process_time()
            value = func()
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        finally:
            gc.enable()
    assert value is not None
    return wall, cpu, value


def measure_size(
    cells: int, repeats: int, warm_up: bool = True, gc_off_repeats: int | None = None
) -> dict[str, Any]:
    """Time each stage on a generated genotype; the timed calls' results are checked too."""
    text = generate(cells)
    w = warm_up
    wall: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    # partial(), not lambdas: the inputs must be free to go once their stage is timed
    wall["parse"], cpu["parse"], tree = _timed(partial(parse, text), repeats, w)
    wall["build_ir"], cpu["build_ir"], ir = _timed(
        partial(build_ir, tree, "<b>"), repeats, w
    )
    wall["validate"], cpu["validate"], diagnostics = _timed(
        partial(validate, ir), repeats, w
    )
    errors = [d for d in diagnostics if d.is_error]
    assert not errors, f"generated genotype of {cells} cells is invalid: {errors[:3]}"
    wall["prune"], cpu["prune"], pruned = _timed(partial(prune, ir), repeats, w)
    live = len(pruned.graph["cell_order"])
    assert live == cells, f"only {live} of {cells} cells survive pruning"
    steps = sum(1 for _, k in ir.nodes(data="kind") if k == "step")
    del tree, ir, pruned  # analyse_text is timed on a heap without the stages' results
    gc_off_repeats = repeats if gc_off_repeats is None else gc_off_repeats
    for stage, count, gc_off in (
        ("total", repeats, False),
        ("total_gc_off", gc_off_repeats, True),
    ):
        wall[stage], cpu[stage], result = _timed(
            partial(analyse_text, text, f"<bench {cells}>"), count, w, gc_off
        )
        assert result.ok, f"generated genotype of {cells} cells is invalid:\n" + (
            result.render_diagnostics()
        )
        assert result.pruned is not None
        assert len(result.pruned.graph["cell_order"]) == cells
    seconds = {stage: statistics.median(t) for stage, t in wall.items()}
    return {
        "cells": cells,
        "live_cells": live,
        "steps": steps,
        "text_bytes": len(text.encode()),
        "lines": text.count("\n"),
        "warnings": len(diagnostics),
        "repeats": repeats,
        "repeats_gc_off": gc_off_repeats,
        "warm_up": warm_up,
        "seconds": seconds,
        "us_per_cell": {k: v / cells * 1e6 for k, v in seconds.items()},
        "cpu_seconds": {stage: statistics.median(t) for stage, t in cpu.items()},
        "all_seconds": wall,
    }


def add_ratios(sizes: list[dict[str, Any]]) -> None:
    """Per-cell cost of each stage relative to its per-cell cost at 1,000 cells."""
    ref = next((s for s in sizes if s["cells"] == REFERENCE_SIZE), None)
    for size in sizes:
        size["per_cell_ratio_vs_1000"] = (
            {k: size["us_per_cell"][k] / ref["us_per_cell"][k] for k in STAGES}
            if ref
            else None
        )


def _run_once(argv: Sequence[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr}")
    return elapsed


def bmnas_command() -> list[str]:
    """The `bmnas` console script next to this interpreter, else `python -m bmnas_dsl`."""
    script = Path(sys.executable).parent / "bmnas"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bmnas_dsl"]


def measure_cli(runs: int) -> dict[str, Any]:
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import bmnas_dsl.cli.main'": [
            sys.executable,
            "-c",
            "import bmnas_dsl.cli.main",
        ],
        f"bmnas check {EXAMPLE}": [*bmnas_command(), "check", EXAMPLE],
    }
    for argv in commands.values():  # warm-up: .pyc files, page cache
        _run_once(argv)
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(runs):  # interleaved, so that drifts of the machine hit all alike
        for label, argv in commands.items():
            times[label].append(_run_once(argv))
    baseline = statistics.median(times["python -c pass"])
    return {
        "runs": runs,
        "commands": {label: list(argv) for label, argv in commands.items()},
        "median_ms": {label: statistics.median(t) * 1e3 for label, t in times.items()},
        "ratio_to_baseline": {
            label: statistics.median(t) / baseline for label, t in times.items()
        },
        "all_ms": {label: [x * 1e3 for x in t] for label, t in times.items()},
    }


def check_no_torch() -> dict[str, Any]:
    """Imported modules of `bmnas check`, from -X importtime; torch must not be one."""
    argv = [sys.executable, "-X", "importtime", "-m", "bmnas_dsl", "check", EXAMPLE]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    modules = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                modules.append(name)
    torch_modules = [m for m in modules if m == "torch" or m.startswith("torch.")]
    heavy = sorted(
        {m.split(".")[0] for m in modules} & {"numpy", "onnx", "jinja2", "torch"}
    )
    return {
        "command": argv,
        "returncode": proc.returncode,
        "modules_imported": len(modules),
        "torch_modules": torch_modules,
        "imports_torch": bool(torch_modules),
        "heavy_packages_imported": heavy,
    }


# --------------------------------------------------------------------------- output


def machine_info() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        # other processes compete for the CPUs: the 1, 5 and 15 minute load averages
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        # set, the interpreter recompiles uncached modules on every start (CLI timings)
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
    }


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=2) + "\n")


def print_sizes(sizes: list[dict[str, Any]]) -> None:
    print(
        "Front end, median wall time per stage (ms); total per cell (us); ratio = per-cell"
    )
    print(
        f"cost / per-cell cost at {REFERENCE_SIZE:,} cells (linear scaling keeps it near 1);"
    )
    print("'gc off' columns: analyse_text with the cyclic garbage collector disabled")
    header = (
        f"{'cells':>7} {'steps':>7} {'KiB':>6} {'rep':>3} {'parse':>9} {'build_ir':>9} "
        f"{'validate':>9} {'prune':>9} {'total':>9} {'us/cell':>8} {'ratio':>6} "
        f"{'gc off':>9} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for s in sizes:
        ms = {k: v * 1e3 for k, v in s["seconds"].items()}
        ratio = s["per_cell_ratio_vs_1000"] or {}
        r_total = f"{ratio['total']:6.2f}" if ratio else f"{'-':>6}"
        r_gc_off = f"{ratio['total_gc_off']:6.2f}" if ratio else f"{'-':>6}"
        print(
            f"{s['cells']:>7,} {s['steps']:>7,} {s['text_bytes'] / 1024:>6.0f} {s['repeats']:>3} "
            f"{ms['parse']:>9.2f} {ms['build_ir']:>9.2f} {ms['validate']:>9.2f} "
            f"{ms['prune']:>9.2f} {ms['total']:>9.2f} {s['us_per_cell']['total']:>8.1f} "
            f"{r_total} {ms['total_gc_off']:>9.2f} {r_gc_off}"
        )
    print(
        "(10 cells: fixed costs -- header, modalities, per-call set-up -- dominate, so its"
    )
    print(" ratio says nothing about scaling; judge scaling by 100 and 10,000 cells)")
    if any(s["per_cell_ratio_vs_1000"] for s in sizes):
        print()
        print(f"Per-cell ratio vs {REFERENCE_SIZE:,} cells, by stage:")
        print(f"{'cells':>7} " + " ".join(f"{k:>12}" for k in STAGES))
        for s in sizes:
            r = s["per_cell_ratio_vs_1000"]
            print(f"{s['cells']:>7,} " + " ".join(f"{r[k]:>12.2f}" for k in STAGES))


def print_cli(cli: dict[str, Any], torch: dict[str, Any]) -> None:
    print()
    print(f"Command line, median of {cli['runs']} interleaved runs (same interpreter)")
    for label, ms in cli["median_ms"].items():
        print(
            f"  {label:<42} {ms:8.1f} ms  x{cli['ratio_to_baseline'][label]:.2f} of baseline"
        )
    print()
    verdict = "IMPORTS torch" if torch["imports_torch"] else "does not import torch"
    heavy = ", ".join(torch["heavy_packages_imported"]) or "none"
    print(
        f"bmnas check {verdict} ({torch['modules_imported']} modules imported, exit "
        f"{torch['returncode']}; heavy packages imported: {heavy})"
    )
    if torch["imports_torch"]:
        print("  torch modules: " + ", ".join(torch["torch_modules"][:10]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help="where to write JSON"
    )
    parser.add_argument(
        "--quick", action="store_true", help="sizes 10, 100, 1000 with fewer repeats"
    )
    args = parser.parse_args(argv)
    repeats = QUICK_REPEATS if args.quick else FULL_REPEATS
    runs = QUICK_SUBPROCESS_RUNS if args.quick else SUBPROCESS_RUNS

    started = time.perf_counter()
    machine = machine_info()
    sizes = []
    for cells, count in repeats.items():
        # The smaller sizes already warmed every code path (and lark's grammar cache):
        # the largest size skips its warm-up call, which would cost as much as a repeat.
        gc_off_count = min(count, MAX_GC_OFF_REPEATS.get(cells, count))
        sizes.append(measure_size(cells, count, cells < max(repeats), gc_off_count))
        elapsed = time.perf_counter() - started
        print(
            f"  measured {cells:,} cells ({elapsed:.0f} s)", file=sys.stderr, flush=True
        )
    add_ratios(sizes)
    print_sizes(sizes)
    cli = measure_cli(runs)
    torch = check_no_torch()
    print_cli(cli, torch)

    data = {
        "benchmark": "frontend",
        "quick": args.quick,
        "machine": machine,
        "load_average_end": list(os.getloadavg())
        if hasattr(os, "getloadavg")
        else None,
        "reference_size": REFERENCE_SIZE,
        "sizes": sizes,
        "note": (
            "10 cells is dominated by fixed costs; its per-cell ratio is not about scaling. "
            "total_gc_off is analyse_text with the cyclic garbage collector disabled."
        ),
        "cli": cli,
        "torch_check": torch,
        "elapsed_s": time.perf_counter() - started,
    }
    write_json_atomic(args.json, data)
    print(f"\nwrote {args.json} ({data['elapsed_s']:.1f} s)")
    return 1 if torch["imports_torch"] or torch["returncode"] != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
