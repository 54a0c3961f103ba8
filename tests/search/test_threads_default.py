"""The thread default (issue 13, item 11): one torch thread unless --threads says
otherwise, in search and training alike, and torch's own count restored afterwards."""

from __future__ import annotations

import torch

from bmnas_dsl.data.planted import make_planted
from bmnas_dsl.nn.threads import DEFAULT_THREADS, torch_threads
from bmnas_dsl.search import runner
from bmnas_dsl.search.runner import run_search, space_for
from bmnas_dsl.search.settings import Training


def test_the_default_is_one_thread_and_torchs_count_comes_back():
    before = torch.get_num_threads()
    assert DEFAULT_THREADS == 1
    with torch_threads(None):
        assert torch.get_num_threads() == 1
    with torch_threads(3):
        assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == before


def test_a_search_without_threads_runs_its_epochs_on_the_default(tmp_path, monkeypatch):
    seen = []
    epoch = runner.Search.run_epoch

    def watched(self, tick):
        seen.append(torch.get_num_threads())
        return epoch(self, tick)

    monkeypatch.setattr(runner.Search, "run_epoch", watched)
    torch.set_num_threads(2)  # as torch starts on a 2-core machine
    bank = make_planted(size=240, seed=0)
    training = Training(epochs=2, selection="paper")
    run_search(bank, space_for(bank), training, "planted", tmp_path / "r", "a.bmg")
    assert seen == [DEFAULT_THREADS, DEFAULT_THREADS]
    assert torch.get_num_threads() == 2
