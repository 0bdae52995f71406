from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gin
import numpy as np
import pytest

from wm_core import UnknownNameError
from wm_data.agent import AgentMismatchError, load_agent, read_training_curve
from wm_data.collect import collect
from wm_data.envs import EnvSpec
from wm_data.policies import (
    POLICIES,
    EpsilonPolicy,
    PPOPolicy,
    RandomPolicy,
    make_policy,
    needs_agent,
    policy_needs_agent,
)
from wm_data.store import ReplayReader, StoreMismatchError, open_store

TINY = {"size": 16, "max_episode_steps": 25, "num_envs": 2, "progress": False}

KILL_SCRIPT = """
import sys
from wm_data.collect import collect
collect(sys.argv[1], size=16, max_episode_steps=60, num_envs=2, target_episodes=10_000,
        policy="random", target_steps=None, progress=False,
        on_episode=lambda n, r: print("episode", n, flush=True))
"""


def test_collect_resumes_to_target(tmp_path: Path) -> None:
    out = tmp_path / "store"
    first = collect(out, target_steps=None, target_episodes=3, policy="random", **TINY)
    assert first.episodes == 3 and first.collected_steps == first.steps > 0
    assert 0 < first.loop_seconds <= first.seconds
    again = collect(out, target_steps=None, target_episodes=3, policy="random", **TINY)
    assert again.collected_steps == 0 and again.episodes == 3
    more = collect(out, target_steps=None, target_episodes=5, policy="random", **TINY)
    assert more.episodes == 5
    with open_store(out) as r:
        assert r.metadata["env_backend"] == "gymnasium" and r.metadata["policy"] == "random"
        # the recorded env spec is the one used, not the registered default (sticky 0.25)
        env_kwargs = r.metadata["env_spec"]["kwargs"]
        assert env_kwargs["repeat_action_probability"] == r.metadata["sticky"] == 0.0
        assert r.num_episodes == 5 and (r.episodes["length"] <= 25).all()


def test_collect_refuses_other_settings(tmp_path: Path) -> None:
    out = tmp_path / "store"
    collect(out, target_steps=None, target_episodes=1, policy="random", **TINY)
    with pytest.raises(StoreMismatchError, match="frameskip"):
        collect(out, target_steps=None, target_episodes=2, policy="random", frameskip=2, **TINY)
    replaced = collect(
        out,
        target_steps=None,
        target_episodes=1,
        policy="random",
        frameskip=2,
        overwrite=True,
        **TINY,
    )
    assert replaced.episodes == 1
    assert open_store(out).metadata["frameskip"] == 2


def test_sigkill_mid_episode_keeps_complete_episodes_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(out)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        seen = 0
        deadline = time.monotonic() + 120
        while seen < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen += line.startswith("episode")
        assert seen >= 3, "collector produced no episodes"
        time.sleep(0.05)  # mid-episode
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with open_store(out) as r:
        n = r.num_episodes
        assert n >= 3
        for ep in r:
            assert ep.frames.shape[0] == len(ep) + 1 and ep.ram.shape[0] == len(ep) + 1
            assert ep.terminated[-1] or ep.truncated[-1]
    res = collect(
        out, size=16, max_episode_steps=60, num_envs=2, target_episodes=n + 2,
        target_steps=None, policy="random", progress=False,
    )  # fmt: skip
    assert res.episodes == n + 2
    with open_store(out) as r:
        last = r.episodes[-1]
        assert r.num_frames == r.num_steps + r.num_episodes
        assert r.file(0)["frames"].shape[0] == last["frame_start"] + last["length"] + 1


def test_workers_write_shards_read_as_one(tmp_path: Path) -> None:
    out = tmp_path / "sharded"
    res = collect(out, target_steps=120, policy="random", num_workers=2, **TINY)
    assert [p.name for p in res.shards] == ["shard-000.h5", "shard-001.h5"]
    with open_store(out) as r:
        assert set(r.episodes["shard"].tolist()) == {0, 1} and r.num_steps >= 120
        assert [m["shard"] for m in r.shard_metadata] == [0, 1]
    with pytest.raises(Exception, match="num_workers"):
        collect(out, target_steps=200, policy="random", num_workers=1, **TINY)


