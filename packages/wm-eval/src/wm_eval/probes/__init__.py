"""Probes: each ``run(ctx) -> list[Table]`` reads checkpoints and a store and fills tables."""

from wm_eval.probes import reconstruction, representation, reward, rollout, state

PROBES = {
    "representation": representation.run,
    "state": state.run,
    "rollout": rollout.run,
    "reconstruction": reconstruction.run,
    "reward": reward.run,
}

__all__ = ["PROBES"]
