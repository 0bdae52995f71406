"""Memory bounds of the neighbourhood metrics, agreement with sklearn, config validation."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.manifold import trustworthiness as sk_trustworthiness

from wm_core import UnknownNameError
from wm_eval import EvalConfig
from wm_eval.metrics import continuity, trustworthiness, twonn_dimension

SRC = Path(__file__).resolve().parents[1] / "src" / "wm_eval"


def test_neighbourhood_metrics_never_build_n_by_n():
    n = 3000
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8))
    z = x[:, :3] + 0.1 * rng.normal(size=(n, 3))
    dense = n * n * 8  # one float64 distance matrix
    tracemalloc.start()
    t = trustworthiness(x, z, n_neighbors=10, working_memory=4)
    c = continuity(x, z, n_neighbors=10, working_memory=4)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert 0.5 < t <= 1 and 0.5 < c <= 1
    assert peak < dense / 4, f"peak {peak / 2**20:.1f} MiB vs dense {dense / 2**20:.1f} MiB"


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(12, 60),
    d=st.integers(1, 6),
    k_frac=st.floats(0.05, 0.45),
)
def test_trustworthiness_equals_sklearn(seed, n, d, k_frac):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d + 2))
    z = rng.normal(size=(n, d)) + x[:, :d]
    k = max(1, min(int(k_frac * n), (n - 1) // 2))
    expected = sk_trustworthiness(x, z, n_neighbors=k)
    assert trustworthiness(x, z, n_neighbors=k, working_memory=1) == pytest.approx(expected)


def test_twonn_on_a_curve_is_one():
    t = np.random.default_rng(0).uniform(0, 4 * np.pi, 3000)  # random, not a lattice
    helix = np.stack([np.cos(t), np.sin(t), 0.3 * t], axis=1)
    assert twonn_dimension(helix) == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("probes", "representation"),
        ("max_samples", 0),
        ("pixel_space", "rgb"),
        ("noise_sigmas", (-0.1,)),
        ("rollout_horizon", 0),
    ],
)
def test_config_errors_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        EvalConfig(**{field: value})


def test_unknown_probe_names_the_field_and_the_closest_probe():
    with pytest.raises(UnknownNameError, match="probes: Unknown probe 'representaton'") as err:
        EvalConfig(probes=("representaton",))
    assert "Did you mean 'representation'?" in str(err.value)
    assert "wm_eval.plugins" in str(err.value)
    assert "reward" in err.value.known


def test_default_probes_come_from_the_registry_in_report_order():
    from wm_eval.probes import PROBES, default_probes

    assert EvalConfig().probes == default_probes()
    builtin = ("representation", "state", "rollout", "action", "reconstruction", "reward")
    assert default_probes()[:6] == builtin
    assert set(default_probes()) == set(PROBES.names()) - {"control"}  # opt-in: plays games


def test_package_never_imports_wm_train():
    pattern = re.compile(r"^\s*(from|import)\s+wm_train\b", re.MULTILINE)
    offenders = [p.name for p in SRC.rglob("*.py") if pattern.search(p.read_text())]
    assert not offenders
    assert list(SRC.rglob("*.py")), "source tree not found"
