"""A bad spec fails before anything is submitted, with one line naming the key to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from wm_core import parse_config
from wm_sweep import spec as S
from wm_sweep.cli import main
from wm_sweep.plan import expand
from wm_sweep.spec import Local, Slurm, SpecError, Sweep, available_cores
from wm_sweep.validate import check_bindings, check_files, check_games

REPO = Path(__file__).resolve().parents[3]
BASE = """
import wm_sweep.spec
Sweep.out = '{out}'
Sweep.games = ['ALE/Assault-v5', 'ALE/Breakout-v5']
Sweep.seeds = [0, 1]
Sweep.scale = ['configs/scale/tiny.gin']
Sweep.check_commands = False
Sweep.executor = 'local'
"""


@pytest.fixture
def spec_file(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    out = tmp_path / "sweep"

    def write(extra: str = "") -> tuple[Path, Path]:
        path = tmp_path / "spec.gin"
        path.write_text(BASE.format(out=out) + extra)
        return path, out

    return write


def _refused(capsys, argv: list[str], out: Path) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("wm-sweep: error: ")
    assert "\n" not in err, err
    assert not out.exists(), "a refused sweep must create nothing"
    return err


@pytest.mark.parametrize(
    ("extra", "key", "detail"),
    [
        ("Sweep.games = ['ALE/Asault-v5']", "Sweep.games", "Did you mean 'ALE/Assault-v5'?"),
        (
            "Sweep.variants = {'vit': {'gin': ['configs/recipes/nope.gin']}}",
            "Sweep.variants['vit']['gin']",
            "configs/recipes/nope.gin: no such gin file",
        ),
        ("Sweep.scale = ['configs/scale/huge.gin']", "Sweep.scale", "no such gin file"),
        (
            "Sweep.stores = {'ALE/Breakout-v5': '/nonexistent/breakout'}",
            "Sweep.stores['ALE/Breakout-v5']",
            "/nonexistent/breakout does not exist",
        ),
        (
            "Sweep.workflows = ['jepa', 'encoder_decoder', 'jepa_dec']",
            "Sweep.workflows",
            "jepa_decoder",
        ),
        ("Sweep.workflows = ['jepa']", "Sweep.workflows", "must include 'encoder_decoder'"),
        ("Sweep.train_bind = ['ENCODR = \"vit\"']", "Sweep.train_bind", "no config"),
        ("Sweep.train_bind = ['SEED = 3']", "Sweep.train_bind", "sets SEED"),
        ("Sweep.variants = {'a': {'bnd': []}}", "Sweep.variants['a']", "Did you mean 'bind'?"),
        ("Sweep.seeds = [0, 0]", "Sweep.seeds", "listed twice"),
        ("Slurm.gpus_per_node = {'trian': 1}", "Slurm.gpus_per_node", "Did you mean 'train'?"),
        (f"Local.max_jobs = {available_cores() + 1}", "Local.max_jobs", "cores"),
    ],
)
def test_bad_spec_is_one_line_naming_the_key(spec_file, capsys, extra, key, detail):
    path, out = spec_file(extra)
    err = _refused(capsys, ["--gin", str(path)], out)
    assert f"error: {key}" in err, err
    assert detail in err, err


def test_unknown_probe_is_refused_by_wm_eval_before_submission(spec_file, capsys):
    """The probe registry lives in wm-eval (plugins included): its own CLI checks the names."""
    path, out = spec_file(
        "Sweep.check_commands = True\nSweep.workflows = ['jepa', 'encoder_decoder']\n"
        "Sweep.games = ['ALE/Assault-v5']\nSweep.probes = ['rollout', 'recon']"
    )
    err = _refused(capsys, ["--gin", str(path), "--dry-run"], out)
    assert "error: Sweep.probes" in err and "'recon'" in err, err


def test_unknown_binding_is_refused_by_wm_core(spec_file, capsys):
    path, out = spec_file()
    err = _refused(capsys, ["--gin", str(path), "--bind", "Sweep.sedes = [1]"], out)
    assert "sedes" in err


def test_field_checks_without_gin():
    with pytest.raises(SpecError, match=r"^Sweep.seeds = 3: must be a list of ints"):
        Sweep(seeds=3)
    with pytest.raises(SpecError, match=r"^Sweep.games = 'ALE/Pong-v5': must be a list"):
        Sweep(games="ALE/Pong-v5")
    with pytest.raises(SpecError, match=r"^Sweep.executor = 'slrum'.*Did you mean 'slurm'"):
        Sweep(executor="slrum")
    slurm = Slurm(time_min=30, gpus_per_node={"train": 4}, partition="gpu")
    assert slurm.parameters("train")["gpus_per_node"] == 4
    assert slurm.parameters("eval")["gpus_per_node"] == 1  # the default for eval
    assert slurm.parameters("collect")["timeout_min"] == 30
    assert Local(max_jobs=1).threads == available_cores()


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (REPO / "configs" / "sweeps").glob("*.gin"))
)
def test_shipped_specs_are_valid(name, tmp_path, monkeypatch):
    """Every spec under configs/sweeps/ builds, passes the checks and expands (the stores a
    spec names are the user's own data, so their presence is not checked here)."""
    monkeypatch.chdir(REPO)
    parse_config([f"configs/sweeps/{name}"], [f"Sweep.out = '{tmp_path / 'out'}'"])
    spec = S.GinSweep()
    S.GinSlurm(), S.GinAggregate()
    check_files(spec, REPO)
    check_games(spec.games)
    check_bindings(spec, REPO)
    plan = expand(spec, cwd=REPO)
    cells = len(spec.games) * len(spec.seeds) * len(spec.variants)
    assert len(plan.evaluations()) == cells
    assert not (tmp_path / "out").exists()
