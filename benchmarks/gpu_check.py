"""GPU check of issue 3: export two examples, run them with ONNX Runtime's CUDA provider,
check parity with PyTorch on the GPU, and time ORT-CUDA against torch eager on the GPU at
batch 1, 32 and 1024 (a batch whose inputs exceed MAX_INPUT_BYTES is skipped), with the
GPU memory each used. Prints a table and writes benchmarks/results/gpu_check.json,
again after each part (a run cut short by its time limit keeps the parts it finished).

Issues 15 and 16:
- `bmnas search` and `bmnas train` with `--device` (planted, a few epochs) in fp32 and
  `--precision bf16`, their epoch times against the CPU in the same command;
- the search step at the NTU configuration on the device (benchmarks/search_step.py
  `--device`): fp32 and bf16, eager and torch.compile (with CUDA graphs on a GPU:
  `reduce-overhead`), GFLOP/s against the device's own matmul rate, peak GPU memory;
- a `bmnas train` step of ntu_config1 at batch 96 (benchmarks/train_step.py): fp32 and
  bf16, eager and compiled the same way, with the compiled logits' parity;
- a search epoch with the pooled features held on the GPU against copying each batch
  there (nn/batches.py, RESIDENT_SHARE), the same data and seed: which one pays;
- the planted recovery on the device (benchmarks/planted_recovery.py, the small
  configuration, 5 seeds) in fp32 and bf16: issue 15's "every device and precision
  passes the planted recovery test";
- with two GPUs or more, `torchrun --nproc-per-node 2 ... --device cuda` (nccl) against
  one GPU at the same global batch (the same genotype, the same losses within 1e-3).

Meant for a lent GPU machine, in an environment with the `[gpu]` extra
(`onnxruntime-gpu`) instead of `[cpu]`. `--device cpu --provider cpu` runs the same
script on the CPU as a dry run; with `--quick` on a tiny budget, which
tests/parallel/test_gpu_check.py runs (about 40 s). `--parts` runs some parts only (a
machine whose commands are time-limited takes the script in two commands).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bmnas_dsl.backend.codegen import Source, render_module
from bmnas_dsl.backend.export import export_model
from bmnas_dsl.backend.loader import import_generated
from bmnas_dsl.backend.runtime import create_session, installed_distributions
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.passes.pipeline import analyse_file

REPO = Path(__file__).resolve().parent.parent

EXAMPLES = ("ntu_config1", "mmimdb_readme")
BATCHES = (1, 32, 1024)
# The inputs of one timed batch at most (ntu_config1's video feature alone is 4.3 GB at
# batch 1024): more on a GPU, whose memory is larger than this CPU dry run's.
MAX_INPUT_BYTES = {"cuda": 8 << 30, "cpu": 1536 << 20}


def compiled(name: str):
    result = analyse_file(REPO / "examples" / f"{name}.bmg")
    module = import_generated(
        render_module(result.pruned, Source(f"{name}.bmg", result.text))
    )
    model = module.Model().eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # non-trivial BatchNorm statistics, as after training
        for key, tensor in model.state_dict().items():
            if "running_" in key:
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
    return module, model


def timed(run, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


def run_cli(args: list[str], cwd: Path, ranks: int = 1) -> None:
    import subprocess

    if ranks == 1:
        command = [sys.executable, "-m", "bmnas_dsl", *args]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command += [f"--nproc-per-node={ranks}", "-m", "bmnas_dsl", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")


def last_log(run_dir: Path) -> dict:
    return json.loads((run_dir / "log.jsonl").read_text().splitlines()[-1])


def epoch_seconds(run_dir: Path) -> float:
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    seconds = [json.loads(line)["seconds"] for line in lines]
    return (seconds[-1] - seconds[0]) / max(1, len(seconds) - 1)


def check_runs(device: str, folder: Path, epochs: int = 4) -> list[dict]:
    """Search and train on `device` and on the CPU; two ranks on two GPUs."""
    rows = []
    data = ["--data", "planted", "--epochs", str(epochs), "--selection", "paper"]
    cases = [(where, "fp32") for where in dict.fromkeys([device, "cpu"])]
    if device != "cpu":
        cases.append((device, "bf16"))
    for where, precision in cases:
        name = f"search_{where.replace(':', '_')}_{precision}"
        kind = ["--device", where, "--precision", precision]
        run_cli(["search", *data, *kind, "-o", f"{name}.bmg"], folder)
        train = ["train", f"{name}.bmg", "--data", "planted", "--epochs", str(epochs)]
        run_cli([*train, "--holdout", "val", *kind, "-o", f"t_{name}"], folder)
        rows.append(
            {
                "device": where,
                "precision": precision,
                "search_epoch_s": epoch_seconds(folder / f"{name}.run"),
                "search_val_loss": last_log(folder / f"{name}.run")["val_loss"],
                "train_epoch_s": epoch_seconds(folder / f"t_{name}"),
                "train_val_accuracy": last_log(folder / f"t_{name}")["val_accuracy"],
            }
        )
    if device.startswith("cuda") and torch.cuda.device_count() >= 2:
        run_cli(["search", *data, "--device", "cuda", "-o", "two.bmg"], folder, ranks=2)
        one = last_log(folder / f"search_{device.replace(':', '_')}_fp32.run")
        two = last_log(folder / "two.run")
        rows.append(
            {
                "device": "2 x cuda (torchrun, nccl)",
                "search_epoch_s": epoch_seconds(folder / "two.run"),
                "search_val_loss": two["val_loss"],
                "same_as_one_gpu": abs(one["val_loss"] - two["val_loss"]) < 1e-3,
            }
        )
    return rows


def check_example(
    name: str, device: str, provider: str, repeats: int, folder: Path
) -> list:
    module, model = compiled(name)
    path = folder / f"{name}.onnx"
    export_model(module, model, path, provider="cpu")  # exported and checked on the CPU
    session, used = create_session(path, provider)
    model = model.to(device)
    rows = []
    for batch in BATCHES:
        size = sum(4 * batch * int(np.prod(shape)) for _, shape in module.INPUTS)
        if size > MAX_INPUT_BYTES[device]:
            rows.append({"example": name, "batch": batch, "skipped": f"{size} bytes"})
            continue
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        inputs = [torch.randn(batch, *shape) for _, shape in module.INPUTS]
        feed = {n: x.numpy() for (n, _), x in zip(module.INPUTS, inputs, strict=True)}
        on_device = [x.to(device) for x in inputs]
        with torch.inference_mode():
            expected = model(*on_device).float().cpu().numpy()
        [got] = session.run(["logits"], feed)
        difference = float(np.max(np.abs(got - expected)))

        def eager(on_device=on_device):
            with torch.inference_mode():
                model(*on_device)
            if device == "cuda":
                torch.cuda.synchronize()

        def ort(feed=feed):
            session.run(["logits"], feed)

        for _ in range(3):
            eager()
            ort()
        eager_ms, ort_ms = timed(eager, repeats), timed(ort, repeats)
        rows.append(
            {
                "example": name,
                "batch": batch,
                "provider": used,
                "device": device,
                "max_abs_diff": difference,
                "torch_eager_ms": eager_ms,
                "ort_ms": ort_ms,
                "speedup": eager_ms / ort_ms,
                "peak_gpu_memory_mib": (
                    torch.cuda.max_memory_allocated() / 2**20
                    if device == "cuda"
                    else None
                ),
            }
        )
    return rows


def run_benchmark(script: str, args: list[str], out: Path) -> dict:
    """benchmarks/SCRIPT with `args` in its own process; the JSON it wrote to `out`
    (given as `--out OUT` unless `args` name it)."""
    import subprocess

    command = [sys.executable, str(REPO / "benchmarks" / script), *args]
    command += [] if str(out) in args else ["--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return json.loads(out.read_text())


def compile_mode(device: str) -> str:
    """torch.compile's mode to time: with CUDA graphs on a GPU (their launch savings
    are what a GPU step of many small kernels needs), inductor alone on the CPU."""
    return "reduce-overhead" if device.startswith("cuda") else "default"


def check_search_step(device: str, folder: Path, quick: bool = False) -> dict:
    """benchmarks/search_step.py on the device: fp32 and bf16, eager and compiled
    (`quick`: the small configuration, eager only, two repeats)."""
    args = ["--device", device, "--precisions", "fp32", "bf16"]
    if quick:
        args += ["--config", "mini", "--repeats", "2"]
    else:
        args += ["--compile", "--compile-mode", compile_mode(device), "--repeats", "10"]
    step = run_benchmark("search_step.py", args, folder / "search_step.json")
    keep = ("device", "roofline_gflops", "runners", "compile_seconds", "compile_mode")
    return {key: step.get(key) for key in (*keep, "peak_gpu_memory_mib")}


def check_train_step(device: str, folder: Path, quick: bool = False) -> dict:
    """benchmarks/train_step.py on the device: a training step of ntu_config1 at batch
    96, fp32 and bf16, eager and compiled (`quick`: the sum example at batch 8, eager
    only, two repeats)."""
    args = ["--device", device, "--precisions", "fp32", "bf16"]
    if quick:
        args += ["--example", "sum", "--batch", "8", "--repeats", "2"]
    else:
        args += ["--compile-modes", compile_mode(device), "--repeats", "20"]
    return run_benchmark("train_step.py", args, folder / "train_step.json")


def check_planted(device: str, folder: Path, quick: bool = False) -> list[dict]:
    """The planted recovery on the device (benchmarks/planted_recovery.py, the test's
    small configuration): fp32 and bf16, 5 seeds each (`quick`: fp32, 1 seed)."""
    rows = []
    for precision in ("fp32",) if quick else ("fp32", "bf16"):
        out = folder / f"planted_{precision}.json"
        args = ["--device", device, "--precision", precision, "--seeds"]
        args += ["1" if quick else "5", "--json", str(out)]
        found = run_benchmark("planted_recovery.py", args, out)
        seeds = len(found["runs"])
        rows.append(
            {
                "device": found["device"],
                "precision": precision,
                "recovered": f"{round(found['rate'] * seeds)} of {seeds}",
                "seconds_per_search": round(
                    sum(r["seconds"] for r in found["runs"]) / seeds, 1
                ),
            }
        )
    return rows


def check_residency(
    device: str, epochs: int = 3, rows_per_split: int = 960
) -> list[dict]:
    """Search epochs (NTU shapes, `rows_per_split` rows each of train and val, batch
    96) with the features held on the device against copying each batch there:
    seconds per epoch and the last loss."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import search_step

    from bmnas_dsl.nn import batches

    space, _ = search_step.make_space("ntu", "official", "same")
    bank = search_step.random_bank(space, rows_per_split // 2, 0)
    rows = []
    for share in (batches.RESIDENT_SHARE, 0.0):
        saved, batches.RESIDENT_SHARE = batches.RESIDENT_SHARE, share
        try:
            search = search_step.build_search(bank, space, 96, 0, device=device)
        finally:
            batches.RESIDENT_SHARE = saved
        search.run_epoch()  # warm-up
        seconds, losses = [], {}
        for _ in range(epochs):
            search_step.synchronise()
            begin = time.perf_counter()
            losses = search.run_epoch()
            search_step.synchronise()
            seconds.append(time.perf_counter() - begin)
        rows.append(
            {
                "features": "held on the device"
                if search.resident_bytes
                else "copied per batch",
                "resident_mib": search.resident_bytes / 2**20,
                "epoch_s": statistics.median(seconds),
                "losses": losses,
            }
        )
    return rows


def print_onnx(rows: list[dict]) -> None:
    print(
        f"{'example':<15} {'batch':>5} {'provider':<22} {'max|diff|':>9} "
        f"{'eager ms':>9} {'ORT ms':>8} {'speed-up':>8}"
    )
    for r in rows:
        if "skipped" in r:
            print(f"{r['example']:<15} {r['batch']:>5} skipped ({r['skipped']})")
            continue
        print(
            f"{r['example']:<15} {r['batch']:>5} {r['provider']:<22} "
            f"{r['max_abs_diff']:>9.1e} {r['torch_eager_ms']:>9.3f} "
            f"{r['ort_ms']:>8.3f} {r['speedup']:>7.2f}x"
        )


def print_runs(runs: list[dict]) -> None:
    for run in runs:
        print(
            "  ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                for k, v in run.items()
            )
        )


