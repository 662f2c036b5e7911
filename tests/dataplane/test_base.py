"""The backend registry and the SPI allocator."""

from __future__ import annotations

import itertools
import logging
import os
import socket

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


class _Socket:
    """Records setsockopt calls; refuses SO_RCVBUFFORCE like an unprivileged process."""

    def __init__(self, privileged: bool) -> None:
        self.privileged = privileged
        self.calls: list[tuple[int, int]] = []

    def setsockopt(self, level, option, value):
        if option == base.SO_RCVBUFFORCE and not self.privileged:
            raise PermissionError(1, "Operation not permitted")
        self.calls.append((option, value))

    def getsockopt(self, level, option):
        return 2 * self.calls[-1][1]


@pytest.mark.parametrize("privileged,option", [(True, base.SO_RCVBUFFORCE), (False, socket.SO_RCVBUF)])
def test_receive_buffer_is_forced_as_root_else_asked_for(privileged, option):
    sock = _Socket(privileged)
    assert base.grow_receive_buffer(sock, 1 << 20) == 2 << 20
    assert sock.calls == [(option, 1 << 20)]


def test_receive_buffer_on_a_real_socket():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        default = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        size = base.grow_receive_buffer(sock)
        assert size == sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        if os.geteuid() == 0:
            assert size >= base.RECEIVE_BUFFER  # root passes net.core.rmem_max
        else:
            assert size >= default


@pytest.mark.parametrize("kind", ["fake", "userspace"])
def test_backends_follow_the_protocol_the_shell_relies_on(kind):
    plane = create_dataplane(kind, log=log)
    try:
        assert isinstance(plane, base.DataPlane)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            plane.prepare_ike_socket(sock, natt=True)  # nothing to set for in-process ESP
        assert plane.get_timer() is None  # no SA, no deadline
    finally:
        plane.close()
