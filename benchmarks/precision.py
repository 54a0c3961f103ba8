"""The search step in each `--precision` on this machine's CPU, against fp32 in the same
process (issue 15: "bf16 on CPU: measured and reported; default only if it wins").

    python benchmarks/precision.py [--repeats 15] [--data mfeat:fou,fac,kar,pix,zer,mor]

Forward + backward of one training step of the search's hypernet (`--selection
paper`: the whole supernet) on a batch of 64, at C = 32 (the default) and C = 128
(the paper's NTU width), one thread, the precisions interleaved; medians. Also the
matmul rate of one reshape-layer-sized product in float32 and bfloat16, the
hardware's side of the comparison. Writes benchmarks/results/precision.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bmnas_dsl.data.resolve import resolve_data  # noqa: E402
from bmnas_dsl.fileio import write_atomic  # noqa: E402
from bmnas_dsl.nn.precision import PRECISIONS, Precision  # noqa: E402
from bmnas_dsl.search.runner import Search, space_for  # noqa: E402
from bmnas_dsl.search.settings import Training  # noqa: E402

CPU = torch.device("cpu")


def step_seconds(data: str, C: int, repeats: int) -> dict[str, float]:
    bank = resolve_data(data)
    search = Search(bank, space_for(bank, C=C), Training(selection="paper"), data)
    inputs, labels = search.batch(search.train_index[:64])
    search.model.train()
    times: dict[str, list[float]] = {name: [] for name in PRECISIONS}
    for _ in range(repeats):
        for name in PRECISIONS:
            precision = Precision(name, CPU)
            search.model.zero_grad(set_to_none=True)
            start = time.perf_counter()
            with precision.autocast():
                loss = search.loss(search.model(inputs), labels)
            precision.scaled(loss).backward()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def matmul_gflops(dtype: torch.dtype, repeats: int = 20) -> float:
    """(768 x 7552) @ (7552 x 128): a reshape layer's product at the NTU width."""
    a, b = torch.randn(768, 7552, dtype=dtype), torch.randn(7552, 128, dtype=dtype)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    seconds = (time.perf_counter() - start) / repeats
    return 2 * 768 * 7552 * 128 / seconds / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--data", default="mfeat:fou,fac,kar,pix,zer,mor")
    parser.add_argument(
        "--json", default=str(ROOT / "benchmarks/results/precision.json")
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    steps = {C: step_seconds(args.data, C, args.repeats) for C in (32, 128)}
    rates = {
        "fp32": matmul_gflops(torch.float32),
        "bf16": matmul_gflops(torch.bfloat16),
    }
    result = {
        "data": args.data,
        "threads": 1,
        "step_s": {str(C): values for C, values in steps.items()},
        "matmul_gflops": rates,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.json, json.dumps(result, indent=2) + "\n")
    print("| C | precision | ms per step | vs fp32 |")
    print("|---:|---|---:|---:|")
    for C, values in steps.items():
        for name, seconds in values.items():
            ratio = seconds / values["fp32"]
            print(f"| {C} | {name} | {seconds * 1e3:.1f} | {ratio:.2f}x |")
    print(
        f"matmul (768x7552 @ 7552x128), one thread: fp32 {rates['fp32']:.0f} GFLOP/s, "
        f"bf16 {rates['bf16']:.0f} GFLOP/s ({rates['bf16'] / rates['fp32']:.1f}x)"
    )


if __name__ == "__main__":
    main()
