"""Fuzzing of the `.bmg` front end: untrusted bytes in, a clear answer out, quickly.

What is run, and why: issue 7 treats a genotype file as untrusted input. Every case here
is a byte string, made by one of the generators below from a seeded `random.Random`, and
goes through what `bmnas check` and `bmnas fmt` do with a file's bytes:
`frontend.analyse_bytes` (size limit, UTF-8 decoding, parse, IR, validation, pruning),
the rendering of every diagnostic, and, when the text parses, the formatter. A case
passes when nothing raises and the answer keeps these promises:

- every diagnostic renders as `path:LINE:COL: error[CODE]: message` (or `path:
  error[CODE]: message` for the whole file), with a known code, a first line of at most
  MAX_HEAD_CHARS characters, and no control character but newline and tab (nothing that
  could drive the user's terminal);
- a text that parses formats to a text that parses to the same AST, formats to itself,
  and keeps every comment;
- a valid text has a pruned IR.

Anything else is a crash, kept with its input (base64) in the JSON. The time of each
case is recorded: the table gives the maximum per generator, and the time per byte of
the larger inputs (a linear front end keeps it flat).

Generators (each case picks one in turn): random bytes; random Unicode text; a soup of
grammar tokens; byte mutations of valid files (bit flips, inserted NUL, byte-order mark,
CR, U+2028, invalid UTF-8, truncation, splices); line mutations (deleted, duplicated,
swapped lines); look-alike letters (Cyrillic, Greek, full-width) put into names;
extreme shapes: deep nesting, very long names, lines, strings, comments and integers,
many cells, steps or errors, up to about 1 MB; and many undefined references (each gets
a "did you mean" search, the costliest diagnostic), up to 10 kB.

Run from the repository root: `python benchmarks/fuzz.py --seconds 300` (`--cases N`
stops after N cases; `--seed S`; `--json PATH`, by default `benchmarks/results/fuzz.json`,
written atomically). tests/lang/test_fuzz.py runs the same generators, driven by
hypothesis, for a few thousand cases in `make test`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import re
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.lang.diagnostics import BmgError
from bmnas_dsl.lang.formatter import format_file
from bmnas_dsl.lang.parser import parse
from bmnas_dsl.lang.source import MAX_SOURCE_BYTES
from bmnas_dsl.passes.pipeline import analyse_bytes

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "fuzz.json"
PATH = "fuzz.bmg"
CODES = {f"E{n:03d}" for n in range(1, 16)} | {f"W{n:03d}" for n in range(1, 5)}
MAX_HEAD_CHARS = 1000
# Inputs at least this large enter the time-per-byte figure (smaller ones are fixed cost).
LARGE_BYTES = 10_000
KEPT_CRASHES = 20

HEAD = re.compile(
    rf"{re.escape(PATH)}(:[0-9]+:[0-9]+)?: (error|warning)(\[([EW][0-9]{{3}})\])?: \S"
)
UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)

# A valid genotype without comments or strings: every letter is part of a name or a
# keyword, so a look-alike letter anywhere in it must be refused where it stands.
MINIMAL = """\
bmg 1

