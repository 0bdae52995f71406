"""wm-train's reliability guarantees, with real command lines, processes and files: bad input is
refused in one line before anything is created, modules that create their weights on first use
train and resume exactly, and a run without a terminal reports its progress in plain lines."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import wm_models
from wm_train import DataConfig, FreezeModules, Trainer, cli
from wm_train.callbacks import MetricsLogger
from wm_train.progress import ProgressLines, format_duration
from wm_train.testing import jepa_trainer

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
WM_TRAIN = Path(sys.executable).parent / "wm-train"
SMALL = ("LATENT_DIM = 8", "encoders.conv.channels = (8, 16)")


@wm_models.ENCODERS.register("test_lazy_head")
class LazyHeadEncoder(nn.Module):
    """An outside encoder whose weights appear on first use: a conv stem then ``LazyLinear``."""

    def __init__(self, frame_shape=(1, 16, 16), context=4, latent_dim=8) -> None:
        super().__init__()
        self.frame_shape, self.context = tuple(frame_shape), context
        self.stem = nn.Conv2d(context * frame_shape[0], 4, 3, stride=2)
        self.head = nn.LazyLinear(latent_dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.flatten(1, 2)  # [B, T*C, H, W]
        return self.head(torch.relu(self.stem(x)).flatten(1))


@wm_models.ENCODERS.register("test_lazy_broken")
class BrokenLazyEncoder(nn.Module):
    """A lazy encoder that only accepts frames flattened by its caller: its dry pass fails."""

    def __init__(self, frame_shape=(1, 16, 16), context=4, latent_dim=8) -> None:
        super().__init__()
        self.head = nn.LazyLinear(latent_dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.dim() != 2:
            raise ValueError(f"expects [B, features], got {list(frames.shape)}")
        return self.head(frames)


def train_argv(store: Path, run: Path, *bindings: str) -> list[str]:
    argv = ["--gin", str(CONFIGS / "jepa.gin"), "--gin", str(CONFIGS / "scale/tiny.gin")]
    for binding in (f"DATA = {str(store)!r}", *SMALL, *bindings):
        argv += ["--bind", binding]
    return [*argv, "--run-dir", str(run)]


def folder_state(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every entry under ``folder`` (hidden ones too) with its mtime and contents."""
    state = {".": (folder.stat().st_mtime_ns, b"")}
    for p in sorted(folder.rglob("*")):
        data = p.read_bytes() if p.is_file() else b""
        state[str(p.relative_to(folder))] = (p.stat().st_mtime_ns, data)
    return state


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code not in (0, None) and code > 0, f"exit code {code}"
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("wm-train: error: "), err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


# ---------------------------------------------------------------- bad input creates nothing


BAD_INPUT = [
    (["ENCODR = 'vit'"], ["'ENCODR'", "Did you mean 'ENCODER'?"]),
    (["Traner.epochs = 3"], ["'Traner'", "Did you mean 'Trainer'?"]),
    (["Trainer.epoch = 3"], ["'epoch'", "Did you mean 'epochs'?"]),
    (["EPOCHS = -1"], ["Trainer.epochs = -1", "must be an int >= 1"]),
    (["EPOCHS = 0"], ["Trainer.epochs = 0", "must be an int >= 1"]),
    (["EPOCHS = 2.5"], ["Trainer.epochs = 2.5", "must be an int >= 1"]),
    (["LATENT_DIM = 0"], ["Trainer.latent_dim = 0", ">= 1"]),
    (["SEED = -1"], ["Trainer.seed = -1", ">= 0"]),
    (["Trainer.log_every = 0"], ["Trainer.log_every = 0", ">= 1"]),
    (["Trainer.print_every = 0"], ["Trainer.print_every = 0", ">= 1, or None"]),
    (["Trainer.cache_max_gb = 0"], ["Trainer.cache_max_gb = 0", "> 0"]),
    (["EMA_DECAY = 1.5"], ["Trainer.ema_decay = 1.5", "[0, 1]"]),
    (["EMA_DECAY = (0.99, 1.01)"], ["Trainer.ema_decay = (0.99, 1.01)", "(start, end)"]),
    (["BATCH_SIZE = 0"], ["DataConfig.batch_size = 0", "must be an int >= 1"]),
    (["CONTEXT = 0"], ["DataConfig.context = 0", ">= 1, or None"]),
    (["DataConfig.horizon = 0"], ["DataConfig.horizon = 0", ">= 1, or None"]),
    (["DataConfig.val_fraction = 1.0"], ["DataConfig.val_fraction = 1.0", "in [0, 1)"]),
    (["DataConfig.test_fraction = -0.1"], ["DataConfig.test_fraction = -0.1", "in [0, 1)"]),
    (
        ["DataConfig.val_fraction = 0.5", "DataConfig.test_fraction = 0.5"],
        ["DataConfig.val_fraction + DataConfig.test_fraction = 1.0", "< 1"],
    ),
    (["DataConfig.num_workers = -1"], ["DataConfig.num_workers = -1", ">= 0"]),
    (["LR = 0"], ["OptimConfig.lr = 0", "> 0"]),
    (["LR = -0.001"], ["OptimConfig.lr = -0.001", "> 0"]),
    (["OptimConfig.weight_decay = -0.01"], ["OptimConfig.weight_decay = -0.01", ">= 0"]),
    (["OptimConfig.betas = (0.9, 1.0)"], ["OptimConfig.betas", "[0, 1)"]),
    (["OptimConfig.warmup_steps = -1"], ["OptimConfig.warmup_steps = -1", ">= 0, or None"]),
    (["OptimConfig.warmup_fraction = 1.5"], ["OptimConfig.warmup_fraction = 1.5", "[0, 1]"]),
    (["OptimConfig.grad_clip = 0"], ["OptimConfig.grad_clip = 0", "> 0, or None"]),
    (["ROLLOUT_STEPS = 0"], ["losses.jepa.rollout_steps = 0", ">= 1"]),
    (["losses.jepa.var_weight = -1"], ["losses.jepa.var_weight = -1", ">= 0"]),
    (
        ["Trainer.freeze = 'unfreeze_after'", "freeze.unfreeze_after.epochs = -1"],
        ["freeze.unfreeze_after.epochs = -1", ">= 0"],
    ),
    (
        ["Trainer.freeze = 'modules'", "freeze.modules.names = ['encoder', 'predictor']"],
        ["nothing to train", "Trainer.freeze"],
    ),
]


