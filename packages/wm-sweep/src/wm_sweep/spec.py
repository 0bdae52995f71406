"""The sweep spec: what a grid holds (``Sweep``) and where it runs (``Slurm``, ``Local``).

All three are dataclasses bound from gin (``Sweep.seeds = [0, 1, 2]``), checked field by field
when built: a wrong value raises ``SpecError`` whose one line starts with the binding to fix
(``Sweep.workflows: unknown workflow 'jepa_dec' ...``). Checks that read the disk or a registry
(gin files, stores, game ids) live in ``wm_sweep.validate``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from wm_core import ConfigError, available_cores, did_you_mean, unknown_name
from wm_core.gin_front import external_configurable

__all__ = [
    "NORMALISED_ROWS",
    "OBJECTIVES",
    "STAGE_KINDS",
    "WORKFLOWS",
    "Aggregate",
    "Local",
    "Slurm",
    "SpecError",
    "Sweep",
    "available_cores",
]

# The two world models compared, then the runs derived from them (in dependency order).
OBJECTIVES = ("jepa", "encoder_decoder")
WORKFLOWS = (
    "encoder_decoder",
    "jepa",
    "jepa_decoder",
    "reward_predictor",
    "dynamics_reward_predictor",
)
STAGE_KINDS = ("collect", "train", "eval", "aggregate")
VARIANT_KEYS = ("gin", "bind")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class SpecError(ConfigError):
    """A sweep spec that cannot run; the message starts with the key to fix."""


def _strings(key: str, value: Any, *, allow_empty: bool = True) -> tuple[str, ...]:
    """A list/tuple of non-empty strings (a single string is refused: it is a common slip)."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise SpecError(f"{key} = {value!r}: must be a list of strings")
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise SpecError(f"{key} = {value!r}: every entry must be a non-empty string")
    if not allow_empty and not value:
        raise SpecError(f"{key}: must not be empty")
    return tuple(value)


