"""The transposed convolution with the CPU backward of two ordinary convolutions gives PyTorch's
gradients, keeps ``nn.ConvTranspose2d``'s parameters, and falls back where it does not apply."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wm_models import build
from wm_models.conv_transpose import ConvTranspose2d


def _pair(in_ch: int, out_ch: int, **kw) -> tuple[nn.ConvTranspose2d, ConvTranspose2d]:
    torch.manual_seed(0)
    ref = nn.ConvTranspose2d(in_ch, out_ch, 3, **kw)
    ours = ConvTranspose2d(in_ch, out_ch, 3, **kw)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def _grads(layer: nn.Module, x: torch.Tensor, g: torch.Tensor) -> list[torch.Tensor]:
    x = x.clone().requires_grad_()
    y = layer(x)
    y.backward(g)
    return [y.detach(), x.grad, *(p.grad for p in layer.parameters())]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(
    "kw,size",
    [
        (dict(stride=2, padding=1, output_padding=1), 8),
        (dict(stride=2, padding=1, output_padding=0), 7),
        (dict(stride=2, padding=1, output_padding=1, bias=False), 5),
        (dict(stride=1, padding=1), 6),
    ],
)
def test_gradients_match_pytorch(kw, size, channels_last):
    ref, ours = _pair(5, 3, **kw)
    x = torch.randn(4, 5, size, size)
    if channels_last:
        ref, ours = (m.to(memory_format=torch.channels_last) for m in (ref, ours))
        x = x.to(memory_format=torch.channels_last)
    g = torch.randn_like(ref(x))
    for a, b in zip(_grads(ref, x, g), _grads(ours, x, g), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_only_the_gradients_needed_are_computed():
    _, ours = _pair(4, 2, stride=2, padding=1, output_padding=1)
    ours.requires_grad_(False)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    ours(x).sum().backward()
    assert x.grad is not None and ours.weight.grad is None


def test_bf16_autocast_trains_in_the_gradient_precision():
    ref, ours = _pair(6, 4, stride=2, padding=1, output_padding=1)
    x = torch.randn(3, 6, 8, 8)
    grads = []
    for layer in (ref, ours):
        xi = x.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = layer(xi)
        assert y.dtype == torch.bfloat16
        y.float().square().mean().backward()
        assert xi.grad.dtype == torch.float32 and layer.weight.grad.dtype == torch.float32
        grads.append((xi.grad, layer.weight.grad, layer.bias.grad))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(b, a, rtol=0.05, atol=0.02)


def test_same_parameters_and_plain_path_without_gradients():
    ref, ours = _pair(3, 2, stride=2, padding=1, output_padding=1)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    x = torch.randn(2, 3, 4, 4)
    with torch.inference_mode():
        torch.testing.assert_close(ours(x), ref(x))
    grouped_ref, grouped = _pair(4, 4, stride=2, padding=1, output_padding=1, groups=2)
    torch.testing.assert_close(grouped(torch.ones(1, 4, 3, 3)), grouped_ref(torch.ones(1, 4, 3, 3)))


def test_conv_decoder_uses_it_and_learns():
    torch.manual_seed(0)
    dec = build("decoder", "conv", latent_dim=8, frame_shape=(1, 16, 16), channels=(16, 8))
    assert any(isinstance(m, ConvTranspose2d) for m in dec.modules())
    opt = torch.optim.Adam(dec.parameters(), lr=1e-2)
    z, target = torch.randn(16, 8), torch.rand(16, 1, 16, 16)
    losses = []
    for _ in range(30):
        loss = (dec(z) - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
