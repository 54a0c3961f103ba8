"""Progress within an epoch (a bar with the time left on a terminal, plain epoch lines
elsewhere) and Ctrl-C saying how to continue (issue 13, item 10)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

from conftest import REPO

from bmnas_dsl.cli import search as search_command
from bmnas_dsl.cli.main import main
from bmnas_dsl.runs.progress import Progress, clock_text


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    """A clock the test moves: one second per step."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_epochs(stream, epochs=3, steps=4, first=0):
    clock = Clock()
    progress = Progress(epochs, first, stream=stream, clock=clock)
    for epoch in range(first, epochs):
        for done in range(1, steps + 1):
            clock.now += 1.0
            progress.tick(done, steps)
        progress.epoch_done(f"loss {epoch}")
    return stream.getvalue()


def test_a_terminal_gets_a_bar_with_the_time_left_within_each_epoch():
    text = run_epochs(Terminal())
    # After step 1 of 4 of epoch 1 (1 s a step): 3 more steps and 2 epochs of 4.
    assert "epoch 1/3 [######" in text and "1/4  0:11 left" in text
    assert "epoch 2/3 [" in text and "2/4  0:06 left" in text
    lasting = [line.split("\r\x1b[K")[-1] for line in text.split("\n") if line]
    assert lasting == [
        "epoch 1/3  loss 0  (0:08 left)",
        "epoch 2/3  loss 1  (0:04 left)",
        "epoch 3/3  loss 2",
    ]


def test_a_log_or_pipe_gets_only_plain_epoch_lines():
    text = run_epochs(io.StringIO())
    assert "\r" not in text and "\x1b" not in text and "[" not in text
    assert text.splitlines() == [
        "epoch 1/3  loss 0  (0:08 left)",
        "epoch 2/3  loss 1  (0:04 left)",
        "epoch 3/3  loss 2",
    ]


def test_a_resumed_run_counts_from_its_first_unfinished_epoch():
    text = run_epochs(io.StringIO(), epochs=5, first=3)
    assert text.splitlines() == ["epoch 4/5  loss 3  (0:04 left)", "epoch 5/5  loss 4"]


def test_the_bar_is_redrawn_at_most_every_tenth_of_a_second():
    clock, stream = Clock(), Terminal()
    progress = Progress(1, stream=stream, clock=clock)
    for done in range(1, 1001):  # 1000 steps in 1 s
        clock.now += 0.001
        progress.tick(done, 1000)
    assert 5 <= stream.getvalue().count("\r") <= 12  # and the last step always


def test_clock_text_reads_as_a_clock():
    assert [clock_text(s) for s in (7, 750, 3723)] == ["0:07", "12:30", "1:02:03"]


def test_ctrl_c_exits_130_and_says_how_to_continue(tmp_path):
    out = tmp_path / "a.bmg"
    argv = ["search", "--data", "planted", "-o", str(out), "--epochs", "500"]
    process = subprocess.Popen(
        [sys.executable, "-m", "bmnas_dsl", *argv, "--threads", "1"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = tmp_path / "a.run" / "log.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if log.exists() and log.read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    last = err.strip().splitlines()[-1]
    run_dir = tmp_path / "a.run"
    assert last == (
        f"bmnas search: interrupted; continue with: bmnas search --resume "
        f"--run-dir {run_dir}"
    )
    assert "Traceback" not in err


def test_ctrl_c_before_the_run_directory_exists_says_only_interrupted(
    tmp_path, monkeypatch, capsys
):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(search_command, "run", interrupted)
    assert main(["search", "--data", "planted", "-o", str(tmp_path / "a.bmg")]) == 130
    assert capsys.readouterr().err.strip() == "bmnas search: interrupted"


def test_a_note_says_what_the_epoch_does_after_its_steps():
    for stream in (Terminal(), io.StringIO()):
        clock = Clock()
        progress = Progress(2, 1, stream=stream, clock=clock)
        clock.now += 1.0
        progress.tick(1, 1)
        progress.note("choosing the cells' inputs")
        progress.epoch_done("loss 1")
        lasting = [line.split("\r\x1b[K")[-1] for line in stream.getvalue().split("\n")]
        if stream.isatty():  # the note replaces the bar, the epoch's line the note
            assert "\r\x1b[Kepoch 2/2  choosing the cells' inputs\r\x1b[K" in (
                stream.getvalue()
            )
            assert lasting == ["epoch 2/2  loss 1", ""]
        else:
            assert lasting == [
                "epoch 2/2  choosing the cells' inputs",
                "epoch 2/2  loss 1",
                "",
            ]
