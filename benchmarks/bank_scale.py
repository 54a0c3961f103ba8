"""Search and training on feature banks of two sizes, 8x apart, with NTU RGB-D's eight
feature shapes stored pre-pooled at L = 8 in float16 (issue 14): peak anonymous resident
memory (RssAnon, sampled every 20 ms: the memory map's pages are the page cache's, not
the process's) and samples per second, of `bmnas search` and `bmnas train` for one
epoch each, run as a user would (one process each, `--threads 1`).

    python benchmarks/bank_scale.py [--small 2500] [--scale 8] [--folder DIR]

Also times `bmnas data BANK` (open and describe) on both banks, and the gather of one
batch from memory against one from the memory map (which decides IN_MEMORY_BYTES).
Goal (the issue): peak RssAnon grows by less than 10 % of the large bank's size between
the two banks, and the time per sample stays within 1.5x. Writes
benchmarks/results/bank_scale.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bmnas_dsl.data.bank import load_bank  # noqa: E402
from bmnas_dsl.data.bankwriter import BankWriter  # noqa: E402
from bmnas_dsl.fileio import write_atomic  # noqa: E402
from bmnas_dsl.nn.batches import Column  # noqa: E402

# NTU RGB-D's features (docs/import.md, the ntu preset), pooled to L = 8.
NTU = {
    "video.layer2": 512,
    "video.layer3": 1024,
    "video.layer4": 2048,
    "video.pooled": 2048,
    "skeleton.conv5": 128,
    "skeleton.conv6": 256,
    "skeleton.out7": 1024,
    "skeleton.fc7": 512,
}
L, CLASSES, CHUNK = 8, 60, 1000
BMNAS = [sys.executable, "-m", "bmnas_dsl"]


SHAPES = {name: (channels, L) for name, channels in NTU.items()}


def writer_of(path: Path, size: int) -> BankWriter:
    """A float16 bank of NTU's shapes and classes."""
    return BankWriter(
        path,
        size=size,
        features=SHAPES,
        task="multiclass",
        classes=CLASSES,
        dtype="float16",
        overwrite=True,
    )


def make_bank(path: Path, size: int, seed: int) -> Path:
    """A bank of random features whose label shifts `video.pooled` (learnable)."""
    rng = np.random.default_rng(seed)
    shapes = SHAPES
    with writer_of(path, size) as writer:
        for start in range(0, size, CHUNK):
            n = min(CHUNK, size - start)
            labels = rng.integers(0, CLASSES, n)
            split = rng.choice(3, n, p=[0.7, 0.1, 0.2]).astype(np.int8)
            chunk = {
                name: rng.standard_normal((n, *shape), dtype=np.float32)
                for name, shape in shapes.items()
            }
            chunk["video.pooled"][:, :CLASSES, :] += (
                2.0 * np.eye(CLASSES)[labels][:, :, None]
            )
            writer.append(chunk, labels=labels, split=split)
    return path


def bank_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.glob("*.npy"))


