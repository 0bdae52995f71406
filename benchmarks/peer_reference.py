"""The peer project's training step, rebuilt from its documented architecture for timing only.

Benchmark-only reference, never imported by the packages. It reproduces the peer's world
models at the sizes of its final configuration (Assault, 64x64 grayscale, 4 context frames,
latent 64, batch 128, AdamW lr 1e-4 / weight decay 1e-4, gradient clipping 1.0, EMA 0.999):

- encoder: every context frame encoded on its own, ``[B, 1, T, 64, 64] -> [B*T, 1, 64, 64]``,
  four convolutions (kernel 4, stride 2; 32-64-128-256 channels), each followed by SiLU and a
  LayerNorm over channels (applied through permutes), then LayerNorm(4096) and a linear map to
  the latent: ``z [B, T, 64]``;
- predictor: the T latents concatenated with one-hot actions, ``T * (64 + A) -> 512 -> 512 ->
  64`` with SiLU and dropout 0.1: ``[B, 1, 64]``;
- decoder: ``64 -> 256 x 4 x 4``, four transposed convolutions (256-128-64-32-1, kernel 4,
  stride 2), SiLU and channel LayerNorm after all but the last: ``[B, 1, 1, 64, 64]``;
- the JEPA's target encoder is a deep copy of the encoder updated by a parameter loop.

Its data path is reproduced too: one float32 frame per step in memory, windows sliced item by
item and stacked by the default collate (``state [B, 1, T, 64, 64]``, ``next_state
[B, 1, 1, 64, 64]``, int32 actions), a shuffling DataLoader without workers.

The peer's configuration also trains a reward head jointly (``reward_loss: true``); it is left
out here, which only makes the peer's step cheaper, so a ratio against it is a lower bound.
"""

from __future__ import annotations

import copy
import itertools
import statistics
import time
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

LATENT, CONTEXT, SIZE = 64, 4, 64
LR, WEIGHT_DECAY, CLIP, EMA_DECAY = 1e-4, 1e-4, 1.0, 0.999


