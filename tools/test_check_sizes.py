"""The size checker finds long functions and modules, and passes short ones."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "check_sizes", Path(__file__).with_name("check_sizes.py")
)
check_sizes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_sizes)


def package(tmp_path: Path, body: str) -> Path:
    src = tmp_path / "pkgs" / "wm-x" / "src" / "wm_x"
    src.mkdir(parents=True)
    (src / "mod.py").write_text(body)
    return tmp_path / "pkgs"


def test_long_function_and_module_are_reported(tmp_path, capsys) -> None:
    long_fn = "def f():\n" + "    x = 1\n" * 12 + "\n\ndef g():\n    return 1\n"
    root = package(tmp_path, long_fn)
    assert check_sizes.main([str(root), "--max-function", "10", "--max-module", "12"]) == 1
    out = capsys.readouterr().out
    assert "function f has 13 lines (limit 10)" in out and "module has 17 lines" in out
    assert "function g" not in out


def test_short_code_passes_and_an_empty_root_is_an_error(tmp_path, capsys) -> None:
    assert check_sizes.main([str(package(tmp_path, "def f():\n    return 1\n"))]) == 0
    assert check_sizes.main([str(tmp_path / "nothing")]) == 2
