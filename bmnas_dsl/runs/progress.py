"""Per-epoch progress on stderr: a bar redrawn in place on a terminal, plain lines in
logs and pipes (so that CI logs stay readable)."""

from __future__ import annotations

import sys


def report_epoch(epoch: int, total: int, line: str) -> None:
    if sys.stderr is None:  # started with stderr closed (`2>&-`): nowhere to report
        return
    text = f"epoch {epoch}/{total}  {line}"
    if sys.stderr.isatty():
        width = 24
        done = int(width * epoch / total)
        end = "\n" if epoch == total else ""
        print(
            f"\r[{'#' * done}{'.' * (width - done)}] {text}", end=end, file=sys.stderr
        )
    else:
        print(text, file=sys.stderr)
