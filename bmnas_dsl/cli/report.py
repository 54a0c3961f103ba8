"""`bmnas report`: one table of a search run, a training run and an ONNX export."""

from __future__ import annotations

import argparse
from pathlib import Path

from bmnas_dsl.cli.common import EXIT_OK, Subparsers


def add_parser(subparsers: Subparsers) -> None:
    report = subparsers.add_parser(
        "report", help="summarise search, training and ONNX export in one table"
    )
    report.add_argument("--search-run", required=True, metavar="R")
    report.add_argument("--train-run", required=True, metavar="T")
    report.add_argument("--onnx", required=True, metavar="MODEL.onnx")
    report.add_argument("-o", "--output", required=True, metavar="DIR")
    report.add_argument(
        "--repeats", type=int, default=200, help="timed calls per latency figure"
    )
    report.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Heavy (torch, onnxruntime): imported only when this command runs.
    from bmnas_dsl.data.resolve import resolve_data
    from bmnas_dsl.report.summary import (
        build_report,
        summary_rows,
        text_table,
        write_report,
    )
    from bmnas_dsl.train.runner import read_settings

    _, _, data, _ = read_settings(args.train_run)
    report = build_report(
        Path(args.search_run),
        Path(args.train_run),
        Path(args.onnx),
        resolve_data(data),
        repeats=args.repeats,
    )
    write_report(report, Path(args.output))
    print(text_table(summary_rows(report)), end="")
    print(f"wrote {Path(args.output) / 'report.md'}")
    return EXIT_OK
