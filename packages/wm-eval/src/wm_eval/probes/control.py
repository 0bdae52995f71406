"""Control probe: does the world model help an agent act? Latent MPC scored by real game return.

For each run with a dynamics reward head (a ``dynamics_reward_predictor`` run derived from it,
``reward_source = 'predicted'``), the planner of ``ControlConfig`` chooses every action by
rolling candidate action sequences through the run's predictor and scoring them with that
head, in the store's own env. Beside it, on the same env seeds: the same planner with an
action-blind model (copy-current-latent predictor), the random policy, and the store's
behaviour agent. The probe is opt-in (``--probe control``): it costs real game time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from wm_data import EnvSpec
from wm_eval import columns as C
from wm_eval.data import DataSource
from wm_eval.loading import Component, ModelGroup
from wm_eval.planning import (
    ControlConfig,
    LatentModel,
    PlannerActions,
    RandomActions,
    behaviour_agent,
    control_config,
    env_spec,
    make_planner,
    play,
    play_env,
)
from wm_eval.planning.play import Actor, Episode
from wm_eval.probes.registry import probe
from wm_eval.report import Table
from wm_eval.session import EvalSession
from wm_eval.stats import Measurement, Parts

ROWS = {  # row key -> label
    "return": "mean episode return",
    "return_vs_random": "return − random policy (paired, same env seeds)",
    "length": "mean episode length (steps)",
    "reward_correlation": "Pearson r, predicted vs received reward per played step",
    "decisions_per_s": "decisions per second (time choosing actions only)",
    "wall_s": "wall time of its episodes (s)",
}
EPISODE_STRIDE = 1_000_000_000  # episode ids: env index * stride + env seed (pairs only one env)


@dataclass
class Played:
    """One column's episodes and their ids (the unit every interval resamples)."""

    column: str
    env: EnvSpec
    episodes: list[Episode]
    ids: np.ndarray
    model: bool = False


def pearson_parts(predicted: np.ndarray, received: np.ndarray, ids: np.ndarray) -> Measurement:
    """Pearson r of per-step pairs, resampled by episode from per-episode sums (vectorised)."""
    a, b = np.asarray(predicted, np.float64), np.asarray(received, np.float64)
    per_step = np.stack([a, b, a * a, b * b, a * b, np.ones_like(a)], axis=1)

    def combine(s: np.ndarray) -> np.ndarray:
        n = s[..., 5]
        with np.errstate(all="ignore"):
            cov = s[..., 4] - s[..., 0] * s[..., 1] / n
            va = s[..., 2] - s[..., 0] ** 2 / n
            vb = s[..., 3] - s[..., 1] ** 2 / n
            den = np.sqrt(np.clip(va, 0, None) * np.clip(vb, 0, None))
            scale = np.sqrt(np.clip(s[..., 2], 0, None) * np.clip(s[..., 3], 0, None))
            # A variance at the level of rounding error (a constant series) has no correlation.
            return np.where(den > 1e-12 * np.maximum(scale, 1e-300), cov / den, np.nan)

    def statistic(idx: np.ndarray) -> float:
        return float(combine(per_step[idx].sum(axis=0)))

    ids = np.asarray(ids)
    return Measurement(ids, statistic, Parts.of_windows(per_step, ids, combine))


