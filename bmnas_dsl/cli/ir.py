"""`bmnas ir`: the networkx IR of a valid genotype, as text or node-link JSON."""

from __future__ import annotations

import argparse
import sys

from bmnas_dsl.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    Subparsers,
    add_command,
    load_valid,
)
from bmnas_dsl.ir.graph import dumps_json
from bmnas_dsl.ir.render import render_text


def add_parser(subparsers: Subparsers) -> None:
    ir = add_command(
        subparsers,
        "ir",
        "dump the networkx IR of a .bmg file",
        "The graph the back end compiles: one node per feature, reshape, step, cell "
        "output and the classifier, with shapes and ops; as text, or node-link JSON.",
    )
    ir.add_argument("file", metavar="FILE", help="a .bmg file")
    ir.add_argument("--json", action="store_true", help="node-link JSON")
    ir.add_argument("--pruned", action="store_true", help="the pruned network's IR")
    ir.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = load_valid(args.file)
    if result is None:
        return EXIT_INVALID
    graph = result.pruned if args.pruned else result.ir
    if args.json:
        sys.stdout.write(dumps_json(graph))
    else:
        print(render_text(graph))
    return EXIT_OK
