"""Every command's `--help` is complete, and usage errors exit 2 with the command's own
usage line (issue 13, item 9)."""

from __future__ import annotations

import argparse

import pytest
from conftest import run_bmnas

from bmnas_dsl.cli.main import main
from bmnas_dsl.cli.parser import build_parser

EXIT_USAGE = 2


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


COMMANDS = sorted(subcommands())


def test_every_command_is_walked():
    # A new command is walked by the tests below without being listed here.
    assert {"check", "search", "train", "export", "infer", "report", "viz"} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("name", COMMANDS)
def test_help_has_a_description_and_every_option_says_what_it_does(name):
    parser = subcommands()[name]
    assert parser.description and len(parser.description) > 40, name
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        flag = "/".join(action.option_strings) or action.dest
        assert action.help and action.help is not argparse.SUPPRESS, f"{name} {flag}"
        shows_default = "default" in action.help.lower()
        # An option with a value of its own when not given says which.
        has_default = action.default not in (None, False, argparse.SUPPRESS)
        knob = action.dest in (parser.get_default("knob_defaults") or {})
        if has_default or knob:
            assert shows_default, f"{name} {flag}: the default is not shown"


@pytest.mark.parametrize("name", COMMANDS)
def test_help_prints_and_exits_0(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: bmnas {name}")


def required_arguments(parser: argparse.ArgumentParser) -> list[str]:
    """A placeholder for every required argument, so that argparse gets as far as the
    unknown flag (it reports missing ones first)."""
    argv = []
    for action in parser._actions:
        if action.option_strings and action.required:
            argv += [action.option_strings[0], "x"]
        elif not action.option_strings and action.nargs not in ("?", "*"):
            argv.append("x")
    return argv


@pytest.mark.parametrize("name", COMMANDS)
def test_an_unknown_flag_shows_the_commands_usage_and_exits_2(name, capsys):
    argv = [name, *required_arguments(subcommands()[name]), "--no-such-flag"]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"usage: bmnas {name}")
    assert f"bmnas {name}: error:" in err and "--no-such-flag" in err


def test_a_misspelt_op_gets_a_did_you_mean_and_exits_2(tmp_path):
    result = run_bmnas(
        "search", "--data", "planted", "-o", str(tmp_path / "a.bmg"), "--ops", "Sum",
        "Atention",
    )  # fmt: skip
    assert result.returncode == EXIT_USAGE
    assert "unknown op 'Atention'" in result.stderr
    assert "did you mean 'Attention'?" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["search", "-o", "a.bmg"], "a new search needs --data and -o"),
        (["search", "--data", "planted"], "a new search needs --data and -o"),
        (["search", "--resume"], "--resume needs --run-dir"),
        (["train", "-o", "r"], "a new training run needs FILE and --data"),
    ],
)
def test_a_missing_required_flag_is_a_usage_error(argv, message, tmp_path, capsys):
    # In a fresh directory: nothing may be created by a command that cannot start.
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"usage: bmnas {argv[0]}")
    assert f"bmnas {argv[0]}: error: {message}" in err
    assert list(tmp_path.iterdir()) == []


def test_search_and_train_help_show_the_data_forms_and_the_defaults():
    for name in ("search", "train"):
        text = subcommands()[name].format_help()
        assert "mfeat:VIEW,VIEW" in text and "required for a new" in text
        assert "(default: 0)" in text  # --seed
    assert "(default: 30)" in subcommands()["search"].format_help()  # --epochs
    assert "(default: 20)" in subcommands()["train"].format_help()
