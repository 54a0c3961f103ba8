"""`bmnas report`: compare any number of runs in one table, or summarise one pipeline
(a training run, its ONNX export and, optionally, the search that wrote its genotype)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bmnas_dsl.cli.common import EXIT_OK, Subparsers, UsageError, add_command
from bmnas_dsl.fileio import write_atomic

REPEATS = 200
COMPARISON_MD, COMPARISON_JSON = "comparison.md", "comparison.json"


def add_parser(subparsers: Subparsers) -> None:
    report = add_command(
        subparsers,
        "report",
        "compare runs in one table, or summarise a train -> export pipeline",
        "Two forms (docs/report.md). `bmnas report RUN...`: one table of any number of "
        "search and training run directories (run, seeds, data, kept epoch, "
        "validation and test metric, parameters, the genotype in one line); each "
        "training run is shown with the search run whose kept genotype it trained. "
        "`bmnas report --train-run T --onnx M [--search-run R] -o DIR`: the pipeline "
        "summary (search and training time, scores, ONNX Runtime parity on the test "
        "split, latency), with report.md, summary.json and the pictures written into "
        "DIR; a training run that did not train R's genotype is refused.",
    )
    report.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help="search or training run directories to compare, in any number and order",
    )
    report.add_argument(
        "--search-run",
        metavar="R",
        help="pipeline form: the search run that wrote the trained genotype (leave it "
        "out for a genotype no search wrote)",
    )
    report.add_argument(
        "--train-run",
        metavar="T",
        help="pipeline form: the training run (bmnas train -o T) to summarise",
    )
    report.add_argument(
        "--onnx",
        metavar="MODEL.onnx",
        help="pipeline form: the model exported from T's weights (required with "
        "--train-run)",
    )
    report.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help="folder to write into: report.md, summary.json and the pictures "
        f"(pipeline form, required), or {COMPARISON_MD} and {COMPARISON_JSON} "
        "(comparison; without -o the table is only printed)",
    )
    report.add_argument(
        "--repeats",
        type=int,
        metavar="N",
        help=f"pipeline form: timed calls per latency figure (default: {REPEATS})",
    )
    report.add_argument(
        "--device",
        metavar="D",
        help="pipeline form: where the eager latency is timed, with ONNX Runtime on "
        "the same hardware (its CUDA provider for a GPU): auto (default: CUDA when a "
        "GPU really runs, else the CPU), cpu, cuda or cuda:N; the scores are always "
        "computed on the CPU",
    )
    report.set_defaults(run=run)


def _form(args: argparse.Namespace) -> str:
    """ "compare" or "pipeline"; UsageError (exit 2) for a mix of the two or a
    pipeline without its required flags."""
    pipeline = [
        flag
        for flag, value in (
            ("--train-run", args.train_run),
            ("--search-run", args.search_run),
            ("--onnx", args.onnx),
            ("--repeats", args.repeats),
            ("--device", args.device),
        )
        if value is not None
    ]
    if args.runs and pipeline:
        raise UsageError(
            f"give run directories to compare, or {', '.join(pipeline)} for a pipeline "
            "report, not both"
        )
    if args.runs:
        return "compare"
    if not pipeline:
        raise UsageError(
            "give run directories to compare (bmnas report RUN...), or --train-run T "
            "--onnx M -o DIR for a pipeline report"
        )
    missing = [
        flag
        for flag, value in (
            ("--train-run", args.train_run),
            ("--onnx", args.onnx),
            ("-o", args.output),
        )
        if value is None
    ]
    if missing:
        raise UsageError(f"a pipeline report needs {', '.join(missing)}")
    return "pipeline"


def run(args: argparse.Namespace) -> int:
    if _form(args) == "compare":
        return compare(args)
    return pipeline(args)


def compare(args: argparse.Namespace) -> int:
    import json

    from bmnas_dsl.report.compare import (
        compare_runs,
        comparison_json,
        comparison_markdown,
        comparison_text,
    )

    rows = compare_runs(args.runs)
    print(comparison_text(rows), end="")
    if args.output:
        folder = Path(args.output)
        folder.mkdir(parents=True, exist_ok=True)
        data = json.dumps(comparison_json(rows), indent=2) + "\n"
        write_atomic(folder / COMPARISON_JSON, data)
        write_atomic(folder / COMPARISON_MD, comparison_markdown(rows))
        print(f"wrote {folder / COMPARISON_MD} and {COMPARISON_JSON}")
    return EXIT_OK


def pipeline(args: argparse.Namespace) -> int:
    # Heavy (torch, onnxruntime): imported only when this command runs.
    from bmnas_dsl.data.resolve import resolve_data
    from bmnas_dsl.report.summary import (
        build_report,
        report_pictures,
        summary_rows,
        text_table,
        write_report,
    )
    from bmnas_dsl.train.runner import read_settings

    search_run = Path(args.search_run) if args.search_run else None
    train_run = Path(args.train_run)
    _, _, data, _ = read_settings(train_run)
    report = build_report(
        search_run,
        train_run,
        Path(args.onnx),
        resolve_data(data),
        repeats=REPEATS if args.repeats is None else args.repeats,
        device=args.device or "auto",
    )
    # Drawn before anything is written: a picture that fails leaves no half report.
    pictures = report_pictures(report, search_run, train_run)
    write_report(report, Path(args.output), pictures)
    print(text_table(summary_rows(report)), end="")
    print(f"wrote {Path(args.output) / 'report.md'}")
    return EXIT_OK
