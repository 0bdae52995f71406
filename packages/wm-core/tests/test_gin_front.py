"""The one-line error helpers every CLI (wm-collect, wm-train, wm-eval) shares."""

from __future__ import annotations

import gin
import pytest

from wm_core import configurable, debug_enabled, did_you_mean, explain_gin_error, one_line


@configurable(module="cli_errors_test")
def widget(size: int = 1, colour: str = "red") -> tuple[int, str]:
    return size, colour


def gin_error(binding: str) -> Exception:
    with pytest.raises((ValueError, KeyError)) as info:
        gin.parse_config(binding)
    return info.value


def test_unknown_configurable_gets_a_did_you_mean() -> None:
    message = explain_gin_error(gin_error("widgit.size = 2"))
    assert "widgit" in message and "Did you mean 'widget'?" in message
    assert "\n" not in message


def test_unknown_parameter_gets_a_did_you_mean() -> None:
    message = explain_gin_error(gin_error("widget.colur = 'blue'"))
    assert "colur" in message and "Did you mean 'colour'?" in message


def test_one_line_drops_gins_call_context_and_keyerror_quotes() -> None:
    exc = ValueError("bad value\n  In call to configurable 'widget' (<function widget>)")
    assert one_line(exc) == "bad value"
    assert one_line(KeyError("no such key 'x'")) == "no such key 'x'"
    assert one_line(RuntimeError()) == "RuntimeError"


def test_did_you_mean_only_suggests_close_names() -> None:
    assert did_you_mean("jepaa", ["jepa", "encoder_decoder"]) == " Did you mean 'jepa'?"
    assert did_you_mean("zzz", ["jepa"]) == ""


def test_debug_flag_and_environment(monkeypatch) -> None:
    monkeypatch.delenv("WM_DEBUG", raising=False)
    assert not debug_enabled() and debug_enabled(True)
    monkeypatch.setenv("WM_DEBUG", "1")
    assert debug_enabled()
    monkeypatch.setenv("WM_DEBUG", "0")
    assert not debug_enabled()