def test_native_backend_without_ram(tmp_path: Path) -> None:
    res = collect(
        tmp_path / "n", size=16, num_envs=2, target_steps=300, policy="random",
        ram=False, progress=False,
    )  # fmt: skip
    with open_store(res.path) as r:
        assert r.metadata["env_backend"] == "ale_py.AtariVectorEnv"
        assert not r.has_ram and r.num_steps >= 300
        ep = r.episode(0)
        assert ep.frames.shape == (len(ep) + 1, 1, 16, 16) and ep.ram is None
        assert ep.terminated[-1] or ep.truncated[-1]


def test_policies() -> None:
    obs = np.zeros((4000, 1), np.uint8)
    actions = RandomPolicy(5, seed=0).act(obs)
    assert actions.dtype == np.int64 and set(actions.tolist()) == set(range(5))

    class Constant:
        name = "const"

        def act(self, obs: np.ndarray) -> np.ndarray:
            return np.full(len(obs), 6, np.int64)  # outside the random range 0..5

    mixed = EpsilonPolicy(Constant(), 6, epsilon=0.2, seed=0).act(obs)
    assert (mixed != 6).mean() == pytest.approx(0.2, abs=0.03)  # 20% random
    with pytest.raises(UnknownNameError, match="Did you mean 'random'"):
        make_policy("randm", num_actions=3)
    with pytest.raises(ValueError, match="policy 'greedy'"):  # also a bad configuration value
        make_policy("greedy", num_actions=3)
    with pytest.raises(ValueError, match="needs a PPO model"):
        make_policy("epsilon", num_actions=3)
    with pytest.raises(ValueError, match="epsilon"):
        EpsilonPolicy(Constant(), 6, epsilon=1.5)


def test_policy_registry_names_and_a_registered_policy_collects(tmp_path: Path) -> None:
    assert {"epsilon", "ppo", "random"} <= set(POLICIES.names())  # plugins may add more
    assert [policy_needs_agent(n) for n in ("epsilon", "ppo", "random")] == [True, True, False]

    class Noop:
        name = "noop"

        def act(self, obs: np.ndarray) -> np.ndarray:
            return np.zeros(len(obs), np.int64)

    @POLICIES.register("noop")
    def noop(*, num_actions, model=None, epsilon=0.2, deterministic=False, seed=0):
        return Noop()

    try:
        assert not policy_needs_agent("noop")
        res = collect(tmp_path / "noop", target_steps=None, target_episodes=1, policy="noop",
                      **TINY)  # fmt: skip
        with open_store(res.path) as r:
            assert r.metadata["policy"] == "noop" and not r.episode(0).actions.any()
    finally:
        POLICIES.unregister("noop")
    assert needs_agent(noop).needs_agent is True
    with pytest.raises(UnknownNameError, match="Known collection policies"):
        collect(tmp_path / "never", policy="noop", **TINY)
    assert not (tmp_path / "never").exists()


def test_ppo_trains_from_scratch_then_loads(tmp_path: Path) -> None:
    gin.bind_parameter("ppo.n_steps", 32)
    gin.bind_parameter("ppo.n_envs", 2)
    gin.bind_parameter("ppo.batch_size", 32)
    gin.bind_parameter("ppo.n_epochs", 1)
    out = tmp_path / "ppo"
    kw = {"size": 40, "max_episode_steps": 20, "num_envs": 2, "progress": False}
    res = collect(out, target_steps=None, target_episodes=2, policy="epsilon",
                  agent_steps=256, deterministic=True, **kw)  # fmt: skip
    agent = out / "ppo_agent.zip"
    assert res.agent == agent and agent.exists()
    curve = read_training_curve(agent)
    assert len(curve) >= 10 and (curve["l"] <= 20).all()  # episodes logged while training
    stamp = agent.stat().st_mtime_ns
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".ppo")) == []  # no temp
    assert agent.read_bytes()[:2] == b"PK"  # a zip, saved under its own name
    res2 = collect(
        out, target_steps=None, target_episodes=4, policy="epsilon", agent_steps=256, **kw
    )
    assert agent.stat().st_mtime_ns == stamp  # loaded, not retrained
    with ReplayReader(res2.shards) as r:
        assert r.num_episodes == 4
    model = load_agent(agent, EnvSpec(size=40, max_episode_steps=20))
    assert model.observation_space.shape == (4, 40, 40)
    # The batched actor path acts exactly like SB3's predict.
    obs = np.random.default_rng(0).integers(0, 256, (6, 4, 40, 40), dtype=np.uint8)
    greedy = PPOPolicy(model, deterministic=True).act(obs)
    np.testing.assert_array_equal(greedy, model.predict(obs, deterministic=True)[0])
    x, _ = model.policy.obs_to_tensor(obs[:1])
    probs = model.policy.get_distribution(x).distribution.probs[0].detach().numpy()
    sampled = PPOPolicy(model, seed=0).act(np.repeat(obs[:1], 4000, axis=0))
    freq = np.bincount(sampled, minlength=len(probs)) / len(sampled)
    np.testing.assert_allclose(freq, probs, atol=0.03)
    with pytest.raises(AgentMismatchError, match="size"):
        load_agent(agent, EnvSpec(size=48))
    with pytest.raises(AgentMismatchError, match="frame_stack"):
        collect(tmp_path / "x", target_steps=50, policy="ppo", agent_path=agent,
                frame_stack=2, **kw)  # fmt: skip


