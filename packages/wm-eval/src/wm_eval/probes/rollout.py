"""Rollout probe: k-step open-loop prediction in latent space, beside the latent baselines, and
decoded into pixels (``rollout_pixels``) beside the pixel baselines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from wm_eval import columns as C
from wm_eval.baselines import LinearDynamics, open_loop, shuffled_actions
from wm_eval.data import DataSource
from wm_eval.loading import ModelGroup, apply_batched
from wm_eval.plots import line_plot
from wm_eval.probes.registry import probe
from wm_eval.probes.rollout_pixels import pixel_table, row_key
from wm_eval.report import Table
from wm_eval.scoring import latent_abs_error, latent_error, latent_spread, window_episodes
from wm_eval.session import EvalSession
from wm_eval.stats import Measurement

__all__ = [
    "ABSOLUTE",
    "DIFFERENCE_TABLE",
    "LATENT_TABLE",
    "SQUARED",
    "fit_linear_dynamics",
    "latent_rollout",
    "latent_target",
    "row_key",
    "run",
]

LATENT_TABLE = "rollout_latent"
DIFFERENCE_TABLE = "rollout_latent_differences"
LATENT_L1_TABLE = "rollout_latent_l1"
DIFFERENCE_L1_TABLE = "rollout_latent_l1_differences"
# The baselines every run's rollout is paired against at each k, by column suffix.
VERSUS = (C.LINEAR_SUFFIX, C.COPY_LATENT_SUFFIX, C.SHUFFLED_SUFFIX)
NO_DIFFERENCE = "0 (as good as the baseline)"


def latent_rollout(
    session: EvalSession, pred: torch.nn.Module, z0: np.ndarray, actions: torch.Tensor
) -> list[np.ndarray]:
    """``[ẑ_1, ..., ẑ_K]``: the predictor fed its own output with ``actions [N, K]``."""
    z = torch.from_numpy(np.asarray(z0)).float()
    out = []
    for k in range(actions.shape[1]):
        z = apply_batched(
            pred, z, actions[:, k], device=session.device, batch_size=session.config.batch_size
        )
        out.append(z.double().numpy())
    return out


@dataclass(frozen=True)
class LatentScore:
    """One way to score a latent prediction: its tables, its error, its scale and the loss the
    linear-dynamics baseline is fit with (the best linear model for that score)."""

    table: str
    differences: str
    loss: str
    versus: tuple[str, ...]
    title: str
    error: str
    scale: str
    measure: Callable[[np.ndarray, np.ndarray, np.ndarray, float], Measurement]
    normaliser: Callable[[np.ndarray], float]


def _variance(z: np.ndarray) -> float:
    return float(np.asarray(z, dtype=np.float64).var(axis=0).sum())


SQUARED = LatentScore(
    LATENT_TABLE,
    DIFFERENCE_TABLE,
    "squared",
    VERSUS,
    "Open-loop latent rollout",
    "error = mean ‖ẑ_k − z_k‖² / total variance of z_k",
    "latent variance",
    lambda pred, z, eps, _: latent_error(pred, z, eps),
    _variance,
)
ABSOLUTE = LatentScore(
    LATENT_L1_TABLE,
    DIFFERENCE_L1_TABLE,
    "absolute",
    (C.LINEAR_SUFFIX, C.LINEAR_RIDGE_SUFFIX, C.COPY_LATENT_SUFFIX, C.SHUFFLED_SUFFIX),
    "Open-loop latent rollout, L1 (the JEPA's training loss)",
    "error = mean ‖ẑ_k − z_k‖₁ / mean ‖z_k − median(z_k)‖₁ (the per-dimension median of the "
    "scored windows, a fixed scale)",
    "latent spread",
    latent_abs_error,
    latent_spread,
)


def _table(split: str, horizon: int, score: LatentScore = SQUARED) -> Table:
    constant = "mean" if score.loss == "squared" else "per-dimension median"
    fit = "ridge" if score.loss == "squared" else "least absolute deviations"
    table = Table(
        score.table,
        f"{score.title} (k = 1..{horizon})",
        f"On {split}-split windows: from z₀ = encoder(s₀) the predictor is applied k times "
        f"with the recorded actions; {score.error}, with "
        "z_k = target encoder (or encoder) of the true state s_k, so 1.0 is as bad as "
        f"predicting the scored windows' own {constant}. Baselines, each in that run's latent "
        f"space: copy-current-latent (ẑ_k = z₀), the training-split {constant} latent, linear "
        f"dynamics ({fit}, z' = W[z, onehot(a)] + b fit on training-split transitions, rolled "
        "out open loop from z₀"
        + (
            "; beside it the ridge fit of the squared-error table, which may roll out better: "
            "a run beats linear dynamics only when it beats both"
            if score.loss != "squared"
            else ""
        )
        + ") and shuffled actions (the run's own predictor fed the action "
        "sequence of another window: if it scores like the run, the action is not used), beside "
        "the same linear dynamics fed those shuffled actions: the gap between the two linear "
        "columns is what the action is worth to a linear model of this latent, the yardstick "
        "for the gap between the run and its shuffled-actions column. For an "
        "encoder-decoder the latent is only trained through the decoder: see also the "
        "decoded rollout table. [95% episode-bootstrap interval]",
        better="lower",
    )
    table.split = split
    for k in range(1, horizon + 1):
        table.add_row(row_key(k))
    return table


def _difference_table(split: str, horizon: int, score: LatentScore = SQUARED) -> Table:
    table = Table(
        score.differences,
        f"{score.title} minus its baselines (k = 1..{horizon})",
        "Each run's open-loop latent error minus that of a baseline in its own latent space "
        f"(the {score.table} table's figures), paired window by window on the same windows: "
        "below 0 with the whole interval below 0, the run beats that baseline k steps ahead; "
        "an interval that holds 0 means no better; above 0, worse. [95% episode-bootstrap "
        "interval of the paired difference]",
        better="lower",
    )
    table.split = split
    table.add_column(NO_DIFFERENCE, baseline=True)
    for k in range(1, horizon + 1):
        table.add_row(row_key(k))
        table.set(row_key(k), NO_DIFFERENCE, 0.0)
    return table


def difference_column(run: str, suffix: str) -> str:
    """``<run> − <baseline>`` in the differences table (``jepa − linear dynamics``)."""
    return f"{run} − {suffix.removeprefix(' · ')}"


def latent_target(g: ModelGroup) -> torch.nn.Module | None:
    """The encoder that defines the run's latent space: its EMA target, else its encoder."""
    return (g.world.get("target_encoder") if g.world else None) or g.encoder


