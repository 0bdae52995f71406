"""The stage graph, its exact commands (``--dry-run``), and the Slurm submission generated
without a cluster: ``srun`` and ``sbatch`` are stand-ins on PATH that keep each sbatch script."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from wm_core import RunManifest, write_manifest
from wm_sweep.cli import main
from wm_sweep.plan import expand, game_slug
from wm_sweep.spec import Sweep
from wm_sweep.stages import stage_done

REPO = Path(__file__).resolve().parents[3]


def _spec(out: Path, **kw) -> Sweep:
    base = dict(
        out=str(out),
        games=("ALE/Assault-v5", "ALE/Breakout-v5"),
        seeds=(0, 1),
        scale=("configs/scale/tiny.gin",),
        variants={"default": {}, "vit": {"bind": ["ENCODER = 'vit'", "EMA_DECAY = 0.996"]}},
        train_bind=("EPOCHS = 2",),
        probes=("rollout",),
    )
    return Sweep(**{**base, **kw})


def test_graph_of_games_seeds_variants(tmp_path):
    plan = expand(_spec(tmp_path / "s"), cwd=REPO)
    by_id = plan.by_id()
    kinds = [s.kind for s in plan.stages]
    # 2 stores; per game x variant x seed: 2 world models + 1 decoder + 2x2 reward heads + eval
    assert kinds.count("collect") == 2
    assert kinds.count("train") == 2 * 2 * 2 * 7
    assert kinds.count("eval") == 8 and kinds[-1] == "aggregate"
    order = {s.id: i for i, s in enumerate(plan.stages)}
    for stage in plan.stages:
        assert all(order[d] < order[stage.id] for d in stage.deps), stage.id
    cell = "train/breakout/vit/seed1"
    decoder = by_id[f"{cell}/jepa/jepa_decoder"]
    assert decoder.deps == [f"{cell}/jepa"]
    assert decoder.output.endswith("runs/breakout/vit/seed1/jepa/jepa_decoder")
    assert by_id[f"{cell}/encoder_decoder"].deps == ["collect/breakout"]
    assert len(by_id["eval/breakout/vit/seed1"].deps) == 7
    assert len(by_id["aggregate"].deps) == 8
    assert game_slug("ALE/Breakout-v5") == "breakout"


def test_commands_bind_store_seed_and_variant_where_used(tmp_path):
    plan = expand(_spec(tmp_path / "s"), cwd=REPO)
    by_id = plan.by_id()
    jepa = by_id["train/assault/vit/seed1/jepa"].command
    store = str(tmp_path / "s" / "data" / "assault")
    assert jepa[:3] == ["wm-train", "--gin", "configs/jepa.gin"]
    assert jepa[3:5] == ["--gin", "configs/scale/tiny.gin"]
    for binding in (f'DATA = "{store}"', "SEED = 1", "EPOCHS = 2", "ENCODER = 'vit'"):
        assert binding in jepa, binding
    assert "EMA_DECAY = 0.996" in jepa  # jepa.gin uses EMA_DECAY ...
    ed = by_id["train/assault/vit/seed1/encoder_decoder"].command
    assert "ENCODER = 'vit'" in ed and "EMA_DECAY = 0.996" not in ed  # ... encoder_decoder does not
    head = by_id["train/assault/vit/seed1/encoder_decoder/reward_predictor"].command
    assert "ENCODER = 'vit'" not in head  # the head loads its encoder
    init = str(tmp_path / "s" / "runs" / "assault" / "vit" / "seed1" / "encoder_decoder")
    assert f'INIT_FROM = "{init}"' in head
    collect = by_id["collect/assault"].command
    assert 'ENV_ID = "ALE/Assault-v5"' in collect and f'DATA_DIR = "{store}"' in collect
    ev = by_id["eval/assault/vit/seed1"].command
    assert 'EvalConfig.probes = ("rollout",)' in ev
    shared = str(tmp_path / "s" / ".sweep" / "baselines")  # one store: baselines fit once
    assert f'EvalConfig.baseline_cache = "{shared}"' in ev
    runs = [ev[i + 1] for i, a in enumerate(ev) if a == "--run"]
    assert [Path(r).name for r in runs] == ["jepa", "encoder_decoder"]


def _finish(run: Path, workflow: str) -> None:
    write_manifest(run, RunManifest(workflow=workflow, status="finished"))


def test_finished_stages_are_skipped_and_started_runs_resume(tmp_path):
    plan = expand(_spec(tmp_path / "s"), cwd=REPO)
    by_id = plan.by_id()
    done = by_id["train/assault/default/seed0/jepa"]
    started = by_id["train/assault/default/seed0/encoder_decoder"]
    _finish(Path(done.output), "jepa")
    write_manifest(started.output, RunManifest(workflow="encoder_decoder", status="running"))
    assert stage_done(done) and not stage_done(started)
    assert started.command_now()[-1] == "--resume"
    assert "--resume" not in by_id["train/assault/default/seed1/jepa"].command_now()


def test_dry_run_prints_graph_and_commands(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    out = tmp_path / "s"
    gin = tmp_path / "spec.gin"
    gin.write_text(
        "import wm_sweep.spec\n"
        f"Sweep.out = '{out}'\nSweep.seeds = [3]\nSweep.scale = ['configs/scale/tiny.gin']\n"
        "Sweep.workflows = ['encoder_decoder', 'jepa']\nSweep.check_commands = False\n"
        "Sweep.executor = 'local'\nLocal.max_jobs = 1\n"
    )
    assert main(["--gin", str(gin), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "sweep s: 5 stages, executor local" in text
    assert '"max_jobs": 1' in text
    assert "[to run] train/assault/default/seed3/jepa <- collect/assault" in text
    assert (
        f"wm-train --gin configs/jepa.gin --gin configs/scale/tiny.gin --bind 'DATA = \"{out}"
        in text
    )
    assert f"wm-sweep aggregate --sweep-dir {out}" in text
    assert "5 of 5 stages to run" in text
    assert not out.exists()


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """``srun`` and ``sbatch`` on PATH; sbatch keeps each script and answers with a job id."""
    bin_dir, jobs = tmp_path / "bin", tmp_path / "sbatch"
    bin_dir.mkdir()
    jobs.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(
        f"#!{sys.executable}\n"
        "import pathlib, shutil, sys\n"
        f"jobs = pathlib.Path({str(jobs)!r})\n"
        "n = 1000 + len(list(jobs.glob('*.sh')))\n"
        "shutil.copy(sys.argv[-1], jobs / f'{n}.sh')\n"
        "print(f'Submitted batch job {n}')\n"
    )
    srun = bin_dir / "srun"
    srun.write_text("#!/bin/sh\nexit 0\n")
    for f in (sbatch, srun):
        f.chmod(f.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return jobs


def test_slurm_submission_with_dependencies_and_resources(
    tmp_path, monkeypatch, fake_slurm, capsys
):
    monkeypatch.chdir(REPO)
    out = tmp_path / "s"
    gin = tmp_path / "spec.gin"
    gin.write_text(
        "import wm_sweep.spec\n"
        f"Sweep.out = '{out}'\nSweep.seeds = [0, 1]\nSweep.scale = ['configs/scale/tiny.gin']\n"
        "Sweep.workflows = ['encoder_decoder', 'jepa', 'jepa_decoder']\n"
        "Sweep.check_commands = False\n"
        "Slurm.partition = 'gpu'\nSlurm.time_min = {'train': 90}\nSlurm.mem_gb = 16\n"
        "Slurm.gpus_per_node = {'train': 2, 'eval': 1}\nSlurm.cpus_per_task = {'train': 6}\n"
        "Slurm.additional = {'qos': 'high'}\nSlurm.setup = ['source /opt/env/bin/activate']\n"
    )
    finished = out / "runs" / "assault" / "default" / "seed1" / "jepa"
    _finish(finished, "jepa")  # not submitted again, and nothing waits for it
    assert main(["--gin", str(gin)]) == 0
    assert "queued 9 jobs (1 stages already finished)" in capsys.readouterr().out
    queued = json.loads((out / ".sweep" / "jobs.json").read_text())
    assert len(queued) == 9 and "train/assault/default/seed1/jepa" not in queued
    scripts = {p.stem: p.read_text() for p in fake_slurm.glob("*.sh")}
    job = {sid: scripts[v["job_id"]] for sid, v in queued.items()}

    train = job["train/assault/default/seed0/jepa"]
    collect_id = queued["collect/assault"]["job_id"]
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --time=90",
        "#SBATCH --gpus-per-node=2",
        "#SBATCH --cpus-per-task=6",
        "#SBATCH --mem=16GB",
        "#SBATCH --qos=high",
        f"#SBATCH --dependency=afterok:{collect_id}",
        "#SBATCH --kill-on-invalid-dep=yes",
        "#SBATCH --job-name=wm-sweep.train.assault.default.seed0.jepa",
        "source /opt/env/bin/activate",
    ):
        assert line in train, line
    assert "--dependency" not in job["collect/assault"]
    assert "#SBATCH --gpus-per-node=0" in job["collect/assault"]
    decoder = job["train/assault/default/seed1/jepa/jepa_decoder"]
    assert "--dependency" not in decoder  # its source run had finished
    ev = job["eval/assault/default/seed0"]
    deps = [
        queued[f"train/assault/default/seed0/{w}"]["job_id"]
        for w in ("encoder_decoder", "jepa", "jepa/jepa_decoder")
    ]
    assert f"#SBATCH --dependency=afterok:{':'.join(deps)}" in ev
    assert "#SBATCH --time=120" in ev  # the default for eval
    agg = job["aggregate"]
    eval_ids = [queued[f"eval/assault/default/seed{s}"]["job_id"] for s in (0, 1)]
    assert f"#SBATCH --dependency=afterok:{':'.join(eval_ids)}" in agg

    # Each job runs the stage function submitit pickled, with the stage's exact command.
    import pickle

    folder = out / ".sweep" / "submitit" / "train.assault.default.seed0.jepa"
    pickled = next(folder.rglob("*_submitted.pkl"))
    delayed = pickle.loads(pickled.read_bytes())
    assert delayed.function.__name__ == "run_stage"
    stage = delayed.args[0]
    assert stage["command"][:3] == ["wm-train", "--gin", "configs/jepa.gin"]
    assert stage["cwd"] == str(REPO)

    main(["--gin", str(gin), "--status"])
    status = capsys.readouterr().out
    assert "queued      collect/assault" in status and f"(job {collect_id})" in status
    assert "done        train/assault/default/seed1/jepa " in status
