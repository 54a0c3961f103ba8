"""Locate the grammar and templates shipped inside the package, from any directory."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable


def grammar_text() -> str:
    return (
        resources.files("bmnas_dsl.grammar")
        .joinpath("bmg.lark")
        .read_text(encoding="utf-8")
    )


def templates_dir() -> Traversable:
    return resources.files("bmnas_dsl.templates")
