"""Speed of one `bmnas train` step of a compiled genotype, eager against torch.compile,
in each precision, on a device (issue 15, part 4: "training epoch on CUDA in fp32/bf16,
eager and compiled").

    python benchmarks/train_step.py [--example ntu_config1] [--batch 96] [--device cpu]
        [--precisions fp32 bf16] [--compile-modes default reduce-overhead] [--repeats 20]

A training step is what `bmnas train` runs per batch (train/runner.py): zero the
gradients, the forward and the task's loss under the precision's autocast, the backward
and the Adam step, on random inputs of the genotype's feature shapes. Eager and every
`--compile-modes` entry (torch.compile of the model; `reduce-overhead` is CUDA graphs on
a GPU) start from the same weights and are timed alternating in one process; the first
compiled step's time is reported as the compile time. A compiled model must compute the
same function: from the initial weights, in eval mode (training mode's dropout masks come
from inductor's own random numbers), its logits are compared with eager's. FLOPs are torch's
FlopCounterMode count and the roofline is this process's matmul rate (roofline.py).
Writes benchmarks/results/train_step.json. `bmnas train` has no compile option: this
measures whether it would pay (docs/performance.md).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402
from compiling import COMPILE_MODES, cold_compile_cache  # noqa: E402
from roofline import achieved, count_flops, matmul_rate  # noqa: E402
from torch import nn  # noqa: E402

from bmnas_dsl.backend.codegen import Source, render_module  # noqa: E402
from bmnas_dsl.backend.loader import import_generated  # noqa: E402
from bmnas_dsl.fileio import write_atomic  # noqa: E402
from bmnas_dsl.nn.device import resolve_device  # noqa: E402
from bmnas_dsl.nn.losses import loss_function  # noqa: E402
from bmnas_dsl.nn.precision import Precision  # noqa: E402
from bmnas_dsl.passes.pipeline import analyse_file  # noqa: E402

WARMUP = 3


def load_example(name: str) -> Any:
    """The generated module of examples/NAME.bmg."""
    result = analyse_file(ROOT / "examples" / f"{name}.bmg")
    return import_generated(
        render_module(result.pruned, Source(f"{name}.bmg", result.text))
    )


def random_batch(
    module: Any, batch: int, device: torch.device, seed: int
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Inputs of the genotype's feature shapes and labels of its task, on `device`."""
    generator = torch.Generator().manual_seed(seed)
    inputs = [
        torch.randn(batch, *shape, generator=generator) for _, shape in module.INPUTS
    ]
    if module.TASK == "multilabel":
        labels = (torch.rand(batch, module.CLASSES, generator=generator) < 0.2).float()
    else:
        labels = torch.randint(module.CLASSES, (batch,), generator=generator)
    return [x.to(device) for x in inputs], labels.to(device)


class TrainStep:
    """A model, its Adam optimiser and one precision: `step()` is one training step
    and returns the loss (which waits for the device)."""

    def __init__(
        self,
        model: nn.Module,
        task: str,
        precision: str,
        device: torch.device,
        batch: tuple[list[torch.Tensor], torch.Tensor],
    ) -> None:
        self.model = model.train()
        self.optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
        self.loss = loss_function(task)
        self.precision = Precision(precision, device)
        self.inputs, self.labels = batch

    def step(self) -> float:
        self.optimiser.zero_grad(set_to_none=True)
        with self.precision.autocast():
            loss = self.loss(self.model(*self.inputs), self.labels)
        self.precision.scaled(loss).backward()
        self.precision.step(self.optimiser, lambda: None)
        return float(loss.detach())


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    synchronise(device)
    begin = time.perf_counter()
    value = fn()
    synchronise(device)
    return (time.perf_counter() - begin) * 1e3, value


def build_runners(
    module: Any,
    initial: nn.Module,
    args: argparse.Namespace,
    batch: tuple[list[torch.Tensor], torch.Tensor],
    device: torch.device,
) -> tuple[dict[str, TrainStep], dict[str, float]]:
    """Every (precision, mode) runner from the weights `initial`, and the compile
    seconds of each compiled one (its first step)."""
    runners: dict[str, TrainStep] = {}
    compile_seconds: dict[str, float] = {}
    if args.compile_modes:
        cold_compile_cache()
    for precision in args.precisions:
        for mode in ["eager", *args.compile_modes]:
            name = f"{precision} {mode}"
            model = copy.deepcopy(initial).to(device)
            if mode != "eager":
                model = torch.compile(model, mode=mode)
            runner = TrainStep(model, module.TASK, precision, device, batch)
            ms, _ = timed(runner.step, device)
            if mode != "eager":
                compile_seconds[name] = round(ms / 1e3, 1)
            runners[name] = runner
    return runners, compile_seconds


