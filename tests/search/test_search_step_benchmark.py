"""benchmarks/search_step.py on its small configuration: every runner, the FLOP count
and the roofline fraction are there, the two hypernets agree, and the released
harness refuses a folder that is not the authors' code in one line."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import REPO, load_benchmark


def test_the_benchmark_reports_flops_and_the_roofline(monkeypatch, capsys, tmp_path):
    bench = load_benchmark(monkeypatch, "search_step")
    argv = ["--config", "mini", "--batch", "8", "--repeats", "2", "--threads", "1"]
    out = tmp_path / "step.json"
    assert bench.main([*argv, "--json", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == result
    assert set(result["runners"]) == {"ours", "plain", "ours bf16"}
    assert result["parity_max_abs_diff"]["logits"] < 1e-5
    assert result["parity_max_abs_diff"]["grads"] < 1e-5
    m, k, n = result["roofline_shape"]
    assert (m, k, n) == (8 * 4, 64 + 32 + 48, 16)  # batch x L, all channels, C
    assert result["roofline_gflops"]["fp32"] > 0
    ours, plain = result["runners"]["ours"], result["runners"]["plain"]
    # The straightforward update computes every gradient: more FLOPs than ours.
    assert plain["gflop"] > ours["gflop"] > 0
    rate = ours["gflop"] / (ours["both_ms"] / 1e3)  # GFLOP/s of one pair
    assert ours["gflops"] == pytest.approx(rate, rel=0.02)
    assert ours["of_fp32_roofline"] == pytest.approx(
        ours["gflops"] / result["roofline_gflops"]["fp32"], rel=0.02
    )
    assert "goal" not in result  # the goal applies at the conditions only


def test_flop_counting_counts_matmuls():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import roofline
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    import torch

    a, b = torch.ones(4, 5), torch.ones(5, 3)
    assert roofline.count_flops(lambda: a @ b) == 2 * 4 * 5 * 3
    assert roofline.reshape_shape(96, 8, [512, 1024], 128) == (768, 1536, 128)


def test_the_released_harness_refuses_another_folder(monkeypatch, tmp_path):
    released = load_benchmark(monkeypatch, "released_supernet")
    with pytest.raises(SystemExit) as raised:
        released.load_released(tmp_path)
    assert "Somedaywilldo/BM-NAS" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_the_floor_counts_every_random_number_drawn(monkeypatch):
    import torch

    bench = load_benchmark(monkeypatch, "search_step")
    x = torch.ones(4, 5)
    with bench._RandomCounter() as counter:
        torch.rand_like(x).ge_(0.1)  # the search's dropout draw
        torch.nn.functional.dropout(torch.ones(3, 3), 0.5, True)  # nn.Dropout's
        torch.rand(7)
    assert counter.numbers == 20 + 9 + 7
    floor = bench.step_floor(flops=2 * 10**9, numbers=1000, roof_gflops=100.0, runs=3)
    assert floor["flops_at_roofline_ms"] == 20.0  # 2 GFLOP at 100 GFLOP/s
    assert floor["floor_ms"] == pytest.approx(
        floor["flops_at_roofline_ms"] + floor["random_draw_ms"], abs=0.011
    )
