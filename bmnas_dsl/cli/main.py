"""`bmnas`'s entry point: parse, run the command's handler, map what it raises to an exit
code (0 ok, 1 invalid input, 2 usage, 3 internal error, 130 interrupted) in this one place. Front-end
commands never import torch (measured by a test)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bmnas_dsl.cli.common import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
)
from bmnas_dsl.cli.knobs import fill_defaults
from bmnas_dsl.cli.parser import build_parser
from bmnas_dsl.errors import BmnasError


def main(argv: Sequence[str] | None = None) -> int:
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:  # with the command's usage, not bmnas's (argparse's default)
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    fill_defaults(args)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        try:
            status = run(args)
        except UsageError as exc:
            args.command_parser.print_usage(sys.stderr)
            _error(args, str(exc))
            status = EXIT_USAGE
        except BmnasError as exc:  # the user's to fix; the message says what and where
            status = _error(args, str(exc))
        if sys.stdout is not None:  # None when started with stdout closed (`>&-`)
            sys.stdout.flush()  # a reader gone away shows here, not at Python's exit
        return status
    except KeyboardInterrupt:
        return _interrupted(args)
    except BrokenPipeError:  # `bmnas info | head`: the reader left; not an error
        # Python would complain again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # a file that cannot be written or read: the user's to fix
        return _error(args, _os_message(args, exc))
    except MemoryError:  # e.g. an .npz whose arrays do not fit: too large an input
        return _error(args, "out of memory")
    except UnicodeEncodeError as exc:  # stdout in ASCII (PYTHONIOENCODING, old locale)
        return _error(
            args,
            f"the output encoding ({exc.encoding}) cannot write "
            f"{exc.object[exc.start : exc.end]!r}; set PYTHONIOENCODING=utf-8",
        )
    except Exception as exc:  # a bug, not a user error: say so without a traceback
        if os.environ.get("BMNAS_DEBUG"):
            raise
        print(
            f"bmnas: internal error: {type(exc).__name__}: {exc} "
            "(set BMNAS_DEBUG=1 for a traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _interrupted(args: argparse.Namespace) -> int:
    """Ctrl-C: 130, as a shell expects; a run that can continue says how."""
    hint = getattr(args, "resume_hint", None)
    command = hint(args) if hint else None
    if sys.stderr is not None:
        where = f"; continue with: {command}" if command else ""
        print(f"\nbmnas {args.command}: interrupted{where}", file=sys.stderr)
    return EXIT_INTERRUPTED


def _error(args: argparse.Namespace, message: str) -> int:
    print(f"bmnas {args.command}: error: {message}", file=sys.stderr)
    return EXIT_INVALID


def _os_message(args: argparse.Namespace, exc: OSError) -> str:
    # A failed rename (os.replace of the temporary file) names the file the user
    # asked for as filename2; filename is then bmnas's temporary name.
    target = exc.filename2 or exc.filename
    reason = exc.strerror or exc
    if target is None or _is_output(args, target):
        where = f" {target}" if target else ""
        return f"cannot write{where}: {reason}"
    # e.g. a run directory's file that is a directory or unreadable
    return f"cannot read {target}: {reason}"


def _is_output(args: argparse.Namespace, filename: str | os.PathLike) -> bool:
    """Whether `filename` is (in, or a folder above) one of the command's outputs."""
    path = Path(os.path.abspath(filename))
    for value in (getattr(args, "output", None), getattr(args, "run_dir", None)):
        if value and value != "-":
            output = Path(os.path.abspath(value))
            if path == output or path in output.parents or output in path.parents:
                return True
    return False


if __name__ == "__main__":
    sys.exit(main())
