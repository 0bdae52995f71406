from __future__ import annotations

import gin
import pytest


@pytest.fixture(autouse=True)
def clean_gin():
    """gin's config is global: every test starts and ends with none."""
    gin.clear_config()
    yield
    gin.clear_config()