def run_sampled(args: list[str]) -> tuple[float, int, subprocess.CompletedProcess]:
    """Run `bmnas ARGS`; its wall time and peak RssAnon in bytes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        BMNAS + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = [0]

    def sample() -> None:
        status = Path(f"/proc/{process.pid}/status")
        while process.poll() is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("RssAnon:"):
                        peak[0] = max(peak[0], int(line.split()[1]) * 1024)
            except OSError:
                break
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    start = time.perf_counter()
    sampler.start()
    out, err = process.communicate()
    seconds = time.perf_counter() - start
    sampler.join()
    result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    if result.returncode:
        raise SystemExit(f"bmnas {' '.join(args)} failed:\n{err}")
    return seconds, peak[0], result


def epoch_seconds(run_dir: Path) -> float:
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    return float(json.loads(lines[-1])["seconds"])


def gather_seconds(bank_path: Path, batch: int = 64, rounds: int = 50) -> dict:
    """One batch of `batch` random rows of every feature: from memory, from the map."""
    bank = load_bank(bank_path)
    rng = np.random.default_rng(0)
    index = [torch.from_numpy(rng.choice(bank.size, batch)) for _ in range(rounds)]
    result = {}
    for where, stream in (("memory", False), ("memory map", True)):
        columns = [Column(a, stream) for a in bank.features.values()]
        for column in columns:  # warm: the page cache holds the bank
            column.rows(index[0])
        start = time.perf_counter()
        for rows in index:
            for column in columns:
                column.rows(rows)
        result[where] = (time.perf_counter() - start) / rounds
    return result


def measure(folder: Path, size: int, seed: int) -> dict:
    bank = make_bank(folder / f"ntu{size}.bank", size, seed)
    describe, _, described = run_sampled(["data", str(bank), "--json"])
    facts = json.loads(described.stdout)
    train_rows = facts["splits"]["train"]
    genotype = folder / f"ntu{size}.bmg"
    search_wall, search_peak, _ = run_sampled(
        [
            "search", "--data", str(bank), "-o", str(genotype), "--epochs", "1",
            "--selection", "paper", "--threads", "1", "--overwrite",
        ]
    )  # fmt: skip
    search_epoch = epoch_seconds(genotype.with_suffix(".run"))
    train_dir = folder / f"ntu{size}.train"
    train_wall, train_peak, _ = run_sampled(
        [
            "train", str(genotype), "--data", str(bank), "-o", str(train_dir),
            "--epochs", "1", "--threads", "1", "--overwrite",
        ]
    )  # fmt: skip
    train_epoch = epoch_seconds(train_dir)
    fit_rows = facts["splits"]["train"] + facts["splits"]["val"]
    return {
        "size": size,
        "bank_bytes": bank_bytes(bank),
        "describe_seconds": round(describe, 3),
        "search": {
            "wall_seconds": round(search_wall, 2),
            "epoch_seconds": round(search_epoch, 2),
            "samples_per_second": round(train_rows / search_epoch, 1),
            "peak_rss_anon_bytes": search_peak,
        },
        "train": {
            "wall_seconds": round(train_wall, 2),
            "epoch_seconds": round(train_epoch, 2),
            "samples_per_second": round(fit_rows / train_epoch, 1),
            "peak_rss_anon_bytes": train_peak,
        },
        "gather_seconds_per_batch": gather_seconds(bank),
    }


def describe_large(folder: Path, gigabytes: float) -> dict:
    """`bmnas data BANK` on a bank of about `gigabytes` GB (zeros, written in chunks),
    against `bmnas --version` (the interpreter's and the CLI's own start) in the same
    command."""
    row_bytes = sum(NTU.values()) * L * 2
    size = int(gigabytes * 1e9 // row_bytes)
    path = folder / "large.bank"
    shapes = SHAPES
    with writer_of(path, size) as writer:
        for start in range(0, size, CHUNK * 4):
            n = min(CHUNK * 4, size - start)
            zeros = {name: np.zeros((n, *s), np.float16) for name, s in shapes.items()}
            writer.append(zeros, labels=np.arange(n) % CLASSES, split=np.arange(n) % 3)
    start_only, _, _ = run_sampled(["--version"])
    describe, _, _ = run_sampled(["data", str(path)])
    result = {
        "bank_bytes": bank_bytes(path),
        "describe_seconds": round(describe, 3),
        "bmnas_version_seconds": round(start_only, 3),
    }
    shutil.rmtree(path)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--small", type=int, default=2500, help="rows of the small bank"
    )
    parser.add_argument("--scale", type=int, default=8, help="large = small x scale")
    parser.add_argument("--folder", help="where the banks go (default: a temp dir)")
    parser.add_argument(
        "--describe-gb",
        type=float,
        default=0,
        help="also time `bmnas data` on a bank of this many GB (0: skip)",
    )
    parser.add_argument(
        "--json", default=str(ROOT / "benchmarks/results/bank_scale.json")
    )
    args = parser.parse_args()
    folder = Path(args.folder or tempfile.mkdtemp(prefix="bank_scale."))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        rows = [
            measure(folder, args.small, 0),
            measure(folder, args.small * args.scale, 1),
        ]
        huge = describe_large(folder, args.describe_gb) if args.describe_gb else None
    finally:
        if not args.folder:
            shutil.rmtree(folder, ignore_errors=True)
    small, large = rows
    verdict = {}
    for command in ("search", "train"):
        growth = (
            large[command]["peak_rss_anon_bytes"]
            - small[command]["peak_rss_anon_bytes"]
        )
        verdict[command] = {
            "rss_anon_growth_of_large_bank": round(growth / large["bank_bytes"], 4),
            "time_per_sample_large_over_small": round(
                small[command]["samples_per_second"]
                / large[command]["samples_per_second"],
                3,
            ),
        }
    result = {
        "rows": rows,
        "verdict": verdict,
        "goal": "growth < 0.10, ratio <= 1.5",
        "describe_large": huge,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.json, json.dumps(result, indent=2) + "\n")
    mib = 1 << 20
    print("| bank | size | describe s | command | samples/s | peak RssAnon MiB |")
    print("| --- | ---: | ---: | --- | ---: | ---: |")
    for row in rows:
        for command in ("search", "train"):
            figures = row[command]
            print(
                f"| {row['size']} rows | {row['bank_bytes'] / mib:,.0f} MiB | "
                f"{row['describe_seconds']:.2f} | {command} | "
                f"{figures['samples_per_second']:,.1f} | "
                f"{figures['peak_rss_anon_bytes'] / mib:,.0f} |"
            )
    for command, figures in verdict.items():
        print(
            f"{command}: RssAnon growth {figures['rss_anon_growth_of_large_bank']:.1%} "
            f"of the large bank (goal < 10%), time per sample x"
            f"{figures['time_per_sample_large_over_small']:.2f} (goal <= 1.5)"
        )
    if huge:
        print(
            f"bmnas data on a {huge['bank_bytes'] / 1e9:.1f} GB bank: "
            f"{huge['describe_seconds']:.2f} s (bmnas --version: "
            f"{huge['bmnas_version_seconds']:.2f} s)"
        )
    for row in rows:
        gather = row["gather_seconds_per_batch"]
        print(
            f"gather of 64 rows, {row['size']}-row bank: memory "
            f"{gather['memory'] * 1e3:.2f} ms, memory map {gather['memory map'] * 1e3:.2f} ms"
        )


if __name__ == "__main__":
    main()
