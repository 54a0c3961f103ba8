"""`bmnas search`: a BM-NAS search on a data set, new or resumed; writes the genotype."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

from bmnas_dsl.cli import knobs
from bmnas_dsl.cli.common import EXIT_OK, Subparsers, UsageError, add_command
from bmnas_dsl.cli.launch import continues_after_restart, machine_settings
from bmnas_dsl.cli.search_flags import add_knobs, space_knobs, training_of
from bmnas_dsl.errors import SearchError
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.parallel.world import backend_device, from_environment, joined
from bmnas_dsl.runs.checks import without_machine_settings
from bmnas_dsl.runs.directory import existing_run
from bmnas_dsl.runs.layout import LOG, SETTINGS
from bmnas_dsl.search.settings import Training
from bmnas_dsl.search.space import SearchSpace

# What helps architecture weights that barely move (docs/search.md, "Convergence").
CONVERGENCE_HINT = "more architecture steps help: raise --arch-lr or --epochs"


def add_parser(subparsers: Subparsers) -> None:
    search = add_command(
        subparsers,
        "search",
        "BM-NAS search on a data set; writes the genotype",
        "A differentiable bilevel search over the cells' inputs, the steps' ops and "
        "inputs (docs/search.md). Writes the searched genotype (.bmg) and a run "
        "directory (log, checkpoint, best epoch) that --resume continues. Runs on "
        "several processes under torchrun (--batch-size is then the global batch; "
        "docs/distributed.md).",
    )
    search.add_argument(
        "--data",
        metavar="DATA",
        help="mfeat, mfeat:VIEW,VIEW,... (some views), planted, or the path of a "
        "feature bank (.npz); required for a new search",
    )
    search.add_argument(
        "-o",
        "--output",
        metavar="ARCH.bmg",
        help="the genotype file; required for a new search",
    )
    search.add_argument(
        "--run-dir", metavar="R", help="the run directory (default: ARCH.run beside -o)"
    )
    search.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --run-dir; flags not given are the run's, a flag "
        "given must equal the run's",
    )
    search.add_argument(
        "--overwrite", action="store_true", help="start again in a used --run-dir"
    )
    add_knobs(search)
    search.set_defaults(run=run, resume_hint=resume_hint)


def run(args: argparse.Namespace) -> int:
    # Heavy (torch): imported only when this command runs.
    from bmnas_dsl.data.resolve import resolve_data
    from bmnas_dsl.search.record import read_settings
    from bmnas_dsl.search.runner import run_search, space_for

    world = from_environment()  # torchrun's, or a world of one
    restart_dir = args.run_dir or (
        args.output and Path(args.output).with_suffix(".run")
    )
    if not args.resume and restart_dir and continues_after_restart(world, restart_dir):
        args.resume, args.run_dir = True, str(restart_dir)
    if args.resume:
        if not args.run_dir:
            raise UsageError(
                "--resume needs --run-dir (the interrupted run's directory)"
            )
        run_dir = Path(args.run_dir)
        space, training, data, output = read_settings(run_dir)
        _check_resume_flags(args, run_dir, space, training, data)
        training = machine_settings(training, args)
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
    with joined(world, backend_device(training.device, world)):
        genotype = run_search(
            bank, space, training, data, run_dir, output, args.resume, world=world
        )
    if not world.writer:
        return EXIT_OK
    write_atomic(output, genotype)
    print(f"wrote {output} (run directory {run_dir})")
    note = convergence_note(run_dir, sampling=training.selection == "sample")
    if note:
        print(note, file=sys.stderr)
    return EXIT_OK


def resume_hint(args: argparse.Namespace) -> str | None:
    """How to continue this run after Ctrl-C (None before its directory exists)."""
    run_dir = args.run_dir or (args.output and Path(args.output).with_suffix(".run"))
    if not run_dir or not (Path(run_dir) / SETTINGS).is_file():
        return None
    return f"bmnas search --resume --run-dir {shlex.quote(str(run_dir))}"


def _check_resume_flags(
    args: argparse.Namespace,
    run_dir: Path,
    space: SearchSpace,
    training: Training,
    data: str,
) -> None:
    """A flag given with --resume must say what the run already does."""
    recorded = without_machine_settings(
        {**asdict(space), **asdict(training), "data": data}
    )
    given = knobs.conflicts(args, recorded, knobs.flag_name)
    if args.data is not None and args.data != data:
        given.insert(0, f"--data {args.data} (the run has {data})")
    if given:
        raise SearchError(
            f"{run_dir}: --resume continues the run with its own settings, but "
            f"{'; '.join(given)}; drop those flags, or start a new run "
            "(another --run-dir, or --overwrite)"
        )


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
        raise UsageError("a new search needs --data and -o (or --resume --run-dir R)")
    run_dir = Path(args.run_dir or Path(args.output).with_suffix(".run"))
    refusal = existing_run(run_dir, args.overwrite)
    if refusal:
        raise SearchError(refusal)
    return args.data, args.output, run_dir
