"""`bmnas search`: a BM-NAS search on a data set, new or resumed; writes the genotype."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bmnas_dsl.cli.common import EXIT_OK, Subparsers
from bmnas_dsl.cli.search_flags import add_knobs, space_knobs, training_of
from bmnas_dsl.errors import SearchError
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.runs.directory import existing_run
from bmnas_dsl.runs.layout import LOG

# What helps architecture weights that barely move (docs/search.md, "Convergence").
CONVERGENCE_HINT = "more architecture steps help: raise --arch-lr or --epochs"


def add_parser(subparsers: Subparsers) -> None:
    search = subparsers.add_parser(
        "search", help="BM-NAS search on a data set; writes the genotype"
    )
    search.add_argument("--data", metavar="DATA", help="mfeat, planted or a bank path")
    search.add_argument("-o", "--output", metavar="ARCH.bmg")
    search.add_argument("--run-dir", metavar="R", help="default: ARCH.run beside -o")
    search.add_argument(
        "--resume", action="store_true", help="continue the run in --run-dir"
    )
    search.add_argument(
        "--overwrite", action="store_true", help="start again in a used --run-dir"
    )
    add_knobs(search)
    search.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Heavy (torch): imported only when this command runs.
    from bmnas_dsl.data.resolve import resolve_data
    from bmnas_dsl.search.runner import read_settings, run_search, space_for

    if args.resume:
        if not args.run_dir:
            raise SearchError(
                "--resume needs --run-dir (the interrupted run's directory)"
            )
        run_dir = Path(args.run_dir)
        space, training, data, output = read_settings(run_dir)
        output = args.output or output
    else:
        data, output, run_dir = _new_run(args)
    if not Path(output).parent.is_dir():  # found now, not after the whole search
        raise SearchError(
            f"cannot write {output}: {Path(output).parent} is not a directory"
        )
    bank = resolve_data(data)
    if not args.resume:
        space, training = space_for(bank, **space_knobs(args)), training_of(args)
    genotype = run_search(bank, space, training, data, run_dir, output, args.resume)
    write_atomic(output, genotype)
    print(f"wrote {output} (run directory {run_dir})")
    note = convergence_note(run_dir, sampling=training.selection == "sample")
    if note:
        print(note, file=sys.stderr)
    return EXIT_OK


def convergence_note(run_dir: Path, sampling: bool) -> str | None:
    """The one line that says the architecture weights stayed near uniform (from the
    last epoch's record), or None; alpha does not count when inputs are sampled."""
    from bmnas_dsl.runs.log import read_log
    from bmnas_dsl.search.convergence import verdict

    figures = read_log(run_dir / LOG, SearchError)[-1].get("convergence")
    if not isinstance(figures, dict):
        return None
    groups = ("beta", "gamma") if sampling else ("alpha", "beta", "gamma")
    return verdict(figures, CONVERGENCE_HINT, groups)


def _new_run(args: argparse.Namespace) -> tuple[str, str, Path]:
    """The data, output and run directory of a new search, once it may start."""
    if not args.data or not args.output:
        raise SearchError("a new search needs --data and -o (or --resume --run-dir R)")
    run_dir = Path(args.run_dir or Path(args.output).with_suffix(".run"))
    refusal = existing_run(run_dir, args.overwrite)
    if refusal:
        raise SearchError(refusal)
    return args.data, args.output, run_dir
