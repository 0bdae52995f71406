"""The state of one evaluation that every probe reads: loaded runs, their data, cached latents
and baseline encoders, the report being filled and where its figures go."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from wm_eval.baselines import random_encoder, spec_key
from wm_eval.columns import random_init
from wm_eval.config import EvalConfig
from wm_eval.data import DataSource, per_episode
from wm_eval.latent_cache import StateLatents, state_ids, weights_digest
from wm_eval.loading import ModelGroup, encode, for_inference
from wm_eval.report import Report
from wm_models import module_spec

T = TypeVar("T")


@dataclass
class EncoderColumn:
    """One encoder shown as a table column: a trained run's, or a random-init baseline."""

    label: str
    encoder: nn.Module | None
    source: DataSource | None
    baseline: bool = False


@dataclass
class EvalSession:
    """One ``evaluate`` call as the probes see it (passed to every ``run(session)``)."""

    config: EvalConfig
    device: torch.device
    out_dir: Path
    groups: list[ModelGroup]
    sources: dict[str, DataSource | None]
    report: Report = field(default_factory=Report)
    _latents: dict[tuple, np.ndarray] = field(default_factory=dict, repr=False)
    _scales: dict[tuple, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    _random: list[EncoderColumn] | None = field(default=None, repr=False)
    _states: dict[tuple, StateLatents] = field(default_factory=dict, repr=False)
    _digests: dict[int, str] = field(default_factory=dict, repr=False)
    _memo: dict[tuple, Any] = field(default_factory=dict, repr=False)
    timings: dict[str, float] = field(default_factory=dict, repr=False)
    _inner: list[float] = field(default_factory=list, repr=False)

    @contextmanager
    def timed(self, label: str) -> Iterator[None]:
        """Add the block's wall time to ``timings[label]``: where a probe's time went (``-v``).

        Blocks may nest (an encoder pass inside a fit): a nested block's time counts under its
        own label only, so the parts of a probe add up to no more than its wall time.
        """
        t0 = time.perf_counter()
        self._inner.append(0.0)
        try:
            yield
        finally:
            elapsed = time.perf_counter() - t0
            own = elapsed - self._inner.pop()
            self.timings[label] = self.timings.get(label, 0.0) + own
            if self._inner:
                self._inner[-1] += elapsed

    def source(self, group: ModelGroup) -> DataSource | None:
        """The store of a run; None when its run.json names none that could be opened."""
        return self.sources.get(group.label)

    def latents(
        self,
        encoder: nn.Module,
        source: DataSource,
        split: str,
        horizon: int,
        max_samples: int,
        step: int = 0,
    ) -> np.ndarray:
        """Latents of the states at ``step`` of a cached window subsample (memoised).

        Each state is encoded once per encoder weights, whichever subsample, step or module
        copy asks for it (``wm_eval.latent_cache``).
        """
        key = (id(encoder), source.key, split, horizon, max_samples, step)
        if key not in self._latents:
            batch = source.batch(split, horizon, max_samples, self.config.seed)
            states = batch["frames"][:, step : step + source.context]
            digest = self._digests.get(id(encoder)) or weights_digest(encoder)
            self._digests[id(encoder)] = digest
            cache = self._states.setdefault((digest, source.key), StateLatents())
            ids = state_ids(batch["episode"].numpy(), batch["offset"].numpy(), step)
            with self.timed("encoder passes"):
                self._latents[key] = cache.get(
                    ids, states, lambda x: encode(encoder, x, self.device, self.config.batch_size)
                )
        return self._latents[key]

    def decoded_windows(self, source: DataSource, horizon: int) -> np.ndarray:
        """Positions, in the scored subsample of ``horizon``, of the windows decoders score.

        At most ``config.decoded_per_episode`` windows evenly spread through every scored
        episode (``data.per_episode``): each keeps every episode, so intervals stay as wide
        as the episodes make them, while a decoded rollout costs many decoder passes a window.
        """
        cfg = self.config
        episodes = self.episodes(source, cfg.split, horizon, cfg.max_samples)
        return per_episode(episodes, cfg.decoded_per_episode)

    def episodes(
        self, source: DataSource, split: str, horizon: int, max_samples: int
    ) -> np.ndarray:
        """Store episode id of each window of a cached subsample (what intervals resample)."""
        return source.batch(split, horizon, max_samples, self.config.seed)["episode"].numpy()

    def memo(self, key: tuple, compute: Callable[[], T]) -> T:
        """``compute()`` once per evaluation for ``key``: work several probes share (a baseline
        fit on the training split, say)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def train_scale(self, encoder: nn.Module, source: DataSource) -> tuple[np.ndarray, np.ndarray]:
        """Per-dimension mean and std of the encoder's latents on training-split windows.

        A dimension that does not vary on the training split gets std 1 (it stays constant).
        """
        key = (id(encoder), source.key)
        if key not in self._scales:
            z = self.latents(encoder, source, "train", 1, self.config.probe_train_samples)
            std = z.std(axis=0)
            self._scales[key] = z.mean(axis=0), np.where(std > 0, std, 1.0)
        return self._scales[key]

    def standardised(
        self,
        encoder: nn.Module,
        source: DataSource,
        split: str,
        horizon: int,
        max_samples: int,
        step: int = 0,
    ) -> np.ndarray:
        """``latents(...)`` standardised with the training split's per-dimension statistics.

        Read-outs (ridge, logistic) compare models whose latent scales differ by orders of
        magnitude; on standardised latents a fixed regularisation grid means the same for all.
        """
        mean, std = self.train_scale(encoder, source)
        z = self.latents(encoder, source, split, horizon, max_samples, step)
        return (z - mean) / std

    def encoder_columns(self) -> list[EncoderColumn]:
        """Every run's encoder, then one random-init baseline per distinct architecture/store."""
        cols = [EncoderColumn(g.label, g.encoder, self.source(g)) for g in self.groups]
        return cols + self.random_columns()

    def random_columns(self) -> list[EncoderColumn]:
        """One random-init encoder per distinct (architecture, store), built once."""
        if self._random is None:
            seen: dict[tuple, EncoderColumn] = {}
            for g in self.groups:
                src = self.source(g)
                if g.encoder is None or src is None:
                    continue
                key = (spec_key(g.encoder), src.key)
                if key not in seen:
                    name = module_spec(g.encoder)["name"]
                    enc = random_encoder(g.encoder, self.config.random_encoder_seed)
                    seen[key] = EncoderColumn(
                        random_init(name), for_inference(enc, self.device), src, baseline=True
                    )
            labels = [c.label for c in seen.values()]
            if len(set(labels)) < len(labels):  # same registry name, different kwargs/stores
                for i, c in enumerate(seen.values()):
                    c.label = f"{c.label} #{i + 1}"
            self._random = list(seen.values())
        return self._random

    def store_tag(self, source: DataSource | None) -> str:
        """Suffix for data-dependent baseline columns: empty when all runs share one store."""
        keys = list(dict.fromkeys(s.key for s in self.sources.values() if s is not None))
        if source is None or len(keys) <= 1:
            return ""
        return f" · store {keys.index(source.key) + 1}"

    def figure(self, caption: str, path: Path) -> None:
        """List a written figure in the report, by its path relative to the output folder."""
        self.report.figures.append((caption, str(path.relative_to(self.out_dir))))
