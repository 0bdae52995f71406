"""The control probe end to end on a tiny real ALE store and tiny trained runs: ``wm-eval
--probe control`` plays real episodes, skips a run without a dynamics reward head with a note,
and lands its table and headline row in the report; the behaviour agent is replayed from its
PPO zip; bad settings stop before any work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from wm_data import EnvSpec
from wm_data.testing import make_tiny_store
from wm_eval import EvalConfig
from wm_eval import columns as C
from wm_eval.cli import main
from wm_eval.planning import behaviour_agent, play, play_env

EPISODES, MAX_STEPS = 5, 8
CONFIG_FILE = Path(__file__).resolve().parents[3] / "configs" / "eval.gin"
BINDINGS = [
    "EvalConfig.device = 'cpu'",
    f"ControlConfig.episodes = {EPISODES}",
    f"ControlConfig.max_steps = {MAX_STEPS}",
    "ControlConfig.candidates = 16",
    "ControlConfig.horizon = 3",
    "ControlConfig.iterations = 2",
]


def _args(*bindings: str) -> list[str]:
    return [a for b in bindings for a in ("--bind", b)]


@pytest.fixture(scope="module")
def control_report(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("control")
    argv = ["--run", str(runs["jepa"]), "--run", str(runs["encoder_decoder"]), "--out", str(out)]
    gin = ["--gin", str(CONFIG_FILE)]  # its EvalConfig.probes leaves control out; --probe wins
    assert main([*gin, *argv, "--probe", "control", *_args(*BINDINGS)]) == 0
    return json.loads((out / "report.json").read_text()), (out / "report.md").read_text()


def test_control_table_has_the_planner_its_baselines_and_every_row(control_report):
    data, md = control_report
    assert list(data["tables"]) == ["control"]
    table = data["tables"]["control"]
    assert table["probe"] == "control" and table["split"] == C.PLAYED
    planner = C.planner("jepa/jepa_dynamics_reward", "cem")
    blind = C.planner("jepa/jepa_dynamics_reward", "cem", blind=True)
    assert table["columns"] == [planner, blind, "encoder_decoder", C.RANDOM_POLICY]
    assert table["baselines"] == [blind, C.RANDOM_POLICY]
    rows = table["rows"]
    assert list(rows) == [
        "return",
        "return_vs_random",
        "length",
        "reward_correlation",
        "decisions_per_s",
        "wall_s",
    ]
    for column in (planner, blind, C.RANDOM_POLICY):
        assert rows["return"][column] is not None
        assert 1 <= rows["length"][column] <= MAX_STEPS
        assert rows["decisions_per_s"][column] > 0 and rows["wall_s"][column] > 0
        assert table["intervals"]["return"][column]["n"] == EPISODES
    assert rows["return"]["encoder_decoder"] is None  # no dynamics reward head: n/a
    assert rows["return_vs_random"][C.RANDOM_POLICY] is None
    diff = rows["return_vs_random"][planner]
    assert diff == pytest.approx(rows["return"][planner] - rows["return"][C.RANDOM_POLICY])
    assert "## Control: model-predictive planning in latent space" in md


def test_control_notes_say_what_was_skipped_and_what_it_cost(control_report):
    data, _ = control_report
    notes = "\n".join(data["notes"])
    assert "control: encoder_decoder has no dynamics reward head" in notes
    assert "collected by the random policy" in notes  # the tiny store: no PPO agent to replay
    assert f"s wall on cpu for 3 policies × {EPISODES} episodes" in notes


def test_control_headline_row_judges_against_random(control_report):
    data, _ = control_report
    row = data["headline"]["rows"]["planning_return"]
    assert row["source"]["table"] == "control" and row["source"]["row"] == "return"
    jepa = row["runs"]["jepa"]
    assert jepa["value"] == data["tables"]["control"]["rows"]["return"][jepa["column"]]
    assert jepa["baseline"]["name"] == C.RANDOM_POLICY
    assert jepa["verdict"] is not None and jepa["verdict"].endswith(C.RANDOM_POLICY)
    assert row["runs"]["encoder_decoder"]["value"] is None
    assert data["headline"]["split"] is None  # the control table plays, it scores no split


def test_control_is_opt_in():
    assert "control" not in EvalConfig().probes
    assert EvalConfig(probes=("control",)).probes == ("control",)


def test_bad_control_setting_stops_before_any_work(runs, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--run", str(runs["jepa"]), "--out", str(out), "--probe", "control"]
    assert main([*argv, *_args("ControlConfig.planner = 'cme'")]) == 2
    err = capsys.readouterr().err
    assert "ControlConfig.planner = 'cme'" in err and "Did you mean 'cem'" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_behaviour_agent_is_replayed_from_its_zip(tmp_path):
    """An (untrained) PPO zip beside a 36x36 store, replayed with the store's epsilon."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    store = make_tiny_store(tmp_path / "s.h5", episodes=2, max_episode_steps=5, size=36)
    from wm_data import open_store

    reader = open_store([str(store)])
    metadata = dict(reader.metadata)
    reader.close()
    spec = EnvSpec.from_metadata(metadata)
    assert behaviour_agent(metadata, [str(store)], spec, 7).actor is None  # a random store
    metadata.update(policy="epsilon", epsilon=0.5, agent=str(tmp_path / "gone.zip"))
    missing = behaviour_agent(metadata, [str(store)], spec, 7)
    assert missing.actor is None and "no PPO zip" in (missing.note or "")

    venv = DummyVecEnv([lambda: play_env(spec)])
    PPO("CnnPolicy", venv, n_steps=8, batch_size=8, device="cpu").save(tmp_path / "ppo_agent.zip")
    agent = behaviour_agent(metadata, [str(store)], spec, 7)
    assert agent.actor is not None and agent.label == "behaviour agent (epsilon, ε=0.5)"
    # a store given as its folder (how runs record a copied store) finds the zip inside it
    assert behaviour_agent(metadata, [str(tmp_path)], spec, 7).actor is not None
    (tmp_path / "other_store").mkdir()
    (tmp_path / "other_store" / "s.h5").write_bytes(store.read_bytes())
    assert behaviour_agent(metadata, [str(tmp_path / "other_store")], spec, 7).actor is None
    env = play_env(spec)
    episodes = play(env, agent.actor, [0, 1], max_steps=5)
    again = play(env, agent.actor, [0, 1], max_steps=5)
    env.close()
    assert [e.length for e in episodes] == [5, 5]
    assert all(e.predicted is None for e in episodes)
    for a, b in zip(episodes, again, strict=True):  # same seeds, same episode
        np.testing.assert_array_equal(a.rewards, b.rewards)