@pytest.mark.parametrize(("bindings", "needles"), BAD_INPUT, ids=lambda x: "|".join(x)[:40])
def test_bad_input_is_refused_in_one_line_and_creates_nothing(
    bindings: list[str], needles: list[str], tiny_store: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)  # a default path (runs/..., data/...) would land here
    before = folder_state(tmp_path)
    code = cli.main(train_argv(tiny_store, tmp_path / "runs" / "jepa", *bindings))
    assert_one_line_error(code, capsys.readouterr().err, *needles)
    assert folder_state(tmp_path) == before, "a refused run created files"


def test_a_refused_count_leaves_nothing_to_resume_and_a_resumed_run_untouched(
    tiny_store: Path, tmp_path: Path, capsys
) -> None:
    run = tmp_path / "run"
    assert cli.main(train_argv(tiny_store, run, "EPOCHS = -1")) == 2
    assert not run.exists()  # no failed run.json, no config.gin holding EPOCHS = -1
    assert cli.main(["--resume", "--run-dir", str(run)]) == 2
    assert not run.exists()
    assert cli.main(train_argv(tiny_store, run, "EPOCHS = 1")) == 0
    before = folder_state(tmp_path)
    capsys.readouterr()
    code = cli.main(["--resume", "--run-dir", str(run), "--bind", "EPOCHS = -1"])
    assert_one_line_error(code, capsys.readouterr().err, "Trainer.epochs = -1")
    assert folder_state(tmp_path) == before
    assert json.loads((run / "run.json").read_text())["status"] == "finished"


@pytest.mark.skipif(not WM_TRAIN.exists(), reason="needs the installed wm-train script")
@pytest.mark.parametrize(
    ("binding", "needles"),
    [
        ("ENCODR = 'vit'", ["'ENCODR'", "Did you mean 'ENCODER'?"]),
        ("EPOCHS = -1", ["Trainer.epochs = -1", ">= 1"]),
    ],
)
def test_installed_wm_train_refuses_bad_input_and_creates_nothing(
    binding: str, needles: list[str], tiny_store: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(WM_TRAIN), *train_argv(tiny_store, tmp_path / "runs" / "jepa", binding)],
        capture_output=True, text=True, env=env(), cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert_one_line_error(result.returncode, result.stderr, *needles)
    assert result.returncode == 2
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- lazy modules


def lazy_jepa(store: Path, run: Path, encoder: str = "test_lazy_head") -> Trainer:
    return jepa_trainer(store, run, modules={"encoder": encoder, "predictor": "mlp"})


