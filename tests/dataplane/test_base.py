"""The backend registry and the SPI allocator."""

from __future__ import annotations

import itertools
import logging

import pytest

from ikel2tp.config import DATAPLANES
from ikel2tp.dataplane import base
from ikel2tp.dataplane.base import KINDS, SpiAllocator, create_dataplane
from ikel2tp.dataplane.fake import FakeDataPlane
from ikel2tp.dataplane.userspace import UserspaceDataPlane

log = logging.getLogger("test.base")


def test_kinds_match_the_configuration():
    assert set(KINDS) == set(DATAPLANES)


def test_create_known_kinds():
    assert isinstance(create_dataplane("fake", log=log), FakeDataPlane)
    plane = create_dataplane("userspace", log=log, replay_window=256)
    assert isinstance(plane, UserspaceDataPlane)
    plane.close()
    with pytest.raises(ValueError, match="allowed: auto, xfrm, userspace, fake"):
        create_dataplane("kernel", log=log)


@pytest.mark.parametrize("usable,kind", [(False, "userspace"), (True, "xfrm")])
def test_auto_logs_its_choice(monkeypatch, caplog, usable, kind):
    import ikel2tp.dataplane.xfrm_netlink as xn
    monkeypatch.setattr(xn, "probe_esp_state", lambda: (usable, "because the test says so"))
    made = []
    monkeypatch.setattr(base, "_BACKENDS", {**base._BACKENDS, kind: lambda **kw: made.append(kind) or kind})
    with caplog.at_level(logging.INFO):
        create_dataplane("auto", log=log)
    assert made == [kind]
    assert f"data plane: {kind} (because the test says so)" in caplog.text


def test_spi_allocator_skips_reserved_and_used():
    values = itertools.chain([0, 1, 255], [256, 256, 0xFFFFFFFF])
    alloc = SpiAllocator(lambda n: next(values).to_bytes(4, "big"))
    assert alloc.allocate() == 256
    assert alloc.allocate() == 0xFFFFFFFF  # the second 256 is taken
    alloc.release(256)
    assert alloc.in_use == {0xFFFFFFFF}
