"""EMA targets: AveragedModel with the seed's constant decay or the I-JEPA ramp."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wm_train.ema import EmaTarget, decay_schedule


def test_constant_decay_matches_the_formula() -> None:
    torch.manual_seed(0)
    source = nn.Linear(3, 2)
    ema = EmaTarget(source, decay_schedule(0.9, total_steps=10))
    expected = {k: v.clone() for k, v in source.state_dict().items()}
    for step in range(4):
        with torch.no_grad():
            for p in source.parameters():
                p.add_(torch.randn_like(p))
        ema.update(source, step)
        current = source.state_dict()
        if step == 0:  # the first update copies
            expected = {k: v.clone() for k, v in current.items()}
        else:
            expected = {k: 0.9 * expected[k] + 0.1 * current[k] for k in expected}
        for key, value in ema.module.state_dict().items():
            torch.testing.assert_close(value, expected[key])
    assert not any(p.requires_grad for p in ema.module.parameters())
    assert int(ema.state_dict()["n_averaged"]) == 4


def test_ramp_goes_linearly_from_start_to_end() -> None:
    schedule = decay_schedule((0.996, 1.0), total_steps=101)
    assert schedule(0) == pytest.approx(0.996)
    assert schedule(50) == pytest.approx(0.998)
    assert schedule(100) == pytest.approx(1.0)
    assert schedule(500) == pytest.approx(1.0)


def test_decay_one_freezes_the_target_and_integer_buffers_are_copied() -> None:
    source = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = EmaTarget(source, decay_schedule(1.0, total_steps=5))
    ema.update(source, 0)
    start = {k: v.clone() for k, v in ema.module.state_dict().items()}
    source.train()
    for step in range(1, 3):
        with torch.no_grad():
            source[0].weight.add_(1.0)
        source(torch.randn(4, 2))
        ema.update(source, step)
    after = ema.module.state_dict()
    torch.testing.assert_close(after["0.weight"], start["0.weight"])
    assert after["1.num_batches_tracked"] == source[1].num_batches_tracked


@pytest.mark.parametrize("bad", [1.5, -0.1, (0.9, 0.95, 1.0)])
def test_bad_decay_names_the_field(bad) -> None:
    with pytest.raises(ValueError, match=r"Trainer\.ema_decay"):
        decay_schedule(bad, total_steps=10)