def compiled_parity(
    initial: nn.Module,
    args: argparse.Namespace,
    inputs: list[torch.Tensor],
    device: torch.device,
) -> dict[str, float]:
    """Per compiled runner, the largest |logit difference| from eager's, in eval mode
    from the weights `initial`, in its precision."""
    differences = {}
    eager = copy.deepcopy(initial).to(device).eval()
    for precision in args.precisions:
        autocast = Precision(precision, device).autocast
        with torch.no_grad(), autocast():
            expected = eager(*inputs).float()
        for mode in args.compile_modes:
            model = torch.compile(copy.deepcopy(initial).to(device).eval(), mode=mode)
            with torch.no_grad(), autocast():
                got = model(*inputs).float()
            differences[f"{precision} {mode}"] = float((got - expected).abs().max())
    return differences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", default="ntu_config1")
    parser.add_argument("--batch", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument(
        "--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"]
    )
    parser.add_argument(
        "--compile-modes",
        nargs="*",
        default=[],
        choices=COMPILE_MODES,
        help="torch.compile modes timed besides eager (reduce-overhead: CUDA graphs)",
    )
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "train_step.json")
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device, 0, False)
    module = load_example(args.example)
    torch.manual_seed(args.seed)
    initial = module.Model()
    batch = random_batch(module, args.batch, device, args.seed + 1)
    runners, compile_seconds = build_runners(module, initial, args, batch, device)
    for _ in range(WARMUP):
        for runner in runners.values():
            runner.step()
    times: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for repeat in range(args.repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(timed(runners[name].step, device)[0])
    # Counted on a copy: counting runs a step, which must not move a timed runner.
    eager = runners[f"{args.precisions[0]} eager"]
    flops = count_flops(copy.deepcopy(eager).step)
    shape = (args.batch * module.L, sum(s[0] for _, s in module.INPUTS), module.C)
    roof = {
        "fp32": round(matmul_rate(*shape, torch.float32, device=device), 1),
        "bf16": round(matmul_rate(*shape, torch.bfloat16, device=device), 1),
    }
    rows = {}
    for name, values in times.items():
        ms = statistics.median(values)
        precision, mode = name.split(" ", 1)
        baseline = statistics.median(times[f"{precision} eager"])
        rows[name] = {
            "precision": precision,
            "mode": mode,
            "step_ms": round(ms, 3),
            "speedup_vs_eager": round(baseline / ms, 3),
            "gflops": round(achieved(flops, ms), 2),
            "of_own_roofline": round(achieved(flops, ms) / roof[precision], 4),
            "compile_seconds": compile_seconds.get(name),
        }
    parity = compiled_parity(initial, args, batch[0], device)
    result = {
        "benchmark": "train_step",
        "example": args.example,
        "batch": args.batch,
        "threads": args.threads,
        "device": str(device),
        "torch": torch.__version__,
        "repeats": args.repeats,
        "gflop_per_step": round(flops / 1e9, 4),
        "roofline_shape": list(shape),
        "roofline_gflops": roof,
        "runners": rows,
        "compiled_logits_max_abs_diff": parity,
    }
    if device.type == "cuda":
        result["peak_gpu_memory_mib"] = round(
            torch.cuda.max_memory_allocated(device) / 2**20, 1
        )
    print(
        f"Training step of {args.example}, batch {args.batch}, {device}, "
        f"{flops / 1e9:.3f} GFLOP, roofline fp32 {roof['fp32']} / bf16 {roof['bf16']} "
        "GFLOP/s; median ms"
    )
    for name, row in rows.items():
        compile_note = (
            f", compiled in {row['compile_seconds']} s"
            if row["compile_seconds"]
            else ""
        )
        print(
            f"  {name:<32} {row['step_ms']:>9.2f} ms  {row['speedup_vs_eager']:.2f}x "
            f"eager  {row['of_own_roofline']:.0%} of the {row['precision']} "
            f"roofline{compile_note}"
        )
    for name, difference in parity.items():
        print(f"  {name}: logits within {difference:.1e} of eager's (eval mode)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
