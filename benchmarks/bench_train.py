"""Training throughput of wm-train; both sides of every ratio are measured in this run.

In each ``RATIO`` line ``ours`` is wm-train and ``baseline`` the reference named here. Both
sides run in this process with the same threads (2) and the same number of repeats, taken in
back-to-back pairs (the machine is shared); the ratio is the median of the per-pair ratios and
the pair shown is the median one (never the best of several).

- train_trainer_vs_bare_loop: ours = the Trainer's step loop (encoder-decoder); baseline = a
  bare PyTorch loop running the same modules, loss, optimiser and batches (>= 0.95: the
  Trainer's bookkeeping costs at most 5%).
- train_jepa_vs_peer, train_encoder_decoder_vs_peer: ours = the Trainer at the seed's sizes
  (64x64, 4-frame context, latent 64, batch 128, fp32); baseline = the peer project's training
  step rebuilt from its documented architecture (``peer_reference.py``: each context frame
  encoded on its own, its encoder, MLP predictor and decoder, AdamW, EMA target, its in-memory
  float32 data path) on the same episodes (target >= 3x).
- train_encoder_decoder_bf16_vs_peer: ours with bf16 autocast (this CPU has avx512_bf16);
  baseline = the same peer step in fp32, its own precision (>= 3x).
- train_reward_cached_vs_reencode: ours = reward-head training on cached latents; baseline =
  re-encoding every batch with the frozen encoder (>= 20x).

Samples/s are per step, from one step's end to the next (batch fetch included), median over
the last epoch of a short run, on both sides.

    python benchmarks/bench_train.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from peer_reference import peer_step_samples_per_s
from torch.utils.data.distributed import DistributedSampler

import wm_data
import wm_models
from wm_data.store import open_store
from wm_data.testing import make_tiny_store
from wm_train import DataConfig, FreezeModules, OptimConfig, Trainer

SIZE, CONTEXT, LATENT, BATCH = 64, 4, 64, 128


def ratio(name: str, value: float, op: str, target: float, ours: str, baseline: str) -> None:
    print(f"RATIO {name} {value:.3f} {op} {target:g} | ours={ours} baseline={baseline}", flush=True)


def paired(pairs: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Median of per-pair ratios ours/baseline, and the pair whose ratio is that median."""
    r = statistics.median(o / b for o, b in pairs)
    o, b = min(pairs, key=lambda p: abs(p[0] / p[1] - r))
    return r, o, b


def train_episodes(store: Path) -> tuple[list, int]:
    """The episodes of the split the Trainer trains on, for the peer's loop."""
    split = wm_data.WindowDataset(str(store), context=CONTEXT, split="train", val_fraction=0.05)
    with open_store(store) as reader:
        return [reader.episode(int(i)) for i in split.episode_ids], reader.num_actions


def trainer(workflow: str, store: Path, run_dir: Path, epochs: int, **kwargs) -> Trainer:
    settings = {
        "jepa": dict(
            modules={"encoder": "conv", "predictor": "mlp"},
            ema={"target_encoder": "encoder"},
            loss="jepa",
        ),
        "encoder_decoder": dict(
            modules={"encoder": "conv", "predictor": "mlp", "decoder": "conv"},
            loss="reconstruction",
        ),
        "reward_predictor": dict(
            modules={"reward_head": "mlp"},
            load=["encoder"],
            freeze=FreezeModules(["encoder"]),
            loss="reward",
        ),
    }[workflow]
    settings.update(kwargs)
    return Trainer(
        workflow=workflow,
        latent_dim=LATENT,
        data=DataConfig(paths=str(store), context=CONTEXT, batch_size=BATCH, val_fraction=0.05),
        optim=OptimConfig(lr=3e-4),
        epochs=epochs,
        run_dir=str(run_dir),
        device="cpu",
        progress=False,
        **{"log_every": 50, **settings},
    )


def trainer_samples_per_s(workflow: str, store: Path, root: Path, epochs: int, **kw) -> float:
    """Median samples/s of the training loop over epochs 2.. (the first epoch warms up)."""
    run = Path(tempfile.mkdtemp(dir=root, prefix=workflow))
    trainer(workflow, store, run, epochs, **kw).fit()
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(
        m["perf/train_samples_per_s"]
        for m in lines
        if m.get("epoch", 0) >= 2 and "perf/train_samples_per_s" in m
    )


def trainer_step_samples_per_s(workflow: str, store: Path, root: Path, **kw) -> float:
    """Median per-step samples/s over the second epoch (robust to a busy shared machine)."""
    run = Path(tempfile.mkdtemp(dir=root, prefix=workflow))
    trainer(workflow, store, run, 2, log_every=1, **kw).fit()
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [m["charts/samples_per_s"] for m in lines if m.get("epoch") == 2 and "train/loss" in m]
    return statistics.median(steps)


