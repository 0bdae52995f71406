"""Tables: baselines required, n/a for missing values, JSON-safe numbers."""

from __future__ import annotations

import json
import math

import pytest

from wm_eval.report import Report, Table, fmt, json_safe


def test_table_renders_na_and_baselines():
    t = Table("t", "Title", "desc")
    t.add_column("jepa")
    t.add_column("no-decoder")
    t.add_column("copy", baseline=True)
    t.set("mse", "jepa", 0.5)
    t.set("mse", "copy", 0.25)
    t.set("psnr", "no-decoder", float("nan"))
    md = t.to_markdown()
    assert "| mse | 0.5 | n/a | 0.25 |" in md
    assert "copy *(baseline)*" in md
    assert t.value("psnr", "no-decoder") is None


def test_table_without_baseline_refuses_to_render():
    t = Table("t", "Title", "desc")
    t.add_column("jepa")
    with pytest.raises(ValueError, match="baseline"):
        t.to_markdown()
    with pytest.raises(KeyError, match="missing"):
        t.set("x", "missing", 1.0)


def test_fmt_and_json_safe():
    assert fmt(None) == "n/a"
    assert fmt(float("inf")) == "inf"
    assert fmt(1234567.0) == "1.235e+06"
    assert fmt(0.12345) == "0.1235"
    safe = json_safe({"a": float("nan"), "b": (1, float("-inf")), "c": math.pi})
    expected = {"a": None, "b": [1, "-inf"], "c": math.pi}
    assert json.loads(json.dumps(safe, allow_nan=False)) == expected


def test_report_write(tmp_path):
    t = Table("t", "T", "d")
    t.add_column("copy", baseline=True)
    t.set("x", "copy", float("inf"))
    rep = Report(runs={"r": {"workflow": "jepa", "derived": []}}, tables=[t])
    md, js = rep.write(tmp_path)
    assert "| r | jepa | n/a | - |" in md.read_text()
    assert json.loads(js.read_text())["tables"]["t"]["rows"]["x"]["copy"] == "inf"
