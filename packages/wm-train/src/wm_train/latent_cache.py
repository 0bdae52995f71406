"""Features of frozen modules, computed once per dataset and served by window index.

A reward head behind a frozen encoder sees the same latents every epoch; re-encoding every batch
spends almost all the time in the encoder. The cache is filled in one pass (keyed by the batch
"index" entry) and then indexed directly on the training device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
from tqdm.auto import tqdm

Batch = dict[str, torch.Tensor]
PASS_THROUGH = ("actions", "rewards")


class CacheTooLargeError(MemoryError):
    """The cache would not fit the configured budget."""


class LatentCache:
    """Tensors [N, ...] aligned with a dataset's windows; ``batch(indices)`` gives a batch."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        sizes = {len(t) for t in tensors.values()}
        if len(sizes) != 1:
            raise ValueError(
                f"cached tensors disagree in length: { {k: len(v) for k, v in tensors.items()} }"
            )
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def batch(self, indices: torch.Tensor) -> Batch:
        indices = indices.to(next(iter(self.tensors.values())).device)
        out = {k: v[indices] for k, v in self.tensors.items()}
        out["index"] = indices
        return out

    @classmethod
    @torch.no_grad()
    def build(
        cls,
        features: Callable[[Batch], Batch],
        loader: Iterator[Batch] | Sequence[Batch],
        size: int,
        *,
        device: torch.device,
        autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
        progress: bool = False,
        max_bytes: float = float("inf"),
    ) -> LatentCache:
        """Run ``features`` over every batch of ``loader`` and store rows at ``batch['index']``.

        Raises ``CacheTooLargeError`` after the first batch when the whole cache would exceed
        ``max_bytes`` (nothing has been filled in yet).
        """
        tensors: dict[str, torch.Tensor] = {}
        for batch in tqdm(loader, desc="caching latents", disable=not progress, leave=False):
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with autocast():
                out = features(batch)
            out.update({k: batch[k] for k in PASS_THROUGH if k in batch})
            out = {k: v.detach().float() if v.is_floating_point() else v for k, v in out.items()}
            if not tensors:  # first batch: check the budget, then allocate every column
                need = size * sum(v[0].numel() * v.element_size() for v in out.values())
                if need > max_bytes:
                    raise CacheTooLargeError(
                        f"latent cache needs {need / 2**30:.3g} GiB > {max_bytes / 2**30:.3g} GiB"
                    )
                tensors = {
                    k: torch.empty((size, *v.shape[1:]), dtype=v.dtype, device=device)
                    for k, v in out.items()
                }
            for key, value in out.items():
                tensors[key][batch["index"]] = value
        if not tensors:
            raise ValueError("cannot cache latents of an empty dataset")
        return cls(tensors)


def index_batches(indices: Sequence[int], batch_size: int) -> Iterator[torch.Tensor]:
    """Consecutive chunks of a sampler's index order."""
    order = torch.as_tensor(list(indices), dtype=torch.int64)
    yield from order.split(batch_size)
