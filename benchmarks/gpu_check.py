"""GPU check of issue 3: export two examples, run them with ONNX Runtime's CUDA provider,
check parity with PyTorch on the GPU, and time ORT-CUDA against torch eager on the GPU at
batch 1 and 256. Prints a table and writes benchmarks/results/gpu_check.json.

Meant for a lent GPU machine, in an environment with the `[gpu]` extra
(`onnxruntime-gpu`) instead of `[cpu]`. `--device cpu --provider cpu` runs the same
script on the CPU as a dry run (that is how it is tested without a GPU).
"""

from __future__ import annotations

import argparse
import json
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
BATCHES = (1, 256)


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
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--provider", default="cuda", choices=["cuda", "cpu", "auto"])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--json", default=str(REPO / "benchmarks/results/gpu_check.json")
    )
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("torch sees no CUDA device", file=sys.stderr)
        return 1
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in EXAMPLES:
            rows += check_example(
                name, args.device, args.provider, args.repeats, Path(folder)
            )
    print(
        f"{'example':<15} {'batch':>5} {'provider':<22} {'max|diff|':>9} "
        f"{'eager ms':>9} {'ORT ms':>8} {'speed-up':>8}"
    )
    for r in rows:
        print(
            f"{r['example']:<15} {r['batch']:>5} {r['provider']:<22} {r['max_abs_diff']:>9.1e} "
            f"{r['torch_eager_ms']:>9.3f} {r['ort_ms']:>8.3f} {r['speedup']:>7.2f}x"
        )
    report = {
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "onnxruntime_distributions": installed_distributions(),
        },
        "rows": rows,
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, json.dumps(report, indent=2) + "\n")
    parity = all(r["max_abs_diff"] <= 1e-3 for r in rows)
    print(f"parity within 1e-3: {parity}")
    return 0 if parity else 1


if __name__ == "__main__":
    sys.exit(main())
