"""The native collection loop overlaps the policy with the emulators (two groups of envs, each
a native vector env stepped with ale-py's send/recv, in turn). Whatever env a group holds, each
stored action must be the one that produced the stored next frame: replaying the recorded
actions in a fresh, identically seeded emulator reproduces every frame, reward and episode end
of the store."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from wm_data.collect import collect
from wm_data.envs import EnvSpec
from wm_data.policies import POLICIES, RandomPolicy
from wm_data.store import open_store
from wm_data.vector import make_native_vec_env


class LookingPolicy(RandomPolicy):
    """Acts on what it sees (the last frame's pixel sum) with random noise mixed in, so a
    batch's actions differ from env to env and depend on each env's own frames."""

    name = "looking"

    def act(self, obs: np.ndarray) -> np.ndarray:
        seen = obs[:, -1].reshape(len(obs), -1).sum(axis=1, dtype=np.int64)
        return (seen + super().act(obs)) % self.num_actions


def replay(path: Path) -> int:
    """Replay each env's stored episodes in a fresh single native env with its seed; return
    the number of steps compared."""
    compared = 0
    with open_store(path) as r:
        spec = EnvSpec.from_metadata(r.metadata)
        c = spec.channels
        by_env: dict[int, list[int]] = defaultdict(list)
        for i, seed in enumerate(r.episodes["seed"].tolist()):
            by_env[seed].append(i)  # an env's episodes, in the order it played them
        assert len(by_env) > 1
        for seed, episodes in by_env.items():
            env = make_native_vec_env(spec, 1)
            obs, _ = env.reset(seed=seed)
            for k, e in enumerate(episodes):
                ep = r.episode(e)
                if k:  # autoreset: the step after an episode's end starts the next one
                    obs, *_ = env.step(np.zeros(1, np.int64))
                np.testing.assert_array_equal(obs[0, -c:], ep.frames[0])
                for t, action in enumerate(ep.actions.tolist()):
                    obs, reward, term, trunc, _ = env.step(np.array([action], np.int64))
                    np.testing.assert_array_equal(
                        obs[0, -c:], ep.frames[t + 1], err_msg=f"env seed {seed}, step {t}"
                    )
                    assert float(reward[0]) == float(ep.rewards[t])
                    assert bool(term[0]) == bool(ep.terminated[t])
                    assert bool(trunc[0]) == bool(ep.truncated[t])
                compared += len(ep)
            env.close()
    return compared


@pytest.mark.parametrize("num_envs", [4, 5])
def test_overlapped_loop_records_the_action_that_made_each_next_frame(
    tmp_path: Path, num_envs: int
) -> None:
    POLICIES.register("looking", force=True)(
        lambda *, num_actions, seed, **_: LookingPolicy(num_actions, seed)
    )
    try:
        res = collect(
            tmp_path / "store", size=32, num_envs=num_envs, target_steps=300, ram=False,
            policy="looking", backend="native", progress=False, seed=3,
        )  # fmt: skip
    finally:
        POLICIES.unregister("looking")
    with open_store(res.path) as r:
        assert r.metadata["env_backend"] == "ale_py.AtariVectorEnv"
        actions = np.concatenate([ep.actions for ep in r])
    assert len(np.unique(actions)) > 3
    assert replay(res.path) == res.steps >= 300
