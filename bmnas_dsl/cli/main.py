"""The `bmnas` command line. Front-end commands never import torch (measured by a test)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.ir.graph import dumps_json, to_node_link
from bmnas_dsl.lang.diagnostics import BmgError
from bmnas_dsl.lang.formatter import format_file
from bmnas_dsl.passes.describe import describe, render_text
from bmnas_dsl.passes.pipeline import Frontend, analyse_file, analyse_text, read_source
from bmnas_dsl.search.settings import Training
from bmnas_dsl.search.space import SearchSpace
from bmnas_dsl.train.settings import TrainSettings
from bmnas_dsl.version import __version__

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def _report(result: Frontend) -> None:
    if result.diagnostics:
        print(result.render_diagnostics(), file=sys.stderr)


def _load_valid(path: str) -> Frontend | None:
    """The analysed file, or None after printing its errors (warnings are `check`'s job)."""
    result = analyse_file(path)
    if result.ok:
        return result
    errors = [d for d in result.diagnostics if d.is_error]
    print(
        Frontend(result.path, result.text, errors).render_diagnostics(), file=sys.stderr
    )
    return None


def cmd_check(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for path in args.files:
        result = analyse_file(path)
        _report(result)
        errors = sum(d.is_error for d in result.diagnostics)
        warnings = len(result.diagnostics) - errors
        if errors:
            status = EXIT_INVALID
            print(f"{path}: {errors} error(s), {warnings} warning(s)", file=sys.stderr)
        elif not args.quiet:
            print(f"{path}: ok" + (f" ({warnings} warning(s))" if warnings else ""))
    return status


def cmd_fmt(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for path in args.files:
        try:
            text = read_source(path)
        except BmgError as exc:
            print(
                Frontend(path, "", exc.diagnostics).render_diagnostics(),
                file=sys.stderr,
            )
            status = EXIT_INVALID
            continue
        result = analyse_text(text, path)
        if result.tree is None:  # formatting needs only a parse, not a valid model
            _report(result)
            status = EXIT_INVALID
            continue
        formatted = format_file(result.tree)
        if args.check:
            if formatted != text:
                print(f"would reformat {path}", file=sys.stderr)
                status = EXIT_INVALID
        elif args.write:
            if formatted != text:
                write_atomic(path, formatted)
                print(f"reformatted {path}")
        else:
            sys.stdout.write(formatted)
    return status


def cmd_ir(args: argparse.Namespace) -> int:
    result = _load_valid(args.file)
    if result is None:
        return EXIT_INVALID
    graph = result.pruned if args.pruned else result.ir
    if args.json:
        sys.stdout.write(dumps_json(graph))
    else:
        print(_render_ir(graph))
    return EXIT_OK


def _render_ir(graph: object) -> str:
    data = to_node_link(graph)  # type: ignore[arg-type]
    lines = [
        f"model {data['graph']['model']}  ({len(data['nodes'])} nodes, {len(data['edges'])} edges)",
        "nodes:",
    ]
    for node in data["nodes"]:
        extra = f" op={node['op']}" if node.get("op") else ""
        lines.append(
            f"  {node['id']:<32} {node['kind']:<10} shape={node.get('shape')}{extra}"
        )
    lines.append("edges:")
    lines += [f"  {e['source']} -> {e['target']}  [{e['key']}]" for e in data["edges"]]
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> int:
    result = _load_valid(args.file)
    if result is None:
        return EXIT_INVALID
    info = describe(result.pruned)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(render_text(info))
    return EXIT_OK


def cmd_compile(args: argparse.Namespace) -> int:
    from bmnas_dsl.backend.codegen import Source, render_module

    result = _load_valid(args.file)
    if result is None:
        return EXIT_INVALID
    source = Source(Path(args.file).name, result.text)
    module = render_module(result.pruned, source)
    if args.output == "-":
        sys.stdout.write(module)
    else:
        write_atomic(args.output, module)
        print(f"wrote {args.output}")
    return EXIT_OK


def _compiled(path: str) -> tuple[object, object] | None:
    """The generated module of a valid genotype, imported, and a fresh Model()."""
    from bmnas_dsl.backend.codegen import Source, render_module
    from bmnas_dsl.backend.loader import import_generated

    result = _load_valid(path)
    if result is None:
        return None
    module = import_generated(
        render_module(result.pruned, Source(Path(path).name, result.text))
    )
    return module, module.Model()


def cmd_export(args: argparse.Namespace) -> int:
    import errno

    from bmnas_dsl.backend.export import ExportError, export_model
    from bmnas_dsl.backend.runtime import RuntimeSetupError
    from bmnas_dsl.backend.weights import WeightsError, load_weights

    if Path(args.output).is_dir():  # said now, not after the export at its rename
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), args.output)
    compiled = _compiled(args.file)
    if compiled is None:
        return EXIT_INVALID
    module, model = compiled
    try:
        if args.weights:
            load_weights(model, args.weights)
        report = export_model(module, model, args.output, provider=args.provider)
    except (WeightsError, ExportError, RuntimeSetupError) as exc:
        print(f"bmnas export: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    checks = ", ".join(f"batch {n}: {d:.1e}" for n, d in report.max_abs_diff.items())
    print(
        f"wrote {args.output} (checked with ONNX Runtime, {report.provider}: max |ORT - torch| {checks})"
    )
    return EXIT_OK


def cmd_infer(args: argparse.Namespace) -> int:
    import errno

    from bmnas_dsl.backend.infer import InferError, run_inference
    from bmnas_dsl.backend.runtime import RuntimeSetupError

    if args.output:  # an output that cannot be written is said before inference runs
        output = Path(args.output)
        if output.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), output)
        if not output.parent.is_dir():
            code = errno.ENOTDIR if output.parent.exists() else errno.ENOENT
            raise OSError(code, os.strerror(code), args.output)
    try:
        logits, provider = run_inference(args.model, args.inputs, args.provider)
    except (InferError, RuntimeSetupError) as exc:
        print(f"bmnas infer: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(f"provider: {provider}", file=sys.stderr)
    if args.output:
        from bmnas_dsl.backend.infer import save_logits

        save_logits(args.output, logits)
        print(f"wrote {args.output} (logits {list(logits.shape)})")
    else:
        predictions = logits.argmax(axis=1).tolist()
        print(f"logits {list(logits.shape)}; argmax per sample: {predictions}")
    return EXIT_OK


def cmd_data(args: argparse.Namespace) -> int:
    from bmnas_dsl.data.bank import BankError, genotype_problems
    from bmnas_dsl.data.resolve import resolve_data

    try:
        bank = resolve_data(args.data)
    except BankError as exc:
        print(f"bmnas data: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    summary = {
        "task": bank.task,
        "classes": bank.classes,
        "samples": bank.size,
        "splits": bank.split_sizes(),
        "features": [{"name": n, "shape": list(bank.shape(n))} for n in bank.features],
        "info": bank.info,
    }
    if args.genotype:
        result = _load_valid(args.genotype)
        if result is None:
            return EXIT_INVALID
        inputs = [(i["name"], i["shape"]) for i in describe(result.pruned)["inputs"]]
        found = genotype_problems(bank, inputs)
        if found:
            print(
                f"bmnas data: error: {args.genotype}: " + "; ".join(found),
                file=sys.stderr,
            )
            return EXIT_INVALID
    if args.json:
        print(json.dumps(summary, indent=2))
        return EXIT_OK
    sizes = ", ".join(f"{k} {v}" for k, v in summary["splits"].items())
    print(
        f"{args.data}: {bank.task}, {bank.classes} classes, {bank.size} samples ({sizes})"
    )
    for feature in summary["features"]:
        print(f"  {feature['name']:<16} {feature['shape']}")
    # The registered data set, not a bank file that says it is mfeat: `info` is
    # free-form (and untrusted) in a bank file; its backbone reports may be malformed.
    if args.data.partition(":")[0] == "mfeat":
        for view, report in bank.info["backbones"].items():
            print(
                f"  backbone {view}: test accuracy {report['test_accuracy']:.3f} "
                f"(val {report['val_accuracy']:.3f}, epoch {report['epoch']})"
            )
    if args.genotype:
        print(f"{args.genotype}: every input is in the bank with the declared shape")
    return EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    from bmnas_dsl.data.bank import BankError
    from bmnas_dsl.data.resolve import resolve_data
    from bmnas_dsl.nn.numeric import NumericError
    from bmnas_dsl.search.runner import SearchError, read_settings, run_search
    from bmnas_dsl.search.space import PAPER_OPS

    try:
        if args.resume:
            if not args.run_dir:
                raise SearchError(
                    "--resume needs --run-dir (the interrupted run's directory)"
                )
            run_dir = Path(args.run_dir)
            space, training, data, output = read_settings(run_dir)
            output = args.output or output
        else:
            if not args.data or not args.output:
                raise SearchError(
                    "a new search needs --data and -o (or --resume --run-dir R)"
                )
            data, output = args.data, args.output
            run_dir = Path(args.run_dir or Path(output).with_suffix(".run"))
            refusal = _existing_run(run_dir, args.overwrite)
            if refusal:
                raise SearchError(refusal)
        if not Path(output).parent.is_dir():  # found now, not after the whole search
            raise SearchError(
                f"cannot write {output}: {Path(output).parent} is not a directory"
            )
        bank = resolve_data(data)
        if not args.resume:
            features = tuple((name, bank.shape(name)) for name in bank.features)
            space = SearchSpace(
                features=features,
                classes=bank.classes,
                task=bank.task,
                C=args.C,
                L=args.L,
                cells=args.cells,
                steps=args.steps,
                node_multiplier=args.node_multiplier,
                ops=tuple(args.ops or PAPER_OPS),
                cell_inputs=args.cell_inputs,
                mixing=args.mixing,
                dropout=args.dropout,
            )
            training = Training(
                epochs=args.epochs,
                batch_size=args.batch_size,
                seed=args.seed,
                alternation=args.alternation,
                threads=args.threads,
            )
        genotype = run_search(bank, space, training, data, run_dir, output, args.resume)
    except (BankError, SearchError, NumericError) as exc:
        print(f"bmnas search: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    write_atomic(output, genotype)
    print(f"wrote {output} (run directory {run_dir})")
    return EXIT_OK


def _existing_run(run_dir: str | Path, overwrite: bool) -> str | None:
    """Why a new run may not start in `run_dir`, or None: a run directory already holding
    a run is only reused on request, so a failed new run cannot destroy a finished one."""
    if not overwrite and Path(run_dir, "settings.json").exists():
        return (
            f"{run_dir} already holds a run; continue it with --resume, or start "
            "again with --overwrite (or choose another directory)"
        )
    return None


def cmd_train(args: argparse.Namespace) -> int:
    from bmnas_dsl.data.bank import BankError
    from bmnas_dsl.data.resolve import resolve_data
    from bmnas_dsl.nn.numeric import NumericError
    from bmnas_dsl.train.runner import TrainError, read_settings, train_genotype

    try:
        if args.resume:
            text, name, data, settings = read_settings(args.output)
        else:
            if not args.file or not args.data:
                raise TrainError("a new training run needs FILE and --data")
            refusal = _existing_run(args.output, args.overwrite)
            if refusal:
                raise TrainError(refusal)
            try:
                text, data, name = read_source(args.file), args.data, args.file
            except BmgError as exc:
                print(
                    Frontend(args.file, "", exc.diagnostics).render_diagnostics(),
                    file=sys.stderr,
                )
                return EXIT_INVALID
            settings = TrainSettings(
                epochs=args.epochs,
                batch_size=args.batch_size,
                seed=args.seed,
                lr=args.lr,
                weight_decay=args.weight_decay,
                holdout=args.holdout,
                threads=args.threads,
            )
        found = settings.problems()  # before preparing any data
        if found:
            raise TrainError("; ".join(found))
        bank = resolve_data(data)
        metrics = train_genotype(
            text, bank, settings, args.output, name=name, data=data, resume=args.resume
        )
    except (BankError, TrainError, NumericError) as exc:
        print(f"bmnas train: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    split = settings.holdout
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics[split].items())
    print(f"{split}: {shown} ({metrics['parameters']:,} parameters)")
    print(f"wrote {Path(args.output) / 'metrics.json'} and weights.safetensors")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from bmnas_dsl.backend.runtime import RuntimeSetupError
    from bmnas_dsl.backend.weights import WeightsError
    from bmnas_dsl.data.bank import BankError
    from bmnas_dsl.data.resolve import resolve_data
    from bmnas_dsl.report.summary import (
        ReportError,
        build_report,
        summary_rows,
        text_table,
        write_report,
    )
    from bmnas_dsl.train.runner import TrainError, read_settings

    try:
        _, _, data, _ = read_settings(args.train_run)
        report = build_report(
            Path(args.search_run),
            Path(args.train_run),
            Path(args.onnx),
            resolve_data(data),
            repeats=args.repeats,
        )
    except (
        BankError,
        ReportError,
        RuntimeSetupError,
        TrainError,
        WeightsError,
    ) as exc:
        print(f"bmnas report: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    write_report(report, Path(args.output))
    print(text_table(summary_rows(report)), end="")
    print(f"wrote {Path(args.output) / 'report.md'}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bmnas",
        description="BM-NAS multimodal fusion search, built like a compiler.",
    )
    parser.add_argument("--version", action="version", version=f"bmnas {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    check = sub.add_parser("check", help="parse and validate .bmg files")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    check.set_defaults(run=cmd_check)

    fmt = sub.add_parser("fmt", help="print .bmg files in canonical form")
    fmt.add_argument("files", nargs="+", metavar="FILE")
    mode = fmt.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="exit 1 if a file is not canonical"
    )
    mode.add_argument("--write", action="store_true", help="rewrite files in place")
    fmt.set_defaults(run=cmd_fmt)

    ir = sub.add_parser("ir", help="dump the networkx IR of a .bmg file")
    ir.add_argument("file", metavar="FILE")
    ir.add_argument("--json", action="store_true", help="node-link JSON")
    ir.add_argument("--pruned", action="store_true", help="the pruned network's IR")
    ir.set_defaults(run=cmd_ir)

    info = sub.add_parser("info", help="inputs, cells and parameter counts")
    info.add_argument("file", metavar="FILE")
    info.add_argument("--json", action="store_true", help="one JSON object")
    info.set_defaults(run=cmd_info)

    compile_ = sub.add_parser("compile", help="generate a standalone PyTorch module")
    compile_.add_argument("file", metavar="FILE")
    compile_.add_argument(
        "-o", "--output", required=True, metavar="MODEL.py", help="output file, or -"
    )
    compile_.set_defaults(run=cmd_compile)

    providers = ("auto", "cpu", "cuda")
    export = sub.add_parser("export", help="export to ONNX, checked with ONNX Runtime")
    export.add_argument("file", metavar="FILE")
    export.add_argument("-o", "--output", required=True, metavar="MODEL.onnx")
    export.add_argument(
        "--weights",
        metavar="W",
        help=".safetensors or state_dict file (weights_only load)",
    )
    export.add_argument(
        "--provider",
        choices=providers,
        default="auto",
        help="ORT provider of the check",
    )
    export.set_defaults(run=cmd_export)

    infer = sub.add_parser("infer", help="run an exported model with ONNX Runtime")
    infer.add_argument("model", metavar="MODEL.onnx")
    infer.add_argument(
        "--inputs",
        required=True,
        metavar="X.npz",
        help="arrays named after the features",
    )
    infer.add_argument("--provider", choices=providers, default="auto")
    infer.add_argument(
        "-o", "--output", metavar="OUT.npz", help="write the logits here"
    )
    infer.set_defaults(run=cmd_infer)

    data = sub.add_parser("data", help="prepare, validate and describe a data set")
    data.add_argument(
        "data", metavar="DATA", help="mfeat, mfeat:VIEW,..., planted or a bank path"
    )
    data.add_argument(
        "--genotype", metavar="FILE", help="check its inputs against the bank"
    )
    data.add_argument("--json", action="store_true")
    data.set_defaults(run=cmd_data)

    train = sub.add_parser(
        "train", help="train a genotype's network from scratch, score it on test"
    )
    train.add_argument("file", nargs="?", metavar="FILE")
    train.add_argument("--data", metavar="DATA", help="mfeat, planted or a bank path")
    train.add_argument("-o", "--output", required=True, metavar="RUN_DIR")
    train.add_argument(
        "--resume", action="store_true", help="continue the run in RUN_DIR"
    )
    train.add_argument(
        "--overwrite", action="store_true", help="start again in a used RUN_DIR"
    )
    defaults = TrainSettings()
    train.add_argument("--epochs", type=int, default=defaults.epochs)
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument("--batch-size", type=int, default=defaults.batch_size)
    train.add_argument("--lr", type=float, default=defaults.lr)
    train.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    train.add_argument(
        "--holdout",
        choices=["test", "val"],
        default="test",
        help="test: fit on train+val, score test once (default); val: fit on train, "
        "score val each epoch, test untouched (for choosing settings)",
    )
    train.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    train.set_defaults(run=cmd_train)

    report = sub.add_parser(
        "report", help="summarise search, training and ONNX export in one table"
    )
    report.add_argument("--search-run", required=True, metavar="R")
    report.add_argument("--train-run", required=True, metavar="T")
    report.add_argument("--onnx", required=True, metavar="MODEL.onnx")
    report.add_argument("-o", "--output", required=True, metavar="DIR")
    report.add_argument(
        "--repeats", type=int, default=200, help="timed calls per latency figure"
    )
    report.set_defaults(run=cmd_report)

    search = sub.add_parser(
        "search", help="BM-NAS search on a data set; writes the genotype"
    )
    # Defaults come from the settings classes (torch-free): one source of truth.
    searched, space = Training(), SearchSpace(features=(), classes=1)
    search.add_argument("--data", metavar="DATA", help="mfeat, planted or a bank path")
    search.add_argument("-o", "--output", metavar="ARCH.bmg")
    search.add_argument("--run-dir", metavar="R", help="default: ARCH.run beside -o")
    search.add_argument(
        "--resume", action="store_true", help="continue the run in --run-dir"
    )
    search.add_argument(
        "--overwrite", action="store_true", help="start again in a used --run-dir"
    )
    search.add_argument("--epochs", type=int, default=searched.epochs)
    search.add_argument("--seed", type=int, default=searched.seed)
    search.add_argument("--cells", type=int, default=space.cells, metavar="N")
    search.add_argument("--steps", type=int, default=space.steps, metavar="M")
    search.add_argument(
        "--node-multiplier", type=int, metavar="K", help="`out` = last K steps"
    )
    search.add_argument("--C", type=int, default=space.C)
    search.add_argument("--L", type=int, default=space.L)
    search.add_argument("--batch-size", type=int, default=searched.batch_size)
    search.add_argument("--dropout", type=float, default=space.dropout)
    search.add_argument(
        "--ops", nargs="+", metavar="OP", help="op pool (default: all five)"
    )
    search.add_argument(
        "--cell-inputs", choices=["any", "features"], default=space.cell_inputs
    )
    search.add_argument("--mixing", choices=["same", "separate"], default=space.mixing)
    search.add_argument(
        "--alternation", choices=["step", "epoch"], default=searched.alternation
    )
    search.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    search.set_defaults(run=cmd_search)
    from bmnas_dsl.viz.command import add_parser as add_viz_parser

    add_viz_parser(sub)
    return parser


def _is_output(args: argparse.Namespace, filename: str | os.PathLike) -> bool:
    """Whether `filename` is (in, or a folder above) one of the command's outputs."""
    path = Path(os.path.abspath(filename))
    for value in (getattr(args, "output", None), getattr(args, "run_dir", None)):
        if value and value != "-":
            output = Path(os.path.abspath(value))
            if path == output or path in output.parents or output in path.parents:
                return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        status = run(args)
        if sys.stdout is not None:  # None when started with stdout closed (`>&-`)
            sys.stdout.flush()  # a reader gone away shows here, not at Python's exit
        return status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `bmnas info | head`: the reader left; not an error
        # Python would complain again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # a file that cannot be written or read: the user's to fix
        # A failed rename (os.replace of the temporary file) names the file the user
        # asked for as filename2; filename is then bmnas's temporary name.
        target = exc.filename2 or exc.filename
        reason = exc.strerror or exc
        if target is None or _is_output(args, target):
            where = f" {target}" if target else ""
            message = f"cannot write{where}: {reason}"
        else:  # e.g. a run directory's file that is a directory or unreadable
            message = f"cannot read {target}: {reason}"
        print(f"bmnas {args.command}: error: {message}", file=sys.stderr)
        return EXIT_INVALID
    except MemoryError:  # e.g. an .npz whose arrays do not fit: too large an input
        print(f"bmnas {args.command}: error: out of memory", file=sys.stderr)
        return EXIT_INVALID
    except UnicodeEncodeError as exc:  # stdout in ASCII (PYTHONIOENCODING, old locale)
        print(
            f"bmnas {args.command}: error: the output encoding ({exc.encoding}) cannot "
            f"write {exc.object[exc.start : exc.end]!r}; set PYTHONIOENCODING=utf-8",
            file=sys.stderr,
        )
        return EXIT_INVALID
    except Exception as exc:  # a bug, not a user error: say so without a traceback
        if os.environ.get("BMNAS_DEBUG"):
            raise
        print(
            f"bmnas: internal error: {type(exc).__name__}: {exc} "
            "(set BMNAS_DEBUG=1 for a traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
