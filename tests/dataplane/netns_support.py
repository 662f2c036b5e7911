"""Network namespaces for data-plane tests: created by the test, entered by the calling thread only,
deleted afterwards."""

from __future__ import annotations

import ctypes
import itertools
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_names = itertools.count()


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


@contextmanager
def netns() -> Iterator[str]:
    """A fresh namespace with loopback up, entered for the body of the ``with``."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    name = f"ikel2tp-dp-{os.getpid()}-{next(_names)}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
            yield name
        finally:
            _setns(home)
    finally:
        os.close(home)
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=10)
