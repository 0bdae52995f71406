"""Fixtures: a tiny real Atari store and tiny real runs in wm-train's run-directory layout.

wm-eval must not depend on wm-train, so the runs are built here directly: modules from
``wm_models.build``, trained for a few plain torch steps on the store, saved with
``wm_models.save_checkpoint`` next to a ``run.json`` written by ``wm_core.write_manifest``
(the format wm-train writes through the same code).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import gin
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wm_core import ModuleRecord, RunManifest, write_manifest
from wm_data import WindowDataset
from wm_data.testing import make_tiny_store
from wm_models import build, module_spec, save_checkpoint

SIZE = 16
CONTEXT = 4
LATENT = 16
STEPS = 25


@pytest.fixture(autouse=True)
def _clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> Path:
    """A real Assault store with RAM: 30 random-policy episodes of up to 30 steps, so that each
    split holds enough episodes for an interval (and a few non-zero rewards), 16x16 frames."""
    return make_tiny_store(
        tmp_path_factory.mktemp("store") / "tiny.h5", episodes=30, max_episode_steps=30, size=SIZE
    )


def _modules(num_actions: int) -> dict[str, nn.Module]:
    shape = (1, SIZE, SIZE)
    return {
        "encoder": build(
            "encoder",
            "conv",
            frame_shape=shape,
            context=CONTEXT,
            latent_dim=LATENT,
            channels=(8, 16),
        ),
        "predictor": build(
            "predictor", "mlp", latent_dim=LATENT, num_actions=num_actions, hidden_dim=32, depth=2
        ),
        "decoder": build("decoder", "conv", latent_dim=LATENT, frame_shape=shape, channels=(16, 8)),
        "reward_head": build("reward_head", "mlp", latent_dim=LATENT, hidden_dim=32, depth=2),
    }


def _train(
    params: list[nn.Parameter],
    loss_fn: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    dataset: WindowDataset,
    after_step: Callable[[], None] | None = None,
    full_batch: bool = False,
    steps: int = STEPS,
    lr: float = 3e-3,
) -> tuple[float, float]:
    """A few Adam steps on random training batches (or all windows: sparse rewards need the
    whole set to see any); the loss on all training windows must drop."""
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(0)
    full = dataset.__getitems__(list(range(len(dataset))))
    with torch.no_grad():
        before = float(loss_fn(full))
    for _ in range(steps):
        idx = torch.randint(len(dataset), (32,), generator=gen).tolist()
        loss = loss_fn(full if full_batch else dataset.__getitems__(idx))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if after_step:
            after_step()
    with torch.no_grad():
        after = float(loss_fn(full))
    assert after < before, f"training did not reduce the loss: {before} -> {after}"
    return before, after


@torch.no_grad()
def _input_statistics(
    head: nn.Module, dataset: WindowDataset, encoder: nn.Module, predictor: nn.Module | None = None
) -> None:
    """Training-split mean/std of the head's z and z_next, set before training (as wm-train)."""
    full = dataset.__getitems__(list(range(len(dataset))))
    s, s_next = _states(full)
    z = encoder(s)
    z_next = predictor(z, full["actions"][:, 0]) if predictor is not None else encoder(s_next)
    mean = {"z": z.mean(0), "z_next": z_next.mean(0)}
    std = {"z": z.std(0), "z_next": z_next.std(0)}
    head.set_input_statistics(mean, std, count=len(z))


