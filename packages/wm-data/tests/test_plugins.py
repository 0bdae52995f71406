"""An outside package adds a collection policy through the ``wm_data.plugins`` group."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pytest

from wm_data import open_store
from wm_data.collect import collect
from wm_data.policies import POLICIES

PLUGIN_DIR = "tests/plugins/wm-data-example-plugin"


@pytest.fixture(scope="module", autouse=True)
def plugin_installed() -> None:
    eps = importlib.metadata.entry_points(group="wm_data.plugins")
    if "example" not in {ep.name for ep in eps}:
        pytest.fail(
            f"the example plugin is not installed: pip install {PLUGIN_DIR} "
            "(nox installs every tests/plugins/*/ package)"
        )


def test_plugin_policy_is_listed_and_collects_a_store(tmp_path: Path) -> None:
    assert "example_cycle" in POLICIES.names()
    out = tmp_path / "cycle"
    collect(out, size=16, max_episode_steps=20, num_envs=1, target_steps=20,
            policy="example_cycle", progress=False)  # fmt: skip
    with open_store(out) as store:
        actions = np.concatenate([ep.actions for ep in store])
        assert store.metadata["policy"] == "example_cycle"
    assert len(actions) >= 20 and set(actions[:7].tolist()) == set(range(7))