def print_search_step(step: dict) -> None:
    for name, row in step["runners"].items():
        print(
            f"search step on {step['device']}, {name}: weight {row['weight_ms']} ms, "
            f"arch {row['arch_ms']} ms, {row['gflops']} GFLOP/s "
            f"({row['of_own_roofline']:.0%} of its roofline)"
        )


def print_train_step(train: dict) -> None:
    for name, row in train["runners"].items():
        compiled_in = row["compile_seconds"]
        print(
            f"train step of {train['example']} on {train['device']}, {name}: "
            f"{row['step_ms']} ms ({row['speedup_vs_eager']}x eager"
            + (f", compiled in {compiled_in} s" if compiled_in else "")
            + ")"
        )


def print_planted(planted: list[dict]) -> None:
    for row in planted:
        print(
            f"planted recovery on {row['device']}, {row['precision']}: "
            f"{row['recovered']} seeds ({row['seconds_per_search']} s a search)"
        )


def print_residency(residency: list[dict]) -> None:
    for row in residency:
        print(
            f"search epoch, features {row['features']}: {row['epoch_s']:.3f} s "
            f"(train loss {row['losses'].get('train_loss', float('nan')):.4f})"
        )


def parts(args: argparse.Namespace, folder: Path) -> dict[str, tuple]:
    """Each part: (what it measures, how it prints)."""
    device, quick = args.device, args.quick

    def onnx() -> list[dict]:
        rows = []
        for name in EXAMPLES:
            rows += check_example(name, device, args.provider, args.repeats, folder)
        return rows

    def residency() -> list[dict]:
        return check_residency(device, 1, 192) if quick else check_residency(device)

    return {
        "onnx": (onnx, print_onnx),
        "runs": (lambda: check_runs(device, folder, 2 if quick else 4), print_runs),
        "search_step": (
            lambda: check_search_step(device, folder, quick),
            print_search_step,
        ),
        "train_step": (
            lambda: check_train_step(device, folder, quick),
            print_train_step,
        ),
        "planted": (lambda: check_planted(device, folder, quick), print_planted),
        "residency": (residency, print_residency),
    }