def _int(key: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SpecError(f"{key} = {value!r}: must be an int >= {low}")
    return value


def _check_name(key: str, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(f"{key}: name {name!r} must be letters, digits, '_' or '-' (it is a path)")
    return name


@dataclass
class Sweep:
    """A grid of games x training seeds x variants, both objectives in every cell.

    One store per game is collected once (``collect_seed``, ``configs/collect.gin`` with the
    game's env id), or taken from ``stores``; every seed and variant trains on that store and
    split. A variant is overlay gin files and bindings applied to every training run of both
    objectives, so an ablation is a sweep with many variants. A macro binding applies to the
    runs whose configs use the macro (``ENCODER`` reaches the two world models, not the reward
    heads that load their encoder); one that no config uses is refused as a typo.
    """

    out: str = "runs/sweeps/sweep"
    games: tuple[str, ...] = ("ALE/Assault-v5",)
    seeds: tuple[int, ...] = (0,)
    collect_seed: int = 0
    stores: dict[str, str] = field(default_factory=dict)
    configs: str = "configs"
    scale: tuple[str, ...] = ()
    variants: dict[str, dict[str, Any]] = field(default_factory=lambda: {"default": {}})
    workflows: tuple[str, ...] = WORKFLOWS
    probes: tuple[str, ...] | None = None
    collect_bind: tuple[str, ...] = ()
    train_bind: tuple[str, ...] = ()
    eval_bind: tuple[str, ...] = ()
    collect_command: tuple[str, ...] = ("wm-collect",)
    train_command: tuple[str, ...] = ("wm-train",)
    eval_command: tuple[str, ...] = ("wm-eval",)
    check_commands: bool = True
    executor: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.out, str) or not self.out.strip():
            raise SpecError(f"Sweep.out = {self.out!r}: must be a folder path")
        self.games = _strings("Sweep.games", self.games, allow_empty=False)
        _no_duplicates("Sweep.games", self.games)
        if isinstance(self.seeds, int) or not isinstance(self.seeds, (list, tuple)):
            raise SpecError(f"Sweep.seeds = {self.seeds!r}: must be a list of ints")
        self.seeds = tuple(_int("Sweep.seeds", s, 0) for s in self.seeds)
        if not self.seeds:
            raise SpecError("Sweep.seeds: must not be empty")
        _no_duplicates("Sweep.seeds", self.seeds)
        self.collect_seed = _int("Sweep.collect_seed", self.collect_seed, 0)
        self.stores = self._stores()
        self.scale = _strings("Sweep.scale", self.scale)
        self.variants = self._variants()
        self.workflows = self._workflows()
        if self.probes is not None:
            self.probes = _strings("Sweep.probes", self.probes, allow_empty=False)
        for key in ("collect_bind", "train_bind", "eval_bind"):
            setattr(self, key, _strings(f"Sweep.{key}", getattr(self, key)))
        for key in ("collect_command", "train_command", "eval_command"):
            setattr(self, key, _strings(f"Sweep.{key}", getattr(self, key), allow_empty=False))
        if self.executor not in ("auto", "local", "slurm"):
            raise SpecError(
                f"Sweep.executor = {self.executor!r}: must be 'auto', 'local' or 'slurm'."
                + did_you_mean(str(self.executor), ("auto", "local", "slurm"))
            )

    @property
    def name(self) -> str:
        return os.path.basename(os.path.normpath(self.out))

    def _stores(self) -> dict[str, str]:
        if not isinstance(self.stores, Mapping):
            raise SpecError(f"Sweep.stores = {self.stores!r}: must map game ids to store paths")
        for game, path in self.stores.items():
            if game not in self.games:
                err = unknown_name("game (not in Sweep.games)", game, self.games)
                raise SpecError(f"Sweep.stores: {err.message}")
            if not isinstance(path, str) or not path.strip():
                raise SpecError(f"Sweep.stores[{game!r}] = {path!r}: must be a store path")
        return dict(self.stores)

    def _variants(self) -> dict[str, dict[str, tuple[str, ...]]]:
        if not isinstance(self.variants, Mapping) or not self.variants:
            raise SpecError(
                f"Sweep.variants = {self.variants!r}: must map names to "
                "{'gin': [files], 'bind': [bindings]} (e.g. {'default': {}})"
            )
        out = {}
        for name, body in self.variants.items():
            key = f"Sweep.variants[{name!r}]"
            _check_name(key, name)
            if not isinstance(body, Mapping):
                raise SpecError(f"{key} = {body!r}: must be a dict with keys 'gin' and 'bind'")
            for k in body:
                if k not in VARIANT_KEYS:
                    raise SpecError(
                        f"{key}: unknown key {k!r}; known: {', '.join(VARIANT_KEYS)}."
                        + did_you_mean(str(k), VARIANT_KEYS)
                    )
            out[name] = {k: _strings(f"{key}[{k!r}]", body.get(k, ())) for k in VARIANT_KEYS}
        return out

    def _workflows(self) -> tuple[str, ...]:
        chosen = _strings("Sweep.workflows", self.workflows, allow_empty=False)
        for w in chosen:
            if w not in WORKFLOWS:
                err = unknown_name("workflow", w, WORKFLOWS)
                raise SpecError(f"Sweep.workflows: {err.message}")
        for w in OBJECTIVES:
            if w not in chosen:
                raise SpecError(
                    f"Sweep.workflows: must include {w!r} (a sweep compares "
                    f"{' and '.join(OBJECTIVES)})"
                )
        return tuple(w for w in WORKFLOWS if w in chosen)  # dependency order

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _no_duplicates(key: str, values: tuple) -> None:
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise SpecError(f"{key}: {seen[0]!r} is listed twice")


ResourceValue = int | dict[str, int]


def _per_kind(key: str, value: Any, defaults: Mapping[str, int], low: int) -> dict[str, int]:
    """An int for every stage kind, or a dict by kind (kinds left out keep their default)."""
    if isinstance(value, Mapping):
        out = dict(defaults)
        for kind, v in value.items():
            if kind not in STAGE_KINDS:
                err = unknown_name("stage kind", kind, STAGE_KINDS)
                raise SpecError(f"{key}: {err.message}")
            out[kind] = _int(f"{key}[{kind!r}]", v, low)
        return out
    return dict.fromkeys(STAGE_KINDS, _int(key, value, low))


@dataclass
class Slurm:
    """Resources of each Slurm job, an int for every stage or a dict by stage kind.

    ``additional``: more sbatch parameters (``{'qos': 'high', 'constraint': 'a100'}``);
    ``setup``: shell lines run before each job (``module load ...``, activating an env).
    """

    partition: str | None = None
    account: str | None = None
    time_min: ResourceValue = field(
        default_factory=lambda: {"collect": 240, "train": 720, "eval": 120, "aggregate": 30}
    )
    cpus_per_task: ResourceValue = field(
        default_factory=lambda: {"collect": 8, "train": 8, "eval": 8, "aggregate": 1}
    )
    gpus_per_node: ResourceValue = field(
        default_factory=lambda: {"collect": 0, "train": 1, "eval": 1, "aggregate": 0}
    )
    mem_gb: ResourceValue = field(
        default_factory=lambda: {"collect": 32, "train": 32, "eval": 32, "aggregate": 4}
    )
    additional: dict[str, Any] = field(default_factory=dict)
    setup: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        base = {f.name: f.default_factory() for f in fields(self) if f.name in _RESOURCES}
        for name, low in _RESOURCES.items():
            value = getattr(self, name)
            setattr(self, name, _per_kind(f"Slurm.{name}", value, base[name], low))
        for name in ("partition", "account"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise SpecError(f"Slurm.{name} = {value!r}: must be None or a name")
        if not isinstance(self.additional, Mapping):
            raise SpecError(f"Slurm.additional = {self.additional!r}: must be a dict")
        self.setup = _strings("Slurm.setup", self.setup)

    def parameters(self, kind: str) -> dict[str, Any]:
        """submitit (``AutoExecutor``) parameters of one stage kind."""
        extra = dict(self.additional)
        if self.account:
            extra.setdefault("account", self.account)
        params: dict[str, Any] = {
            "timeout_min": self.time_min[kind],
            "cpus_per_task": self.cpus_per_task[kind],
            "gpus_per_node": self.gpus_per_node[kind],
            "mem_gb": self.mem_gb[kind],
            "tasks_per_node": 1,
            "nodes": 1,
            "slurm_additional_parameters": extra,
        }
        if self.partition:
            params["slurm_partition"] = self.partition
        if self.setup:
            params["slurm_setup"] = list(self.setup)
        return params


_RESOURCES = {"time_min": 1, "cpus_per_task": 1, "gpus_per_node": 0, "mem_gb": 1}


@dataclass
class Local:
    """Local runs: at most ``max_jobs`` stages at once (default: one per core, never more than
    the cores), each with ``cores // max_jobs`` threads (``OMP_NUM_THREADS``)."""

    max_jobs: int | None = None
    timeout_min: int = 7 * 24 * 60
    poll_s: float = 1.0

    def __post_init__(self) -> None:
        cores = available_cores()
        if self.max_jobs is None:
            self.max_jobs = cores
        _int("Local.max_jobs", self.max_jobs, 1)
        if self.max_jobs > cores:
            raise SpecError(
                f"Local.max_jobs = {self.max_jobs}: more than the {cores} cores this machine allows"
            )
        _int("Local.timeout_min", self.timeout_min, 1)
        if not isinstance(self.poll_s, (int, float)) or not self.poll_s > 0:
            raise SpecError(f"Local.poll_s = {self.poll_s!r}: must be a number > 0")

    @property
    def threads(self) -> int:
        return max(1, available_cores() // int(self.max_jobs or 1))


# Headline rows whose values are on one scale in every game (ratios, skills, AUROC), so that
# they may be pooled across games (interquartile mean); pixel errors and reward MSE are not.
NORMALISED_ROWS = (
    "latent_1step_error",
    "latent_rollout_error",
    "latent_1step_error_l1",
    "latent_rollout_error_l1",
    "reward_information_auroc",
    "state_probe_mean",
    "action_displacement",
    "effective_rank_frac",
    "trustworthiness_ram",
)


@dataclass
class Aggregate:
    """How seeds are aggregated: percentile bootstrap (``scipy.stats.bootstrap``) over seeds,
    stratified by game; a winner needs ``min_seeds`` paired seeds and an interval of the paired
    difference that excludes 0."""

    confidence: float = 0.95
    n_resamples: int = 2000
    min_seeds: int = 5
    seed: int = 0
    normalised_rows: tuple[str, ...] = NORMALISED_ROWS

    def __post_init__(self) -> None:
        c = self.confidence
        if not isinstance(c, float) or not 0.5 <= c < 1:
            raise SpecError(f"Aggregate.confidence = {c!r}: must be a float in [0.5, 1)")
        _int("Aggregate.n_resamples", self.n_resamples, 100)
        _int("Aggregate.min_seeds", self.min_seeds, 2)
        _int("Aggregate.seed", self.seed, 0)
        self.normalised_rows = _strings("Aggregate.normalised_rows", self.normalised_rows)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# gin wraps copies: instantiate these so that bindings apply.
GinSweep = external_configurable(Sweep, module="wm_sweep")
GinSlurm = external_configurable(Slurm, module="wm_sweep")
GinLocal = external_configurable(Local, module="wm_sweep")
GinAggregate = external_configurable(Aggregate, module="wm_sweep")
