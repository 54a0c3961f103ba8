"""The run log's one reader (bmnas_dsl.runs.log): its rules, the best-epoch rule and
best.json, on hand-written logs."""

from __future__ import annotations

import json

import pytest

from bmnas_dsl.errors import ReportError, VizError
from bmnas_dsl.runs.log import (
    Best,
    best_index,
    improves,
    read_best,
    read_log,
    write_best,
)


def write_log(folder, *records, extra: str = "") -> object:
    path = folder / "log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + extra)
    return path


def test_best_index_ties_go_to_the_later_value():
    assert best_index([0.5, 0.75, 0.75, 0.625]) == 2
    assert best_index([0.9]) == 0
    with pytest.raises(ValueError):
        best_index([])


def test_improves_is_the_same_rule_as_best_index():
    values = [0.5, 0.75, 0.75, 0.6, 0.75, 0.1]
    best, kept = None, None
    for i, value in enumerate(values):
        if improves(value, best):
            best, kept = value, i
    assert kept == best_index(values) == 4


def test_read_log_skips_blank_lines_and_keeps_order(tmp_path):
    path = write_log(
        tmp_path, {"epoch": 1, "val_metric": 0.5}, {"epoch": 2, "val_metric": 0.6}
    )
    path.write_text(path.read_text().replace("\n", "\n\n", 1))
    assert [r["epoch"] for r in read_log(path, VizError)] == [1, 2]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{", "log.jsonl:2: not JSON"),
        ("[1]", "log.jsonl:2: not a JSON object"),
        ('{"val_metric": 0.5}', "log.jsonl:2: no 'epoch'"),
        ('{"epoch": 2}', "log.jsonl:2: no 'val_metric'"),
        (
            '{"epoch": true, "val_metric": 0.5}',
            "'epoch' is True; it must be an integer",
        ),
        ('{"epoch": 2, "val_metric": Infinity}', "'val_metric' is inf; it must be a"),
    ],
)
def test_read_log_refuses_bad_lines_with_one_located_line(tmp_path, line, message):
    path = write_log(tmp_path, {"epoch": 1, "val_metric": 0.5}, extra=line + "\n")
    with pytest.raises(ReportError) as caught:
        read_log(path, ReportError)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_required_numbers_are_checked_only_when_asked(tmp_path):
    path = write_log(tmp_path, {"epoch": 1, "val_metric": 0.5})
    assert read_log(path, VizError)  # a viz needs no seconds
    with pytest.raises(ReportError, match="no 'seconds'"):
        read_log(path, ReportError, numbers=("val_metric", "seconds"))


def test_an_empty_or_missing_log_is_an_error(tmp_path):
    with pytest.raises(VizError, match="no such file"):
        read_log(tmp_path / "log.jsonl", VizError)
    with pytest.raises(VizError, match="no epoch logged yet"):
        read_log(write_log(tmp_path), VizError)


def test_best_json_is_the_answer_when_it_names_a_logged_epoch(tmp_path):
    # The log rounds; best.json holds the unrounded metric the search compared. Here
    # rounding made epochs 1 and 2 tie in the log, but the search kept epoch 1.
    records = [{"epoch": 1, "val_metric": 0.8}, {"epoch": 2, "val_metric": 0.8}]
    write_best(tmp_path, Best(1, 0.8000004))
    assert read_best(tmp_path, records, ReportError) == Best(1, 0.8000004)


def test_without_best_json_the_log_decides(tmp_path):
    records = [{"epoch": 1, "val_metric": 0.7}, {"epoch": 2, "val_metric": 0.7}]
    assert read_best(tmp_path, records, ReportError) == Best(2, 0.7)
    # A best.json ahead of the log (a kill between the two writes) is not trusted.
    write_best(tmp_path, Best(3, 0.9))
    assert read_best(tmp_path, records, ReportError) == Best(2, 0.7)


def test_a_malformed_best_json_is_a_clear_error(tmp_path):
    (tmp_path / "best.json").write_text('{"epoch": "one"}')
    with pytest.raises(VizError, match=r"best\.json: expected"):
        read_best(tmp_path, [{"epoch": 1, "val_metric": 0.5}], VizError)
