"""Store-only baselines kept between evaluations: the same numbers, fit once per store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wm_core import ConfigError
from wm_eval import EvalConfig, evaluate
from wm_eval.baseline_cache import cached
from wm_eval.probes import state
from wm_eval.probes.state import PIXELS
from wm_eval.probes.state_scores import fit_predict

SMALL = dict(device="cpu", batch_size=64, max_samples=48, probe_train_samples=160)


def test_a_memoised_read_out_fits_once_per_input_and_refits_on_new_input(tmp_path: Path) -> None:
    calls = []

    def readout(x: np.ndarray, y: np.ndarray, *, categorical: bool) -> np.ndarray:
        calls.append(len(x))
        return fit_predict(x, y, x, categorical=categorical)

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 5)), rng.normal(size=60)
    memo = cached(readout, str(tmp_path / "cache"))
    first = memo(x, y, categorical=False)
    np.testing.assert_array_equal(memo(x.copy(), y.copy(), categorical=False), first)
    assert calls == [60]  # keyed by content, not identity
    memo(x[:50], y[:50], categorical=False)
    assert calls == [60, 50]
    assert cached(readout, None) is readout  # no folder: nothing kept


def test_evaluations_sharing_a_cache_report_the_same_baselines(
    runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fits = []

    def counted(*args, **kwargs):
        fits.append(1)
        return fit_predict(*args, **kwargs)

    monkeypatch.setattr(state, "fit_predict", counted)  # what the pixel column fits with
    cache = tmp_path / "baselines"
    reports, new_fits = [], []
    for name, folder in (("plain", None), ("first", str(cache)), ("second", str(cache))):
        before = len(fits)
        cfg = EvalConfig(probes=("state",), baseline_cache=folder, **SMALL)
        reports.append(evaluate([runs["jepa"]], tmp_path / name, cfg))
        new_fits.append(len(fits) - before)
    assert new_fits[0] == new_fits[1] > 0 and new_fits[2] == 0  # the second one reads the cache
    tables = [r.table("state") for r in reports]
    for key in tables[0].rows:
        values = [t.measurement(key, PIXELS) for t in tables]
        if values[0] is None:
            continue
        first = values[0].interval()
        for other in values[1:]:
            got = other.interval()
            assert (got.value, got.low, got.high) == pytest.approx(
                (first.value, first.low, first.high), nan_ok=True
            ), key


def test_the_cache_folder_must_be_a_path() -> None:
    with pytest.raises(ConfigError, match=r"EvalConfig\.baseline_cache"):
        EvalConfig(baseline_cache="  ")
