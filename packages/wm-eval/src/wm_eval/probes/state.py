"""Object-level state probe: linear read-outs of decoded game state from frozen latents.

AtariARI's protocol (Anand et al. 2019) on the objects decoded from emulator RAM
(``wm_eval.objects``): a linear read-out per variable, fit on training-split windows and
scored on held-out episodes, reported per variable and averaged by category (agent,
enemies, missiles, resources, score). Beside every encoder: a random-init encoder of the
same architecture, the same read-out on pooled pixels, and a constant predictor.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from wm_eval import columns as C
from wm_eval.baseline_cache import cached
from wm_eval.data import DataSource
from wm_eval.plots import bar_plot
from wm_eval.probes.ram_maps import CATEGORIES, StateVariable, ram_map
from wm_eval.probes.registry import probe
from wm_eval.probes.state_scores import (
    average,
    constant_prediction,
    fit_predict,
    variable_cells,
)
from wm_eval.report import Table
from wm_eval.session import EvalSession
from wm_eval.stats import Measurement

HORIZON = 1
CONSTANT = C.CONSTANT_STATE
PIXELS = f"pixels, {C.POOLED}×{C.POOLED} pooled (context)"
MEAN = "mean"


def row_key(v: StateVariable, kind: str | None = None) -> str:
    """``r2/<name>`` (continuous), ``accuracy/<name>`` (categorical) or ``f1/<name>``."""
    return f"{kind or ('accuracy' if v.categorical else 'r2')}/{v.name}"


def category_key(name: str) -> str:
    return f"category/{name}"


def declare_rows(table: Table, variables: list[StateVariable]) -> None:
    """Rows in a fixed order: variables, their F1 rows, categories, the overall mean."""
    for v in variables:
        table.add_row(row_key(v), f"{v.name} ({'balanced accuracy' if v.categorical else 'R²'})")
    for v in variables:
        if v.categorical:
            table.add_row(row_key(v, "f1"), f"{v.name} (macro F1)")
    for cat in CATEGORIES:
        if any(v.category == cat for v in variables):
            table.add_row(category_key(cat), f"category: {cat} (mean skill)")
    table.add_row(MEAN, "mean over categories (skill)")


@dataclass
class Targets:
    """Decoded variables of one split's windows at the last context frame."""

    values: dict[str, np.ndarray]
    defined: dict[str, np.ndarray]
    episodes: np.ndarray


def targets(variables: list[StateVariable], ram: np.ndarray, episodes: np.ndarray) -> Targets:
    return Targets(
        {v.name: v.read(ram) for v in variables},
        {v.name: v.where(ram) for v in variables},
        np.asarray(episodes),
    )


def predictions(
    variables: list[StateVariable],
    train: Targets,
    x_train: np.ndarray | None,
    x_test: np.ndarray | None,
    n_test: int,
    fit: Callable[..., np.ndarray] = fit_predict,
) -> dict[str, np.ndarray]:
    """Test predictions per variable (None features: the constant predictor; ``fit`` does
    each read-out, ``fit_predict`` or a memoised copy of it).

    Continuous variables defined on the same train rows share one ridge fit (one
    decomposition of the features, an alpha per target); every fit runs side by side with the
    others (``fit_side_by_side``).
    """
    preds: dict[str, np.ndarray] = {}
    shared: dict[bytes, list[StateVariable]] = {}
    jobs: dict[str, tuple] = {}
    for v in variables:
        rows = train.defined[v.name]
        if not rows.any():
            continue
        y = train.values[v.name][rows]
        if x_train is None or x_test is None:
            preds[v.name] = constant_prediction(y, n_test, categorical=v.categorical)
        elif v.categorical:
            jobs[v.name] = (x_train[rows], y, x_test, True)
        else:
            shared.setdefault(np.packbits(rows).tobytes(), []).append(v)
    groups = {}
    for members in shared.values():
        assert x_train is not None and x_test is not None
        rows = train.defined[members[0].name]
        y = np.stack([train.values[v.name][rows] for v in members], axis=1)
        key = "\n".join(v.name for v in members)
        groups[key] = members
        jobs[key] = (x_train[rows], y, x_test, False)
    fitted = fit_side_by_side(jobs, fit)
    for key, members in groups.items():
        p = fitted.pop(key).reshape(n_test, -1)
        preds.update({v.name: p[:, i] for i, v in enumerate(members)})
    preds.update(fitted)
    return preds


