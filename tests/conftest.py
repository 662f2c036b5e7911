"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ikel2tp.config import Config, config_from_dict

TEST_PSK = "test-psk-Zk3QwX9mVb7RtY2p"


@pytest.fixture
def make_config() -> Callable[..., Config]:
    """Build a validated :class:`Config` from sections given as dicts (TOML shapes: lists, not tuples).

    ``make_config(server={"dataplane": "fake"}, users=[{"name": "u", "password": "p"}])``; the
    ``[ike]`` section gets ``psk = TEST_PSK`` unless it sets authentication itself.
    """
    def make(**sections: Any) -> Config:
        data = dict(sections)
        ike = dict(data.get("ike", {}))
        if not {"psk", "peers", "cert"} & ike.keys():
            ike["psk"] = TEST_PSK
        data["ike"] = ike
        return config_from_dict(data, "test-config", log=None)
    return make
