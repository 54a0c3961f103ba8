"""Inference speed of compiled BM-NAS networks: eager PyTorch against ONNX Runtime (CPU).

What is measured, for every genotype in examples/*.bmg:

* Compile time: the front end (`analyse_file`: read, parse, IR, validate, prune) and
  code generation (`render_module`, which ends in a `ruff format` subprocess; the "ruff"
  column is `format_python` alone on the same text), each the median of a few runs.
* Inference latency: the genotype is compiled, imported and instantiated
  (`Model().eval()`); every BatchNorm layer gets random running statistics (mean ~ N(0,
  0.5^2), variance ~ U(0.5, 2)) so that the exported graph cannot rely on identity
  BatchNorms; `export_model` writes the ONNX file (it checks ORT against PyTorch itself).
  Then, in one process, with the same random float32 inputs, eager PyTorch (under
  `torch.inference_mode()`) and an ONNX Runtime CPU session run alternately: two warm-up
  runs each, then N timed pairs, the engine that goes first swapping from pair to pair,
  with the garbage collector off while timing. Reported: the median wall time of each
  engine, speed-up = eager median / ORT median, the quartiles of the per-pair ratios
  (robust to machine drift), and max |eager - ORT| over the logits.
* Threads: `torch.set_num_threads(T)` and ORT `intra_op_num_threads=T` (inter-op 1,
  sequential), T from `--threads` (default 2). ORT's intra-op thread spinning is off by
  default: spinning workers keep burning the cores after `run()` returns, which slows the
  eager run that follows on a small machine (`--ort-spinning` turns it on).
* Graph structure: op-type counts of the exported ONNX graph and of ORT's optimised graph
  (BatchNormalization, Gather and ReduceMax nodes in particular).

Goals (the issue): ORT at least 2x faster than eager at batch 1, and never slower at
batch 32. `--profile` adds the evidence behind them: ORT alone at each graph optimisation
level, with spinning on and off, with one thread; eager alone, also with one thread; the
ORT per-node profile and the torch operator profile, at batches 1 and 32.

Batch 1024 is skipped for an example whose inputs exceed `--max-input-gb` (default 1.5
GB; every example with the NTU video.layer4 feature [2048, 8, 8, 8] needs 4.3 GB there,
mmimdb_readme 2.1 GB).

Noise: eager PyTorch runs its multi-threaded operators in OpenMP parallel regions; when
another process holds one of the cores, each region waits for the descheduled thread
(milliseconds each), so eager latency can grow a hundredfold while ORT's thread pool
barely notices. The script measures the CPU share other processes took during the run
and warns above 10%; trust only figures from a quiet machine (or compare `--threads 1`).

Usage: python benchmarks/inference.py [--quick] [--profile] [--threads T] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from bmnas_dsl.backend.codegen import Source, format_python, render_module
from bmnas_dsl.backend.export import ExportError, export_model
from bmnas_dsl.backend.loader import import_generated
from bmnas_dsl.backend.runtime import RuntimeSetupError
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.passes.pipeline import analyse_file

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "inference.json"
CPU = "CPUExecutionProvider"
TOLERANCE = 1e-4  # as bmnas_dsl.backend.export: |diff| <= TOLERANCE * (1 + max |logit|)
BATCH1_GOAL = 2.0  # ORT at least 2x faster than eager at batch 1
BATCH32_GOAL = 1.0  # ORT never slower than eager at batch 32

# batch size -> timed pairs (each pair: one eager run and one ORT run)
FULL_PAIRS = {1: 100, 32: 20, 1024: 4}
QUICK_PAIRS = {1: 15, 32: 4}
WARM_UP = 2
COMPILE_REPEATS = 5
QUICK_COMPILE_REPEATS = 3
PROFILE_RUNS = {1: 40, 32: 8}

OPT_LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
WATCHED_OPS = ("BatchNormalization", "Gather", "ReduceMax", "Conv", "FusedConv")


# --------------------------------------------------------------------------- helpers


def median_ms(times: Sequence[float]) -> float:
    return statistics.median(times) * 1e3


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.bmg"))


def compile_example(path: Path) -> ModuleType:
    """analyse_file -> render_module -> import_generated; raises if the file is invalid."""
    result = analyse_file(path)
    if not result.ok or result.pruned is None:
        raise RuntimeError(
            f"{path.name} does not compile:\n{result.render_diagnostics()}"
        )
    return import_generated(
        render_module(result.pruned, Source(path.name, result.text))
    )


def randomise_batchnorm(model: torch.nn.Module, generator: torch.Generator) -> int:
    """Give every BatchNorm layer random running statistics; the number of layers."""
    count = 0
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
                mean, var = layer.running_mean, layer.running_var
                assert mean is not None and var is not None
                mean.copy_(torch.randn(mean.shape, generator=generator) * 0.5)
                var.copy_(torch.rand(var.shape, generator=generator) * 1.5 + 0.5)
                count += 1
    return count


def make_session(
    path: Path,
    threads: int,
    level: str = "all",
    spinning: bool = False,
    optimized_path: Path | None = None,
    profile_prefix: Path | None = None,
) -> ort.InferenceSession:
    """A CPU session with explicit threads (bmnas_dsl.backend.runtime.create_session takes no
    SessionOptions, so it cannot set them)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = OPT_LEVELS[level]
    options.add_session_config_entry(
        "session.intra_op.allow_spinning", "1" if spinning else "0"
    )
    options.log_severity_level = 3
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_prefix)
    return ort.InferenceSession(str(path), options, providers=[CPU])