model tiny {
    dims C = 8, L = 4
    classes 3

    modality a {
        f1 : [16, 5]
        f2 : [32]
    }

    modality b {
        g1 : [12, 3, 3]
    }

    cell c1 (x = a.f1, y = b.g1) {
        s1 = Sum(x, y)
        s2 = Attention(s1, y)
        out = s1, s2
    }

    cell c2 (x = c1, y = a.f2) {
        s1 = LinearGLU(x, y)
        out = s1
    }

    output c1, c2
}
"""


def seeds() -> list[bytes]:
    """Valid files to mutate: MINIMAL and every example (comments, meta strings)."""
    examples = sorted((ROOT / "examples").glob("*.bmg"))
    return [MINIMAL.encode(), *(path.read_bytes() for path in examples)]


# Look-alikes of ASCII letters and digits (Unicode's confusables, a selection).
LOOKALIKES: dict[str, list[str]] = {
    "a": ["\u0430", "\u03b1", "\uff41"],
    "c": ["\u0441", "\u03f2"],
    "e": ["\u0435", "\u0117"],
    "i": ["\u0456", "\u0131"],
    "o": ["\u043e", "\u03bf", "\u0585"],
    "p": ["\u0440", "\u03c1"],
    "s": ["\u0455"],
    "x": ["\u0445", "\u00d7"],
    "y": ["\u0443", "\u04af"],
    "l": ["\u04cf", "\u217c"],
    "m": ["\uff4d"],
    "t": ["\uff54"],
    "u": ["\u057d"],
    "C": ["\u0421", "\u216d"],
    "L": ["\u216c"],
    "S": ["\u0405"],
    "G": ["\u050c"],
    "1": ["\u0661", "\uff11"],
    "2": ["\u0968"],
    "_": ["\uff3f"],
}

TOKENS = [
    "bmg", "1", "model", "m", "{", "}", "(", ")", "[", "]", ",", "=", ":", ".", "x",
    "y", "out", "cell", "modality", "output", "dims", "C", "L", "classes", "task",
    "dropout", "meta", "Sum", "Zero", "Attention", "LinearGLU", "ConcatFC",
    "ScaleDotAttn", "multiclass", "multilabel", "true", "false", "-1", "0", "1e9",
    "0.5", '"s"', '"\\""', "#c\n", "\n", "\r\n", "c1", "a.f1", "a", "f1", "s1",
    "class", "__init__", "self", "9" * 30,
]  # fmt: skip

INTERESTING = [
    b"\x00", b"\xef\xbb\xbf", b"\r", b"\r\n", b"\n", b"\t", b"\x0c", b"\x1b[31m",
    "\u2028".encode(), "\u202e".encode(), "\u0430".encode(), b"\xff", b"\xc3",
    b"\xed\xa0\x80", b"{" * 64, b"}" * 64, b"(" * 64, b"9" * 40, b"-", b"#", b'"',
    b"\\", b"1e999", b"__", b"out", b"x", b".", b",", b"=",
]  # fmt: skip


# ----------------------------------------------------------------------- generators


def random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(rng.choice([0, 1, 8, 64, 512, 2048]))


def random_text(rng: random.Random) -> bytes:
    alphabet = (
        'bmgodelcasxyz_0123456789 \t\n{}()[],=:.#"\\-+'
        "\u00e9\u0430\u2028\u202e\ufeff\x00\r\x0b\U0001f600"
    )
    return "".join(rng.choices(alphabet, k=rng.randint(0, 600))).encode(
        "utf-8", "surrogatepass"
    )


def token_soup(rng: random.Random) -> bytes:
    prefix = rng.choice(["", "bmg 1\n", "bmg 1\nmodel m {\n"])
    body = " ".join(rng.choices(TOKENS, k=rng.randint(0, 120)))
    return (prefix + body).encode()


def byte_mutation(rng: random.Random) -> bytes:
    pool = seeds_cache()
    data = bytearray(rng.choice(pool))
    for _ in range(rng.randint(1, 8)):
        action = rng.randrange(7)
        position = rng.randint(0, len(data))
        if action == 0 and data:  # flip one bit
            index = min(position, len(data) - 1)
            data[index] ^= 1 << rng.randrange(8)
        elif action == 1:  # insert an interesting byte sequence
            data[position:position] = rng.choice(INTERESTING)
        elif action == 2:  # delete a range
            del data[position : position + rng.randint(1, 40)]
        elif action == 3:  # duplicate a range
            data[position:position] = data[position : position + rng.randint(1, 200)]
        elif action == 4:  # truncate
            del data[position:]
        elif action == 5:  # splice in a piece of another seed
            other = rng.choice(pool)
            start = rng.randint(0, len(other))
            data[position:position] = other[start : start + rng.randint(1, 300)]
        else:  # replace a byte by a random one
            if data:
                data[min(position, len(data) - 1)] = rng.randrange(256)
    return bytes(data)


def line_mutation(rng: random.Random) -> bytes:
    lines = rng.choice(seeds_cache()).decode().split("\n")
    for _ in range(rng.randint(1, 6)):
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        action = rng.randrange(4)
        if action == 0 and len(lines) > 1:
            del lines[i]
        elif action == 1:
            lines.insert(i, lines[j])
        elif action == 2:
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] = lines[i].strip()
    ending = rng.choice(["\n", "\r\n"])
    return (rng.choice(["", "\ufeff"]) + ending.join(lines)).encode()


def lookalike(rng: random.Random) -> bytes:
    text = list(MINIMAL)
    places = [i for i, ch in enumerate(text) if ch in LOOKALIKES]
    for i in rng.sample(places, rng.randint(1, 3)):
        text[i] = rng.choice(LOOKALIKES[text[i]])
    return "".join(text).encode()


SIZES = (10, 1_000, 10_000, 100_000, 300_000)


def extreme(rng: random.Random, sizes: Sequence[int] = SIZES) -> bytes:
    """One absurd construct of a random size (up to about 1 MB) in a valid file."""
    n = rng.choice(sizes)
    kind = rng.randrange(14)
    base = MINIMAL
    if kind == 0:
        text = "bmg 1\nmodel m " + "{" * n + "}" * rng.choice([0, n])
    elif kind == 1:
        text = base.replace("Sum(x, y)", "Sum(" + "(" * n + "x, y)")
    elif kind == 2:
        text = base.replace("model tiny", "model " + "t" * n)
    elif kind == 3:
        text = base.replace("classes 3", "classes " + "9" * n)
    elif kind == 4:
        text = base.replace("classes 3", "classes 3  # " + "#" * n)
    elif kind == 5:
        text = base.replace("classes 3", 'classes 3 meta { k = "' + "s" * n + '" }')
    elif kind == 6:
        text = base.replace("[32]", "[" + ", ".join(["1"] * (n // 3)) + "]")
    elif kind == 7:
        text = base.replace("y = a.f2", "y = a" + ".f2" * (n // 3))
    elif kind == 8:
        text = "# # # # # # # # # # # # # # # # # # # # # # # # # # # # #\n" * (
            1 + n // 60
        )
    elif kind == 9:  # many cells, each reading the previous one
        cells = "\n".join(
            f"cell k{i} (x = {'c2' if i == 0 else f'k{i - 1}'}, y = a.f2) "
            "{ s = Sum(x, y) out = s }"
            for i in range(n // 60)
        )
        text = base.replace("output c1, c2", f"{cells}\noutput c1, c2")
    elif kind == 10:  # many errors of one kind (a repeated header statement)
        text = base.replace("classes 3", "classes 0\n" * (n // 10))
    elif kind == 11:  # a long chain of steps in one cell
        steps = "\n".join(f"t{i} = Sum(t{i - 1}, y)" for i in range(1, n // 20))
        text = base.replace(
            "s1 = Sum(x, y)", f"t0 = Sum(x, y)\n{steps}\ns1 = Sum(x, y)"
        )
    elif kind == 12:
        text = base.replace("classes 3", 'classes 3 meta { k = "' + "s" * n)
    else:
        text = "bmg 1\n" + "\n" * n + "model"
    return text.encode()


UNDEFINED_SIZES = (10, 1_000, 10_000)


def undefined_refs(rng: random.Random, sizes: Sequence[int] = UNDEFINED_SIZES) -> bytes:
    """Many undefined step operands, each with its "did you mean" among the cell's steps:
    the costliest error per byte (docs/reliability.md), so kept apart and at most 10 kB
    (500 references)."""
    n = rng.choice(sizes)
    steps = "\n".join(f"t{i} = Sum(q{i}, y)" for i in range(n // 20))
    return MINIMAL.replace("s1 = Sum(x, y)", f"{steps}\ns1 = Sum(x, y)").encode()


GENERATORS: dict[str, Callable[[random.Random], bytes]] = {
    "random_bytes": random_bytes,
    "random_text": random_text,
    "token_soup": token_soup,
    "byte_mutation": byte_mutation,
    "line_mutation": line_mutation,
    "lookalike": lookalike,
    "extreme": extreme,
    "undefined_refs": undefined_refs,
}

_SEEDS: list[bytes] = []


def seeds_cache() -> list[bytes]:
    if not _SEEDS:
        _SEEDS.extend(seeds())
    return _SEEDS


# --------------------------------------------------------------------------- checking


class Broken(AssertionError):
    """A promise of the front end that a case did not keep."""


@dataclass
class Outcome:
    status: str  # "ok" (valid), "error" (diagnosed), "crash"
    codes: list[str]
    seconds: float
    detail: str = ""


def check_case(data: bytes) -> Outcome:
    """Run one input through the front end as `check` and `fmt` do; never raises.

    `seconds` is the time of what the commands do (analyse, render, format), not of the
    checks made here afterwards (a second parse of the formatted text, among others).
    """
    timer = [0.0]
    try:
        codes, valid = _check(data, timer)
    except Exception as exc:  # every exception is a finding, with its traceback
        detail = "".join(traceback.format_exception(exc)[-6:])
        return Outcome("crash", [], timer[0], detail)
    return Outcome("ok" if valid else "error", codes, timer[0])


def _check(data: bytes, timer: list[float]) -> tuple[list[str], bool]:
    start = time.perf_counter()
    result = analyse_bytes(data, PATH)
    rendered = result.render_diagnostics()
    formatted = format_file(result.tree) if result.tree is not None else None
    timer[0] = time.perf_counter() - start
    if UNSAFE.search(rendered):
        raise Broken(f"control character in the rendered diagnostics: {rendered!r}")
    source_lines = result.text.split("\n")
    for diagnostic in result.diagnostics:
        if diagnostic.code not in CODES and diagnostic.code != "":
            raise Broken(f"unknown code {diagnostic.code!r}")
        head = diagnostic.render(PATH, result.text, source_lines).split("\n")[0]
        if not HEAD.match(head) or len(head) > MAX_HEAD_CHARS:
            raise Broken(f"badly rendered diagnostic: {head[:300]!r}")
    if result.ok and result.pruned is None:
        raise Broken("valid text without a pruned IR")
    if result.tree is not None and formatted is not None:
        _check_format(result.tree, formatted)
    return [d.code for d in result.diagnostics], result.ok


def _check_format(tree: Any, formatted: str) -> None:
    try:
        again = parse(formatted)
    except BmgError as exc:
        raise Broken(f"fmt output does not parse: {exc}") from None
    if again != tree:
        raise Broken("fmt changed the meaning (parse(fmt(t)) != parse(t))")
    if format_file(again) != formatted:
        raise Broken("fmt is not idempotent")
    if Counter(c.text for c in again.comments) != Counter(
        c.text for c in tree.comments
    ):
        raise Broken("fmt lost or changed a comment")


# ---------------------------------------------------------------------------- running


def run(cases: int, seconds: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    names = list(GENERATORS)
    stats = {
        name: {
            "cases": 0,
            "ok": 0,
            "error": 0,
            "crash": 0,
            "bytes": 0,
            "max_seconds": 0.0,
            "max_bytes": 0,
            "max_us_per_byte_large": 0.0,
            "codes": Counter(),
        }
        for name in names
    }
    crashes: list[dict[str, Any]] = []
    started = time.perf_counter()
    done = 0
    while done < cases and time.perf_counter() - started < seconds:
        name = names[done % len(names)]
        case_seed = rng.getrandbits(64)
        data = GENERATORS[name](random.Random(case_seed))[: MAX_SOURCE_BYTES + 1]
        outcome = check_case(data)
        row = stats[name]
        row["cases"] += 1
        row[outcome.status] += 1
        row["bytes"] += len(data)
        row["max_seconds"] = max(row["max_seconds"], outcome.seconds)
        row["max_bytes"] = max(row["max_bytes"], len(data))
        if len(data) >= LARGE_BYTES:
            per_byte = outcome.seconds / len(data) * 1e6
            row["max_us_per_byte_large"] = max(row["max_us_per_byte_large"], per_byte)
        row["codes"].update(outcome.codes)
        if outcome.status == "crash" and len(crashes) < KEPT_CRASHES:
            crashes.append(
                {
                    "generator": name,
                    "case_seed": case_seed,
                    "detail": outcome.detail,
                    "input_base64": base64.b64encode(data[:20_000]).decode(),
                }
            )
        done += 1
        if done % 500 == 0:
            elapsed = time.perf_counter() - started
            print(f"  {done:,} cases ({elapsed:.0f} s)", file=sys.stderr, flush=True)
    for row in stats.values():
        row["codes"] = dict(sorted(row["codes"].items()))
    return {
        "cases": done,
        "seconds": time.perf_counter() - started,
        "seed": seed,
        "generators": stats,
        "crashes": crashes,
    }


def print_table(result: dict[str, Any]) -> None:
    print(
        f"Fuzzing the front end: {result['cases']:,} cases in {result['seconds']:.0f} s "
        f"(seed {result['seed']}); a crash is an exception or a broken promise"
    )
    header = (
        f"{'generator':<14} {'cases':>7} {'ok':>6} {'error':>7} {'crash':>6} "
        f"{'MiB':>7} {'max bytes':>10} {'max ms':>8} {'us/B large':>10}"
    )
    print(header)
    print("-" * len(header))
    totals = Counter()
    for name, row in result["generators"].items():
        print(
            f"{name:<14} {row['cases']:>7,} {row['ok']:>6,} {row['error']:>7,} "
            f"{row['crash']:>6,} {row['bytes'] / 2**20:>7.1f} {row['max_bytes']:>10,} "
            f"{row['max_seconds'] * 1e3:>8.1f} {row['max_us_per_byte_large']:>10.2f}"
        )
        totals.update({k: row[k] for k in ("cases", "ok", "error", "crash", "bytes")})
    slowest = max(row["max_seconds"] for row in result["generators"].values())
    print("-" * len(header))
    print(
        f"{'total':<14} {totals['cases']:>7,} {totals['ok']:>6,} {totals['error']:>7,} "
        f"{totals['crash']:>6,} {totals['bytes'] / 2**20:>7.1f} {'':>10} "
        f"{slowest * 1e3:>8.1f}"
    )
    print(
        "(us/B large: the highest time per byte among inputs of at least "
        f"{LARGE_BYTES:,} bytes)"
    )
    for crash in result["crashes"][:3]:
        print(f"\ncrash ({crash['generator']}, case seed {crash['case_seed']}):")
        print(crash["detail"])


def machine_info() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000, help="at most N cases")
    parser.add_argument("--seconds", type=float, default=300.0, help="time budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help="where to write JSON"
    )
    args = parser.parse_args(argv)
    machine = machine_info()
    result = run(args.cases, args.seconds, args.seed)
    print_table(result)
    data = {
        "benchmark": "fuzz",
        "command": " ".join(["python", "benchmarks/fuzz.py", *(argv or sys.argv[1:])]),
        "machine": machine,
        "max_source_bytes": MAX_SOURCE_BYTES,
        **result,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.json, json.dumps(data, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    return 1 if any(row["crash"] for row in result["generators"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
