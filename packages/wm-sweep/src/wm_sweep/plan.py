"""Expand a ``Sweep`` into its stage graph, in dependency order.

::

    collect/<game>                                  (one store per game, unless Sweep.stores)
      train/<game>/<variant>/seed<k>/encoder_decoder  and  .../jepa
        train/.../jepa/jepa_decoder
        train/.../<objective>/reward_predictor, .../<objective>/dynamics_reward_predictor
          eval/<game>/<variant>/seed<k>               (wm-eval: JEPA vs encoder-decoder)
            aggregate                                 (wm-sweep aggregate)

Paths under ``Sweep.out``: ``data/<game>`` (stores), ``runs/<game>/<variant>/seed<k>/<objective>``
(derived runs nest under the run they load, as the workflow configs do), ``eval/...``,
``aggregate/``, ``logs/<stage>.log``, and ``.sweep/`` (attempt states, submitit folders, and
``baselines/``: the pooled-pixel read-outs every evaluation of a store shares).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wm_core import ConfigError, atomic_write_text
from wm_core.gin_front import check_macros
from wm_sweep.spec import OBJECTIVES, Sweep
from wm_sweep.stages import REPORT, Stage

__all__ = ["DERIVED", "SWEEP_FILE", "Plan", "expand", "game_slug", "stage_files"]

# Derived workflow -> the objectives it is trained on top of.
DERIVED = {
    "jepa_decoder": ("jepa",),
    "reward_predictor": OBJECTIVES,
    "dynamics_reward_predictor": OBJECTIVES,
}
# Macros the sweep itself binds per stage; a user binding must not set them.
SWEEP_MACROS = ("DATA", "DATA_DIR", "ENV_ID", "SEED", "INIT_FROM", "RUN_DIR")
SWEEP_FILE = "sweep.json"
_VERSION = re.compile(r"-v\d+$")


def game_slug(env_id: str) -> str:
    """``'ALE/Assault-v5'`` -> ``'assault'`` (folder names)."""
    name = _VERSION.sub("", env_id.split("/")[-1]).replace("NoFrameskip", "")
    return re.sub(r"[^a-z0-9_-]+", "_", name.lower()) or "game"


def literal(value: Any) -> str:
    """A gin literal; strings in double quotes, so that a shell shows them unescaped."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (tuple, list)):
        items = ", ".join(literal(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    return repr(value)


def bind(name: str, value: Any) -> str:
    """A gin binding ``NAME = <literal>``."""
    return f"{name} = {literal(value)}"


def uses(binding: str, texts: Sequence[str]) -> bool:
    """Whether a binding applies to a config: a macro binding needs a config that uses it
    (wm-core's rule, which refuses the binding otherwise); other bindings always apply."""
    try:
        check_macros(list(texts), [binding])
    except ConfigError:
        return False
    return True


@dataclass
class Plan:
    """The stages of a sweep in dependency order, and where its files go."""

    spec: Sweep
    stages: list[Stage] = field(default_factory=list)
    cwd: str = "."
    command: str = ""
    settings: dict[str, Any] = field(default_factory=dict)  # Slurm, Local, Aggregate

    @property
    def out(self) -> Path:
        return Path(self.cwd) / self.spec.out

    def by_id(self) -> dict[str, Stage]:
        return {s.id: s for s in self.stages}

    def evaluations(self) -> list[Stage]:
        return [s for s in self.stages if s.kind == "eval"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "wm-sweep",
            "version": 1,
            "command": self.command,
            "cwd": self.cwd,
            "spec": self.spec.to_dict(),
            "settings": self.settings,
            "stages": [s.to_dict() for s in self.stages],
        }

    def write(self) -> Path:
        path = self.out / SWEEP_FILE
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path


def stage_files(spec: Sweep, workflow: str, variant: str) -> list[str]:
    """The gin files of one training stage: workflow config, scale overlays, variant overlays."""
    base = [str(Path(spec.configs) / f"{workflow}.gin"), *spec.scale]
    return base + list(spec.variants[variant]["gin"])


class _Builder:
    def __init__(self, spec: Sweep, cwd: str, threads: int) -> None:
        self.spec, self.cwd, self.threads = spec, cwd, threads
        self.out = Path(spec.out)
        self.stages: list[Stage] = []
        self._texts: dict[str, str] = {}

    def add(self, id_: str, kind: str, command: list[str], deps: list[str], output: Path, **kw):
        slug = id_.replace("/", ".")
        stage = Stage(
            id=id_,
            kind=kind,
            command=command,
            deps=deps,
            output=str(output),
            cwd=self.cwd,
            log=str(self.out / "logs" / f"{slug}.log"),
            state=str(self.out / ".sweep" / "state" / f"{slug}.json"),
            threads=self.threads,
            **kw,
        )
        self.stages.append(stage)
        return stage

    def text(self, path: str) -> str:
        if path not in self._texts:
            p = Path(path) if Path(path).is_absolute() else Path(self.cwd) / path
            self._texts[path] = p.read_text() if p.is_file() else ""
        return self._texts[path]

    def binds(self, files: list[str], user: Sequence[str]) -> list[str]:
        texts = [self.text(f) for f in files]
        return [b for b in user if uses(b, texts)]

    def collect(self, game: str) -> tuple[str | None, str]:
        """The collect stage of a game (None with a given store) and the store path."""
        spec = self.spec
        if game in spec.stores:
            return None, spec.stores[game]
        store = self.out / "data" / game_slug(game)
        files = [str(Path(spec.configs) / "collect.gin"), *spec.scale]
        cmd = [*spec.collect_command, *_gin_args(files), *_bind_args(spec.collect_bind)]
        cmd += _bind_args([bind("ENV_ID", game), bind("DATA_DIR", str(store))])
        cmd += [*_bind_args([bind("SEED", spec.collect_seed)]), "--no-progress"]
        stage = self.add(
            f"collect/{game_slug(game)}", "collect", cmd, [], store, labels={"game": game}
        )
        return stage.id, str(store)

    def train(
        self, cell: dict[str, Any], workflow: str, run: Path, deps: list[str], init: Path | None
    ) -> str:
        spec, variant = self.spec, cell["variant"]
        files = stage_files(spec, workflow, variant)
        user = self.binds(files, [*spec.train_bind, *spec.variants[variant]["bind"]])
        own = [bind("DATA", cell["store"]), bind("SEED", cell["seed"])]
        if init is not None:
            own.append(bind("INIT_FROM", str(init)))
        cmd = [*spec.train_command, *_gin_args(files), *_bind_args(user + own)]
        cmd += ["--run-dir", str(run)]
        rel = run.relative_to(self.out / "runs")
        labels = {**cell, "workflow": workflow}
        return self.add(f"train/{rel.as_posix()}", "train", cmd, deps, run, labels=labels).id

    def evaluate(self, cell: dict[str, Any], runs: dict[str, Path], deps: list[str]) -> Stage:
        spec = self.spec
        out = self.out / "eval" / cell["game_slug"] / cell["variant"] / f"seed{cell['seed']}"
        cmd = [*spec.eval_command, "--gin", str(Path(spec.configs) / "eval.gin")]
        binds = list(spec.eval_bind)
        if not any("EvalConfig.baseline_cache" in b for b in binds):  # fit once per store
            binds.append(bind("EvalConfig.baseline_cache", str(self.out / ".sweep" / "baselines")))
        if spec.probes is not None:
            binds.append(bind("EvalConfig.probes", tuple(spec.probes)))
        cmd += _bind_args(binds)
        for objective in OBJECTIVES:
            cmd += ["--run", str(runs[objective])]
        cmd += ["--out", str(out)]
        rel = out.relative_to(self.out / "eval").as_posix()
        return self.add(f"eval/{rel}", "eval", cmd, deps, out, labels=dict(cell))


def _gin_args(files: Sequence[str]) -> list[str]:
    return [a for f in files for a in ("--gin", f)]


def _bind_args(binds: Sequence[str]) -> list[str]:
    return [a for b in binds for a in ("--bind", b)]


def _cell_stages(b: _Builder, cell: dict[str, Any], collect: str | None) -> Stage:
    """The training stages of one game x variant x seed, then its evaluation."""
    base = b.out / "runs" / cell["game_slug"] / cell["variant"] / f"seed{cell['seed']}"
    runs = {o: base / o for o in OBJECTIVES}
    first = [collect] if collect else []
    trained = []
    for objective in ("encoder_decoder", "jepa"):
        trained.append(b.train(cell, objective, runs[objective], list(first), None))
    ids = {o: t for o, t in zip(("encoder_decoder", "jepa"), trained, strict=True)}
    for workflow in b.spec.workflows:
        for source in DERIVED.get(workflow, ()):
            run = runs[source] / workflow
            trained.append(b.train(cell, workflow, run, [ids[source]], runs[source]))
    return b.evaluate(cell, runs, trained)


def expand(spec: Sweep, *, cwd: str | Path, threads: int = 1, command: str = "") -> Plan:
    """Every stage of the sweep, in an order where each stage follows its dependencies."""
    b = _Builder(spec, str(cwd), threads)
    evals = []
    for game in spec.games:
        collect, store = b.collect(game)
        for variant in spec.variants:
            for seed in spec.seeds:
                cell = {
                    "game": game,
                    "game_slug": game_slug(game),
                    "variant": variant,
                    "seed": seed,
                    "store": store,
                }
                evals.append(_cell_stages(b, cell, collect))
    out = b.out / "aggregate"
    cmd = ["wm-sweep", "aggregate", "--sweep-dir", str(b.out)]
    b.add(
        "aggregate",
        "aggregate",
        cmd,
        [e.id for e in evals],
        out,
        inputs=[str(Path(e.output) / REPORT) for e in evals],
    )
    return Plan(spec, b.stages, str(cwd), command)


def format_command(command: Sequence[str]) -> str:
    """A command as a shell would need it typed."""
    return shlex.join(list(command))
