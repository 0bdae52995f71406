"""Building blocks shared by the zoo: shape checks, MLPs, rotary attention, transformer blocks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

__all__ = [
    "MLP",
    "Attention",
    "AxialRotary",
    "TransformerBlock",
    "activation",
    "check_actions",
    "check_channels",
    "check_frame_shape",
    "check_positive",
    "check_shape",
    "conv_norm",
    "conv_out_size",
]

_ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "elu": nn.ELU}


def activation(name: str) -> nn.Module:
    """A fresh activation layer by name (names keep model arguments checkpointable)."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"activation {name!r} is unknown; choose one of {', '.join(_ACTIVATIONS)}"
        ) from None


CONV_NORMS = ("group", "none")


def conv_norm(name: str, channels: int) -> list[nn.Module]:
    """The normalisation layer after a convolution, as a list to splice into a stack.

    ``group`` is GroupNorm with one group: a per-sample LayerNorm over channels and positions,
    independent of the batch, so train and eval behave alike and EMA copies need no statistics.
    """
    if name not in CONV_NORMS:
        raise ValueError(f"norm {name!r} is unknown; choose one of {', '.join(CONV_NORMS)}")
    return [nn.GroupNorm(1, channels)] if name == "group" else []


PIXEL_OUTPUTS = ("linear", "sigmoid")


def check_pixel_output(output: str) -> str:
    """Validate a decoder's output mapping name."""
    if output not in PIXEL_OUTPUTS:
        raise ValueError(f"output {output!r} is unknown; choose one of {', '.join(PIXEL_OUTPUTS)}")
    return output


def pixel_output(x: torch.Tensor, output: str) -> torch.Tensor:
    """Decoder logits to pixels on the [0, 1] scale.

    ``linear`` (the default) regresses pixels directly: a sigmoid saturates on Atari's mostly
    black frames, after which an L1 loss sends no gradient and the decoder stays blank.
    """
    return torch.sigmoid(x) if output == "sigmoid" else x


def check_positive(**values: int) -> None:
    """Raise ValueError naming the first argument that is not a positive int."""
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive int, got {value!r}")


def check_frame_shape(frame_shape: Sequence[int]) -> tuple[int, int, int]:
    """Validate a (C, H, W) frame shape and return it as a tuple."""
    shape = tuple(frame_shape)
    if len(shape) != 3:
        raise ValueError(f"frame_shape must be (C, H, W), got {frame_shape!r}")
    check_positive(channels=shape[0], height=shape[1], width=shape[2])
    return shape  # type: ignore[return-value]


def check_channels(channels: Sequence[int], name: str = "channels") -> tuple[int, ...]:
    """Validate a non-empty sequence of positive channel counts."""
    out = tuple(channels)
    if not out:
        raise ValueError(f"{name} must not be empty")
    for i, c in enumerate(out):
        check_positive(**{f"{name}[{i}]": c})
    return out


def check_shape(x: torch.Tensor, expected: Sequence[int | None], name: str, model: str) -> None:
    """Raise ValueError if ``x`` does not have ``expected`` shape (None matches any size)."""
    ok = x.dim() == len(expected) and all(
        e is None or s == e for s, e in zip(x.shape, expected, strict=True)
    )
    if not ok:
        want = "[" + ", ".join("*" if e is None else str(e) for e in expected) + "]"
        raise ValueError(f"{model}: {name} must have shape {want}, got {list(x.shape)}")


def check_actions(action: torch.Tensor, batch: int, model: str) -> None:
    """Raise ValueError unless ``action`` is an integer tensor of shape [batch]."""
    check_shape(action, (batch,), "action", model)
    if action.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise ValueError(f"{model}: action must hold integer indices, got dtype {action.dtype}")


def conv_out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution along one axis."""
    return (size + 2 * padding - kernel) // stride + 1


class MLP(nn.Sequential):
    """Linear layers with an activation between them (none after the last)."""

    def __init__(
        self, in_dim: int, hidden_dim: int, out_dim: int, depth: int = 2, act: str = "silu"
    ) -> None:
        check_positive(depth=depth)
        dims = [in_dim] + [hidden_dim] * (depth - 1) + [out_dim]
        layers: list[nn.Module] = []
        for i in range(depth):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < depth - 1:
                layers.append(activation(act))
        super().__init__(*layers)


class AxialRotary(nn.Module):
    """Rotary position embedding over one or more axes (time, row, column) of a token grid.

    The head dimension is split into rotation pairs shared out between the axes; each axis rotates
    its pairs by its own coordinate, so attention sees relative offsets along every axis.
    """

    def __init__(self, head_dim: int, num_axes: int, base: float = 100.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary embeddings need an even head dim, got {head_dim}")
        pairs = head_dim // 2
        if pairs < num_axes:
            raise ValueError(f"head dim {head_dim} is too small for {num_axes} rotary axes")
        per_axis = [pairs // num_axes + (1 if i < pairs % num_axes else 0) for i in range(num_axes)]
        freqs = [base ** (-torch.arange(n, dtype=torch.float32) / n) for n in per_axis]
        self.per_axis = per_axis
        self.register_buffer("freqs", torch.cat(freqs), persistent=False)

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """positions [N, A] -> (cos, sin) [N, head_dim]."""
        chunks = self.freqs.split(self.per_axis)
        angles = torch.cat(
            [positions[:, i : i + 1].float() * f for i, f in enumerate(chunks)], dim=-1
        )
        angles = torch.cat([angles, angles], dim=-1)
        return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate [..., N, Dh] by position-dependent angles (rotate-half convention)."""
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)


class Attention(nn.Module):
    """Multi-head (self or cross) attention on ``scaled_dot_product_attention``."""

    def __init__(self, dim: int, heads: int, context_dim: int | None = None) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention dim {dim} is not divisible by heads={heads}")
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim or dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        rotary: tuple[torch.Tensor, torch.Tensor] | None = None,
        causal: bool = False,
    ) -> torch.Tensor:
        """x [B, N, dim], context [B, M, context_dim] (default x) -> [B, N, dim]."""
        q = rearrange(self.q(x), "b n (h d) -> b h n d", h=self.heads)
        k, v = rearrange(
            self.kv(x if context is None else context),
            "b m (two h d) -> two b h m d",
            two=2,
            h=self.heads,
        )
        if rotary is not None:  # self-attention only: queries and keys share positions
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self.out(rearrange(y, "b h n d -> b n (h d)"))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: attention then MLP, both residual."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, act: str = "gelu") -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, int(dim * mlp_ratio), dim, depth=2, act=act)

    def forward(
        self,
        x: torch.Tensor,
        rotary: tuple[torch.Tensor, torch.Tensor] | None = None,
        causal: bool = False,
    ) -> torch.Tensor:
        """x [B, N, dim] -> [B, N, dim]."""
        x = x + self.attn(self.norm1(x), rotary=rotary, causal=causal)
        return x + self.mlp(self.norm2(x))
