"""SIGReg (LeJEPA): the Epps-Pulley statistic against closed forms, its behaviour on Gaussian,
collapsed and non-Gaussian batches, its gradient, and JEPA training with it (resumed exactly)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from wm_train.latent_reg import (
    NULL_EXPECTATION,
    LatentRegulariser,
    epps_pulley,
    random_directions,
    sigreg,
)
from wm_train.losses import JepaLoss
from wm_train.testing import assert_same_training, jepa_trainer

ROLES = ("encoder", "predictor", "target_encoder")


def closed_form(x: torch.Tensor) -> float:
    """N * integral of |phi_N(t) - exp(-t^2/2)|^2 exp(-t^2/2) dt over the real line, exactly:
    sqrt(2 pi)/N sum_jk exp(-(x_j-x_k)^2/2) - 2 sqrt(pi) sum_j exp(-x_j^2/4) + N sqrt(2 pi/3)."""
    x = x.double()
    n = x.numel()
    pairs = torch.exp(-0.5 * (x[:, None] - x[None, :]) ** 2).sum()
    cross = torch.exp(-0.25 * x**2).sum()
    return float(
        math.sqrt(2 * math.pi) / n * pairs
        - 2 * math.sqrt(math.pi) * cross
        + n * math.sqrt(2 * math.pi / 3)
    )


def test_quadrature_matches_the_closed_form() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(40, generator=g) * 0.7 + 0.3, torch.rand(20, generator=g) * 4])
    fine = epps_pulley(x[:, None], t_max=10.0, points=801)
    assert float(fine) == pytest.approx(closed_form(x), rel=1e-4)
    # LeJEPA's grid (t <= 3, 17 points) keeps the statistic within a few percent
    assert float(epps_pulley(x[:, None])) == pytest.approx(closed_form(x), rel=0.05)


def test_constant_batch_scores_its_known_value_and_gaussians_score_near_zero() -> None:
    n = 2048
    constant = math.sqrt(2 * math.pi) - 2 * math.sqrt(math.pi) + math.sqrt(2 * math.pi / 3)
    zeros = epps_pulley(torch.zeros(n, 1), t_max=10.0, points=801)
    assert float(zeros) / n == pytest.approx(constant, rel=1e-5)  # 0.409 N
    gauss = epps_pulley(torch.randn(n, 32, generator=torch.Generator().manual_seed(1)))
    # E = sqrt(2 pi) - sqrt(2 pi / 3) ~= 1.06 per direction whatever N: ~0 next to 0.41 N
    assert float(gauss.mean()) == pytest.approx(NULL_EXPECTATION, abs=0.3)
    assert float(gauss.max()) / n < 2e-3


def test_non_gaussian_unit_variance_samples_score_far_above_the_null() -> None:
    g = torch.Generator().manual_seed(2)
    n = 2048
    uniform = (torch.rand(n, 16, generator=g) * 2 - 1) * math.sqrt(3)  # mean 0, variance 1
    signs = torch.randint(0, 2, (n, 16), generator=g).float() * 2 - 1  # mean 0, variance 1
    wide = torch.randn(n, 16, generator=g) * 3.0
    for sample in (uniform, signs, wide):
        assert float(epps_pulley(sample).min()) > 15 * NULL_EXPECTATION


def test_sigreg_averages_over_unit_directions_drawn_from_a_seed() -> None:
    a = random_directions(8, 5, seed=3)
    assert torch.allclose(a.norm(dim=0), torch.ones(5))
    assert torch.equal(a, random_directions(8, 5, seed=3))
    assert not torch.equal(a, random_directions(8, 5, seed=4))
    z = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(sigreg(z, a), epps_pulley(z @ a).mean())
    one = torch.randn(1, 8, requires_grad=True)
    value = sigreg(one, a)
    value.backward()
    assert float(value.detach()) == 0.0 and torch.isfinite(one.grad).all()


def test_sigreg_gradient_spreads_a_collapsed_batch_towards_a_standard_gaussian() -> None:
    torch.manual_seed(0)
    z = (torch.randn(256, 4) * 0.01).requires_grad_()
    opt = torch.optim.Adam([z], lr=0.05)
    start = None
    for step in range(150):
        value = sigreg(z, random_directions(4, 32, seed=step))
        start = float(value.detach()) if start is None else start
        opt.zero_grad()
        value.backward()
        opt.step()
    end = float(sigreg(z.detach(), random_directions(4, 32, seed=10_000)))
    assert start > 100 and end < 0.05 * start
    assert torch.allclose(z.detach().std(0), torch.ones(4), atol=0.25)


def test_regulariser_counts_training_calls_only_and_saves_the_count() -> None:
    reg = LatentRegulariser("losses.jepa", sigreg_weight=0.5, sigreg_directions=8)
    z = torch.randn(32, 4)
    base = torch.zeros(())
    loss_a, metrics = reg.add_to(base, z, training=True)
    reg.add_to(base, z, training=False)
    assert reg.calls == 1 and set(metrics) == {"reg/sigreg"}
    assert float(loss_a) == pytest.approx(0.5 * float(metrics["reg/sigreg"]))
    other = LatentRegulariser("losses.jepa", sigreg_weight=0.5, sigreg_directions=8)
    other.load_state_dict(reg.state_dict())
    torch.testing.assert_close(other.add_to(base, z, True)[0], reg.add_to(base, z, True)[0])
    val_a, val_b = reg.add_to(base, z, False)[0], reg.add_to(base, z, False)[0]
    torch.testing.assert_close(val_a, val_b)  # validation directions stay fixed
    with pytest.raises(ValueError, match=r"losses\.jepa\.sigreg_weight = -1"):
        LatentRegulariser("losses.jepa", sigreg_weight=-1)


def test_jepa_with_sigreg_trains_and_resumes_bit_exactly(tiny_store: Path, tmp_path: Path, metrics):
    def trainer(run: Path):
        return jepa_trainer(
            tiny_store, run, loss=JepaLoss(sigreg_weight=0.05, sigreg_directions=16)
        )

    trainer(tmp_path / "straight").fit()
    trainer(tmp_path / "split").fit(max_epochs=1)
    trainer(tmp_path / "split").fit(resume=True)
    a, b = assert_same_training(tmp_path / "straight", tmp_path / "split", ROLES)
    assert a["extra"]["loss"] == b["extra"]["loss"] == {"sigreg_calls": a["extra"]["global_step"]}
    records = metrics(tmp_path / "straight")
    train = [r for r in records if "train/reg/sigreg" in r]
    assert train[-1]["train/loss"] < train[0]["train/loss"]
    assert train[-1]["train/reg/sigreg"] < train[0]["train/reg/sigreg"]
    assert any("val/reg/sigreg" in r for r in records)


def test_terms_are_computed_in_fp32_under_bf16_autocast() -> None:
    reg = LatentRegulariser("losses.jepa", var_weight=1.0, cov_weight=0.04, sigreg_weight=0.05)
    z = torch.randn(128, 16, generator=torch.Generator().manual_seed(0)) * 0.3
    exact, exact_terms = reg.add_to(torch.zeros(()), z, training=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed, mixed_terms = reg.add_to(torch.zeros(()), z.bfloat16(), training=False)
    assert mixed.dtype == torch.float32
    # only z's own rounding to bf16 differs, not the projections' or the covariance's
    torch.testing.assert_close(mixed, exact, rtol=2e-2, atol=0)
    for key, value in exact_terms.items():
        torch.testing.assert_close(mixed_terms[key], value, rtol=2e-2, atol=1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        same = reg.add_to(torch.zeros(()), z, training=False)[0]
    torch.testing.assert_close(same, exact)
