"""A third-party probe arrives through the ``wm_eval.plugins`` entry-point group.

The plugin is a real distribution (a ``.dist-info`` with ``entry_points.txt``) on the path of
a fresh interpreter, so the registry finds it exactly as it would an installed package.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = '''
"""An example wm-eval plugin: the mean latent norm of every encoder."""

import numpy as np

from wm_eval.probes import probe
from wm_eval.report import Table


@probe("latent_norm")
def run(session):
    table = Table("latent_norm", "Latent norm", "Mean Euclidean norm of the latent.")
    table.add_row("mean_norm", "mean ‖z‖")
    for c in session.encoder_columns():
        table.add_column(c.label, baseline=c.baseline)
        if c.encoder is not None and c.source is not None:
            cfg = session.config
            z = session.latents(c.encoder, c.source, "val", 1, cfg.max_samples, 0)
            table.set("mean_norm", c.label, float(np.linalg.norm(z, axis=1).mean()))
    return [table]
'''


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plugin")
    (root / "wm_eval_latent_norm.py").write_text(PLUGIN)
    info = root / "wm_eval_latent_norm-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: wm-eval-latent-norm\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text("[wm_eval.plugins]\nlatent_norm = wm_eval_latent_norm\n")
    return root


def _python(code: str, plugin: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.endswith("_NO_PLUGINS")}
    environ["PYTHONPATH"] = os.pathsep.join([str(plugin), environ.get("PYTHONPATH", "")])
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_plugin_probe_is_listed_validated_and_run(plugin_path, runs, tmp_path) -> None:
    out = _python(
        f"""
        from wm_eval import EvalConfig, evaluate
        from wm_eval.probes import default_probes

        assert default_probes()[-1] == "latent_norm", default_probes()
        assert EvalConfig().probes[-1] == "latent_norm"
        cfg = EvalConfig(probes=("latent_norm",), device="cpu", max_samples=32)
        rep = evaluate([{str(runs["jepa"])!r}], {str(tmp_path / "out")!r}, cfg)
        [table] = rep.tables
        assert table.probe == "latent_norm" and table.value("mean_norm", "jepa") > 0
        print("ok")
        """,
        plugin_path,
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    assert "| mean ‖z‖ |" in (tmp_path / "out" / "report.md").read_text()


def test_without_plugins_the_name_is_unknown_with_a_hint(plugin_path) -> None:
    out = _python(
        """
        from wm_core import UnknownNameError
        from wm_eval import EvalConfig

        try:
            EvalConfig(probes=("latent_norm",))
        except UnknownNameError as exc:
            print(exc)
        """,
        plugin_path,
        WM_EVAL_NO_PLUGINS="1",
    )
    assert out.returncode == 0, out.stderr
    assert "Unknown probe 'latent_norm'" in out.stdout
    assert "wm_eval.plugins" in out.stdout
