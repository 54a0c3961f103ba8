"""Helpers shared by the command modules: exit codes, printing diagnostics, loading a
genotype. Torch-free and light: every command module imports this one."""

from __future__ import annotations

import argparse
import sys

from bmnas_dsl.errors import BmnasError
from bmnas_dsl.lang.diagnostics import BmgError
from bmnas_dsl.passes.pipeline import Frontend, analyse_file, read_source

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
PROVIDERS = ("auto", "cpu", "cuda")  # ONNX Runtime providers of `export` and `infer`

# What `ArgumentParser.add_subparsers` returns; argparse gives it no public name.
Subparsers = argparse._SubParsersAction  # type: ignore[type-arg]


class UsageError(BmnasError):
    """A command line that cannot run as given (a required flag missing for this mode):
    the command's usage and the message, exit 2, like argparse's own errors."""


def add_command(
    subparsers: Subparsers, name: str, summary: str, description: str
) -> argparse.ArgumentParser:
    """A subcommand with its one-line `summary` (in `bmnas --help`) and its
    `description` (in `bmnas NAME --help`)."""
    return subparsers.add_parser(
        name,
        help=summary,
        description=f"{summary[0].upper()}{summary[1:]}. {description}",
    )


def print_diagnostics(result: Frontend) -> None:
    """Every diagnostic of the analysis, located, on stderr."""
    if result.diagnostics:
        print(result.render_diagnostics(), file=sys.stderr)


def load_valid(path: str) -> Frontend | None:
    """The analysed file, or None after printing its errors (warnings are `check`'s job)."""
    result = analyse_file(path)
    if result.ok:
        return result
    print(result.errors_only().render_diagnostics(), file=sys.stderr)
    return None


def read_text(path: str) -> str | None:
    """The text of a genotype file, or None after printing why it cannot be read (no
    such file, too large, not UTF-8) as located diagnostics."""
    try:
        return read_source(path)
    except BmgError as exc:
        print(Frontend(path, "", exc.diagnostics).render_diagnostics(), file=sys.stderr)
        return None
