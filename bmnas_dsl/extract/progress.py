"""Progress of an extraction on stderr: on a terminal, a bar of rows written with the time
left, redrawn in place; in logs and pipes, a line at every tenth of the rows, so that a
long extraction shows it is alive without filling a CI log."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from bmnas_dsl.runs.progress import BAR_WIDTH, REDRAW_SECONDS, clock_text

LOG_STEPS = 10  # lines written over a whole extraction when not on a terminal


class RowProgress:
    """Rows `first`..`total` being written (a resumed extraction starts at `first`)."""

    def __init__(
        self,
        total: int,
        first: int,
        stream: TextIO | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.first, self.stream, self.clock = total, first, stream, clock
        self.started = clock()
        self.last_draw = float("-inf")
        self.logged = first * LOG_STEPS // total

    def update(self, rows: int) -> None:
        """`rows` leading rows of the bank are written."""
        if self.stream is None:
            return
        counts = f"{rows}/{self.total} rows"
        left = self.seconds_left(rows)
        tail = f"  {clock_text(left)} left" if left and rows < self.total else ""
        if self.stream.isatty():
            now = self.clock()
            if now - self.last_draw < REDRAW_SECONDS and rows < self.total:
                return
            self.last_draw = now
            filled = BAR_WIDTH * rows // self.total
            bar = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}]"
            self._write(f"\r\033[Kextract {bar} {counts}{tail}")
            if rows == self.total:
                self._write("\n")
            return
        step = rows * LOG_STEPS // self.total
        if step > self.logged:
            self.logged = step
            self._write(f"extract {counts}{tail}\n")

    def seconds_left(self, rows: int) -> float | None:
        """The rest at this process's pace so far (None before its first rows)."""
        done = rows - self.first
        if done <= 0:
            return None
        return (self.clock() - self.started) / done * (self.total - rows)

    def _write(self, text: str) -> None:
        assert self.stream is not None
        self.stream.write(text)
        self.stream.flush()
