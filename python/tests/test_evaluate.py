"""Engine.evaluate and distil.eval_summary against `distil eval --json`: parts of a dataset, in
any split and order, add up to the whole run's summary, figure for figure."""

import json

import pytest

import distil
from conftest import ROOT, cli, model

EVAL = ROOT / "tests" / "fixtures" / "eval"
TIMING = ("seconds", "rows_per_second", "masks_per_second")


def cli_summary(path) -> dict:
    out = cli("eval", "--model", model("distilbert-cased"), "--data", str(path), "--json")
    return json.loads(out.stdout)


def without_timing(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in TIMING}


@pytest.mark.parametrize("name", ["rows.jsonl", "malformed.jsonl", "azure.jsonl"])
def test_parts_add_up_to_distil_eval(name):
    engine = distil.Engine(model("distilbert-cased"), threads=2)
    lines = (EVAL / name).read_bytes().split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    numbers = list(range(1, len(lines) + 1))
    expected = without_timing(cli_summary(EVAL / name))
    assert expected["rows"] > 0
    whole = engine.evaluate(lines, line_numbers=numbers)
    assert without_timing(distil.eval_summary([whole])) == expected
    # Three interleaved parts, added in reverse order.
    parts = [engine.evaluate(lines[k::3], line_numbers=numbers[k::3]) for k in range(3)]
    assert without_timing(distil.eval_summary(parts[::-1], seconds=2.0)) == expected
    summary = distil.eval_summary(parts, seconds=2.0)
    assert summary["seconds"] == 2.0 and summary["rows_per_second"] == expected["rows"] / 2.0


def test_lines_may_be_str_and_are_numbered_from_one():
    engine = distil.Engine(model("distilbert-cased"))
    part = engine.evaluate(['{"texts": "Paris is the <mask>.", "masks": ["capital"]}', "",
                            "not json", b"\xff\xfe"])
    totals = part["totals"]
    assert (totals["rows"], totals["masks"]) == (1, 1)
    assert totals["skipped_lines"] == [3, 4]
    assert totals["skipped_rows"] == {"not JSON": 1, "not UTF-8": 1}
    assert part["top_k"] == 5 and part["window_tokens"] == engine.info()["max_length"]


def test_parts_of_other_settings_do_not_add_up():
    engine = distil.Engine(model("distilbert-cased"))
    line = ['{"texts": "Paris is the <mask>.", "masks": ["capital"]}']
    with pytest.raises(ValueError, match="top_k 3 .* does not add up"):
        distil.eval_summary([engine.evaluate(line), engine.evaluate(line, top_k=3)])
    with pytest.raises(ValueError, match="not what Engine.evaluate returns"):
        distil.eval_summary([{"top_k": 5}])
    with pytest.raises(ValueError, match="no parts"):
        distil.eval_summary([])
    with pytest.raises(ValueError, match="2 line_numbers for 1 lines"):
        engine.evaluate(line, line_numbers=[1, 2])
