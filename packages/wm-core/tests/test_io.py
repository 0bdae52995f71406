"""Atomic writes leave the old file or the new one, never a torn one; plain values round-trip."""

from __future__ import annotations

import json
import math
import os
import stat

import numpy as np
import pytest

from wm_core import atomic_write, atomic_write_text, to_plain


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path) -> None:
    target = tmp_path / "sub" / "run.json"
    atomic_write_text(target, "old")
    atomic_write(target, b"new")
    assert target.read_text() == "new"
    atomic_write(target, lambda handle: handle.write(b"from a writer"))
    assert target.read_text() == "from a writer"
    assert [p.name for p in target.parent.iterdir()] == ["run.json"]


def test_a_failing_writer_keeps_the_previous_file(tmp_path) -> None:
    target = tmp_path / "best.pt"
    atomic_write_text(target, "previous")

    def half_then_fail(path) -> None:
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_then_fail, to_path=True)
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]


def test_files_get_the_usual_permissions(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "config.gin", "x = 1")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_to_plain_makes_json_and_keeps_what_it_is_told() -> None:
    value = {
        "a": (1, np.int64(2), np.float32(0.5)),
        "nan": float("nan"),
        "arr": np.arange(3),
        "one": np.array([7.0]),
        "set": {3, 1},
        4: None,
    }
    plain = to_plain(value)
    assert plain == {
        "a": [1, 2, 0.5],
        "nan": "nan",
        "arr": [0, 1, 2],
        "one": 7.0,
        "set": [1, 3],
        "4": None,
    }
    json.dumps(plain)
    assert to_plain(float("inf"), nonfinite="none") is None
    assert math.isinf(to_plain(float("inf"), nonfinite="keep"))
    keep = np.zeros(2)
    assert to_plain({"x": (keep,)}, keep=(np.ndarray,))["x"][0] is keep
    with pytest.raises(TypeError, match="object"):
        to_plain(object())
