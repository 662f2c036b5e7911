"""``probe`` against our own IKE responder core: in memory, and over a real UDP socket on loopback."""

from __future__ import annotations

import logging
import socket
import threading

import pytest

from ikel2tp.ike.manager import IkeManager
from ikel2tp.ike.settings import IkeSettings
from ikel2tp.ike.suites import parse_phase1
from ikel2tp.proposals.probe import ProbeResult, build_probe, classify, probe
from tests.ike.peers import seeded

ACCEPTS = ("aes256-sha1-modp2048", "3des-sha1-modp1024")


def responder() -> IkeManager:
    return IkeManager(
        IkeSettings(psk=b"probe test key 0123456789", phase1=ACCEPTS),
        spi_allocator=lambda: 0x1234,
        log=logging.getLogger("test.proposals.probe"),
        random=seeded(3),
    )


@pytest.mark.parametrize(
    "text, verdict, detail",
    [
        ("aes256-sha1-modp2048", "accepted", "responder chose aes256-sha1-modp2048"),
        ("3des-sha1-modp1024", "accepted", "responder chose 3des-sha1-modp1024"),
        ("aes128-sha1-modp2048", "refused", "NO-PROPOSAL-CHOSEN"),
    ],
)
def test_in_memory(text, verdict, detail):
    core = responder()
    icookie = bytes.fromhex("0102030405060708")
    core.receive_datagram(
        build_probe(parse_phase1(text), icookie), ("192.0.2.1", 500), ("198.51.100.9", 500), 0.0
    )
    ((answer, _, _),) = core.datagrams_to_send()
    assert classify(answer, icookie, text) == ProbeResult(text, verdict, detail)
    assert classify(answer, bytes(8), text) is None  # another probe's answer
    assert classify(b"junk", icookie, text) is None


class LoopbackResponder:
    """A tiny UDP driver around IkeManager: one socket on 127.0.0.1, one thread, stopped by close()."""

    def __init__(self, silent: bool = False) -> None:
        self.core = responder()
        self.silent = silent
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        local = ("127.0.0.1", self.port)
        while not self._stop.is_set():
            try:
                data, remote = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            self.core.receive_datagram(data, local, remote, 0.0)
            for out, _, to in self.core.datagrams_to_send():
                if not self.silent:
                    self.sock.sendto(out, to)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def loopback():
    made = []

    def make(**kw) -> LoopbackResponder:
        made.append(LoopbackResponder(**kw))
        return made[-1]

    yield make
    for server in made:
        server.close()


def test_over_udp_on_loopback(loopback):
    server = loopback()
    results = probe(
        "127.0.0.1", ["aes128-sha1-modp2048", "3des-sha1-modp1024"], port=server.port, timeout=1.0
    )
    assert [r.line() for r in results] == [
        "aes128-sha1-modp2048         refused: NO-PROPOSAL-CHOSEN",
        "3des-sha1-modp1024           accepted: responder chose 3des-sha1-modp1024",
    ]


def test_silence_over_udp(loopback):
    server = loopback(silent=True)
    (result,) = probe("127.0.0.1", ["aes256-sha1-modp2048"], port=server.port, timeout=0.2, tries=2)
    assert result == ProbeResult("aes256-sha1-modp2048", "silent", "no answer after 2 tries of 0.2 s")


def test_bad_transform_is_a_value_error():
    with pytest.raises(ValueError, match="unknown DH group"):
        probe("127.0.0.1", ["aes256-sha1-modp9999"], port=9)
