from __future__ import annotations

import json
from pathlib import Path

import gin
import pytest

from wm_data.cli import collect_main, data_main
from wm_data.collect import collect

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "collect.gin"
TINY_BINDINGS = [
    "FRAME_SIZE = 16",
    "TARGET_STEPS = 60",
    "collect.policy = 'random'",
    "collect.num_envs = 2",
    "collect.max_episode_steps = 30",
]


@pytest.mark.skipif(not CONFIG.exists(), reason="runs from a repository checkout")
def test_collect_gin_parses_alone() -> None:
    gin.parse_config_files_and_bindings([str(CONFIG)], None, skip_unknown=False)
    assert gin.query_parameter("%ENV_ID") == "ALE/Assault-v5"
    assert gin.query_parameter("collect.policy") == "epsilon"
    assert gin.query_parameter("collect.epsilon") == pytest.approx(0.2)


@pytest.mark.skipif(not CONFIG.exists(), reason="runs from a repository checkout")
def test_wm_collect_collects_then_only_reports(tmp_path: Path, capsys) -> None:
    args = ["--gin", str(CONFIG), "--no-progress", "--bind", f"DATA_DIR = '{tmp_path / 'd'}'"]
    args += [a for b in TINY_BINDINGS for a in ("--bind", b)]
    assert collect_main(args) == 0
    out = capsys.readouterr().out
    assert "collected" in out and "episodes" in out and "bytes/step" in out
    assert (tmp_path / "d" / "collect_config.gin").exists()
    gin.clear_config()
    assert collect_main(args) == 0
    assert "already satisfies" in capsys.readouterr().out


def test_unknown_binding_names_the_key(tmp_path: Path, capsys) -> None:
    for argv, needle in [
        (["--bind", "collect.no_such_setting = 3"], "no_such_setting"),
        (["--bind", "colect.path = 'x'"], "Did you mean 'collect'?"),
        (["--gin", str(tmp_path / "missing.gin")], "no such file"),
    ]:
        assert collect_main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("wm-collect: error: ") and needle in err and err.count("\n") == 1


def test_mismatch_is_reported_not_raised(tmp_path: Path, capsys) -> None:
    out = tmp_path / "m"
    collect(out, size=16, max_episode_steps=20, num_envs=1, target_steps=20, policy="random",
            progress=False)  # fmt: skip
    rc = collect_main(
        [
            "--no-progress",
            "--bind", f"collect.path = '{out}'",
            "--bind", "collect.size = 16",
            "--bind", "collect.frameskip = 2",
            "--bind", "collect.policy = 'random'",
            "--bind", "collect.target_steps = 40",
        ]
    )  # fmt: skip
    assert rc == 1
    assert "frameskip" in capsys.readouterr().err


def test_satisfied_store_needs_no_agent(tmp_path: Path) -> None:
    out = tmp_path / "s"
    collect(out, size=16, max_episode_steps=20, num_envs=1, target_steps=20, policy="random",
            progress=False)  # fmt: skip
    # A store meeting its target is only reported: no agent is trained or loaded.
    res = collect(out, size=16, max_episode_steps=20, num_envs=1, target_steps=20,
                  policy="random", agent_steps=10**9, progress=False)  # fmt: skip
    assert res.collected_steps == 0 and not (out / "ppo_agent.zip").exists()


def test_wm_data_info(tiny_store: Path, tmp_path: Path, capsys) -> None:
    assert data_main(["info", str(tiny_store)]) == 0
    text = capsys.readouterr().out
    for word in ("episodes", "steps", "returns", "size on disk", "bytes/step", "env_id"):
        assert word in text
    assert collect_main(["--info", str(tiny_store)]) == 0
    capsys.readouterr()
    assert data_main(["info", str(tiny_store), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["episodes"] == 4 and info["metadata"]["frameskip"] == 4
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    assert data_main(["info", str(bad)]) == 1
    assert "not an HDF5 file" in capsys.readouterr().err


@pytest.mark.skipif(not CONFIG.exists(), reason="runs from a repository checkout")
@pytest.mark.parametrize(("on_target", "stored"), [("finish_episodes", 120), ("stop", 30)])
def test_wm_collect_says_requested_and_stored_steps(
    on_target: str, stored: int, tmp_path: Path, capsys
) -> None:
    # four envs whose episodes all last 30 steps, a target of 50 steps
    args = ["--gin", str(CONFIG), "--no-progress", "--bind", f"DATA_DIR = '{tmp_path / 'd'}'"]
    bindings = [*TINY_BINDINGS, "TARGET_STEPS = 50", "collect.num_envs = 4"]
    bindings.append(f"collect.on_target = {on_target!r}")
    args += [a for b in bindings for a in ("--bind", b)]
    assert collect_main(args) == 0
    out = capsys.readouterr().out
    assert f"requested      50 steps  (collect.on_target = {on_target!r}); stored {stored} " in out
    assert "why" in out and on_target in out.split("why", 1)[1].splitlines()[0]
    assert data_main(["info", str(tmp_path / "d"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["steps"] == info["collection"]["stored"]["steps"] == stored
    assert info["collection"]["requested"]["target_steps"] == 50
    dropped = info["collection"]["last_run"]["discarded_episodes"]
    assert dropped == (3 if on_target == "stop" else 0)  # one refused, two running
    assert data_main(["info", str(tmp_path / "d" / "shard-000.h5")]) == 0
    assert f"stored {stored} steps" in capsys.readouterr().out