PART_NAMES = ("onnx", "runs", "search_step", "train_step", "planted", "residency")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--provider", default="cuda", choices=["cuda", "cpu", "auto"])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--json", default=str(REPO / "benchmarks/results/gpu_check.json")
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="every part on a tiny budget (how the dry run is tested): 3 repeats, "
        "2 epochs, the search step's small configuration without compiling",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PART_NAMES,
        default=list(PART_NAMES),
        help="the parts to run (default: all), so that a run can be split over two "
        "commands when one command's time is limited; the JSON records each part's "
        "seconds",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = min(args.repeats, 3)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("torch sees no CUDA device", file=sys.stderr)
        return 1
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "onnxruntime_distributions": installed_distributions(),
        },
        "seconds": {},
    }
    with tempfile.TemporaryDirectory() as folder:
        available = parts(args, Path(folder))
        for name in args.parts:
            measure, show = available[name]
            begin = time.perf_counter()
            report[name] = measure()
            report["seconds"][name] = round(time.perf_counter() - begin, 1)
            # Written after every part: a run stopped by its time limit keeps the rest.
            write_atomic(out, json.dumps(report, indent=2) + "\n")
            show(report[name])
            print(f"({name}: {report['seconds'][name]} s)", flush=True)
    if "onnx" not in report:
        return 0
    rows = [r for r in report["onnx"] if "skipped" not in r]
    parity = all(r["max_abs_diff"] <= 1e-3 for r in rows)
    print(f"parity within 1e-3: {parity}")
    return 0 if parity else 1


if __name__ == "__main__":
    sys.exit(main())
