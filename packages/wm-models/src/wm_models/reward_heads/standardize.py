"""Per-dimension standardisation of a reward head's inputs with fixed training statistics.

A reward head compares world models only if it sees their latents on one scale: an
encoder-decoder's latents and a JEPA's differ ~20x in spread, and a head on raw latents mostly
measures that. The statistics are buffers, so they are saved with the weights and every reader of
the checkpoint (wm-eval) applies the same transform the head was trained with.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

#: Forward arguments a reward head standardises, each with its own statistics: the predictor's
#: z_next can be spread differently from the encoder's z.
INPUTS = ("z", "z_next")
MIN_STD = 1e-6


class InputStandardizer(nn.Module):
    """``(x - mean) / std`` per input and dimension; identity until statistics are set.

    Buffers: ``z_mean``, ``z_std``, ``z_next_mean``, ``z_next_std`` ([D] each) and ``count``, the
    number of samples the statistics came from (0: never set, -1: set, source size unknown).
    """

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        for name in INPUTS:
            self.register_buffer(f"{name}_mean", torch.zeros(latent_dim))
            self.register_buffer(f"{name}_std", torch.ones(latent_dim))
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    def set(
        self,
        mean: Mapping[str, torch.Tensor],
        std: Mapping[str, torch.Tensor],
        *,
        count: int | None = None,
        min_std: float = MIN_STD,
    ) -> None:
        """Copy the statistics in (``count``: samples they came from, -1 when unknown).

        ``std`` is floored at ``min_std`` so a dead dimension (std 0) stays finite.
        """
        missing = [n for n in INPUTS if n not in mean or n not in std]
        if missing:
            raise ValueError(f"input statistics lack {', '.join(missing)}; need {INPUTS}")
        checked = {}
        for name in INPUTS:  # every input is checked before any buffer changes
            m = torch.as_tensor(mean[name]).detach()
            s = torch.as_tensor(std[name]).detach()
            expected = tuple(getattr(self, f"{name}_mean").shape)
            if tuple(m.shape) != expected or tuple(s.shape) != expected:
                raise ValueError(
                    f"statistics of {name} have shapes {list(m.shape)} and {list(s.shape)}; "
                    f"the head expects {list(expected)}"
                )
            if not (torch.isfinite(m).all() and torch.isfinite(s).all()):
                raise ValueError(f"statistics of {name} are not finite")
            checked[name] = m, s
        for name, (m, s) in checked.items():
            getattr(self, f"{name}_mean").copy_(m)
            getattr(self, f"{name}_std").copy_(s.clamp_min(min_std))
        self.count.fill_(-1 if count is None else int(count))

    @property
    def is_set(self) -> bool:
        """Whether statistics were set (a fresh head standardises with mean 0, std 1)."""
        return bool(self.count != 0)

    def forward(self, z: torch.Tensor, z_next: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardised (z, z_next), each with its own statistics."""
        return (z - self.z_mean) / self.z_std, (z_next - self.z_next_mean) / self.z_next_std


class StandardizedInputsMixin:
    """What the trainer reads from a head that standardises its inputs.

    ``standardized_inputs`` names the forward arguments whose statistics it needs (empty when
    built with ``standardize=False``); ``set_input_statistics`` sets them.
    """

    standardize: bool
    inputs: InputStandardizer

    @property
    def standardized_inputs(self) -> tuple[str, ...]:
        return INPUTS if self.standardize else ()

    @property
    def has_input_statistics(self) -> bool:
        """True once statistics are set (or kept from a checkpoint)."""
        return self.standardize and self.inputs.is_set

    def set_input_statistics(
        self,
        mean: Mapping[str, torch.Tensor],
        std: Mapping[str, torch.Tensor],
        *,
        count: int | None = None,
        min_std: float = MIN_STD,
    ) -> None:
        """Per-dimension training statistics of ``z`` and ``z_next``: ``{"z": [D], "z_next": [D]}``
        each; ``count`` is how many samples they came from (recorded in the ``count`` buffer)."""
        if not self.standardize:
            raise ValueError(
                f"{type(self).__name__} was built with standardize=False; it has no input "
                "statistics to set"
            )
        with torch.no_grad():
            self.inputs.set(mean, std, count=count, min_std=min_std)

    def standardized(
        self, z: torch.Tensor, z_next: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The inputs as the head's layers see them."""
        return self.inputs(z, z_next) if self.standardize else (z, z_next)