def test_lazy_encoder_trains_with_an_ema_target_resumes_bit_exactly_and_loads(
    tiny_store: Path, tmp_path: Path
) -> None:
    lazy_jepa(tiny_store, tmp_path / "straight").fit()
    lazy_jepa(tiny_store, tmp_path / "split").fit(max_epochs=1)
    lazy_jepa(tiny_store, tmp_path / "split").fit(resume=True)
    a, b = (
        wm_models.load_checkpoint(tmp_path / name / "checkpoints" / "last.pt")
        for name in ("straight", "split")
    )
    assert a["extra"]["global_step"] == b["extra"]["global_step"] == 8
    for role in ("encoder", "predictor", "target_encoder"):
        sa, sb = a["modules"][role]["state_dict"], b["modules"][role]["state_dict"]
        assert sa.keys() == sb.keys()
        for key in sa:
            assert torch.equal(sa[key], sb[key]), f"{role}.{key} differs"
    head = a["modules"]["encoder"]["state_dict"]["head.weight"]
    assert head.shape[0] == 8 and head.shape[1] > 0
    target = a["modules"]["target_encoder"]["state_dict"]["head.weight"]
    assert not torch.equal(head, target)  # the target follows the encoder, it is not a copy
    assert json.loads((tmp_path / "split" / "run.json").read_text())["status"] == "finished"
    derived = Trainer(  # a derived run loads the lazy encoder from the finished run
        workflow="reward_predictor",
        init_from=str(tmp_path / "split"),
        load=["encoder"],
        modules={"reward_head": "mlp"},
        loss="reward",
        freeze=FreezeModules(["encoder"]),
        data=DataConfig(paths=str(tiny_store), batch_size=32),
        epochs=1,
        run_dir=str(tmp_path / "reward"),
        device="cpu",
    )
    derived.fit()
    loaded = derived.world["encoder"].state_dict()["head.weight"]
    assert torch.equal(loaded, b["modules"]["encoder"]["state_dict"]["head.weight"])


def test_lazy_module_that_cannot_materialise_is_refused_in_one_line(
    tiny_store: Path, tmp_path: Path, capsys
) -> None:
    before = folder_state(tmp_path)
    code = cli.main(train_argv(tiny_store, tmp_path / "run", "ENCODER = 'test_lazy_broken'"))
    assert_one_line_error(
        code,
        capsys.readouterr().err,
        "encoder 'test_lazy_broken' creates its weights on first use",
        "[2, 4, 1, 16, 16]",
        "expects [B, features]",
    )
    assert folder_state(tmp_path) == before


# ---------------------------------------------------------------- progress without a terminal

LINE = re.compile(
    r"^wm-train: epoch (\d+)/2  step (\d+)/8  loss \S+(  val_loss \S+)?  \d+ samples/s  "
    r"eta \d+:\d\d:\d\d$"
)


@pytest.mark.skipif(not WM_TRAIN.exists(), reason="needs the installed wm-train script")
def test_progress_lines_when_stderr_is_not_a_terminal(tiny_store: Path, tmp_path: Path) -> None:
    argv = train_argv(tiny_store, tmp_path / "run", "EPOCHS = 2", "Trainer.print_every = 3")
    result = subprocess.run(
        [str(WM_TRAIN), *argv], stdin=subprocess.DEVNULL, capture_output=True, text=True,
        env=env(), cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr  # no tqdm bar redrawn into the log
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("wm-train: epoch")]
    assert all(LINE.match(ln) for ln in lines), lines
    parsed = [LINE.match(ln) for ln in lines]
    seen = [(int(m.group(1)), int(m.group(2)), m.group(3) is not None) for m in parsed]
    # 4 steps per epoch: a step line at steps 3 and 6, an epoch line (with val_loss) at 4 and 8
    assert seen == [(1, 3, False), (1, 4, True), (2, 6, False), (2, 8, True)], lines
    assert "finished" in result.stdout


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_keeps_the_bar_and_prints_no_lines(tmp_path: Path, monkeypatch) -> None:
    trainer = lazy_jepa(tmp_path / "absent.h5", tmp_path / "run")
    monkeypatch.setattr(sys, "stderr", Terminal())
    callbacks = trainer.default_callbacks()
    assert not any(isinstance(cb, ProgressLines) for cb in callbacks)
    assert next(cb for cb in callbacks if isinstance(cb, MetricsLogger)).progress
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    callbacks = trainer.default_callbacks()
    assert next(cb for cb in callbacks if isinstance(cb, ProgressLines)).every == 100
    assert not any(isinstance(cb, ProgressLines) for cb in trainer.default_callbacks(main=False))


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0:00:00"), (59.6, "0:01:00"), (3725, "1:02:05"), (-1, "?")]
)
def test_durations_read_as_hours_minutes_seconds(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
