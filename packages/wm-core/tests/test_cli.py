"""The gin front end every CLI shares: checks before any work, one-line errors."""

from __future__ import annotations

import argparse

import gin
import pytest

from wm_core import ConfigError, configurable, parse_config
from wm_core.cli import add_config_arguments, report_errors
from wm_core.gin_front import check_macros


@configurable(module="wm_core_cli_test")
def trainer(epochs: int = 1, encoder: str = "conv") -> tuple[int, str]:
    return epochs, encoder


def write(tmp_path, text: str):
    path = tmp_path / "w.gin"
    path.write_text(text)
    return path


def test_parse_config_returns_the_config_as_given(tmp_path) -> None:
    path = write(tmp_path, "ENCODER = 'conv'\ntrainer.encoder = %ENCODER\n")
    text = parse_config([path], ["ENCODER = 'vit'"], command="wm-x --gin w.gin")
    assert trainer() == (1, "vit")
    assert text.startswith("# wm-x --gin w.gin") and "ENCODER = 'vit'" in text


def test_an_unused_macro_is_refused_with_the_closest_one(tmp_path) -> None:
    path = write(tmp_path, "ENCODER = 'conv'\ntrainer.encoder = %ENCODER\n")
    with pytest.raises(ConfigError, match=r"macro 'ENCODR' is not used.*Did you mean 'ENCODER'"):
        parse_config([path], ["ENCODR = 'vit'"])
    check_macros(["A = 1\nx.y = %A"], ["A = 2"])  # a used macro is fine


def test_unknown_configurable_or_parameter_is_explained(tmp_path) -> None:
    path = write(tmp_path, "")
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        parse_config([path], ["trainer.epoch = 3"])
    with pytest.raises(ConfigError, match="Did you mean 'trainer'"):
        parse_config([path], ["traner.epochs = 3"])
    with pytest.raises(ConfigError, match="no such file"):
        parse_config([tmp_path / "missing.gin"], [])


def test_report_errors_prints_one_line_and_returns_the_code(capsys, monkeypatch) -> None:
    monkeypatch.delenv("WM_DEBUG", raising=False)

    def fail() -> int:
        raise ValueError("bad value\n  In call to configurable 'x'")

    assert report_errors("wm-x", fail, [((KeyError,), 3), ((ValueError,), 2)]) == 2
    assert capsys.readouterr().err == "wm-x: error: bad value\n"
    with pytest.raises(ValueError):
        report_errors("wm-x", fail, [((ValueError,), 2)], debug=True)
    with pytest.raises(ValueError):  # not a listed user error: a real traceback
        report_errors("wm-x", fail, [((KeyError,), 2)])
    assert report_errors("wm-x", lambda: 0, []) == 0


def test_config_arguments_repeat() -> None:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    args = parser.parse_args(["--gin", "a", "--gin", "b", "--bind", "X = 1", "--debug"])
    assert args.gin == ["a", "b"] and args.bind == ["X = 1"] and args.debug
    gin.clear_config()
