"""Fixtures for interop tests: the prepared guest image (session) and topologies that always clean up.

Tests that need a guest skip with the reason when qemu, the kernel package or root is missing, except where
the suite must prove itself (CI=true or IKEL2TP_INTEROP_REQUIRED=1): there a missing piece is a failure.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from . import guest
from .harness import Topology
from .profiles import ReferenceServer


def interop_required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("IKEL2TP_INTEROP_REQUIRED") == "1"


def unavailable(reason: str) -> None:
    if interop_required():
        pytest.fail(f"interop tests are required here but cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def guest_image() -> guest.GuestImage:
    """The kernel + initramfs from the cache, downloaded and built on first use (tools/interop prepare)."""
    if os.geteuid() != 0:
        unavailable("interop tests need root (network namespaces, TAP devices)")
    try:
        return guest.prepare(log=lambda line: None)
    except guest.GuestUnavailable as exc:
        unavailable(str(exc))
        raise  # unreachable: unavailable() always raises


@contextlib.contextmanager
def reference_topology(image: guest.GuestImage, kind: str, clients: int,
                       server: ReferenceServer) -> Iterator[Topology]:
    """A topology with the strongSwan + xl2tpd + pppd reference server guest running in it."""
    with Topology(kind=kind, clients=clients, image=image) as topo:
        topo.start_reference_server(server)
        yield topo


@pytest.fixture
def topology(guest_image) -> Iterator:
    """``topology(kind, clients)`` makes a Topology that is closed (namespaces, guests) after the test."""
    with contextlib.ExitStack() as stack:
        yield lambda kind="direct", clients=1: stack.enter_context(
            Topology(kind=kind, clients=clients, image=guest_image))