def fit_linear_dynamics(
    session: EvalSession, target: torch.nn.Module, src: DataSource, loss: str = "squared"
) -> tuple[LinearDynamics, np.ndarray]:
    """Linear dynamics and the constant latent that are best for ``loss`` (the mean for squared
    error, the per-dimension median for absolute error), both fit on training-split
    transitions, once per evaluation: the rollout and action probes share them."""

    def fit() -> tuple[LinearDynamics, np.ndarray]:
        n, cfg = session.config.probe_train_samples, session.config
        z = session.latents(target, src, "train", 1, n, 0)
        z_next = session.latents(target, src, "train", 1, n, 1)
        actions = src.batch("train", 1, n, cfg.seed)["actions"][:, 0].numpy()
        num_actions = src.dataset("train", 1).num_actions
        constant = z.mean(axis=0) if loss == "squared" else np.median(z, axis=0)
        return LinearDynamics.fit(z, actions, z_next, num_actions, loss=loss), constant

    return session.memo(("linear dynamics", id(target), src.key, loss), fit)


def _constant_column(run: str, loss: str) -> str:
    """The training-split constant latent: the mean for squared error, the median for L1."""
    return C.mean_latent(run) if loss == "squared" else C.median_latent(run)


@dataclass
class _Rollouts:
    """What every latent table of one run scores: the run's own rollouts (shared by the
    squared and the absolute tables), the start latent and the action sequences."""

    own: dict[str, list[np.ndarray]]
    z0: np.ndarray
    actions: np.ndarray
    shuffled: np.ndarray


def _rollouts(session: EvalSession, g: ModelGroup, src: DataSource, horizon: int) -> _Rollouts:
    cfg = session.config
    batch = src.batch(cfg.split, horizon, cfg.max_samples, cfg.seed)
    actions = batch["actions"]
    z_start = session.latents(g.encoder, src, cfg.split, horizon, cfg.max_samples, 0)
    z0 = session.latents(latent_target(g), src, cfg.split, horizon, cfg.max_samples, 0)
    shuffled = shuffled_actions(actions, cfg.seed)
    own = {
        g.label: latent_rollout(session, g.predictor, z_start, actions),
        C.shuffled_actions(g.label): latent_rollout(session, g.predictor, z_start, shuffled),
    }
    return _Rollouts(own, z0, actions.numpy(), shuffled.numpy())