def _states(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    x = batch["frames"].float() / 255
    return x[:, :CONTEXT], x[:, 1 : CONTEXT + 1]


def _write_run(
    path: Path,
    workflow: str,
    modules: dict[str, nn.Module],
    store: Path,
    *,
    init_from: Path | None = None,
    trained: tuple[str, ...] = (),
    reward_source: str | None = None,
) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    manifest = RunManifest(
        workflow=workflow,
        status="finished",
        init_from=str(init_from) if init_from else None,
        modules={
            role: ModuleRecord(
                name=module_spec(module)["name"],
                kind=module_spec(module)["kind"],
                trained=role in trained,
                source="built" if role in trained or not init_from else str(init_from),
            )
            for role, module in modules.items()
        },
        data={
            "paths": [str(store)],
            "context": CONTEXT,
            "horizon": 1,
            "val_fraction": 0.15,
            "test_fraction": 0.15,
            "split_seed": 0,
        },
        loss={"reward_source": reward_source} if reward_source else {},
        latent_dim=LATENT,
        epochs_done=1,
    )
    write_manifest(path, manifest)
    save_checkpoint(path / "checkpoints" / "best.pt", modules, extra={"epoch": 1})
    return path


@pytest.fixture(scope="session")
def runs(tmp_path_factory, store) -> dict[str, Path]:
    """jepa, encoder_decoder and their derived runs, trained for a few steps each.

    Layout (the derived runs sit beside or inside the run they load from)::

        runs/jepa                          encoder, target_encoder (EMA), predictor
        runs/jepa_decoder                  init_from jepa: + decoder (jepa frozen)
        runs/jepa_dynamics_reward          init_from jepa: + reward_head on predicted next
        runs/encoder_decoder               encoder, predictor, decoder
        runs/encoder_decoder/reward        init_from encoder_decoder: + reward_head on true next
    """
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("runs")
    train = WindowDataset([str(store)], context=CONTEXT, horizon=1, split="train")
    parts = _modules(train.num_actions)
    out: dict[str, Path] = {}

    # JEPA: L1 between predicted latent and EMA target latent.
    enc, pred = parts["encoder"], parts["predictor"]
    target = copy.deepcopy(enc).requires_grad_(False)

    def jepa_loss(b):
        s, s_next = _states(b)
        with torch.no_grad():
            tgt = target(s_next)
        return F.l1_loss(pred(enc(s), b["actions"][:, 0]), tgt)

    def ema():
        with torch.no_grad():
            for p_t, p in zip(target.parameters(), enc.parameters(), strict=True):
                p_t.lerp_(p, 0.05)

    _train([*enc.parameters(), *pred.parameters()], jepa_loss, train, after_step=ema)
    jepa = {"encoder": enc, "target_encoder": target, "predictor": pred}
    out["jepa"] = _write_run(root / "jepa", "jepa", jepa, store, trained=("encoder", "predictor"))

    dec = copy.deepcopy(parts["decoder"])

    def recon_loss(b, encoder=enc, predictor=pred, decoder=dec, frozen=True):
        s, s_next = _states(b)
        with torch.set_grad_enabled(not frozen):  # the JEPA parts stay frozen
            z = predictor(encoder(s), b["actions"][:, 0])
        return F.l1_loss(decoder(z), s_next[:, -1])

    _train(list(dec.parameters()), lambda b: recon_loss(b), train)
    out["jepa_decoder"] = _write_run(
        root / "jepa_decoder",
        "jepa_decoder",
        {**jepa, "decoder": dec},
        store,
        init_from=out["jepa"],
        trained=("decoder",),
    )

    head = copy.deepcopy(parts["reward_head"])
    _input_statistics(head, train, enc, pred)

    def dyn_reward_loss(b):
        s, _ = _states(b)
        with torch.no_grad():
            z = enc(s)
            z_next = pred(z, b["actions"][:, 0])
        return F.mse_loss(head(z, z_next), b["rewards"][:, 0])

    _train(list(head.parameters()), dyn_reward_loss, train, full_batch=True, steps=60, lr=1e-2)
    out["jepa_dynamics_reward"] = _write_run(
        root / "jepa_dynamics_reward",
        "dynamics_reward_predictor",
        {"encoder": enc, "predictor": pred, "reward_head": head},
        store,
        init_from=out["jepa"],
        trained=("reward_head",),
        reward_source="predicted",
    )

    # Encoder-decoder: reconstruction of the next frame through the predicted latent.
    torch.manual_seed(1)
    ed = _modules(train.num_actions)
    e_enc, e_pred, e_dec = ed["encoder"], ed["predictor"], ed["decoder"]
    _train(
        [*e_enc.parameters(), *e_pred.parameters(), *e_dec.parameters()],
        lambda b: recon_loss(b, e_enc, e_pred, e_dec, frozen=False),
        train,
    )
    out["encoder_decoder"] = _write_run(
        root / "encoder_decoder",
        "encoder_decoder",
        {"encoder": e_enc, "predictor": e_pred, "decoder": e_dec},
        store,
        trained=("encoder", "predictor", "decoder"),
    )

    e_head = ed["reward_head"]
    _input_statistics(e_head, train, e_enc)

    def reward_loss(b):
        s, s_next = _states(b)
        with torch.no_grad():
            z, z_next = e_enc(s), e_enc(s_next)
        return F.mse_loss(e_head(z, z_next), b["rewards"][:, 0])

    _train(list(e_head.parameters()), reward_loss, train, full_batch=True, steps=60, lr=1e-2)
    out["encoder_decoder/reward"] = _write_run(
        out["encoder_decoder"] / "reward",
        "reward_predictor",
        {"encoder": e_enc, "reward_head": e_head},
        store,
        init_from=out["encoder_decoder"],
        trained=("reward_head",),
        reward_source="true",
    )
    return out
