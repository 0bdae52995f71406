"""Reward heads standardise their inputs with training statistics kept in buffers: heads on
latents of any scale train alike, the statistics travel with the weights, and checkpoints from
before the change rebuild the raw-latent head bit-exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from wm_models import build, load_module, module_spec, save_checkpoint

HEADS = {"mlp": {"hidden_dim": 32}, "attention": {"dim": 16, "depth": 1, "heads": 2}}
D = 8


def head(name: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return build("reward_head", name, latent_dim=D, **HEADS[name], **kwargs)


def transitions(n: int = 256, scale: float = 0.1) -> tuple[torch.Tensor, ...]:
    """Small-scale latents (like an encoder-decoder's) whose reward depends on a change."""
    g = torch.Generator().manual_seed(1)
    z = scale * torch.randn(n, D, generator=g) + 0.3
    z_next = z + 0.5 * scale * torch.randn(n, D, generator=g)
    reward = ((z_next - z)[:, 0] > 0).float() + 0.5 * (z[:, 1] > 0.3).float()
    return z, z_next, reward


def statistics(z: torch.Tensor, z_next: torch.Tensor) -> tuple[dict, dict]:
    mean = {"z": z.mean(0), "z_next": z_next.mean(0)}
    std = {"z": z.std(0, correction=0), "z_next": z_next.std(0, correction=0)}
    return mean, std


def train(model: torch.nn.Module, z, z_next, reward, steps: int = 60) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(model(z, z_next), reward)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name", sorted(HEADS))
def test_heads_train_alike_on_latents_scaled_1000x(name: str) -> None:
    """The point of standardising: a head's result no longer depends on the latent's scale."""
    z, z_next, reward = transitions()
    runs = {}
    for scale in (1.0, 1000.0):
        for standardize in (True, False):
            model = head(name, standardize=standardize)
            if standardize:
                model.set_input_statistics(*statistics(scale * z, scale * z_next), count=len(z))
            runs[scale, standardize] = train(model, scale * z, scale * z_next, reward)
    small, large = runs[1.0, True], runs[1000.0, True]
    assert small[-1] < 0.8 * small[0]  # it learns at all
    torch.testing.assert_close(torch.tensor(large), torch.tensor(small), rtol=1e-3, atol=1e-5)
    raw_small, raw_large = runs[1.0, False], runs[1000.0, False]
    assert abs(raw_large[-1] - raw_small[-1]) > 10 * abs(large[-1] - small[-1]) + 1e-3


@pytest.mark.parametrize("name", sorted(HEADS))
def test_statistics_are_buffers_applied_in_forward_and_saved(name: str, tmp_path: Path) -> None:
    z, z_next, _ = transitions(64)
    model = head(name)
    assert model.standardized_inputs == ("z", "z_next") and not model.has_input_statistics
    mean, std = statistics(z, z_next)
    model.set_input_statistics(mean, std, count=64)
    assert model.has_input_statistics and int(model.inputs.count) == 64
    assert not any("inputs" in n for n, _ in model.named_parameters())  # not trained
    assert {"inputs.z_mean", "inputs.z_std", "inputs.z_next_mean", "inputs.z_next_std"} <= set(
        model.state_dict()
    )
    raw = head(name, standardize=False)  # same weights: the buffers draw no random numbers
    expected = raw((z - mean["z"]) / std["z"], (z_next - mean["z_next"]) / std["z_next"])
    torch.testing.assert_close(model(z, z_next), expected)

    again = load_module(save_checkpoint(tmp_path / "h.pt", {"reward_head": model}), "reward_head")
    assert module_spec(again)["kwargs"]["standardize"] is True
    assert again.has_input_statistics
    assert torch.equal(again(z, z_next), model(z, z_next))


def test_dead_dimension_is_floored_and_bad_statistics_are_refused() -> None:
    model = head("mlp")
    z = torch.randn(16, D)
    z[:, 3] = 2.0  # a dimension that never moves
    mean, std = statistics(z, z)
    model.set_input_statistics(mean, std)
    assert float(model.inputs.z_std[3]) == pytest.approx(1e-6)
    assert int(model.inputs.count) == -1 and model.has_input_statistics  # set, size unknown
    assert torch.isfinite(model(z, z + 1e-3)).all()
    with pytest.raises(ValueError, match="lack z_next"):
        model.set_input_statistics({"z": mean["z"]}, {"z": std["z"]})
    with pytest.raises(ValueError, match=r"expects \[8\]"):
        model.set_input_statistics({"z": torch.zeros(3), "z_next": mean["z"]}, std)
    with pytest.raises(ValueError, match="not finite"):
        model.set_input_statistics({"z": mean["z"] * torch.nan, "z_next": mean["z"]}, std)
    with pytest.raises(ValueError, match="standardize=False"):
        head("mlp", standardize=False).set_input_statistics(mean, std)
    assert head("mlp", standardize=False).standardized_inputs == ()


@pytest.mark.parametrize("name", sorted(HEADS))
def test_checkpoint_from_before_standardize_rebuilds_the_raw_head_bit_exactly(
    name: str, tmp_path: Path
) -> None:
    old = head(name, standardize=False)
    path = save_checkpoint(tmp_path / "old.pt", {"reward_head": old})
    payload = torch.load(path, weights_only=True)
    entry = payload["modules"]["reward_head"]
    del entry["kwargs"]["standardize"]  # as written before the argument existed
    assert not any(k.startswith("inputs.") for k in entry["state_dict"])
    torch.save(payload, path)

    again = load_module(path, "reward_head")
    assert module_spec(again)["kwargs"]["standardize"] is False
    z, z_next, _ = transitions(32, scale=3.0)
    assert torch.equal(again(z, z_next), old(z, z_next))
    for key, value in old.state_dict().items():
        assert torch.equal(again.state_dict()[key], value)
    assert module_spec(build("reward_head", name, latent_dim=D))["kwargs"]["standardize"] is True
