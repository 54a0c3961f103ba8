"""`bmnas export`: a valid genotype (with weights, if given) to ONNX, checked with ONNX
Runtime."""

from __future__ import annotations

import argparse
import errno
import os
from pathlib import Path

from bmnas_dsl.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    PROVIDERS,
    Subparsers,
    load_valid,
)


def add_parser(subparsers: Subparsers) -> None:
    export = subparsers.add_parser(
        "export", help="export to ONNX, checked with ONNX Runtime"
    )
    export.add_argument("file", metavar="FILE")
    export.add_argument("-o", "--output", required=True, metavar="MODEL.onnx")
    export.add_argument(
        "--weights",
        metavar="W",
        help=".safetensors or state_dict file (weights_only load)",
    )
    export.add_argument(
        "--provider",
        choices=PROVIDERS,
        default="auto",
        help="ORT provider of the check",
    )
    export.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Heavy (torch, onnx): imported only when this command runs.
    from bmnas_dsl.backend.compile import load_module
    from bmnas_dsl.backend.export import export_model
    from bmnas_dsl.backend.weights import load_weights

    if Path(args.output).is_dir():  # said now, not after the export at its rename
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), args.output)
    result = load_valid(args.file)
    if result is None:
        return EXIT_INVALID
    _, module = load_module(result)
    model = module.Model()
    if args.weights:
        load_weights(model, args.weights)
    report = export_model(module, model, args.output, provider=args.provider)
    checks = ", ".join(f"batch {n}: {d:.1e}" for n, d in report.max_abs_diff.items())
    print(
        f"wrote {args.output} (checked with ONNX Runtime, {report.provider}: max |ORT - torch| {checks})"
    )
    return EXIT_OK