def op_counts(path: Path) -> dict[str, int]:
    graph = onnx.load(str(path), load_external_data=False).graph
    counts = Counter(node.op_type for node in graph.node)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def make_inputs(
    module: ModuleType, batch: int, seed: int
) -> tuple[list[torch.Tensor], dict[str, np.ndarray]]:
    """The same float32 inputs for both engines (the numpy arrays share the memory)."""
    generator = torch.Generator().manual_seed(seed)
    tensors = [
        torch.randn(batch, *shape, generator=generator) for _, shape in module.INPUTS
    ]
    feed = {
        name: t.numpy() for (name, _), t in zip(module.INPUTS, tensors, strict=True)
    }
    return tensors, feed


def input_bytes(module: ModuleType, batch: int) -> int:
    return 4 * batch * sum(math.prod(shape) for _, shape in module.INPUTS)


def max_abs_diff(expected: np.ndarray, got: np.ndarray) -> float:
    return float(np.max(np.abs(expected - got))) if expected.size else 0.0


# --------------------------------------------------------------------------- compile


def measure_compile(path: Path, repeats: int) -> dict[str, Any]:
    """Median times of the front end, of render_module and of its ruff subprocess."""
    front, render, ruff = [], [], []
    analyse_file(path)  # warm-up: lark grammar cache, jinja templates, page cache
    for _ in range(repeats):
        start = time.perf_counter()
        result = analyse_file(path)
        front.append(time.perf_counter() - start)
        assert result.ok and result.pruned is not None, result.render_diagnostics()
        start = time.perf_counter()
        text = render_module(result.pruned, Source(path.name, result.text))
        render.append(time.perf_counter() - start)
        start = time.perf_counter()
        format_python(text)
        ruff.append(time.perf_counter() - start)
    return {
        "example": path.stem,
        "repeats": repeats,
        "frontend_ms": median_ms(front),
        "render_ms": median_ms(render),
        "ruff_format_ms": median_ms(ruff),
        "lines": text.count("\n"),
    }


# --------------------------------------------------------------------------- latency


def time_alternating(
    eager: Callable[[], np.ndarray],
    onnx_run: Callable[[], np.ndarray],
    pairs: int,
) -> dict[str, Any]:
    """WARM_UP runs of each engine, then `pairs` timed pairs, alternating who goes first."""
    engines = (eager, onnx_run)
    for _ in range(WARM_UP):
        for engine in engines:
            engine()
    times: tuple[list[float], list[float]] = ([], [])
    outputs: list[np.ndarray | None] = [None, None]
    with gc_paused():
        for pair in range(pairs):
            order = (0, 1) if pair % 2 == 0 else (1, 0)
            for index in order:
                start = time.perf_counter()
                outputs[index] = engines[index]()
                times[index].append(time.perf_counter() - start)
    eager_out, ort_out = outputs
    assert eager_out is not None and ort_out is not None
    ratios = [e / o for e, o in zip(*times, strict=True)]
    q1, q3 = quartiles(ratios)
    eager_ms, ort_ms = median_ms(times[0]), median_ms(times[1])
    diff = max_abs_diff(eager_out, ort_out)
    return {
        "pairs": pairs,
        "eager_ms": eager_ms,
        "ort_ms": ort_ms,
        "speedup": eager_ms / ort_ms,
        "pair_ratio_q1": q1,
        "pair_ratio_median": statistics.median(ratios),
        "pair_ratio_q3": q3,
        "eager_min_ms": min(times[0]) * 1e3,
        "ort_min_ms": min(times[1]) * 1e3,
        "speedup_of_minima": min(times[0]) / min(times[1]),
        "max_abs_diff": diff,
        "outputs_agree": diff <= TOLERANCE * (1 + float(np.max(np.abs(eager_out)))),
    }


