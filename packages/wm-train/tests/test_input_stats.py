"""Reward heads train on latents standardised with train-split statistics, measured once from
what the loss feeds them (cached latents, or the predictor's z_next), so the encoder's scale no
longer decides the result."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import wm_data
import wm_models
from wm_train import DataConfig, FreezeModules, RewardLoss, Trainer
from wm_train.input_stats import Moments


def reward_trainer(
    init_from: Path, store: Path, run_dir: Path, *, predicted: bool = False, **overrides
) -> Trainer:
    load = ["encoder", "predictor"] if predicted else ["encoder"]
    kwargs = dict(
        workflow="dynamics_reward_predictor" if predicted else "reward_predictor",
        init_from=str(init_from),
        load=load,
        modules={"reward_head": "mlp"},
        loss=RewardLoss(next_latent="predicted" if predicted else "true"),
        freeze=FreezeModules(load),
        data=DataConfig(paths=str(store), batch_size=32),
        epochs=1,
        run_dir=str(run_dir),
        log_every=1,
        device="cpu",
    )
    kwargs.update(overrides)
    return Trainer(**kwargs)


def head_buffers(run: Path) -> dict[str, torch.Tensor]:
    state = wm_models.load_checkpoint(run / "checkpoints" / "last.pt")["modules"]["reward_head"]
    prefix = "inputs."
    return {k[len(prefix) :]: v for k, v in state["state_dict"].items() if k.startswith(prefix)}


@torch.no_grad()
def train_split_latents(source: Path, store: Path) -> dict[str, torch.Tensor]:
    """z, true and predicted z_next of every training window, computed here independently."""
    world = wm_models.load_modules(source / "checkpoints" / "best.pt")
    encoder, predictor = world["encoder"].eval(), world["predictor"].eval()
    context = wm_models.module_spec(encoder)["kwargs"]["context"]
    ds = wm_data.WindowDataset(str(store), context=context, horizon=1, split="train")
    rows: dict[str, list[torch.Tensor]] = {"z": [], "true": [], "predicted": []}
    for batch in wm_data.make_loader(ds, 64, shuffle=False):
        frames = batch["frames"].float() / 255.0
        z = encoder(frames[:, :context])
        rows["z"].append(z)
        rows["true"].append(encoder(frames[:, 1 : context + 1]))
        rows["predicted"].append(predictor(z, batch["actions"][:, 0]))
    return {k: torch.cat(v) for k, v in rows.items()}


def test_moments_merge_batches_exactly() -> None:
    x = torch.randn(1000, 5, dtype=torch.float64) * 3 + 7
    moments = Moments()
    for chunk in x.split(97):
        moments.update(chunk)
    assert moments.count == 1000
    torch.testing.assert_close(moments.mean, x.mean(0))
    torch.testing.assert_close(moments.std, x.std(0, correction=0))


@pytest.mark.parametrize("predicted", [False, True], ids=["true_next", "predicted_next"])
def test_statistics_are_the_train_split_latents(
    predicted: bool, jepa_run: Path, tiny_store: Path, tmp_path: Path
) -> None:
    run = tmp_path / "head"
    reward_trainer(jepa_run, tiny_store, run, predicted=predicted).fit()
    latents = train_split_latents(jepa_run, tiny_store)
    z, z_next = latents["z"], latents["predicted" if predicted else "true"]
    stats = head_buffers(run)
    assert int(stats["count"]) == len(z)
    for name, x in (("z", z), ("z_next", z_next)):
        tol = {"rtol": 1e-4, "atol": 1e-5}
        torch.testing.assert_close(stats[f"{name}_mean"], x.mean(0), **tol)
        torch.testing.assert_close(stats[f"{name}_std"], x.std(0, correction=0), **tol)
    if predicted:  # the head reads the predictor's z_next, spread unlike the encoder's
        true_std = latents["true"].std(0, correction=0)
        assert not torch.allclose(stats["z_next_std"], true_std, rtol=1e-2)
    info = json.loads((run / "run.json").read_text())
    assert info["cached_latents"] is True


def test_statistics_without_a_cache_match_the_cached_ones(
    jepa_run: Path, tiny_store: Path, tmp_path: Path
) -> None:
    reward_trainer(jepa_run, tiny_store, tmp_path / "cached").fit()
    reward_trainer(jepa_run, tiny_store, tmp_path / "direct", cache_latents=False).fit()
    cached, direct = head_buffers(tmp_path / "cached"), head_buffers(tmp_path / "direct")
    for key in cached:
        torch.testing.assert_close(cached[key], direct[key], rtol=1e-5, atol=1e-6)


def scaled_copy(source: Path, dest: Path, factor: float) -> Path:
    """A copy of a run whose encoder's latents are ``factor`` times larger (last linear layer)."""
    dest.mkdir()
    shutil.copy(source / "run.json", dest / "run.json")
    shutil.copytree(source / "checkpoints", dest / "checkpoints")
    for name in ("best", "last"):
        path = dest / "checkpoints" / f"{name}.pt"
        payload = torch.load(path, weights_only=True)
        state = payload["modules"]["encoder"]["state_dict"]
        state["head.weight"] *= factor
        state["head.bias"] *= factor
        torch.save(payload, path)
    return dest


def epoch_losses(run: Path) -> list[float]:
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["train/loss"] for r in lines if "train/loss" in r]


def test_a_head_trains_alike_on_latents_scaled_1000x(
    jepa_run: Path, tiny_store: Path, tmp_path: Path
) -> None:
    scaled = scaled_copy(jepa_run, tmp_path / "scaled_source", 1000.0)
    runs = {}
    for label, source in (("plain", jepa_run), ("scaled", scaled)):
        runs[label] = tmp_path / label
        reward_trainer(source, tiny_store, runs[label], epochs=2).fit()
    plain, big = head_buffers(runs["plain"]), head_buffers(runs["scaled"])
    torch.testing.assert_close(big["z_std"], 1000 * plain["z_std"], rtol=1e-3, atol=0)
    a, b = epoch_losses(runs["plain"]), epoch_losses(runs["scaled"])
    assert len(a) == len(b) >= 8
    torch.testing.assert_close(torch.tensor(b), torch.tensor(a), rtol=1e-3, atol=1e-6)
