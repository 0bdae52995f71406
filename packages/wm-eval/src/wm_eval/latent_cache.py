"""Latents of store states, computed once per encoder weights and shared by every probe.

Probes read states from several window subsamples (horizon 1 and the rollout horizon, steps
0..K of a window, training and scored splits); a state is the same ``T`` frames whichever
window it came from. States are keyed by (store episode, frame offset), encoders by a digest
of their architecture and weights, so a derived run's copy of an encoder shares its latents.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch
from torch import nn

from wm_models import module_spec


def weights_digest(module: nn.Module) -> str:
    """sha1 of the module's spec, parameters and buffers: equal digests encode alike."""
    h = hashlib.sha1()
    try:
        h.update(json.dumps(module_spec(module), sort_keys=True, default=str).encode())
    except (AttributeError, KeyError, TypeError, ValueError):
        h.update(type(module).__qualname__.encode())
    for name, t in [*module.state_dict().items()]:
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def state_ids(episodes: np.ndarray, offsets: np.ndarray, step: int) -> np.ndarray:
    """One int64 per state: its store episode and the offset of its first frame."""
    return (np.asarray(episodes, np.int64) << 32) | (np.asarray(offsets, np.int64) + step)


class StateLatents:
    """The latents of one encoder on one store, grown as probes ask for more states."""

    def __init__(self) -> None:
        self.ids = np.empty(0, dtype=np.int64)
        self.z: np.ndarray | None = None

    def get(self, ids: np.ndarray, states: torch.Tensor, encode) -> np.ndarray:
        """Latents ``[N, D]`` of ``states`` (identified by ``ids``); only unseen ones encoded."""
        ids = np.asarray(ids, dtype=np.int64)
        new, first = np.unique(ids[~np.isin(ids, self.ids)], return_index=True)
        if len(new):
            pick = np.flatnonzero(~np.isin(ids, self.ids))[first]
            z_new = encode(states[torch.from_numpy(pick)])
            merged = np.concatenate([self.ids, new])
            order = np.argsort(merged, kind="stable")
            z = z_new if self.z is None else np.concatenate([self.z, z_new])
            self.ids, self.z = merged[order], z[order]
        assert self.z is not None
        return self.z[np.searchsorted(self.ids, ids)]
