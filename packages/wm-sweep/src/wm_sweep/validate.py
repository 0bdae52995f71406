"""Checks a sweep passes before anything is submitted, each failing with one line that names
the key to fix: gin files that do not exist, unknown game ids, missing stores, bindings no
config uses, and (``Sweep.check_commands``) every distinct command line parsed by its own CLI
(``wm-train --print-config``; ``wm-eval`` up to the point where it would read the runs)."""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from wm_core import did_you_mean
from wm_sweep.plan import SWEEP_MACROS, Plan, stage_files, uses
from wm_sweep.runner import job_environment
from wm_sweep.spec import SpecError, Sweep
from wm_sweep.stages import Stage

__all__ = ["check_games", "check_plan", "check_spec"]

PREFLIGHT_RUN = "wm-sweep-preflight-no-such-run"
_MACRO_DEF = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=", re.MULTILINE)


def known_games() -> set[str]:
    """Every env id ale-py registers with gymnasium."""
    import ale_py
    import gymnasium

    gymnasium.register_envs(ale_py)
    return set(gymnasium.registry)


def check_games(games: tuple[str, ...]) -> None:
    known = known_games()
    for game in games:
        if game not in known:
            ale = sorted(k for k in known if k.startswith("ALE/"))
            raise SpecError(
                f"Sweep.games: unknown game {game!r} (not an env id ale-py registers, e.g. "
                f"'ALE/Assault-v5')." + did_you_mean(game, ale)
            )


def _file(cwd: Path, key: str, path: str) -> None:
    p = Path(path) if Path(path).is_absolute() else cwd / path
    if not p.is_file():
        raise SpecError(f"{key}: {path}: no such gin file")


def check_files(spec: Sweep, cwd: Path) -> None:
    configs = Path(spec.configs)
    needed = ["eval.gin", *(f"{w}.gin" for w in spec.workflows)]
    if set(spec.games) - set(spec.stores):
        needed.append("collect.gin")
    for name in needed:
        _file(cwd, "Sweep.configs", str(configs / name))
    for path in spec.scale:
        _file(cwd, "Sweep.scale", path)
    for variant, body in spec.variants.items():
        for path in body["gin"]:
            _file(cwd, f"Sweep.variants[{variant!r}]['gin']", path)


def check_stores(spec: Sweep, cwd: Path) -> None:
    for game, path in spec.stores.items():
        p = Path(path) if Path(path).is_absolute() else cwd / path
        if not p.exists():
            raise SpecError(f"Sweep.stores[{game!r}]: {path} does not exist")


def _texts(cwd: Path, files: list[str]) -> list[str]:
    return [(Path(f) if Path(f).is_absolute() else cwd / f).read_text() for f in files]


def _train_configs(spec: Sweep, cwd: Path, variants: list[str]) -> list[list[str]]:
    return [_texts(cwd, stage_files(spec, w, v)) for v in variants for w in spec.workflows]


def check_bindings(spec: Sweep, cwd: Path) -> None:
    """No binding sets what the sweep binds per stage, and each one is used by some config."""
    configs = Path(spec.configs)
    collect = str(configs / "collect.gin")
    checks = [
        ("Sweep.collect_bind", spec.collect_bind, [_texts(cwd, [collect, *spec.scale])]),
        ("Sweep.eval_bind", spec.eval_bind, [_texts(cwd, [str(configs / "eval.gin")])]),
        ("Sweep.train_bind", spec.train_bind, _train_configs(spec, cwd, list(spec.variants))),
    ]
    for variant, body in spec.variants.items():
        key = f"Sweep.variants[{variant!r}]['bind']"
        checks.append((key, body["bind"], _train_configs(spec, cwd, [variant])))
    for key, binds, texts in checks:
        for b in binds:
            for name in _MACRO_DEF.findall(b):
                if name in SWEEP_MACROS and key != "Sweep.eval_bind":
                    raise SpecError(f"{key}: {b!r} sets {name}, which the sweep binds per stage")
            if not any(uses(b, t) for t in texts):
                raise SpecError(f"{key}: {b!r}: no config of this sweep uses that macro")


def check_spec(spec: Sweep, cwd: Path) -> None:
    """Everything that needs no CLI: files, games, stores, bindings."""
    check_files(spec, cwd)
    check_games(spec.games)
    check_stores(spec, cwd)
    check_bindings(spec, cwd)


def _preflight_command(stage: Stage, out: Path) -> list[str]:
    if stage.kind == "train":
        return [*stage.command, "--print-config"]
    cmd, skip = [], False
    for arg in stage.command:  # drop --run/--out pairs; a run that does not exist ends it
        if skip:
            skip = False
            continue
        if arg in ("--run", "--out"):
            skip = True
            continue
        cmd.append(arg)
    return [*cmd, "--run", str(out / PREFLIGHT_RUN), "--out", str(out / "preflight-eval")]


def _preflight_one(stage: Stage, out: Path) -> str | None:
    """None when the CLI accepts the stage's config, else its error line."""
    cmd = _preflight_command(stage, out)
    try:
        proc = subprocess.run(
            cmd, cwd=stage.cwd, capture_output=True, text=True, env=job_environment(stage)
        )
    except OSError as exc:
        return f"{cmd[0]}: {exc}"
    err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    if stage.kind == "eval":
        if proc.returncode == 2 and any(PREFLIGHT_RUN in ln for ln in err):
            return None
    elif proc.returncode == 0:
        return None
    errors = [ln for ln in err if ": error:" in ln]
    return (errors or err or [f"exit code {proc.returncode}"])[-1].strip()


def _keys(spec: Sweep, stage: Stage, line: str) -> str:
    if stage.kind == "eval":
        probes = spec.probes is not None and "EvalConfig.probes" in line
        return "Sweep.probes" if probes else "Sweep.eval_bind"
    variant = stage.labels["variant"]
    body = spec.variants[variant]
    keys = [f"Sweep.variants[{variant!r}]"] if body["gin"] or body["bind"] else []
    keys += ["Sweep.train_bind"] if spec.train_bind else []
    keys += ["Sweep.scale"] if spec.scale else []
    return " / ".join(keys or ["Sweep.configs"])


def check_plan(plan: Plan, jobs: int) -> None:
    """Each distinct command line, parsed by its own CLI (one per workflow x variant, and the
    evaluation), side by side on ``jobs`` processes."""
    spec, first = plan.spec, {}
    for stage in plan.stages:
        if stage.kind == "train":
            key = (stage.labels["workflow"], stage.labels["variant"])
        elif stage.kind == "eval":
            key = ("eval", "")
        else:
            continue
        first.setdefault(key, stage)
    out = plan.out / ".sweep"
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(lambda s: (s, _preflight_one(s, out)), first.values()))
    for stage, line in results:
        if line is not None:
            raise SpecError(f"{_keys(spec, stage, line)} ({stage.id}): {line}")
