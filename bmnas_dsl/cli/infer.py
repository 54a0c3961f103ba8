"""`bmnas infer`: run an exported ONNX model on an .npz of inputs."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from bmnas_dsl.cli.common import EXIT_OK, PROVIDERS, Subparsers


def add_parser(subparsers: Subparsers) -> None:
    infer = subparsers.add_parser(
        "infer", help="run an exported model with ONNX Runtime"
    )
    infer.add_argument("model", metavar="MODEL.onnx")
    infer.add_argument(
        "--inputs",
        required=True,
        metavar="X.npz",
        help="arrays named after the features",
    )
    infer.add_argument("--provider", choices=PROVIDERS, default="auto")
    infer.add_argument(
        "-o", "--output", metavar="OUT.npz", help="write the logits here"
    )
    infer.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Heavy (numpy, onnxruntime): imported only when this command runs.
    from bmnas_dsl.backend.infer import run_inference, save_logits

    if args.output:
        _check_writable(args.output)
    logits, provider = run_inference(args.model, args.inputs, args.provider)
    print(f"provider: {provider}", file=sys.stderr)
    if args.output:
        save_logits(args.output, logits)
        print(f"wrote {args.output} (logits {list(logits.shape)})")
    else:
        predictions = logits.argmax(axis=1).tolist()
        print(f"logits {list(logits.shape)}; argmax per sample: {predictions}")
    return EXIT_OK


def _check_writable(name: str) -> None:
    """OSError for an output that cannot be written: said before inference runs."""
    output = Path(name)
    if output.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), output)
    if not output.parent.is_dir():
        code = errno.ENOTDIR if output.parent.exists() else errno.ENOENT
        raise OSError(code, os.strerror(code), name)
