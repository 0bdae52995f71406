"""Fixtures: a tiny real replay store, the shipped configs, and a JEPA run the derived
workflows load from (trained once per session through the CLI)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import gin
import pytest

from wm_data.testing import make_tiny_store
from wm_train import cli

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


@pytest.fixture(autouse=True)
def _clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


@pytest.fixture(scope="session")
def configs_dir() -> Path:
    return CONFIGS


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "tiny.h5"
    # six episodes: after the train/val/test split by episode, 111 training windows, i.e. the
    # 4 steps per epoch at batch 32 that the fault tests count on
    return make_tiny_store(path, episodes=6, max_episode_steps=40, size=16, seed=0)


def _train(workflow: str, run_dir: Path, store: Path, *bindings: str) -> Path:
    gin.clear_config()
    argv = [
        "--gin", str(CONFIGS / f"{workflow}.gin"),
        "--gin", str(CONFIGS / "scale" / "tiny.gin"),
        "--bind", f"DATA = {str(store)!r}",
        "--bind", "Trainer.log_every = 1",
        "--run-dir", str(run_dir),
    ]  # fmt: skip
    for binding in bindings:
        argv += ["--bind", binding]
    code = cli.main(argv)
    gin.clear_config()
    assert code == 0, f"wm-train {workflow} exited with {code}"
    return run_dir


@pytest.fixture(scope="session")
def train_workflow(tiny_store: Path) -> Callable[..., Path]:
    """train_workflow(name, run_dir, *bindings) runs ``wm-train`` on the shipped config + tiny."""
    return lambda workflow, run_dir, *bindings: _train(workflow, run_dir, tiny_store, *bindings)


@pytest.fixture(scope="session")
def jepa_run(tmp_path_factory: pytest.TempPathFactory, tiny_store: Path) -> Path:
    return _train("jepa", tmp_path_factory.mktemp("runs") / "jepa", tiny_store)


@pytest.fixture(scope="session")
def encoder_decoder_run(tmp_path_factory: pytest.TempPathFactory, tiny_store: Path) -> Path:
    return _train(
        "encoder_decoder", tmp_path_factory.mktemp("runs") / "encoder_decoder", tiny_store
    )


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="session")
def metrics() -> Callable[[Path], list[dict]]:
    return read_metrics
