"""Sessions: per-package tests, lint, config parsing, benchmarks and the quickstart pipeline.

torch is installed first in every environment, pinned by ``constraints.txt`` so that pip takes
the CPU wheel. Set ``WM_TORCH`` (a pip requirement, e.g. ``torch==2.5.1``) and optionally
``WM_TORCH_INDEX`` (an index URL, e.g. ``https://download.pytorch.org/whl/cu124``) to use
another build; the constraints file is then not applied.

Each environment with torch takes about 1.5 GB. Set ``WM_NOX_DISCARD_VENVS=1`` (``.ci/run`` does)
to delete a session's environment when it ends, so that a run of every session needs room for
one such environment at a time instead of six.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PACKAGES_DIR = ROOT / "packages"
CONSTRAINTS = ROOT / "constraints.txt"

# Each package and the siblings it declares; wm-core is below everything, wm-data and
# wm-models depend on no other sibling.
PACKAGES: dict[str, tuple[str, ...]] = {
    "wm-core": (),
    "wm-data": ("wm-core",),
    "wm-models": ("wm-core",),
    "wm-train": ("wm-core", "wm-data", "wm-models"),
    "wm-eval": ("wm-core", "wm-data", "wm-models"),
    # wm-sweep runs the others' command lines (its end-to-end test needs all of them)
    "wm-sweep": ("wm-core", "wm-data", "wm-models", "wm-train", "wm-eval"),
}

nox.options.default_venv_backend = "virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "tests", "configs"]
NEEDS_TORCH = {"wm-data", "wm-models", "wm-train", "wm-eval", "wm-sweep"}


def discards_venv(session_function: Callable[..., None]) -> Callable[..., None]:
    """Delete the session's environment when it ends, if ``WM_NOX_DISCARD_VENVS`` is set."""

    @functools.wraps(session_function)
    def run(session: nox.Session, *args, **kwargs) -> None:
        try:
            session_function(session, *args, **kwargs)
        finally:
            location = getattr(session.virtualenv, "location", None)
            if os.environ.get("WM_NOX_DISCARD_VENVS") and location and Path(location).is_dir():
                session.log(f"discarding {location} (WM_NOX_DISCARD_VENVS)")
                shutil.rmtree(location)

    return run


def _constraint_args() -> list[str]:
    return [] if os.environ.get("WM_TORCH") else ["-c", str(CONSTRAINTS)]


def install_torch(session: nox.Session) -> None:
    """Install torch before anything that depends on it, so no CUDA build gets pulled in."""
    spec = os.environ.get("WM_TORCH", "torch==2.13.0")
    index = os.environ.get("WM_TORCH_INDEX")
    args = [spec, *(["--index-url", index] if index else [])]
    session.install(*args, *_constraint_args())


def install_packages(session: nox.Session, *names: str, extras: str = "") -> None:
    """Install local packages (not editable, so tests see what users get)."""
    paths = [str(PACKAGES_DIR / name) for name in names]
    if extras:
        paths[-1] += f"[{extras}]"
    session.install(*paths, *_constraint_args())


def _test_plugins(package: str) -> list[str]:
    """Tiny example plugin packages a package's tests install (entry-point tests)."""
    plugin_root = PACKAGES_DIR / package / "tests" / "plugins"
    return sorted(str(p.parent) for p in plugin_root.glob("*/pyproject.toml"))


@nox.session
@nox.parametrize("package", list(PACKAGES))
@discards_venv
def tests(session: nox.Session, package: str) -> None:
    """Install one package plus only its declared siblings, then run its tests."""
    if package in NEEDS_TORCH:
        install_torch(session)
    install_packages(session, *PACKAGES[package], package, extras="test")
    plugins = _test_plugins(package)
    if plugins:
        session.install(*plugins, *_constraint_args())
    session.run(
        "pytest",
        str(PACKAGES_DIR / package / "tests"),
        *session.posargs,
        env={"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")},
    )


@nox.session
@discards_venv
def lint(session: nox.Session) -> None:
    """ruff check and format check over the whole tree, and the size rule for source files."""
    session.install("ruff>=0.5", "pytest>=7")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("pytest", str(ROOT / "tools"), "-q")
    session.run("python", str(ROOT / "tools" / "check_sizes.py"), str(PACKAGES_DIR))