def _predictions(
    session: EvalSession, g: ModelGroup, src: DataSource, rollouts: _Rollouts, loss: str
) -> dict[str, list[np.ndarray]]:
    """Every column's ``[ẑ_1, ..., ẑ_K]`` for the run ``g`` on the scored windows."""
    z0, horizon = rollouts.z0, rollouts.actions.shape[1]
    with session.timed("linear dynamics fit"):
        linear, constant = fit_linear_dynamics(session, latent_target(g), src, loss)
        ridge, _ = fit_linear_dynamics(session, latent_target(g), src, "squared")
    columns = {
        g.label: rollouts.own[g.label],
        C.copy_latent(g.label): [z0] * horizon,
        _constant_column(g.label, loss): [np.broadcast_to(constant, z0.shape)] * horizon,
        C.linear_dynamics(g.label): open_loop(linear, z0, rollouts.actions),
    }
    if loss != "squared":  # the ridge may roll out better even where it fits worse
        columns[C.linear_ridge(g.label)] = open_loop(ridge, z0, rollouts.actions)
    columns[C.shuffled_actions(g.label)] = rollouts.own[C.shuffled_actions(g.label)]
    columns[C.linear_shuffled(g.label)] = open_loop(linear, z0, rollouts.shuffled)
    return columns


def latent_table(
    session: EvalSession, horizon: int, score: LatentScore = SQUARED
) -> tuple[Table, Table, dict]:
    """The latent rollout table (each run beside its five latent baselines) and the table of
    each run's paired differences to its linear-dynamics, copy-latent and shuffled-actions
    baselines at every k, both scored by ``score``."""
    cfg = session.config
    table = _table(cfg.split, horizon, score)
    differences = _difference_table(cfg.split, horizon, score)
    plot: dict = {"curves": {}, "dashed": set()}
    ks = list(range(1, horizon + 1))
    for g in session.groups:
        names = [
            g.label,
            C.copy_latent(g.label),
            _constant_column(g.label, score.loss),
            C.linear_dynamics(g.label),
            *([C.linear_ridge(g.label)] if score.loss != "squared" else []),
            C.shuffled_actions(g.label),
            C.linear_shuffled(g.label),
        ]
        for i, name in enumerate(names):
            table.add_column(name, baseline=i > 0)
        src = session.source(g)
        if g.encoder is None or g.predictor is None or src is None:
            continue
        batch = src.batch(cfg.split, horizon, cfg.max_samples, cfg.seed)
        eps = window_episodes(src, cfg.split, horizon, batch)
        target = latent_target(g)
        targets = [session.latents(target, src, cfg.split, horizon, cfg.max_samples, k) for k in ks]
        scales = [score.normaliser(z) for z in targets]
        rollouts = session.memo(
            ("latent rollouts", g.label, horizon),
            lambda g=g, src=src: _rollouts(session, g, src, horizon),
        )
        errors = {}
        for name, preds in _predictions(session, g, src, rollouts, score.loss).items():
            errors[name] = [
                score.measure(p, z, eps, scale)
                for p, z, scale in zip(preds, targets, scales, strict=True)
            ]
            for k, (m, scale) in enumerate(zip(errors[name], scales, strict=True), 1):
                table.set_ratio(row_key(k), name, m, denominator=scale, what=score.scale)
            plot["curves"][name] = (ks, [m.value for m in errors[name]])
            if name != g.label:
                plot["dashed"].add(name)
        for suffix in score.versus:
            column = differences.add_column(difference_column(g.label, suffix))
            pairs = zip(errors[g.label], errors[g.label + suffix], scales, strict=True)
            for k, (run, base, scale) in enumerate(pairs, 1):
                differences.set_ratio(row_key(k), column, run.minus(base), scale, score.scale)
    return table, differences, plot


@probe("rollout", order=30)
def run(session: EvalSession) -> list[Table]:
    """The latent rollout tables (squared and absolute error, each with its per-k differences)
    and the decoded open-loop rollout table, with their curves."""
    horizon = session.config.rollout_horizon
    latent, differences, lat_plot = latent_table(session, horizon, SQUARED)
    latent_l1, differences_l1, l1_plot = latent_table(session, horizon, ABSOLUTE)
    pixels, pix_plot = pixel_table(session, horizon)
    pixels.columns.sort(key=lambda c: c in pixels.baselines)  # models first, then baselines
    for table, plot, ylabel in (
        (latent, lat_plot, "error / latent variance"),
        (latent_l1, l1_plot, "L1 error / latent spread"),
        (pixels, pix_plot, "pixel MSE"),
    ):
        if plot["curves"]:
            path = session.out_dir / "plots" / f"{table.name}.png"
            line_plot(
                plot["curves"],
                path,
                xlabel="steps ahead k",
                ylabel=ylabel,
                title=table.name.replace("_", " "),
                dashed=plot["dashed"],
                logy=True,
                integer_x=True,
            )
            session.figure(f"{table.name.replace('_', ' ')} per model (dashed: baselines)", path)
    return [latent, differences, latent_l1, differences_l1, pixels]