def fit_side_by_side(
    jobs: dict[str, tuple], fit: Callable[..., np.ndarray] = fit_predict
) -> dict[str, np.ndarray]:
    """Read-outs ``key -> (x_train, y_train, x_test, categorical)``, fit side by side on the
    available threads.

    One BLAS thread per fit, one fit per thread: the fits are independent and small (LAPACK
    and BLAS release the GIL), so running them side by side keeps the cores busier than
    threading each one; the results are those of fitting them one after another.
    """
    if not jobs:
        return {}
    workers = min(len(jobs), max(1, torch.get_num_threads()))
    with threadpool_limits(1), ThreadPoolExecutor(workers) as pool:
        futures = {
            k: pool.submit(fit, x, y, xt, categorical=c) for k, (x, y, xt, c) in jobs.items()
        }
        return {k: f.result() for k, f in futures.items()}


def score_column(
    variables: list[StateVariable],
    train: Targets,
    test: Targets,
    x_train: np.ndarray | None,
    x_test: np.ndarray | None,
    fit: Callable[..., np.ndarray] = fit_predict,
) -> dict[str, Measurement]:
    """Row key -> measurement for one feature set (None: the constant predictor)."""
    cells: dict[str, Measurement] = {}
    skills: dict[str, list[Measurement]] = {}
    preds = predictions(variables, train, x_train, x_test, len(test.episodes), fit)
    for v in variables:
        if v.name not in preds:
            continue
        c = variable_cells(
            test.values[v.name],
            preds[v.name],
            test.defined[v.name],
            test.episodes,
            categorical=v.categorical,
        )
        cells[row_key(v)] = c.score
        if c.f1 is not None:
            cells[row_key(v, "f1")] = c.f1
        skills.setdefault(v.category, []).append(c.skill)
    present = [cat for cat in CATEGORIES if cat in skills]
    means = [average(skills[cat]) for cat in present]
    cells.update({category_key(cat): m for cat, m in zip(present, means, strict=True)})
    if means:
        cells[MEAN] = average(means)
    return cells


def pooled_pixels(frames: torch.Tensor, context: int, chunk: int = 1024) -> np.ndarray:
    """The context frames of each window average-pooled to at most 16×16, flattened."""
    out = []
    for s in range(0, len(frames), chunk):
        x = frames[s : s + chunk, :context].float().div(255.0).flatten(1, 2)
        size = (min(C.POOLED, x.shape[-2]), min(C.POOLED, x.shape[-1]))
        out.append(F.adaptive_avg_pool2d(x, size).flatten(1).numpy())
    return np.concatenate(out)


def _episodes(src: DataSource, split: str, batch: dict[str, torch.Tensor]) -> np.ndarray:
    if "episode" in batch:
        return batch["episode"].numpy()
    return src.dataset(split, HORIZON).window_episode(batch["index"].numpy())[0]


@dataclass
class StoreData:
    """What every column of one store shares: the variables, targets and pixel features."""

    variables: list[StateVariable]
    train: Targets
    test: Targets
    pixels: tuple[np.ndarray, np.ndarray]


def store_data(session: EvalSession, src: DataSource) -> StoreData | None:
    """Targets of the train split and the scored split; None (with a note) without a map."""
    cfg = session.config
    env_id = str(src.metadata.get("env_id", ""))
    known = ram_map(env_id)
    if known is None:
        session.report.notes.append(
            f"State probes: no RAM decoding map for {env_id or 'this store'} (only Assault has "
            "one); raw RAM bytes are packed codes, not object state, so the object-level "
            "state table is skipped for it."
        )
        return None
    variables, T = list(known), src.context
    parts = {}
    for split, n in (("train", cfg.probe_train_samples), (cfg.split, cfg.max_samples)):
        batch = src.batch(split, HORIZON, n, cfg.seed)
        ram = batch["ram"][:, T - 1].numpy()
        parts[split] = (targets(variables, ram, _episodes(src, split, batch)), batch["frames"])
    (train, f_tr), (test, f_te) = parts["train"], parts[cfg.split]
    return StoreData(variables, train, test, (pooled_pixels(f_tr, T), pooled_pixels(f_te, T)))


