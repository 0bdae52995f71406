"""Action probe: does the predicted next latent move the agent the way the action does?

The latent rollout error is a mean over the whole latent, where the agent's own sprite, the
one thing the action moves, is a sliver of the variance: on the 50k Assault store the action is
worth ~0.2% of the 1-step error even to linear dynamics, so "shuffled actions score the same"
cannot tell a predictor that uses the action from one that does not. This probe asks the
question where the answer lives: for each continuous agent variable of the game's RAM map
(Assault: ``player_x``, ``wm_eval.probes.ram_maps``), a ridge read-out of the agent's one-step
displacement is fit on training-split transitions ``[z, z']`` of the run's target latents (a
read-out of the difference of two position read-outs would drown the few pixels a step moves
in their errors; the transitions are those linear dynamics is fit on, so no encoder pass is
added). On scored windows the displacement after k actions is the sum of the read-out over the
k steps of a rollout, ``Σ_j read([ẑ_{j-1}, ẑ_j])`` with ``ẑ_0 = z₀``.

Columns, each in the run's own latent space and read by the same read-out: the run's predictor
with the recorded actions; the same predictor fed shuffled actions (what the action adds); the
linear dynamics of the rollout probe; and the true latents ``z_1..z_k`` (the ceiling: how much
of the displacement the latents hold at all).
"""

from __future__ import annotations

import numpy as np

from wm_eval import columns as C
from wm_eval.baselines import open_loop, shuffled_actions
from wm_eval.loading import ModelGroup
from wm_eval.probes.ram_maps import StateVariable, ram_map
from wm_eval.probes.registry import probe
from wm_eval.probes.rollout import fit_linear_dynamics, latent_rollout, latent_target
from wm_eval.probes.state_scores import fit_predict, variable_cells
from wm_eval.report import Table
from wm_eval.session import EvalSession

TRUE_NEXT = " · true next latent"
CATEGORY = "agent"


def agent_variables(env_id: str) -> list[StateVariable]:
    """The game's continuous agent variables (empty without a RAM map)."""
    known = ram_map(env_id) or []
    return [v for v in known if v.category == CATEGORY and not v.categorical]


def row_key(name: str, k: int) -> str:
    return f"{name}/k={k}"


def _table(split: str) -> Table:
    return Table(
        "action",
        "Action probe: the agent's displacement read from predicted latents",
        f"On {split}-split windows: for each agent variable (decoded from RAM, as in the "
        "state probe), a ridge read-out of its one-step displacement, fit on training-split "
        "transitions [z, z'] of the run's target latents, is summed over the steps of a "
        "rollout from z₀ with the k recorded actions: Σ_j read([ẑ_{j-1}, ẑ_j]), ẑ_0 = z₀; R² "
        "against the true displacement after k actions (1 perfect, 0 no better than the "
        "scored mean displacement). The action "
        "moves only the agent, so this is where a predictor that uses it differs from one "
        "that does not. Baselines in the run's latent space: the run's predictor fed shuffled "
        "actions, linear dynamics (as in the rollout table), and the true latents (the ceiling: "
        "how much of the displacement the latents hold). [95% episode-bootstrap interval]",
        better="higher",
    )


def _columns(g: ModelGroup) -> list[str]:
    return [g.label, C.shuffled_actions(g.label), C.linear_dynamics(g.label), g.label + TRUE_NEXT]


def _displacement(
    v: StateVariable, ram: np.ndarray, context: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """``v`` after k actions minus ``v`` at the last context frame, and where both exist."""
    now, then = ram[:, context - 1], ram[:, context - 1 + k]
    return v.read(then) - v.read(now), v.where(now) & v.where(then)


@probe("action", order=35)
def run(session: EvalSession) -> list[Table]:
    """Agent displacement R² per run and step, beside the action-blind and linear baselines."""
    cfg = session.config
    horizon = cfg.rollout_horizon
    table = _table(cfg.split)
    filled = False
    for g in session.groups:
        src = session.source(g)
        if g.encoder is None or g.predictor is None or src is None or not src.has_ram:
            continue
        variables = agent_variables(str(src.metadata.get("env_id", "")))
        if not variables:
            continue
        for i, name in enumerate(_columns(g)):
            table.add_column(name, baseline=i > 0)
        target = latent_target(g)
        t, n = src.context, cfg.probe_train_samples
        ram_train = src.batch("train", 1, n, cfg.seed)["ram"].numpy()
        pairs = np.concatenate(
            [session.latents(target, src, "train", 1, n, k) for k in (0, 1)], axis=1
        )
        batch = src.batch(cfg.split, horizon, cfg.max_samples, cfg.seed)
        actions = batch["actions"]
        z_start = session.latents(g.encoder, src, cfg.split, horizon, cfg.max_samples, 0)
        z = [
            session.latents(target, src, cfg.split, horizon, cfg.max_samples, k)
            for k in range(horizon + 1)
        ]
        with session.timed("predictions"):
            linear, _ = fit_linear_dynamics(session, target, src)
            paths = {  # each column's latents ẑ_0 = z₀, ẑ_1, ..., ẑ_H
                g.label: [z[0], *latent_rollout(session, g.predictor, z_start, actions)],
                C.shuffled_actions(g.label): [
                    z[0],
                    *latent_rollout(
                        session, g.predictor, z_start, shuffled_actions(actions, cfg.seed)
                    ),
                ],
                C.linear_dynamics(g.label): [z[0], *open_loop(linear, z[0], actions.numpy())],
                g.label + TRUE_NEXT: z,
            }
        steps = np.concatenate(
            [
                np.concatenate([p[j - 1], p[j]], axis=1)
                for p in paths.values()
                for j in range(1, horizon + 1)
            ]
        )
        ram, episodes = batch["ram"].numpy(), batch["episode"].numpy()
        for v in variables:
            moved_train, known = _displacement(v, ram_train, t, 1)
            with session.timed("read-outs"):
                read = fit_predict(pairs[known], moved_train[known], steps, categorical=False)
            moves = read.reshape(len(paths), horizon, -1).cumsum(axis=1)  # [column, k, window]
            for k in range(1, horizon + 1):
                key = table.add_row(
                    row_key(v.name, k), f"{v.name} displacement after k={k} actions (R²)"
                )
                moved, defined = _displacement(v, ram, t, k)
                for column, guess in zip(paths, moves[:, k - 1], strict=True):
                    cells = variable_cells(moved, guess, defined, episodes, categorical=False)
                    table.set(key, column, cells.score)
                    filled = True
    return [table] if filled else []
