"""Third-party models arrive through entry points (the example plugin under tests/plugins/)."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap

import gin
import pytest
import torch

import wm_core.plugins as plugins
import wm_models.registry as registry
from wm_models import (
    UnknownModelError,
    build,
    list_models,
    load_module,
    load_plugins,
    module_spec,
    save_checkpoint,
)

PLUGIN_DIR = "tests/plugins/wm-models-example-plugin"


@pytest.fixture(scope="module", autouse=True)
def plugin_installed() -> None:
    eps = importlib.metadata.entry_points(group="wm_models.plugins")
    if "example" not in {ep.name for ep in eps}:
        pytest.fail(
            f"the example plugin is not installed: pip install {PLUGIN_DIR} "
            "(nox installs every tests/plugins/*/ package)"
        )


def test_plugin_encoder_builds_by_name(tmp_path) -> None:
    assert "example_linear" in list_models("encoder", "example_*")
    gin.parse_config("encoders.example_linear.bias = False")
    model = build("encoder", "example_linear", frame_shape=(1, 8, 8), context=2, latent_dim=4)
    assert model(torch.rand(3, 2, 1, 8, 8)).shape == (3, 4)
    assert model.linear.bias is None
    assert module_spec(model)["kwargs"] == {
        "frame_shape": [1, 8, 8],
        "context": 2,
        "latent_dim": 4,
        "bias": False,
    }
    path = save_checkpoint(tmp_path / "p.pt", {"encoder": model})
    assert type(load_module(path, "encoder")).__module__ == "wm_models_example_plugin"


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != registry.NO_PLUGINS_ENV}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plugins_load_lazily_on_a_miss_and_can_be_switched_off() -> None:
    lazy = _run(
        """
        import wm_models, wm_models.registry as r
        assert not r.PLUGINS.loaded, "plugins must not load at import"
        m = wm_models.build("encoder", "example_linear", frame_shape=(1, 4, 4), context=1)
        assert r.PLUGINS.loaded and "example_linear" in wm_models.list_models("encoder")
        print("ok")
        """
    )
    assert lazy.returncode == 0 and lazy.stdout.strip() == "ok", lazy.stderr
    off = _run(
        """
        import wm_models
        assert "example_linear" not in wm_models.list_models("encoder")
        try:
            wm_models.build("encoder", "example_linear", frame_shape=(1, 4, 4), context=1)
        except wm_models.UnknownModelError as e:
            assert "WM_MODELS_NO_PLUGINS" in str(e) and "load_plugins()" in str(e), str(e)
        else:
            raise AssertionError("built a plugin model with auto-loading off")
        assert wm_models.load_plugins() == ["example"]
        assert "example_linear" in wm_models.list_models("encoder")
        print("ok")
        """,
        WM_MODELS_NO_PLUGINS="1",
    )
    assert off.returncode == 0 and off.stdout.strip() == "ok", off.stderr


def test_broken_plugin_is_reported_not_fatal(monkeypatch) -> None:
    broken = importlib.metadata.EntryPoint(
        name="broken", value="wm_models_no_such_plugin_module", group=registry.PLUGIN_GROUP
    )
    monkeypatch.setattr(plugins.importlib.metadata, "entry_points", lambda group: [broken])
    monkeypatch.setattr(registry.PLUGINS, "loaded", False)
    monkeypatch.setattr(registry.PLUGINS, "errors", {})
    monkeypatch.setattr(registry.PLUGINS, "names", [])
    monkeypatch.delenv(registry.NO_PLUGINS_ENV, raising=False)
    monkeypatch.delenv(plugins.ALL_GROUPS_ENV, raising=False)
    with pytest.warns(RuntimeWarning, match="'broken'.*failed to load"):
        assert "conv" in list_models("encoder")
    with pytest.raises(UnknownModelError, match="Plugins that failed to load: broken: "):
        build("encoder", "nope")
    assert load_plugins() == []
