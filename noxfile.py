"""Sessions: per-package tests, lint, config parsing, benchmarks and the quickstart pipeline.

torch is installed first in every environment, pinned by ``constraints.txt`` so that pip takes
the CPU wheel. Set ``WM_TORCH`` (a pip requirement, e.g. ``torch==2.5.1``) and optionally
``WM_TORCH_INDEX`` (an index URL, e.g. ``https://download.pytorch.org/whl/cu124``) to use
another build; the constraints file is then not applied.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PACKAGES_DIR = ROOT / "packages"
CONSTRAINTS = ROOT / "constraints.txt"

# Each package and the siblings it declares; wm-data and wm-models stand alone.
PACKAGES: dict[str, tuple[str, ...]] = {
    "wm-data": (),
    "wm-models": (),
    "wm-train": ("wm-data", "wm-models"),
    "wm-eval": ("wm-data", "wm-models"),
}

nox.options.default_venv_backend = "virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "tests", "configs"]


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
def tests(session: nox.Session, package: str) -> None:
    """Install one package plus only its declared siblings, then run its tests."""
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
def lint(session: nox.Session) -> None:
    """ruff check and format check over the whole tree."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


def install_all(session: nox.Session, extras: str = "") -> None:
    install_torch(session)
    install_packages(session, *PACKAGES, extras=extras)


@nox.session
def configs(session: nox.Session) -> None:
    """Every gin file under configs/ parses against the installed configurables."""
    install_all(session)
    session.run("python", str(ROOT / "tools" / "check_configs.py"), str(ROOT / "configs"))


@nox.session
def benchmarks(session: nox.Session) -> None:
    """Run every benchmark; each prints a ratio against a baseline measured in the same run."""
    install_all(session)
    session.install("psutil")
    session.run("python", str(ROOT / "benchmarks" / "run.py"), *session.posargs)
