"""Every test starts with gin's global config cleared (it leaks between tests otherwise)."""

from __future__ import annotations

import gin
import pytest


@pytest.fixture(autouse=True)
def _clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()
