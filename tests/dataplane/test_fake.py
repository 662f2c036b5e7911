"""The fake data plane the layers above test with."""

from __future__ import annotations

import logging

import pytest
from dataplane_support import child_keys

from ikel2tp.dataplane.base import DataPlane, SaExpired, SaHandle
from ikel2tp.dataplane.fake import FakeDataPlane

log = logging.getLogger("test.fake")


def test_records_and_injects():
    dp = FakeDataPlane(log=log)
    assert isinstance(dp, DataPlane)
    got = []
    dp.on_l2tp = lambda *args: got.append(args)
    keys = child_keys("aes128-sha1", dp.allocate_spi(), 0x2000, ("192.0.2.1", 4500), ("203.0.113.5", 4500))
    handle = dp.install(keys)
    assert handle == SaHandle(keys.spi_in, 0x2000) and dp.installs == [keys]
    dp.inject_l2tp(handle, b"sccrq", 1701)
    dp.send_l2tp(handle, b"sccrp", 1701)
    assert got == [(handle, b"sccrq", 1701)] and dp.sent == [(handle, b"sccrp", 1701)]
    assert (dp.counters(handle).packets_in, dp.counters(handle).packets_out) == (1, 1)
    dp.expire(handle, hard=False)
    assert dp.expired(0) == [SaExpired(handle, False, "seconds")] and dp.expired(0) == []
    dp.expire(handle, hard=True, limit="bytes")
    assert dp.deleted == [handle]
    dp.send_l2tp(handle, b"after delete", 1701)
    assert len(dp.sent) == 1
    with pytest.raises(KeyError):
        dp.inject_l2tp(handle, b"x")
    dp.close()
    assert dp.closed


def test_double_install_refused():
    dp = FakeDataPlane(log=log)
    keys = child_keys("aes128gcm16", 0x1000, 0x2000, ("192.0.2.1", 4500), ("203.0.113.5", 4500))
    dp.install(keys)
    with pytest.raises(ValueError):
        dp.install(keys)


def test_attach_and_esp_recorded():
    dp = FakeDataPlane(log=log)
    dp.attach(None, lambda *args: None)
    dp.receive_udp_esp(b"esp", ("203.0.113.5", 4500), ("192.0.2.1", 4500))
    assert dp.esp_received == [(b"esp", ("203.0.113.5", 4500), ("192.0.2.1", 4500))]