def engines_for(
    model: torch.nn.Module,
    session: ort.InferenceSession,
    tensors: list[torch.Tensor],
    feed: dict[str, np.ndarray],
) -> tuple[Callable[[], np.ndarray], Callable[[], np.ndarray]]:
    def eager() -> np.ndarray:
        with torch.inference_mode():
            return model(*tensors).numpy()

    def onnx_run() -> np.ndarray:
        return session.run(["logits"], feed)[0]

    return eager, onnx_run


def measure_example(
    path: Path, folder: Path, args: argparse.Namespace, pairs: dict[int, int]
) -> dict[str, Any]:
    module = compile_example(path)
    model = module.Model().eval()
    batchnorms = randomise_batchnorm(model, torch.Generator().manual_seed(1))
    onnx_path = folder / f"{path.stem}.onnx"
    start = time.perf_counter()
    report = export_model(module, model, onnx_path, provider="cpu")
    export_s = time.perf_counter() - start
    optimized = folder / f"{path.stem}.ort-optimized.onnx"
    make_session(onnx_path, args.threads, args.opt_level, optimized_path=optimized)
    session = make_session(onnx_path, args.threads, args.opt_level, args.ort_spinning)
    entry: dict[str, Any] = {
        "example": path.stem,
        "inputs": [[name, list(shape)] for name, shape in module.INPUTS],
        "parameters": sum(p.numel() for p in model.parameters()),
        "batchnorm_layers": batchnorms,
        "export_s": export_s,
        "export_check_max_abs_diff": {
            str(k): v for k, v in report.max_abs_diff.items()
        },
        "onnx_bytes": onnx_path.stat().st_size,
        "onnx_ops": op_counts(onnx_path),
        "ort_optimized_ops": op_counts(optimized),
        "results": [],
        "skipped": [],
    }
    for batch, count in pairs.items():
        size = input_bytes(module, batch)
        if size > args.max_input_gb * 1e9:
            entry["skipped"].append(
                {"batch": batch, "input_gb": size / 1e9, "limit_gb": args.max_input_gb}
            )
            print(
                f"  {path.stem}: batch {batch} skipped, inputs {size / 1e9:.2f} GB > "
                f"{args.max_input_gb:g} GB (--max-input-gb)",
                file=sys.stderr,
                flush=True,
            )
            continue
        tensors, feed = make_inputs(module, batch, seed=batch)
        eager, onnx_run = engines_for(model, session, tensors, feed)
        result = {"batch": batch, "input_mb": size / 1e6}
        result |= time_alternating(eager, onnx_run, count)
        entry["results"].append(result)
        del tensors, feed, eager, onnx_run
    by_batch = {r["batch"]: r for r in entry["results"]}
    entry["goals"] = {
        "batch1_ort_2x": by_batch[1]["speedup"] >= BATCH1_GOAL
        if 1 in by_batch
        else None,
        "batch32_ort_not_slower": by_batch[32]["speedup"] >= BATCH32_GOAL
        if 32 in by_batch
        else None,
    }
    if args.profile:
        entry["profile"] = profile_example(module, model, onnx_path, folder, args)
    return entry


# --------------------------------------------------------------------------- profile


def time_alone(func: Callable[[], Any], runs: int) -> float:
    for _ in range(WARM_UP):
        func()
    times = []
    with gc_paused():
        for _ in range(runs):
            start = time.perf_counter()
            func()
            times.append(time.perf_counter() - start)
    return median_ms(times)