def install_all(session: nox.Session) -> None:
    install_torch(session)
    install_packages(session, *PACKAGES)


@nox.session
@discards_venv
def configs(session: nox.Session) -> None:
    """Every gin file under configs/ parses against the installed configurables."""
    install_all(session)
    session.run("python", str(ROOT / "tools" / "check_configs.py"), str(ROOT / "configs"))


@nox.session
@discards_venv
def benchmarks(session: nox.Session) -> None:
    """Run every benchmark; each prints a ratio against a baseline measured in the same run."""
    install_all(session)
    session.install("psutil")
    session.run("python", str(ROOT / "benchmarks" / "run.py"), *session.posargs)


def _run_state(run_dir: Path) -> str:
    """'finished', 'resumable' (has a last checkpoint) or 'new'."""
    info = run_dir / "run.json"
    if info.exists() and json.loads(info.read_text()).get("status") == "finished":
        return "finished"
    return "resumable" if (run_dir / "checkpoints" / "last.pt").exists() else "new"


def _train_stage(session: nox.Session, gin_file: str, run_dir: Path, *binds: str) -> None:
    """One wm-train call of the pipeline; a finished run is kept, an interrupted one resumed."""
    state = _run_state(run_dir)
    if state == "finished":
        session.log(f"{gin_file}: {run_dir} already finished, reusing it")
        return
    args = ["--gin", f"configs/{gin_file}", "--gin", QUICKSTART_SCALE, "--gin", RECIPE]
    args += ["--run-dir", str(run_dir)]
    for bind in binds:
        args += ["--bind", bind]
    session.log(f"{gin_file} -> {run_dir}")
    session.run("wm-train", *args, *(["--resume"] if state == "resumable" else []))


QUICKSTART_SCALE = "configs/scale/tiny.gin"
# Every world model and derived run of the quickstart trains with the recommended recipe.
RECIPE = "configs/recipes/recommended.gin"


@nox.session
def quickstart(session: nox.Session) -> None:
    """The whole pipeline on the tiny default: collect, train six models, compare them.

    Outputs go to ``quickstart/`` (or ``WM_QUICKSTART_DIR``); running it again reuses the store
    and every finished run.
    """
    install_all(session)
    out = Path(os.environ.get("WM_QUICKSTART_DIR", ROOT / "quickstart")).resolve()
    data, runs = out / "data" / "assault", out / "runs"
    data_bind = f"DATA = '{data}'"
    session.chdir(ROOT)

    session.log("1/6 collect: train a PPO agent briefly, then fill the replay store")
    collect_binds = ["--bind", f"DATA_DIR = '{data}'", "--no-progress"]
    session.run(
        "wm-collect", "--gin", "configs/collect.gin", "--gin", QUICKSTART_SCALE, *collect_binds
    )
    session.run("wm-data", "info", str(data))

    jepa, encdec = runs / "jepa", runs / "encoder_decoder"
    session.log("2/6 encoder-decoder world model")
    _train_stage(session, "encoder_decoder.gin", encdec, data_bind)
    session.log("3/6 JEPA world model")
    _train_stage(session, "jepa.gin", jepa, data_bind)
    session.log("4/6 decoder on the frozen JEPA encoder + predictor")
    _train_stage(
        session, "jepa_decoder.gin", jepa / "jepa_decoder", data_bind, f"INIT_FROM = '{jepa}'"
    )
    session.log("5/6 reward predictors from the true and the predicted next latent")
    for source in (jepa, encdec):
        for workflow in ("reward_predictor", "dynamics_reward_predictor"):
            init = f"INIT_FROM = '{source}'"
            _train_stage(session, f"{workflow}.gin", source / workflow, data_bind, init)

    session.log("6/6 evaluate and compare")
    report = out / "report"
    session.run(
        "wm-eval",
        "--gin",
        "configs/eval.gin",
        "--run",
        str(jepa),
        "--run",
        str(encdec),
        "--out",
        str(report),
    )
    session.log(f"report: {report / 'report.md'}")