def _fill(table: Table, column: str, cells: dict[str, Measurement]) -> None:
    for key, m in cells.items():
        table.set(key, column, m)


def _table(split: str) -> Table:
    return Table(
        "state",
        "Object-level state probes: linear read-out of decoded game state",
        "Game state decoded from emulator RAM into screen quantities (Assault: positions in "
        "screen pixels from OCAtari's RAM map, heat-gauge width, lives, score as shown; see "
        "wm_eval.objects.assault). Each variable is read from the standardised latent of the "
        "window's context by a linear probe fit on training-split windows and scored on "
        f"{split}-split episodes: ridge regression scored by R² for continuous variables, "
        "class-balanced logistic regression scored by balanced accuracy (macro F1 beside it) "
        "for categorical ones. An enemy's x is scored where that enemy is alive, the "
        "missile's position while it flies. Categories (AtariARI): agent, enemies, "
        "missiles, resources, score, each the mean **skill** of its members (R², or balanced "
        "accuracy rescaled so chance is 0 and perfect 1); 'mean' averages the categories. "
        "Baselines: a random-init encoder, the same probe on the context frames average-"
        f"pooled to {C.POOLED}×{C.POOLED}, and the constant train mean / majority class.",
        better="higher",
    )


@probe("state", order=20)
def run(session: EvalSession) -> list[Table]:
    """Probe the decoded variables from every encoder column; the store must hold RAM."""
    cfg = session.config
    table = _table(cfg.split)
    columns = session.encoder_columns()
    for c in columns:
        table.add_column(c.label, baseline=c.baseline)
    stores: dict[tuple, StoreData | None] = {}
    for c in columns:
        src = c.source
        if c.encoder is None or src is None:
            continue
        if not src.has_ram:
            session.report.notes.append(
                f"State probes: the store of {c.label} has no RAM; skipped."
            )
            continue
        if src.key not in stores:
            with session.timed("targets and pooled pixels"):
                stores[src.key] = data = store_data(session, src)
            if data is not None:
                declare_rows(table, data.variables)
                tag = session.store_tag(src)
                px_tr, px_te = data.pixels
                pixels = table.add_column(PIXELS + tag, baseline=True)
                fit = cached(fit_predict, cfg.baseline_cache)  # the same for every run
                with session.timed("read-outs on pooled pixels"):
                    cells = score_column(data.variables, data.train, data.test, px_tr, px_te, fit)
                _fill(table, pixels, cells)
                const = table.add_column(CONSTANT + tag, baseline=True)
                _fill(table, const, score_column(data.variables, data.train, data.test, None, None))
        data = stores[src.key]
        if data is None:
            continue
        z_tr = session.latents(c.encoder, src, "train", HORIZON, cfg.probe_train_samples, 0)
        z_te = session.latents(c.encoder, src, cfg.split, HORIZON, cfg.max_samples, 0)
        with session.timed("read-outs on latents"):
            cells = score_column(data.variables, data.train, data.test, z_tr, z_te)
        _fill(table, c.label, cells)
    if not any(d is not None for d in stores.values()):
        return []
    _plot(session, table)
    return [table]


def _plot(session: EvalSession, table: Table) -> None:
    keys = [k for k in table.rows if k.startswith("category/") or k == MEAN]
    plotted = {k.split("/")[-1]: {c: table.value(k, c) for c in table.columns} for k in keys}
    path = session.out_dir / "plots" / "state_probes.png"
    bar_plot(plotted, path, ylabel="skill (R² / adjusted balanced accuracy)", title="State probes")
    session.figure("State probes per category (held-out episodes)", path)