def ort_node_profile(
    onnx_path: Path,
    folder: Path,
    feed: dict[str, np.ndarray],
    args: argparse.Namespace,
    runs: int,
) -> dict[str, Any]:
    """Per-op-type kernel time from ORT's profiler, averaged over the profiled runs."""
    session = make_session(
        onnx_path,
        args.threads,
        args.opt_level,
        args.ort_spinning,
        profile_prefix=folder / f"{onnx_path.stem}-ort-profile",
    )
    for _ in range(WARM_UP):
        session.run(["logits"], feed)
    start = time.perf_counter()
    for _ in range(runs):
        session.run(["logits"], feed)
    wall_us = (time.perf_counter() - start) / runs * 1e6
    profile = Path(session.end_profiling())
    events = json.loads(profile.read_text())
    profile.unlink(missing_ok=True)
    per_op: Counter[str] = Counter()
    model_run_us = []
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"]
        elif event.get("cat") == "Session" and event["name"] == "model_run":
            model_run_us.append(event["dur"])
    # The profiled runs include the warm-up runs (they are all in the file).
    total_runs = runs + WARM_UP
    kernels = {op: us / total_runs for op, us in per_op.most_common()}
    return {
        "python_run_wall_us": wall_us,
        "model_run_us_median": statistics.median(model_run_us)
        if model_run_us
        else None,
        "kernel_us_total": sum(kernels.values()),
        "kernel_us_by_op": kernels,
    }


def torch_profile(
    model: torch.nn.Module, tensors: list[torch.Tensor], runs: int, top: int = 8
) -> dict[str, Any]:
    """Top aten ops by self CPU time per forward call (eager, batch as given)."""
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode():
        for _ in range(WARM_UP):
            model(*tensors)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(runs):
                model(*tensors)
    averages = prof.key_averages()
    rows = sorted(averages, key=lambda a: a.self_cpu_time_total, reverse=True)
    return {
        "aten_calls_per_forward": sum(a.count for a in averages) / runs,
        "self_cpu_us_per_forward": sum(a.self_cpu_time_total for a in averages) / runs,
        "top_self_cpu_us": {a.key: a.self_cpu_time_total / runs for a in rows[:top]},
    }


def profile_example(
    module: ModuleType,
    model: torch.nn.Module,
    onnx_path: Path,
    folder: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Each engine alone, ORT under several settings, and where the time goes."""
    variants: dict[str, dict[str, Any]] = {
        f"level={level}": {"level": level} for level in OPT_LEVELS
    }
    variants["level=all spinning=on"] = {"level": "all", "spinning": True}
    variants["level=all threads=1"] = {"level": "all", "threads": 1}
    sessions = {
        label: make_session(
            onnx_path,
            v.get("threads", args.threads),
            v["level"],
            v.get("spinning", False),
        )
        for label, v in variants.items()
    }
    out: dict[str, Any] = {"alone_ms": {}, "ort_nodes": {}, "torch_ops": {}}
    for batch, runs in PROFILE_RUNS.items():
        tensors, feed = make_inputs(module, batch, seed=batch)
        eager, _ = engines_for(model, sessions["level=all"], tensors, feed)
        row = {"eager": time_alone(eager, runs)}
        torch.set_num_threads(1)
        row["eager threads=1"] = time_alone(eager, runs)
        torch.set_num_threads(args.threads)
        for label, session in sessions.items():
            row[f"ort {label}"] = time_alone(
                functools.partial(session.run, ["logits"], feed), runs
            )
        out["alone_ms"][str(batch)] = row
        out["ort_nodes"][str(batch)] = ort_node_profile(
            onnx_path, folder, feed, args, runs // 2
        )
        out["torch_ops"][str(batch)] = torch_profile(model, tensors, runs // 2)
    return out


# --------------------------------------------------------------------------- output


def machine_info(threads: int) -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "onnx": onnx.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": list(os.getloadavg()),
    }


def cpu_snapshot() -> tuple[float, float, float] | None:
    """(wall time, busy CPU seconds of the whole machine, CPU seconds of this process
    and its children); None where /proc/stat is missing."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields]
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    own = os.times()
    mine = own.user + own.system + own.children_user + own.children_system
    return time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"), mine


def foreign_cpu_share(start: tuple[float, float, float] | None) -> float | None:
    """The share of all CPUs' time that other processes used since `start`."""
    end = cpu_snapshot()
    if start is None or end is None:
        return None
    wall, busy, mine = (b - a for a, b in zip(start, end, strict=True))
    return max(0.0, busy - mine) / (wall * (os.cpu_count() or 1))


def print_compile(rows: list[dict[str, Any]]) -> None:
    print("Compile time, median ms (render includes its ruff format subprocess)")
    header = f"{'example':<15} {'front end':>10} {'render':>10} {'of it ruff':>10}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['example']:<15} {r['frontend_ms']:>10.2f} {r['render_ms']:>10.2f} "
            f"{r['ruff_format_ms']:>10.2f}"
        )


