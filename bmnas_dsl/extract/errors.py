"""The error of an extraction that cannot run as asked; defined with the package's other
errors (`bmnas_dsl.errors`), named here for the extraction modules."""

from __future__ import annotations

from bmnas_dsl.errors import ExtractError

__all__ = ["ExtractError"]
