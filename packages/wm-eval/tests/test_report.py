"""Tables: baselines required, n/a for missing values, row keys, JSON-safe numbers."""

from __future__ import annotations

import json

import pytest

from wm_eval.report import Report, RowKeyError, Table, fmt


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


def test_fmt():
    assert fmt(None) == "n/a"
    assert fmt(float("inf")) == "inf"
    assert fmt(1234567.0) == "1.235e+06"
    assert fmt(0.12345) == "0.1235"


def test_rows_are_addressed_by_key_and_shown_by_label():
    t = Table("t", "Title", "desc")
    t.add_column("jepa")
    t.add_column("copy", baseline=True)
    t.add_row("l1", "L1")
    t.add_row("psnr", "PSNR (dB)")
    t.set("l1", "jepa", 0.5)
    t.add_row("l1", "L1 (all pixels)")  # a new label: same row, same values
    assert t.value("l1", "jepa") == 0.5 and list(t.rows) == ["l1", "psnr"]
    assert "| L1 (all pixels) | 0.5 | n/a |" in t.to_markdown()
    assert t.to_dict()["labels"] == {"l1": "L1 (all pixels)", "psnr": "PSNR (dB)"}
    assert t.require("psnr") == "psnr"
    with pytest.raises(RowKeyError, match=r"no row 'psrn'.*Did you mean 'psnr'"):
        t.require("psrn")


def test_report_write(tmp_path):
    t = Table("t", "T", "d")
    t.add_column("copy", baseline=True)
    t.set("x", "copy", float("inf"))
    t.set("y", "copy", float("-inf"))
    t.set("z", "copy", float("nan"))
    rep = Report(runs={"r": {"workflow": "jepa", "derived": []}}, tables=[t])
    md, js = rep.write(tmp_path)
    assert "| r | jepa | n/a | - |" in md.read_text()
    rows = json.loads(js.read_text())["tables"]["t"]["rows"]
    assert rows == {"x": {"copy": "inf"}, "y": {"copy": "-inf"}, "z": {"copy": None}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "report.md"]
