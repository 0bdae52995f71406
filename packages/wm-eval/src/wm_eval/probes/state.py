"""State probe: linear read-outs of emulator-RAM variables from latents, on held-out episodes."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, r2_score

from wm_eval.columns import CONSTANT_STATE as CONSTANT
from wm_eval.metrics import linear_probe
from wm_eval.plots import bar_plot
from wm_eval.probes.ram_maps import StateVariable, select_variables
from wm_eval.probes.registry import probe
from wm_eval.report import Table
from wm_eval.session import EvalSession

HORIZON = 1


def _constant(v: StateVariable, y_train: np.ndarray, y_test: np.ndarray) -> float | None:
    """Score of predicting the train mean (R²) or the train majority class (accuracy)."""
    if len(np.unique(y_train)) < 2:
        return None
    if v.categorical:
        vals, counts = np.unique(y_train, return_counts=True)
        return float(accuracy_score(y_test, np.full(len(y_test), vals[np.argmax(counts)])))
    if np.var(y_test) == 0:
        return None
    return float(r2_score(y_test, np.full(len(y_test), y_train.mean())))


def row_key(v: StateVariable) -> str:
    """``r2/<name>`` for a continuous variable, ``accuracy/<name>`` for a categorical one."""
    return f"{'accuracy' if v.categorical else 'r2'}/{v.name}"


def _label(v: StateVariable) -> str:
    return f"{v.name} ({'accuracy' if v.categorical else 'R²'})"


@probe("state", order=20)
def run(session: EvalSession) -> list[Table]:
    """Probe every RAM variable from every encoder column; the store must hold RAM."""
    cfg = session.config
    table = Table(
        "state",
        "State probes: linear read-out of emulator RAM",
        "Linear probes (standardised latent → RidgeCV for positions/scores, logistic regression "
        "for categorical bytes) fit on training-split windows and scored on validation-split "
        "episodes (held out). Assault uses the OCAtari RAM map; other games their "
        f"{cfg.ram_top_bytes} highest-variance RAM bytes. R² of 0 = no better than the mean.",
        better="higher",
    )
    columns = session.encoder_columns()
    for c in columns:
        table.add_column(c.label, baseline=c.baseline)
    plotted: dict[str, dict[str, float | None]] = {}
    constant_done: set = set()
    for c in columns:
        src = c.source
        if c.encoder is None or src is None:
            continue
        if not src.has_ram:
            session.report.notes.append(
                f"State probes: the store of {c.label} has no RAM; skipped."
            )
            continue
        T = src.context
        train = src.batch("train", HORIZON, cfg.probe_train_samples, cfg.seed)
        val = src.batch("val", HORIZON, cfg.max_samples, cfg.seed)
        ram_tr, ram_va = train["ram"][:, T - 1].numpy(), val["ram"][:, T - 1].numpy()
        variables = select_variables(src.metadata.get("env_id", ""), ram_tr, cfg.ram_top_bytes)
        z_tr = session.latents(c.encoder, src, "train", HORIZON, cfg.probe_train_samples, 0)
        z_va = session.latents(c.encoder, src, "val", HORIZON, cfg.max_samples, 0)
        for v in variables:
            y_tr, y_va = v.read(ram_tr), v.read(ram_va)
            res = linear_probe(z_tr, y_tr, z_va, y_va, categorical=v.categorical)
            score = res["accuracy" if v.categorical else "r2"]
            key = table.add_row(row_key(v), _label(v))
            table.set(key, c.label, score)
            plotted.setdefault(v.name, {})[c.label] = table.value(key, c.label)
            if src.key not in constant_done:
                const = table.add_column(CONSTANT + session.store_tag(src), baseline=True)
                table.set(key, const, _constant(v, y_tr, y_va))
        constant_done.add(src.key)
    if not any(c.startswith(CONSTANT) for c in table.columns):
        table.add_column(CONSTANT, baseline=True)
    if plotted:
        path = session.out_dir / "plots" / "state_probes.png"
        bar_plot(plotted, path, ylabel="R² / accuracy (held-out episodes)", title="State probes")
        session.figure("State probes per RAM variable", path)
    return [table]