def goal_text(entry: dict[str, Any], batch: int) -> str:
    key = {1: "batch1_ort_2x", 32: "batch32_ort_not_slower"}.get(batch)
    if key is None or entry["goals"][key] is None:
        return ""
    return "met" if entry["goals"][key] else "NOT MET"


def print_latency(entries: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(
        f"Latency, median ms over alternating pairs ({args.threads} thread(s) each; ORT "
        f"level={args.opt_level}, spinning {'on' if args.ort_spinning else 'off'})"
    )
    print(
        "speed-up = eager / ORT medians; pair q1-q3 = quartiles of per-pair ratios; "
        "min = fastest eager / fastest ORT run"
    )
    print(f"goal: batch 1 >= {BATCH1_GOAL:g}x, batch 32 >= {BATCH32_GOAL:g}x (medians)")
    header = (
        f"{'example':<15} {'batch':>5} {'pairs':>5} {'eager ms':>9} {'ORT ms':>9} "
        f"{'speed-up':>8} {'pair q1-q3':>11} {'min':>6} {'max|diff|':>9}  goal"
    )
    print(header)
    print("-" * len(header))
    for entry in entries:
        for r in entry["results"]:
            spread = f"{r['pair_ratio_q1']:.2f}-{r['pair_ratio_q3']:.2f}"
            diff = f"{r['max_abs_diff']:.1e}" + ("" if r["outputs_agree"] else "!")
            print(
                f"{entry['example']:<15} {r['batch']:>5} {r['pairs']:>5} "
                f"{r['eager_ms']:>9.3f} {r['ort_ms']:>9.3f} {r['speedup']:>7.2f}x "
                f"{spread:>11} {r['speedup_of_minima']:>5.2f}x {diff:>9}  "
                f"{goal_text(entry, r['batch'])}"
            )
        for s in entry["skipped"]:
            print(
                f"{entry['example']:<15} {s['batch']:>5} skipped: inputs "
                f"{s['input_gb']:.2f} GB > {s['limit_gb']:g} GB"
            )


def print_graphs(entries: list[dict[str, Any]]) -> None:
    print()
    print("Graph: node counts, exported ONNX -> after ORT optimisation")
    header = f"{'example':<15} {'nodes':>11} " + " ".join(
        f"{op:>18}" for op in WATCHED_OPS
    )
    print(header)
    print("-" * len(header))
    for e in entries:
        before, after = e["onnx_ops"], e["ort_optimized_ops"]
        nodes = f"{sum(before.values())}->{sum(after.values())}"
        cells = " ".join(
            f"{f'{before.get(op, 0)}->{after.get(op, 0)}':>18}" for op in WATCHED_OPS
        )
        print(f"{e['example']:<15} {nodes:>11} {cells}")


def print_profile(entries: list[dict[str, Any]]) -> None:
    for e in entries:
        p = e.get("profile")
        if not p:
            continue
        print()
        print(f"Profile {e['example']}: each engine alone, median ms")
        for batch, row in p["alone_ms"].items():
            cells = ", ".join(f"{k} {v:.3f}" for k, v in row.items())
            print(f"  batch {batch}: {cells}")
        for batch, nodes in p["ort_nodes"].items():
            top = ", ".join(
                f"{op} {us:.0f}"
                for op, us in list(nodes["kernel_us_by_op"].items())[:6]
            )
            print(
                f"  ORT batch {batch} (profiled): run() {nodes['python_run_wall_us']:.0f}"
                f" us, kernels {nodes['kernel_us_total']:.0f} us ({top})"
            )
        for batch, t in p["torch_ops"].items():
            top = ", ".join(
                f"{k} {v:.0f}" for k, v in list(t["top_self_cpu_us"].items())[:6]
            )
            print(
                f"  eager batch {batch} (profiled): {t['aten_calls_per_forward']:.0f} "
                f"aten calls, {t['self_cpu_us_per_forward']:.0f} us self CPU ({top})"
            )


def print_goals(entries: list[dict[str, Any]]) -> None:
    print()
    print("Goals (ORT >= 2x eager at batch 1; ORT not slower at batch 32)")
    for e in entries:
        speed = {r["batch"]: r["speedup"] for r in e["results"]}
        parts = []
        for batch in (1, 32):
            if batch in speed:
                parts.append(f"batch {batch} {speed[batch]:.2f}x {goal_text(e, batch)}")
        print(f"  {e['example']:<15} " + "; ".join(parts))


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="JSON output")
    parser.add_argument(
        "--quick", action="store_true", help="batches 1 and 32, few repeats (smoke)"
    )
    parser.add_argument("--threads", type=int, default=2, help="threads per engine")
    parser.add_argument(
        "--profile", action="store_true", help="ORT settings sweep and op profiles"
    )
    parser.add_argument(
        "--opt-level",
        choices=tuple(OPT_LEVELS),
        default="all",
        help="ORT graph optimisation level (the Python API's default is all)",
    )
    parser.add_argument(
        "--ort-spinning", action="store_true", help="let ORT intra-op threads spin"
    )
    parser.add_argument(
        "--max-input-gb",
        type=float,
        default=1.5,
        help="skip a batch whose inputs exceed this many GB (default 1.5)",
    )
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="examples to run (file stems)"
    )
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    machine = machine_info(args.threads)
    cpu_start = cpu_snapshot()
    paths = [p for p in examples() if not args.only or p.stem in args.only]
    unknown = set(args.only or ()) - {p.stem for p in paths}
    if unknown:
        print(f"unknown examples: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if not paths:
        print(f"no examples in {EXAMPLES}", file=sys.stderr)
        return 2
    pairs = QUICK_PAIRS if args.quick else FULL_PAIRS
    repeats = QUICK_COMPILE_REPEATS if args.quick else COMPILE_REPEATS

    compile_rows = [measure_compile(p, repeats) for p in paths]
    print_compile(compile_rows)
    entries, failures = [], []
    with tempfile.TemporaryDirectory(prefix="bmnas-bench-") as folder:
        for path in paths:
            try:
                entries.append(measure_example(path, Path(folder), args, pairs))
            except (ExportError, RuntimeSetupError, RuntimeError) as exc:
                failures.append({"example": path.stem, "error": str(exc)})
                print(f"  {path.stem} FAILED: {exc}", file=sys.stderr, flush=True)
                continue
            print(f"  measured {path.stem}", file=sys.stderr, flush=True)
    print_latency(entries, args)
    print_graphs(entries)
    print_profile(entries)
    print_goals(entries)
    for failure in failures:
        print(f"  {failure['example']}: not measured: {failure['error']}")

    data = {
        "benchmark": "inference",
        "quick": args.quick,
        "machine": machine | {"load_average_at_end": list(os.getloadavg())},
        "settings": {
            "threads": args.threads,
            "ort_graph_optimization_level": args.opt_level,
            "ort_intra_op_spinning": args.ort_spinning,
            "ort_inter_op_threads": 1,
            "warm_up_runs_per_engine": WARM_UP,
            "pairs_per_batch": {str(k): v for k, v in pairs.items()},
            "max_input_gb": args.max_input_gb,
            "batchnorm_running_stats": "mean ~ N(0, 0.25), var ~ U(0.5, 2)",
            "goals": {
                "batch1_min_speedup": BATCH1_GOAL,
                "batch32_min_speedup": BATCH32_GOAL,
            },
        },
        "compile": compile_rows,
        "examples": entries,
        "failures": failures,
        "elapsed_s": time.perf_counter() - started,
        "other_processes_cpu_share": foreign_cpu_share(cpu_start),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.json, json.dumps(data, indent=2) + "\n")
    foreign = data["other_processes_cpu_share"]
    if foreign is not None and foreign > 0.1:
        print(
            f"\nwarning: other processes used {foreign:.0%} of the machine's CPU time "
            "while this ran, so the figures are noisy (rerun on a quiet machine)"
        )
    print(f"\nwrote {args.json} ({data['elapsed_s']:.1f} s)")
    agree = all(r["outputs_agree"] for e in entries for r in e["results"])
    if not agree:
        print("ONNX Runtime and PyTorch outputs disagree (marked !)", file=sys.stderr)
    return 0 if agree and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
