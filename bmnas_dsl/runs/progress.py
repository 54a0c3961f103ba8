"""Progress of a run on stderr. On a terminal: a bar within the epoch (steps done, time
left), redrawn in place, and one lasting line per finished epoch. In logs and pipes:
only the per-epoch lines, so that CI logs stay readable. Both carry the time left,
estimated from this process's own pace (a resumed run starts its estimate afresh)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1  # a terminal redraw per step would cost more than a small step

# A run's epoch reports each update as tick(done, total): steps done in this epoch.
Tick = Callable[[int, int], None]


# And says what a long stretch without steps is doing (the search's input selection).
Note = Callable[[str], None]


def no_tick(done: int, total: int) -> None:
    """The tick of a run nobody watches."""


def no_note(text: str) -> None:
    """The note of a run nobody watches."""


class Progress:
    """One run's progress over `epochs` epochs, from `first` finished ones."""

    def __init__(
        self,
        epochs: int,
        first: int = 0,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.epochs, self.epoch = epochs, first
        # None when started with stderr closed (`2>&-`): nowhere to report.
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.started = clock()
        self.steps_done = 0  # in this process, over all epochs
        self.steps_per_epoch = 0
        self.last_draw = float("-inf")
        self.bar_shown = False

    @property
    def terminal(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def tick(self, done: int, total: int) -> None:
        """Step `done` of `total` of the current epoch is finished."""
        self.steps_done += 1
        self.steps_per_epoch = total
        now = self.clock()
        if not self.terminal or (
            now - self.last_draw < REDRAW_SECONDS and done < total
        ):
            return
        self.last_draw = now
        filled = BAR_WIDTH * done // total
        bar = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}]"
        left = self.seconds_left(total - done, self.epochs - self.epoch - 1)
        text = f"epoch {self.epoch + 1}/{self.epochs} {bar} {done}/{total}"
        if left is not None:
            text += f"  {clock_text(left)} left"
        self._write(f"\r\033[K{text}")
        self.bar_shown = True

    def note(self, text: str) -> None:
        """What the current epoch does after its steps: in place of the bar on a
        terminal, a line of its own elsewhere."""
        line = f"epoch {self.epoch + 1}/{self.epochs}  {text}"
        if self.terminal:
            self._write(f"\r\033[K{line}")
            self.bar_shown = True
        else:
            self._write(f"{line}\n")

    def epoch_done(self, line: str) -> None:
        """The epoch's lasting line (replacing the bar on a terminal)."""
        self.epoch += 1
        text = f"epoch {self.epoch}/{self.epochs}  {line}"
        left = self.seconds_left(0, self.epochs - self.epoch)
        if left is not None and self.epoch < self.epochs:
            text += f"  ({clock_text(left)} left)"
        prefix = "\r\033[K" if self.bar_shown else ""
        self.bar_shown = False
        self._write(f"{prefix}{text}\n")

    def seconds_left(self, steps_in_epoch: int, later_epochs: int) -> float | None:
        """The time of `steps_in_epoch` more steps and `later_epochs` whole epochs at
        this process's pace so far, evaluation included (None before a first step)."""
        if self.steps_done == 0:
            return None
        pace = (self.clock() - self.started) / self.steps_done
        return pace * (steps_in_epoch + later_epochs * self.steps_per_epoch)

    def _write(self, text: str) -> None:
        if self.stream is None:
            return
        self.stream.write(text)
        self.stream.flush()


def clock_text(seconds: float) -> str:
    """`0:07`, `12:30`, `1:02:03`: the time left as a user reads it."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
