"""The ``keys`` fixture: one SA pair's key material per ESP suite."""

from __future__ import annotations

import pytest
from esp_support import SUITE_IDS, SUITES, Keys


@pytest.fixture(params=SUITES, ids=SUITE_IDS)
def keys(request) -> Keys:
    return Keys(*request.param)
