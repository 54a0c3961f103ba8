"""Import a generated module from its source text, as a user would import the file."""

from __future__ import annotations

import importlib.util
import itertools
import sys
import tempfile
from pathlib import Path
from types import ModuleType

_counter = itertools.count()


def import_generated(source: str, name: str = "bmnas_generated") -> ModuleType:
    """Write `source` to a temporary file and import it under a fresh module name."""
    module_name = f"{name}_{next(_counter)}"
    with tempfile.TemporaryDirectory(prefix="bmnas-") as folder:
        path = Path(folder) / f"{module_name}.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        finally:
            del sys.modules[module_name]
    return module
