"""Crash safety, the long run: kill `bmnas search` and `bmnas train` with SIGKILL at many
random moments, resume after each kill, and compare the end result with an
uninterrupted run (tests/runs/test_crash.py does the same at four fixed points).

Kill moments are drawn uniformly over the uninterrupted run's wall time (interpreter
start included), so they land in imports, in epochs, between a log write and a
checkpoint write, and in the final writes.

    python benchmarks/kill_resume.py --kills 20 --seed 0
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bmnas_dsl.data.bank import save_bank  # noqa: E402
from bmnas_dsl.data.planted import make_planted  # noqa: E402
from bmnas_dsl.fileio import write_atomic  # noqa: E402

BMNAS = [sys.executable, "-m", "bmnas_dsl"]
GENOTYPE = """bmg 1
model m {
    dims C = 16, L = 4
    classes 4
    dropout 0.2
    modality a { f3 : [16, 6] }
    modality b { f2 : [16, 6] }
    cell c (x = a.f3, y = b.f2) {
        s1 = ConcatFC(x, y)
        s2 = LinearGLU(s1, y)
        out = s1, s2
    }
    output c
}
"""


def run(args: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(BMNAS + args, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"bmnas {' '.join(args)} failed:\n{done.stderr}")
    return time.perf_counter() - start


def killed_at(args: list[str], seconds: float) -> bool:
    """Run, SIGKILL after `seconds`; False if it had already finished."""
    process = subprocess.Popen(
        BMNAS + args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        process.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return True


def fingerprint(run_dir: Path, files: list[str]) -> dict[str, str]:
    """What must not depend on interruptions: the result files, minus the clock."""
    found = {}
    for name in files:
        text = (run_dir / name).read_bytes()
        if name.endswith((".jsonl", ".json", ".bmg")):
            decoded = re.sub(
                r'"?(seconds|train_seconds)"?: [0-9.e-]+', "", text.decode()
            )
            text = re.sub(r"search_seconds = [0-9.]+", "", decoded).encode()
        found[name] = hashlib.sha256(text).hexdigest()
    return found


def trial(command: str, workdir: Path, bank: Path, kills: int, rng: random.Random):
    data = ["--data", str(bank), "--epochs", "8", "--threads", "1"]
    if command == "train":
        genotype = workdir / "g.bmg"
        genotype.write_text(GENOTYPE)

        def start(d: Path) -> list[str]:
            return ["train", str(genotype), "-o", str(d), *data, "--batch-size", "8"]

        def resume(d: Path) -> list[str]:
            return ["train", "-o", str(d), "--resume"]

        files = ["weights.safetensors", "metrics.json", "log.jsonl"]
    else:
        space = ["--C", "8", "--L", "2", "--cells", "2", "--steps", "1"]

        def start(d: Path) -> list[str]:
            return ["search", "-o", str(d) + ".bmg", "--run-dir", str(d), *data, *space]

        def resume(d: Path) -> list[str]:
            return ["search", "--resume", "--run-dir", str(d)]

        files = ["best.bmg", "log.jsonl"]
    whole = workdir / f"{command}-whole"
    total = run(start(whole))
    expected = fingerprint(whole, files)
    landed = survived = 0
    for number in range(kills):
        cut = workdir / f"{command}-cut{number}"
        moment = rng.uniform(0.0, total)
        landed += killed_at(start(cut), moment)
        if not (cut / "settings.json").exists():  # killed before the run existed
            run(start(cut))
        else:
            # Kill the resumed run once more, at a second random moment.
            if killed_at(resume(cut), rng.uniform(0.0, total / 2)):
                landed += 1
            run(resume(cut))
        survived += fingerprint(cut, files) == expected
    return {
        "command": command,
        "uninterrupted_seconds": round(total, 2),
        "runs": kills,
        "kills_landed": landed,
        "same_result": survived,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="killed runs per command")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--json", default=str(REPO / "benchmarks/results/kill_resume.json")
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bmnas-kill-") as folder:
        workdir = Path(folder)
        bank = workdir / "planted.npz"
        save_bank(make_planted(size=480, seed=1), bank)
        for command in ("train", "search"):
            rows.append(trial(command, workdir, bank, args.kills, rng))
    print(f"{'command':<8} {'runs':>5} {'kills':>6} {'same result':>12} {'run (s)':>8}")
    for row in rows:
        print(
            f"{row['command']:<8} {row['runs']:>5} {row['kills_landed']:>6} "
            f"{row['same_result']:>12} {row['uninterrupted_seconds']:>8}"
        )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.json, json.dumps({"seed": args.seed, "rows": rows}, indent=2))
    if any(row["same_result"] != row["runs"] for row in rows):
        raise SystemExit("some resumed runs differ from the uninterrupted one")


if __name__ == "__main__":
    main()