def test_ppo_refuses_frames_too_small_for_its_cnn(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"collect.size = 16: the PPO agent .* 36x36"):
        collect(tmp_path / "s", size=16, target_steps=10, policy="ppo", agent_steps=64,
                progress=False)  # fmt: skip
    assert not (tmp_path / "s").exists()


# ---------------------------------------------------------------- on_target


def _complete_episodes(path: Path) -> list[int]:
    with open_store(path) as r:
        for ep in r:
            assert ep.terminated[-1] or ep.truncated[-1]
            assert ep.frames.shape[0] == len(ep) + 1
        return r.episodes["length"].tolist()


@pytest.mark.parametrize("backend", ["gymnasium", "native"])
def test_on_target_finish_episodes_stores_every_running_episode(
    backend: str, tmp_path: Path
) -> None:
    out = tmp_path / "finish"
    native = {"ram": False, "max_episode_steps": None} if backend == "native" else {}
    res = collect(
        out, target_steps=50, policy="random", backend=backend, **{**TINY, "num_envs": 4, **native}
    )
    lengths = _complete_episodes(out)
    assert res.steps == sum(lengths) > 50
    if backend == "gymnasium":  # all four envs started at once; each episode is played out
        assert lengths == [25, 25, 25, 25]
    else:  # the native env's envs start as their first frames arrive
        assert 2 <= len(lengths) <= 4
    rec = json.loads((out / "collection.json").read_text())
    assert rec["requested"] == {
        "target_steps": 50,
        "target_episodes": None,
        "on_target": "finish_episodes",
        "num_envs": 4,
        "num_workers": 1,
    }
    assert rec["stored"]["steps"] == res.steps and "finish_episodes" in rec["why"]
    assert rec["last_run"]["discarded_episodes"] == 0


@pytest.mark.parametrize("backend", ["gymnasium", "native"])
def test_on_target_stop_never_passes_the_target(backend: str, tmp_path: Path) -> None:
    out = tmp_path / "stop"
    native = {"ram": False, "max_episode_steps": None} if backend == "native" else {}
    kw = {**TINY, "num_envs": 4, "policy": "random", "backend": backend, "on_target": "stop"}
    kw.update(native)
    # the target is longer than one episode and shorter than the four running at once
    target = 60 if backend == "gymnasium" else 3000
    res = collect(out, target_steps=target, **kw)
    lengths = _complete_episodes(out)
    rec = json.loads((out / "collection.json").read_text())
    assert res.steps == sum(lengths) and (res.steps <= target or len(lengths) == 1)
    assert rec["shards"][0]["stopped_short"] is (res.steps < target)
    assert rec["last_run"]["discarded_episodes"] >= 1 and "stop" in rec["why"]
    if backend == "gymnasium":  # 25-step episodes: two fit, the third is refused, one dropped
        assert lengths == [25, 25] and rec["last_run"]["discarded_episodes"] == 2
    again = collect(out, target_steps=target, **kw)  # ended short last time: not redone
    assert again.collected_steps == 0 and again.steps == res.steps
    more = collect(out, target_steps=target + 100, **kw)
    assert (
        res.steps <= more.steps <= target + 100
        and more.record["requested"]["target_steps"] == target + 100
    )
    if backend == "gymnasium":
        assert more.steps == 150


def test_on_target_stop_keeps_a_first_episode_longer_than_the_target(tmp_path: Path) -> None:
    out = tmp_path / "short"
    res = collect(out, target_steps=10, policy="random", on_target="stop", **TINY)
    assert _complete_episodes(out) == [25] and res.steps == 25  # one whole episode, not none
    again = collect(out, target_steps=10, policy="random", on_target="stop", **TINY)
    assert again.collected_steps == 0