def _table(cfg: ControlConfig) -> Table:
    seeds = f"{cfg.seed}–{cfg.seed + cfg.episodes - 1}" if cfg.episodes > 1 else f"{cfg.seed}"
    search = (
        f"CEM over per-step categorical distributions ({cfg.iterations} iterations, elites "
        f"{cfg.elites} of {cfg.candidates}, smoothing {cfg.smoothing:g})"
        if cfg.planner == "cem"
        else f"random shooting ({cfg.candidates} uniform sequences)"
    )
    table = Table(
        "control",
        "Control: model-predictive planning in latent space, scored by real game return",
        f"Played in the real game, not on store windows: {cfg.episodes} episodes per policy in "
        f"each store's own env (game, frameskip, size, grayscale, sticky actions), env seeds "
        f"{seeds} for every policy, each cut at {cfg.max_steps} steps. A run's planner column "
        "encodes the last T frames with the encoder of its dynamics reward head's run (the first "
        "frame repeated at an episode's start), rolls action sequences of horizon "
        f"{cfg.horizon} through the predictor in one batch and scores each by the discounted "
        f"(γ={cfg.discount:g}) sum of head(ẑ_k, ẑ_k+1); {search}; it plays the first action of "
        "the best and replans. Baselines on the same seeds: the same planner with an "
        "action-blind model (copy-current-latent predictor: every sequence predicts the same), "
        "the random policy and the agent that collected the store. The Pearson r pairs the "
        "predicted reward of each played first action with the reward received. [95% "
        "episode-bootstrap interval; 'return − random' is the paired difference on the same "
        "seeds]",
        better="return higher",
    )
    table.split = C.PLAYED
    for key, label in ROWS.items():
        table.add_row(key, label)
    return table


def _dynamics_heads(group: ModelGroup) -> list[Component]:
    """The group's reward heads trained on predicted next latents (dynamics reward heads)."""
    return [c for c in group.reward_heads if c.run.reward_source == "predicted"]


