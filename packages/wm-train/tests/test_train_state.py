"""TrainState is the one reader and writer of a checkpoint's ``extra``; checkpoints and run.json
files written by earlier versions still resume, bit-exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

import wm_models
from wm_train import DataConfig, FreezeModules, OptimConfig, Trainer, TrainState
from wm_train.testing import assert_same_tensors, assert_same_training, jepa_trainer
from wm_train.train_state import rng_state


def checkpoint(run_dir: Path) -> dict:
    return wm_models.load_checkpoint(run_dir / "checkpoints" / "last.pt")


EXTRA_KEYS = {
    "workflow",
    "epoch",
    "global_step",
    "best",
    "score",
    "optimizer",
    "scheduler",
    "ema",
    "rng",
    "data",
    "loss",
    "collapse_reference",
}


def test_train_state_round_trips_through_extra() -> None:
    state = TrainState(
        workflow="jepa",
        epoch=2,
        global_step=8,
        score=0.7,
        optimizer={
            "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.ones(2)}},
            "param_groups": [{"params": [0], "role": "encoder", "betas": (0.9, 0.999)}],
        },
        ema={"target_encoder": {"n_averaged": torch.tensor(8)}},
        rng=rng_state(),
        loss={"reward_sum": 1.5, "reward_count": 3},
        collapse_reference=0.25,
    )
    extra = state.to_extra()
    # the keys every earlier version wrote, plus the wall time added since; nothing else
    assert set(extra) == EXTRA_KEYS | {"train_seconds"}
    older = {k: v for k, v in extra.items() if k != "train_seconds"}
    assert TrainState.from_extra(older).train_seconds == 0.0  # older checkpoints still read
    assert extra["best"] == math.inf  # kept as a float, not the string JSON would need
    assert extra["optimizer"]["param_groups"][0]["betas"] == [0.9, 0.999]
    back = TrainState.from_extra(extra)
    # torch matches optimiser state to parameters by int id
    assert list(back.optimizer["state"]) == [0]
    assert_same_tensors(back.optimizer["state"][0], state.optimizer["state"][0], "adam")
    assert back.param_group_roles() == ["encoder"]
    assert (back.epoch, back.global_step, back.score) == (2, 8, 0.7)
    assert back.loss == state.loss and back.collapse_reference == 0.25
    assert torch.equal(back.ema["target_encoder"]["n_averaged"], torch.tensor(8))


def test_missing_keys_keep_their_defaults_and_scores_track_the_best() -> None:
    state = TrainState.from_extra({"epoch": 1, "global_step": 4})
    assert state.best == math.inf and state.loss == {} and state.collapse_reference is None
    assert state.record_score(2.0) and state.best == 2.0
    assert not state.record_score(2.0)  # a tie is not a new best
    assert state.record_score(1.0) and state.improved


def _earlier_layout(run: Path) -> None:
    """Rewrite a run as earlier versions wrote it: optimiser state keyed by int, and a
    version-0 run.json (no format fields, reward_source at the top, bare module records)."""
    last = run / "checkpoints" / "last.pt"
    payload = torch.load(last, weights_only=True)
    optimizer = payload["extra"]["optimizer"]
    optimizer["state"] = {int(k): v for k, v in optimizer["state"].items()}
    torch.save(payload, last)
    info = json.loads((run / "run.json").read_text())
    info.pop("format"), info.pop("version")
    info["reward_source"] = info.pop("loss")["reward_source"]
    modules = info["modules"]
    info["modules"] = {
        r: {"trained": m["trained"], "source": m["source"]} for r, m in modules.items()
    }
    (run / "run.json").write_text(json.dumps(info))


def test_a_run_in_the_earlier_layout_resumes_bit_exactly(tiny_store: Path, tmp_path: Path) -> None:
    jepa_trainer(tiny_store, tmp_path / "straight").fit()
    jepa_trainer(tiny_store, tmp_path / "old").fit(max_epochs=1)
    _earlier_layout(tmp_path / "old")
    jepa_trainer(tiny_store, tmp_path / "old").fit(resume=True)
    a, b = assert_same_training(
        tmp_path / "straight", tmp_path / "old", ("encoder", "predictor", "target_encoder")
    )
    assert a["extra"]["collapse_reference"] == b["extra"]["collapse_reference"]
    info = json.loads((tmp_path / "old" / "run.json").read_text())
    assert info["status"] == "finished" and info["version"] == 1
    assert info["modules"]["encoder"]["name"] == "conv"  # filled in from the config
    assert info["loss"] == {"name": "jepa", "reward_source": None}


def test_a_reward_head_resumes_bit_exactly_without_measuring_its_inputs_again(
    jepa_run: Path, tiny_store: Path, tmp_path: Path, monkeypatch
) -> None:
    """The standardisation statistics are buffers: a resumed run reads them from last.pt."""
    head_class = wm_models.reward_heads.MLPRewardHead
    real = head_class.set_input_statistics
    calls: list[int] = []

    def counted(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(head_class, "set_input_statistics", counted)

    def trainer(run_dir: Path) -> Trainer:
        return Trainer(
            workflow="reward_predictor",
            init_from=str(jepa_run),
            load=["encoder"],
            modules={"reward_head": "mlp"},
            loss="reward",
            freeze=FreezeModules(["encoder"]),
            data=DataConfig(paths=str(tiny_store), batch_size=32),
            optim=OptimConfig(lr=1e-3, warmup_steps=2),
            epochs=2,
            run_dir=str(run_dir),
            device="cpu",
        )

    trainer(tmp_path / "straight").fit()
    trainer(tmp_path / "split").fit(max_epochs=1)
    assert len(calls) == 2  # once per new run
    after_first = checkpoint(tmp_path / "split")["modules"]["reward_head"]["state_dict"]
    trainer(tmp_path / "split").fit(resume=True)
    assert len(calls) == 2  # not again on resume
    a, b = checkpoint(tmp_path / "straight"), checkpoint(tmp_path / "split")
    head = b["modules"]["reward_head"]["state_dict"]
    assert int(head["inputs.count"]) > 0
    for key in ("inputs.z_mean", "inputs.z_std", "inputs.z_next_mean", "inputs.z_next_std"):
        assert torch.equal(head[key], after_first[key]), key
    assert_same_tensors(a["modules"], b["modules"], "modules")
    assert_same_tensors(a["extra"]["optimizer"]["state"], b["extra"]["optimizer"]["state"], "adam")
