"""The `bmnas` command line: one module per command, the parser assembly and `main`."""

from bmnas_dsl.cli.main import main

__all__ = ["main"]