class ControlProbe:
    """One probe call: plays every policy once per env and fills the table."""

    def __init__(self, session: EvalSession, cfg: ControlConfig) -> None:
        self.session, self.cfg = session, cfg
        self.table = _table(cfg)
        self.seeds = list(range(cfg.seed, cfg.seed + cfg.episodes))
        self.envs: dict[EnvSpec, int] = {}
        self.env_sources: dict[EnvSpec, list[DataSource]] = {}
        self.played: list[Played] = []

    def note(self, text: str) -> None:
        self.session.report.notes.append(f"control: {text}")

    def _play(self, column: str, spec: EnvSpec, actor: Actor, model: bool = False) -> None:
        env = play_env(spec)
        try:
            with self.session.timed(f"control: {column}"):
                episodes = play(env, actor, self.seeds, self.cfg.max_steps, self.cfg.seed)
        finally:
            env.close()
        ids = np.asarray(self.seeds, dtype=np.int64) + self.envs[spec] * EPISODE_STRIDE
        self.played.append(Played(column, spec, episodes, ids, model))

    def _env(self, group: ModelGroup, src: DataSource) -> EnvSpec | None:
        try:
            spec = env_spec(src.metadata)
        except ValueError as exc:
            self.note(f"{group.label}: the store's env cannot be rebuilt ({exc}); not played.")
            return None
        self.envs.setdefault(spec, len(self.envs))
        sources = self.env_sources.setdefault(spec, [])
        if all(s.key != src.key for s in sources):
            sources.append(src)
        return spec

    def run_group(self, group: ModelGroup) -> None:
        """The planner and its action-blind twin for every dynamics reward head of a run."""
        src = self.session.source(group)
        heads = _dynamics_heads(group)
        if src is None or not heads:
            self.table.add_column(group.label)
            if src is not None:
                self.note(
                    f"{group.label} has no dynamics reward head (a dynamics_reward_predictor run "
                    "derived from it, trained on predicted next latents); not played, n/a."
                )
            return
        spec = self._env(group, src)
        if spec is None:
            self.table.add_column(group.label)
            return
        num_actions = int(play_env_actions(spec))
        cfg = self.cfg
        for comp in heads:
            enc = comp.get("encoder") or group.encoder
            pred = comp.get("predictor") or group.predictor
            head = comp.get("reward_head")
            if enc is None or pred is None or head is None:
                self.table.add_column(C.planner(comp.label, cfg.planner))
                self.note(f"{comp.label}: no encoder or predictor beside its reward head; n/a.")
                continue
            model = LatentModel(
                enc, pred, head, num_actions=num_actions, device=self.session.device
            )
            planner = make_planner(
                cfg.planner,
                num_actions=num_actions,
                candidates=cfg.candidates,
                horizon=cfg.horizon,
                discount=cfg.discount,
                iterations=cfg.iterations,
                elites=cfg.elites,
                smoothing=cfg.smoothing,
            )
            for blind in (False, True):
                column = self.table.add_column(
                    C.planner(comp.label, cfg.planner, blind=blind), baseline=blind
                )
                actor = PlannerActions(
                    model.action_blind() if blind else model, planner, src.context, spec.channels
                )
                self._play(column, spec, actor, model=True)

    def run_baselines(self) -> None:
        """The random policy once per env, the behaviour agent once per store."""
        many = len(self.envs) > 1
        for spec, index in self.envs.items():
            tag = f" · env {index + 1} ({spec.game})" if many else ""
            num_actions = int(play_env_actions(spec))
            column = self.table.add_column(C.RANDOM_POLICY + tag, baseline=True)
            self._play(column, spec, RandomActions(num_actions))
            for src in self.env_sources[spec]:
                agent = behaviour_agent(src.metadata, src.paths, spec, num_actions)
                if agent.actor is None:
                    self.note(agent.note or "no behaviour agent.")
                    continue
                column = self.table.add_column(
                    agent.label + tag + self.session.store_tag(src), baseline=True
                )
                self._play(column, spec, agent.actor)

    def fill(self) -> None:
        random = {p.env: p for p in self.played if p.column.startswith(C.RANDOM_POLICY)}
        for p in self.played:
            t = self.table
            returns = np.array([e.ret for e in p.episodes])
            lengths = np.array([e.length for e in p.episodes], dtype=np.float64)
            ret = Measurement.mean(returns, p.ids)
            t.set("return", p.column, ret)
            base = random.get(p.env)
            if base is not None and base is not p:
                rand = Measurement.mean(np.array([e.ret for e in base.episodes]), base.ids)
                t.set("return_vs_random", p.column, ret.minus(rand))
            t.set("length", p.column, Measurement.mean(lengths, p.ids))
            decide = sum(e.decision_seconds for e in p.episodes)
            t.set("decisions_per_s", p.column, lengths.sum() / decide if decide > 0 else None)
            t.set("wall_s", p.column, sum(e.wall_seconds for e in p.episodes))
            if p.model:
                pred = np.concatenate([e.predicted for e in p.episodes if e.predicted is not None])
                recv = np.concatenate([e.rewards for e in p.episodes])
                steps = np.repeat(p.ids, lengths.astype(np.int64))
                t.set("reward_correlation", p.column, pearson_parts(pred, recv, steps))


def play_env_actions(spec: EnvSpec) -> int:
    """The size of the env's action set (what the predictor's action embedding must cover)."""
    env = play_env(spec)
    try:
        return int(env.action_space.n)
    finally:
        env.close()


@probe("control", order=60, default=False)
def run(session: EvalSession) -> list[Table]:
    """The control table: each run's planner, its action-blind twin, random and behaviour."""
    t0 = time.perf_counter()
    cfg = control_config()
    job = ControlProbe(session, cfg)
    for group in session.groups:
        job.run_group(group)
    if job.envs:
        job.run_baselines()
    else:
        job.table.add_column(C.RANDOM_POLICY, baseline=True)
    job.fill()
    policies = len(job.played)
    job.note(
        f"{time.perf_counter() - t0:.1f} s wall on {session.device} for {policies} policies × "
        f"{cfg.episodes} episodes (≤ {cfg.max_steps} steps each); planner {cfg.planner}, "
        f"{cfg.candidates} candidates × horizon {cfg.horizon}"
        + (f" × {cfg.iterations} iterations" if cfg.planner == "cem" else "")
        + "."
    )
    return [job.table]


run.check_settings = control_config  # type: ignore[attr-defined]  # wm-eval checks it up front
