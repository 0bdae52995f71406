"""Column names shared by the probes that write them and the headline that reads them.

A column is labelled by the run (or derived run) it belongs to, or by the baseline it shows.
The probes build these labels with the functions below and the headline recognises them with
the same constants, so a renamed baseline changes both sides at once.
"""

from __future__ import annotations

from collections.abc import Sequence

COPY_FRAME = "copy-last-frame"
MEAN_FRAME = "mean frame (train)"
MEDIAN_FRAME = "median frame (train)"
BLUR_FRAME = "blur σ=1 of last frame"
MEAN_LATENT_SUFFIX = " · mean-latent"
MEDIAN_LATENT_SUFFIX = " · median-latent"
LINEAR_SUFFIX = " · linear dynamics"
LINEAR_RIDGE_SUFFIX = " · linear dynamics (ridge)"
SHUFFLED_SUFFIX = " · shuffled actions"
LINEAR_SHUFFLED_SUFFIX = " · linear dynamics, shuffled actions"
RANDOM_INIT = "random-init"
CONSTANT_REWARD = "constant (train mean)"
CONSTANT_STATE = "constant (train mean / majority)"
CHANCE = "chance"
POOLED = 16
PIXELS = f"pixels, {POOLED}×{POOLED} pooled (s, s')"
COPY_LATENT_SUFFIX = " · copy-latent"
TRUE_NEXT, PRED_NEXT, COPY_NEXT = ": true next", ": predicted next", ": copy-latent"
TRAINED_ON = " [trained on {source}]"
RANDOM_POLICY = "random policy"
BEHAVIOUR_AGENT = "behaviour agent"
PLANNER_SEP = " · planner "
ACTION_BLIND = ", action-blind"
PLAYED = "played"  # the control table's "split": real-game episodes, not store windows


def copy_latent(run: str) -> str:
    """The copy-current-latent baseline column of one run (in that run's latent space)."""
    return f"{run}{COPY_LATENT_SUFFIX}"


def mean_latent(run: str) -> str:
    """The train-mean latent baseline column of one run (in that run's latent space)."""
    return f"{run}{MEAN_LATENT_SUFFIX}"


def median_latent(run: str) -> str:
    """The train-median latent baseline column of one run: the constant best in L1."""
    return f"{run}{MEDIAN_LATENT_SUFFIX}"


def linear_dynamics(run: str) -> str:
    """The ridge z -> z' (per action) dynamics baseline column of one run."""
    return f"{run}{LINEAR_SUFFIX}"


def linear_ridge(run: str) -> str:
    """The ridge dynamics beside the L1-fit one in tables scored in L1: whichever of the two
    fits scores better there is the linear baseline to beat."""
    return f"{run}{LINEAR_RIDGE_SUFFIX}"


def shuffled_actions(run: str) -> str:
    """The run's own predictor fed actions shuffled across windows: is the action used?"""
    return f"{run}{SHUFFLED_SUFFIX}"


def linear_shuffled(run: str) -> str:
    """Linear dynamics fed the shuffled actions: how much the action tells a linear model in
    the run's latent, the yardstick for how much the run's own predictor takes from it."""
    return f"{run}{LINEAR_SHUFFLED_SUFFIX}"


def random_init(name: str) -> str:
    """The random-init baseline column of an encoder architecture (its registry name)."""
    return f"{RANDOM_INIT} {name}"


def reward_head_stem(component: str, source: str | None) -> str:
    """A reward head's column stem: the component label and its run's ``reward_source``."""
    return component + (TRAINED_ON.format(source=source) if source else "")


def reward_head_columns(stem: str) -> dict[str, str]:
    """The three columns of one reward head: true next, predicted next, copy-latent."""
    return {"true": stem + TRUE_NEXT, "pred": stem + PRED_NEXT, "copy": stem + COPY_NEXT}


def planner(component: str, name: str, *, blind: bool = False) -> str:
    """A control column: latent MPC with a component's model (``blind``: copy-latent predictor)."""
    return f"{component}{PLANNER_SEP}{name}{ACTION_BLIND if blind else ''}"


def behaviour_agent(policy: str, epsilon: float) -> str:
    """The store's behaviour policy column: ``behaviour agent (epsilon, ε=0.2)``."""
    extra = f", ε={epsilon:g}" if policy == "epsilon" else ""
    return f"{BEHAVIOUR_AGENT} ({policy}{extra})"


def owner(column: str, runs: Sequence[str]) -> str | None:
    """The run a column belongs to: its own label, ``run/derived...`` or ``run · copy-latent``."""
    suffixes = (
        copy_latent(""),
        mean_latent(""),
        linear_dynamics(""),
        shuffled_actions(""),
        linear_shuffled(""),
    )
    hits = [
        r
        for r in runs
        if column == r
        or column.startswith((f"{r}/", f"{r}{PLANNER_SEP}"))
        or column in {r + s for s in suffixes}
    ]
    return max(hits, key=len) if hits else None
