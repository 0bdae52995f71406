"""Every registered model honours the shape contract, trains, and is reproducible under a seed."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from wm_models import KINDS, build, list_models, module_spec

BUILTIN = {
    "encoder": ["conv", "impala", "vit"],
    "predictor": ["mlp", "transformer"],
    "decoder": ["conv", "hybrid"],
    "reward_head": ["attention", "mlp"],
    "inverse_head": ["mlp"],
}
# Everything registered, plugins included: a plugin model must honour the same contract.
ALL = [(kind, name) for kind in KINDS for name in list_models(kind)]
BUILTIN_PAIRS = [(kind, name) for kind, names in BUILTIN.items() for name in names]
SMALL = [((1, 16, 16), 2), ((3, 20, 20), 3)]  # grayscale / RGB, even / non-multiple-of-8 sizes
SMALL_IDS = ["gray16-T2", "rgb20-T3"]


def ids(pair: tuple[str, str]) -> str:
    return f"{pair[0]}-{pair[1]}"


def test_builtin_names_are_registered() -> None:
    for kind, names in BUILTIN.items():
        assert set(names) <= set(list_models(kind)), kind


@pytest.mark.parametrize(("frame_shape", "context"), SMALL, ids=SMALL_IDS)
@pytest.mark.parametrize("pair", ALL, ids=ids)
def test_output_shape(model_io, pair, frame_shape, context) -> None:
    kind, name = pair
    model = build(kind, name, **model_io.kwargs(kind, frame_shape, context))
    y = model(*model_io.inputs(kind, frame_shape, context))
    assert y.shape == model_io.shape(kind, frame_shape)
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()
    assert module_spec(model)["name"] == name


@pytest.mark.parametrize(("frame_shape", "context"), SMALL, ids=SMALL_IDS)
@pytest.mark.parametrize("pair", ALL, ids=ids)
def test_gradients_reach_every_parameter(model_io, pair, frame_shape, context) -> None:
    kind, name = pair
    torch.manual_seed(0)
    model = build(kind, name, **model_io.kwargs(kind, frame_shape, context))
    y = model(*model_io.inputs(kind, frame_shape, context))
    (y * torch.randn_like(y)).sum().backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"no gradient reaches {dead}"


@pytest.mark.parametrize("pair", ALL, ids=ids)
def test_deterministic_under_seed(model_io, pair) -> None:
    kind, name = pair
    frame_shape, context = SMALL[1]
    kwargs = model_io.kwargs(kind, frame_shape, context)
    inputs = model_io.inputs(kind, frame_shape, context)

    def make(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return build(kind, name, **kwargs)

    a, b, other = make(7), make(7), make(8)
    for (key, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), key
    assert torch.equal(a(*inputs), b(*inputs))
    assert torch.equal(a(*inputs), a(*inputs))
    assert not all(
        torch.equal(pa, po)
        for pa, po in zip(a.parameters(), other.parameters(), strict=True)
        if pa.numel() > 1
    ), "weights ignore the seed"


@pytest.mark.parametrize(
    ("frame_shape", "context"), [((1, 84, 84), 4), ((3, 64, 64), 4)], ids=["gray84-T4", "rgb64-T4"]
)
@pytest.mark.parametrize("pair", BUILTIN_PAIRS, ids=ids)
@torch.no_grad()
def test_atari_resolutions(model_io, pair, frame_shape, context) -> None:
    kind, name = pair
    model = build(kind, name, **model_io.kwargs(kind, frame_shape, context))
    y = model(*model_io.inputs(kind, frame_shape, context, batch=2))
    assert y.shape == model_io.shape(kind, frame_shape, batch=2)


@pytest.mark.parametrize("pair", ALL, ids=ids)
def test_loss_goes_down(model_io, pair) -> None:
    """A few optimiser steps fit a fixed random target: the model is trainable end to end."""
    kind, name = pair
    frame_shape, context = SMALL[0]
    torch.manual_seed(0)
    model = build(kind, name, **model_io.kwargs(kind, frame_shape, context))
    inputs = model_io.inputs(kind, frame_shape, context, batch=4)
    shape = model_io.shape(kind, frame_shape, batch=4)
    # decoders fit one flat colour per sample: learnable in a few steps
    flat = torch.rand(*shape[:2], 1, 1).expand(shape) if kind == "decoder" else None
    target = torch.rand(shape) if flat is None else flat
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(10):
        loss = torch.nn.functional.mse_loss(model(*inputs), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0], losses


@pytest.mark.parametrize("pair", BUILTIN_PAIRS, ids=ids)
def test_wrong_input_shape_is_named(model_io, pair) -> None:
    kind, name = pair
    frame_shape, context = SMALL[0]
    model = build(kind, name, **model_io.kwargs(kind, frame_shape, context))
    inputs = list(model_io.inputs(kind, frame_shape, context))
    if kind == "encoder":
        inputs[0] = inputs[0][:, :1]  # one frame short of the context
    else:
        inputs[0] = torch.randn(3, model_io.latent + 1)
    with pytest.raises(ValueError, match=r"must have shape"):
        model(*inputs)


@pytest.mark.parametrize("name", BUILTIN["decoder"])
def test_decoders_hit_odd_sizes_exactly(model_io, name) -> None:
    model = build("decoder", name, **model_io.kwargs("decoder", (3, 21, 17), 1))
    assert model(*model_io.inputs("decoder", (3, 21, 17), 1)).shape == (3, 3, 21, 17)


def test_transformer_predictor_accepts_a_history(model_io) -> None:
    torch.manual_seed(0)
    model = build("predictor", "transformer", latent_dim=8, num_actions=3, dim=16, heads=2)
    z, action = torch.randn(2, 5, 8), torch.tensor([0, 2])
    out = model(z, action)
    assert out.shape == (2, 8)
    assert torch.allclose(model(z[:, -1], action), model(z[:, -1:], action))
    # causal: the prediction depends on the earlier history too
    assert not torch.allclose(out, model(z[:, -1], action))


def test_predictors_use_the_action() -> None:
    for name in BUILTIN["predictor"]:
        torch.manual_seed(0)
        model = build("predictor", name, latent_dim=8, num_actions=3)
        z = torch.randn(1, 8).expand(3, 8)
        out = model(z, torch.tensor([0, 1, 2]))
        assert not torch.allclose(out[0], out[1]), name


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"frame_shape": (16, 16), "context": 2}, "frame_shape"),
        ({"frame_shape": (1, 16, 16), "context": 0}, "context"),
        ({"frame_shape": (1, 16, 16), "context": 2, "latent_dim": -1}, "latent_dim"),
        ({"frame_shape": (1, 16, 16), "context": 2, "channels": ()}, "channels"),
        ({"frame_shape": (1, 16, 16), "context": 2, "act": "swish9"}, "activation"),
        ({"frame_shape": (1, 16, 16), "context": 2, "norm": "batch9"}, "norm"),
    ],
)
def test_bad_constructor_arguments_are_named(kwargs, field) -> None:
    with pytest.raises(ValueError, match=field):
        build("encoder", "conv", **kwargs)


def test_vit_rejects_odd_head_dim() -> None:
    with pytest.raises(ValueError, match="heads"):
        build("encoder", "vit", frame_shape=(1, 16, 16), context=2, dim=30, heads=4)


@pytest.mark.parametrize("name", BUILTIN["predictor"])
def test_float_actions_are_refused(name) -> None:
    model = build("predictor", name, latent_dim=8, num_actions=3)
    with pytest.raises(ValueError, match="action must hold integer indices"):
        model(torch.randn(2, 8), torch.tensor([0.0, 1.0]))


SMALL_ARCH = {
    ("encoder", "conv"): {"channels": (4, 8)},
    ("encoder", "impala"): {"channels": (4, 8)},
    ("encoder", "vit"): {"dim": 16, "depth": 1, "heads": 2, "patch_size": 4},
    ("decoder", "conv"): {"channels": (8, 4)},
    ("decoder", "hybrid"): {"channels": (8, 4), "token_dim": 8, "heads": 2},
}


@settings(max_examples=25, deadline=None)
@given(
    pair=st.sampled_from(sorted(SMALL_ARCH)),
    channels=st.sampled_from([1, 3, 4]),
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    context=st.integers(1, 4),
)
def test_any_frame_size(pair, channels, height, width, context) -> None:
    """Encoders and decoders accept every (T, C, H, W) they were built for, not just 64/84."""
    kind, name = pair
    shape = (channels, height, width)
    kwargs = {"latent_dim": 8, "frame_shape": shape, **SMALL_ARCH[pair]}
    if kind == "encoder":
        model = build(kind, name, context=context, **kwargs)
        assert model(torch.rand(2, context, *shape)).shape == (2, 8)
    else:
        model = build(kind, name, **kwargs)
        assert model(torch.randn(2, 8)).shape == (2, *shape)


@pytest.mark.parametrize("name", ["conv", "hybrid"])
def test_decoder_output_modes(name) -> None:
    z = torch.randn(3, 8) * 50
    squashed = build("decoder", name, latent_dim=8, frame_shape=(1, 16, 16), output="sigmoid")(z)
    assert squashed.min() >= 0 and squashed.max() <= 1
    with pytest.raises(ValueError, match="output 'tanh' is unknown"):
        build("decoder", name, latent_dim=8, frame_shape=(1, 16, 16), output="tanh")


def test_default_decoder_keeps_learning_on_dark_frames() -> None:
    """Atari frames are mostly black: an L1-trained decoder must not saturate into a blank."""
    torch.manual_seed(0)
    target = torch.zeros(16, 1, 16, 16)
    target[:, :, 6:9, 4:12] = 0.8  # a small bright sprite on a black background
    z = torch.randn(16, 8)
    decoder = build("decoder", "conv", latent_dim=8, frame_shape=(1, 16, 16))
    opt = torch.optim.Adam(decoder.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        loss = torch.nn.functional.l1_loss(decoder(z), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    blank = target.abs().mean().item()  # the loss of predicting an all-black frame
    assert losses[-1] < 0.5 * blank, (losses[0], losses[-1], blank)


def sprite_frames(n: int, size: int = 32, context: int = 2) -> torch.Tensor:
    """Atari-like states: black frames with one small bright sprite at a random place."""
    gen = torch.Generator().manual_seed(0)
    frames = torch.zeros(n, context, 1, size, size)
    for i, (y, x) in enumerate(torch.randint(0, size - 3, (n, 2), generator=gen).tolist()):
        frames[i, :, :, y : y + 3, x : x + 3] = 1.0
    return frames


def relative_spread(encoder: torch.nn.Module, frames: torch.Tensor) -> float:
    """Per-dim std of the latent across states over its mean magnitude."""
    with torch.no_grad():
        z = encoder(frames)
    return float(z.std(0).mean() / z.abs().mean())


def test_conv_group_norm_keeps_sparse_states_apart_at_init() -> None:
    """Mostly-black frames must not map to one bias-dominated vector (the JEPA target)."""
    frames = sprite_frames(256)
    spreads = {}
    for norm in ("group", "none"):
        torch.manual_seed(0)
        encoder = build("encoder", "conv", frame_shape=(1, 32, 32), context=2, norm=norm)
        spreads[norm] = relative_spread(encoder, frames)
    assert spreads["group"] > 0.2, spreads
    assert spreads["group"] > 5 * spreads["none"], spreads


def test_film_predictor_starts_as_the_concat_one_and_lets_the_action_modulate() -> None:
    torch.manual_seed(0)
    sizes = {"latent_dim": 8, "num_actions": 3, "hidden_dim": 16}
    film = build("predictor", "mlp", **sizes, conditioning="film")
    concat = build("predictor", "mlp", **sizes)
    concat.load_state_dict({k: v for k, v in film.state_dict().items() if not k.startswith("film")})
    z, a = torch.randn(5, 8), torch.tensor([0, 1, 2, 0, 1])
    torch.testing.assert_close(film(z, a), concat(z, a))  # the modulation starts as identity
    (film(z, a) * torch.randn(5, 8)).sum().backward()
    assert film.film.weight.grad.abs().sum() > 0  # and learns from the first step
    with torch.no_grad():
        film.film.weight.normal_()
    assert not torch.allclose(film(z, a), concat(z, a))
    assert module_spec(film)["kwargs"]["conditioning"] == "film"
    with pytest.raises(ValueError, match="conditioning 'gate' is unknown"):
        build("predictor", "mlp", latent_dim=8, num_actions=3, conditioning="gate")