class PeerEncoder(nn.Module):
    """Per-frame conv encoder: ``[B, 1, T, 64, 64] -> [B, T, latent]``."""

    def __init__(self, latent: int = LATENT, channels: tuple[int, ...] = (32, 64, 128, 256)):
        super().__init__()
        self.convs, self.norms = nn.ModuleList(), nn.ModuleList()
        c_in = 1
        for c in channels:
            self.convs.append(nn.Conv2d(c_in, c, kernel_size=4, stride=2, padding=1))
            self.norms.append(nn.LayerNorm(c))
            c_in = c
        flat = channels[-1] * (SIZE // 2 ** len(channels)) ** 2
        self.act, self.dropout = nn.SiLU(), nn.Dropout(0.0)
        self.final_norm, self.fc = nn.LayerNorm(flat), nn.Linear(flat, latent)
        self.latent = latent

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        x = x.reshape(b * t, c, h, w)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = self.act(conv(x))
            x = norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            x = self.dropout(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        x = self.fc(self.final_norm(x.flatten(1)))
        return x.reshape(b, t, self.latent)


class PeerPredictor(nn.Module):
    """MLP over the T latents and one-hot actions: ``([B, T, E], [B, T]) -> [B, 1, E]``."""

    def __init__(self, num_actions: int, latent: int = LATENT, frames: int = CONTEXT):
        super().__init__()
        self.num_actions = num_actions
        layers: list[nn.Module] = []
        size = frames * (latent + num_actions)
        for hidden in (512, 512):
            layers += [nn.Linear(size, hidden), nn.SiLU(), nn.Dropout(0.1)]
            size = hidden
        self.mlp = nn.Sequential(*layers, nn.Linear(size, latent))

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        b, t, e = z.shape
        one_hot = F.one_hot(a.long(), num_classes=self.num_actions).float()
        x = torch.cat([z, one_hot], dim=-1).view(b, t * (e + self.num_actions))
        return self.mlp(x).unsqueeze(1)


class PeerDecoder(nn.Module):
    """Transposed-conv decoder: ``[B, 1, E] -> [B, 1, 1, 64, 64]``."""

    def __init__(self, latent: int = LATENT, channels: tuple[int, ...] = (256, 128, 64, 32, 1)):
        super().__init__()
        self.first = channels[0]
        self.linear = nn.Linear(latent, channels[0] * 4 * 4)
        self.convs = nn.ModuleList(
            nn.ConvTranspose2d(a, b, kernel_size=4, stride=2, padding=1)
            for a, b in itertools.pairwise(channels)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(c) for c in channels[1:-1])
        self.act, self.dropout = nn.SiLU(), nn.Dropout(0.0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.linear(z.squeeze(1)).reshape(len(z), self.first, 4, 4)
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < len(self.norms):
                x = self.act(x)
                x = self.norms[i](x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
                x = self.dropout(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x.unsqueeze(2)


class PeerWindows(Dataset):
    """The peer's in-memory dataset: float32 frames ``[1, N, 64, 64]``, windows by slicing."""

    def __init__(self, episodes: Iterable, context: int = CONTEXT) -> None:
        frames, actions, rewards, starts = [], [], [], []
        pos = 0
        for ep in episodes:
            n = len(ep.frames)
            frames.append(torch.from_numpy(ep.frames[:, -1:]).float() / 255)
            actions.append(torch.from_numpy(np.append(ep.actions, -1).astype(np.int32)))
            rewards.append(torch.from_numpy(np.append(ep.rewards, 0).astype(np.float32)))
            starts.extend(range(pos, pos + n - context))
            pos += n
        self.states = torch.cat(frames).permute(1, 0, 2, 3).contiguous()  # [1, N, H, W]
        self.actions, self.rewards = torch.cat(actions), torch.cat(rewards)
        self.starts, self.context = starts, context

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int):
        s = self.starts[i]
        e = s + self.context
        state = self.states[:, s:e]
        next_state = self.states[:, e].unsqueeze(1)
        return state, next_state, self.actions[s:e], self.rewards[s:e]


class PeerStep:
    """One optimiser step of the peer's encoder-decoder or JEPA on one batch."""

    def __init__(self, workflow: str, num_actions: int, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.workflow = workflow
        self.encoder, self.predictor = PeerEncoder(), PeerPredictor(num_actions)
        modules = [self.encoder, self.predictor]
        if workflow == "encoder_decoder":
            self.decoder = PeerDecoder()
            modules.append(self.decoder)
        else:
            self.target = copy.deepcopy(self.encoder)
            for p in self.target.parameters():
                p.requires_grad = False
        self.params = [p for m in modules for p in m.parameters()]
        self.modules = modules
        self.optimizer = torch.optim.AdamW(self.params, lr=LR, weight_decay=WEIGHT_DECAY)

    def __call__(self, batch) -> float:
        state, next_state, action, _ = batch
        self.optimizer.zero_grad()
        z_next = self.predictor(self.encoder(state), action)
        if self.workflow == "encoder_decoder":
            loss = F.l1_loss(self.decoder(z_next), next_state)
        else:
            with torch.no_grad():
                target = self.target(next_state)
            loss = F.l1_loss(z_next, target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, CLIP)
        self.optimizer.step()
        if self.workflow == "jepa":
            with torch.no_grad():
                for t, p in zip(self.target.parameters(), self.encoder.parameters(), strict=True):
                    t.data = EMA_DECAY * t.data + (1 - EMA_DECAY) * p.data
        return loss.item()


def peer_step_samples_per_s(
    workflow: str, episodes: list, num_actions: int, batch: int = 128, epochs: int = 2
) -> float:
    """Median per-step samples/s of the peer's loop over its last epoch (batch fetch included),
    measured as wm-train's ``charts/samples_per_s`` is: from one step's end to the next."""
    data = PeerWindows(episodes)
    generator = torch.Generator().manual_seed(0)
    loader = DataLoader(data, batch_size=batch, shuffle=True, drop_last=True, generator=generator)
    step = PeerStep(workflow, num_actions)
    for m in step.modules:
        m.train()
    rates: list[float] = []
    for epoch in range(epochs):
        tic = time.perf_counter()
        for b in loader:
            step(b)
            now = time.perf_counter()
            if epoch == epochs - 1:
                rates.append(len(b[0]) / (now - tic))
            tic = now
    if not rates:
        raise ValueError(f"{len(data)} windows make no full batch of {batch}; use a larger store")
    return statistics.median(rates)