def bare_loop_samples_per_s(store: Path, epochs: int) -> float:
    """The encoder-decoder step written out by hand: same modules, loss, optimiser and batches;
    median per-step samples/s over the last epoch."""
    torch.manual_seed(0)
    data = wm_data.WindowDataset(str(store), context=CONTEXT, split="train", val_fraction=0.05)
    shape = data.frame_shape
    enc = wm_models.build("encoder", "conv", frame_shape=shape, context=CONTEXT, latent_dim=LATENT)
    pred = wm_models.build("predictor", "mlp", latent_dim=LATENT, num_actions=data.num_actions)
    dec = wm_models.build("decoder", "conv", latent_dim=LATENT, frame_shape=shape)
    enc.to(memory_format=torch.channels_last)
    dec.to(memory_format=torch.channels_last)
    params = [*enc.parameters(), *pred.parameters(), *dec.parameters()]
    opt = torch.optim.AdamW(params, lr=3e-4, weight_decay=0.01)
    sampler = DistributedSampler(data, 1, 0, shuffle=True, seed=0)
    loader = wm_data.make_loader(data, BATCH, shuffle=False, sampler=sampler)
    rates = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        tic = time.perf_counter()
        for batch in loader:
            x = batch["frames"].float() / 255
            z = pred(enc(x[:, :CONTEXT]), batch["actions"][:, 0])
            loss = F.l1_loss(dec(z), x[:, CONTEXT])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            now = time.perf_counter()
            if epoch == epochs - 1:
                rates.append(len(x) / (now - tic))
            tic = now
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke version")
    args = parser.parse_args()
    torch.set_num_threads(2)
    os.environ.setdefault("WM_MODELS_NO_PLUGINS", "1")
    warnings.simplefilter("ignore", RuntimeWarning)  # collapse warnings of short JEPA runs
    steps = 800 if args.quick else 1600  # windows in the store
    repeats = 3 if args.quick else 5

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = make_tiny_store(
            root / "store.h5", episodes=4, max_episode_steps=steps // 4 + CONTEXT, size=SIZE
        )

        # 1. Trainer vs the same step as a bare loop. The machine is shared and noisy: measure
        # in back-to-back pairs and take the median of the per-pair ratios.
        bare_loop_samples_per_s(store, epochs=1)  # warm-up: kernel selection, allocator, caches
        pairs = []
        for _ in range(repeats):
            bare = bare_loop_samples_per_s(store, epochs=2)
            ours = trainer_step_samples_per_s("encoder_decoder", store, root)
            pairs.append((ours, bare))
        r, o, b = paired(pairs)
        ratio(
            "train_trainer_vs_bare_loop", r, ">=", 0.95, f"{o:.0f} samples/s", f"{b:.0f} samples/s"
        )

        # 2. seed-size throughput vs the peer's training step, both measured here
        episodes, num_actions = train_episodes(store)
        peer_step_samples_per_s("jepa", episodes, num_actions, epochs=1)  # warm-up
        runs = (
            ("train_jepa_vs_peer", "jepa", {}),
            ("train_encoder_decoder_vs_peer", "encoder_decoder", {}),
            ("train_encoder_decoder_bf16_vs_peer", "encoder_decoder", {"precision": "bf16"}),
        )
        for name, workflow, settings in runs:
            pairs = [
                (
                    trainer_step_samples_per_s(workflow, store, root, **settings),
                    peer_step_samples_per_s(workflow, episodes, num_actions),
                )
                for _ in range(repeats)
            ]
            r, o, b = paired(pairs)
            ratio(
                name,
                r,
                ">=",
                3,
                f"{o:.0f} samples/s",
                f"{b:.0f} samples/s (peer's {workflow} step, fp32, peer_reference.py)",
            )

        # 3. reward head on cached latents vs re-encoding every batch with the frozen encoder
        source = Path(tempfile.mkdtemp(dir=root, prefix="source"))
        trainer("encoder_decoder", store, source, epochs=1).fit()
        pairs = []
        for _ in range(repeats):  # interleaved pairs, median ratio (as for the first figure)
            cached = trainer_samples_per_s(
                "reward_predictor", store, root, 8, init_from=str(source), cache_latents=True
            )
            reencode = trainer_samples_per_s(
                "reward_predictor", store, root, 2, init_from=str(source), cache_latents=False
            )
            pairs.append((cached, reencode))
        r, cached, reencode = paired(pairs)
        ratio(
            "train_reward_cached_vs_reencode",
            r,
            ">=",
            20,
            f"{cached:.0f} samples/s",
            f"{reencode:.0f} samples/s",
        )


if __name__ == "__main__":
    main()
