"""A transposed convolution whose CPU backward runs as two ordinary convolutions.

The gradient of ``conv_transpose2d`` with respect to its input is ``conv2d`` of the output
gradient with the same weight (same stride and padding), and its weight gradient is the weight
gradient of that ``conv2d``. On CPU with channels-last tensors, PyTorch's own backward for a
transposed convolution takes a slow path (measured at 128 x 32 x 32 x 32 -> 64 x 64, one
thread: ~360 ms), while these two convolutions run through oneDNN (~130 ms) and give the
same numbers. The forward pass is PyTorch's; CUDA and every case the shortcut does not cover
(groups, dilation, non-zero padding modes, an explicit ``output_size``) use PyTorch's layer
unchanged, and the parameters are those of ``nn.ConvTranspose2d``, so checkpoints are the same.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _ConvTranspose2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, output_padding):  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding, ctx.has_bias = stride, padding, bias is not None
        return F.conv_transpose2d(x, weight, bias, stride, padding, output_padding)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        dtype = grad.dtype  # bf16 under autocast: compute in the gradient's precision
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = F.conv2d(grad, weight.to(dtype), None, ctx.stride, ctx.padding).to(x.dtype)
        if ctx.needs_input_grad[1]:
            grad_w = torch.nn.grad.conv2d_weight(
                grad, weight.shape, x.to(dtype), ctx.stride, ctx.padding
            ).to(weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3)).to(weight.dtype)
        return grad_x, grad_w, grad_b, None, None, None


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` with the faster CPU backward of this module's docstring."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        plain = (
            x.device.type != "cpu"
            or output_size is not None
            or self.groups != 1
            or self.dilation != (1, 1)
            or self.padding_mode != "zeros"
            or not torch.is_grad_enabled()
        )
        if plain:
            return super().forward(x, output_size)
        return _ConvTranspose2dFunction.apply(
            x, self.weight, self.bias, self.stride, self.padding, self.output_padding
        )
