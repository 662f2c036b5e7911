"""UDP endpoints: NAT-T demultiplexing (RFC 3948 §2), the marker on output, draining, wildcard sockets."""

from __future__ import annotations

import asyncio
import select
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ikel2tp.server.transport import (
    NON_ESP_MARKER,
    Datagram,
    Kind,
    Transport,
    UdpEndpoint,
    classify,
)

LOCAL = ("192.0.2.1", 4500)
REMOTE = ("198.51.100.7", 61000)


def test_classify_natt_port():
    assert classify(Kind.NATT, b"\xff", LOCAL, REMOTE) == Datagram("keepalive", b"", LOCAL, REMOTE)
    assert classify(Kind.NATT, NON_ESP_MARKER, LOCAL, REMOTE) is None
    ike = classify(Kind.NATT, NON_ESP_MARKER + b"isakmp", LOCAL, REMOTE)
    assert ike == Datagram("ike", b"isakmp", LOCAL, REMOTE)
    esp = b"\x00\x00\x10\x01" + b"\x00\x00\x00\x01" + b"payload"
    assert classify(Kind.NATT, esp, LOCAL, REMOTE) == Datagram("esp", esp, LOCAL, REMOTE)
    assert classify(Kind.NATT, b"\x01\x02\x03", LOCAL, REMOTE) is None  # shorter than an SPI


def test_classify_other_ports_pass_through():
    assert classify(Kind.IKE, b"\x00\x00\x00\x00abc", LOCAL, REMOTE).kind == "ike"
    assert classify(Kind.IKE, b"\x00\x00\x00\x00abc", LOCAL, REMOTE).data == b"\x00\x00\x00\x00abc"
    assert classify(Kind.L2TP, b"\xc8\x02", LOCAL, REMOTE).kind == "l2tp"


@given(st.binary(max_size=64))
def test_classify_never_raises_and_never_mixes(data):
    item = classify(Kind.NATT, data, LOCAL, REMOTE)
    if item is None:
        return
    if item.kind == "ike":
        assert data.startswith(NON_ESP_MARKER) and item.data == data[4:]
    elif item.kind == "keepalive":
        assert data == b"\xff"
    else:
        assert item.kind == "esp" and item.data == data and data[:4] != NON_ESP_MARKER


@pytest.mark.timeout(20)
def test_marker_added_on_natt_output_and_bare_on_500():
    natt = UdpEndpoint(Kind.NATT, "127.0.0.1", 0)
    ike = UdpEndpoint(Kind.IKE, "127.0.0.1", 0)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.settimeout(5)
    peer.bind(("127.0.0.1", 0))
    try:
        natt.send(b"hello", peer.getsockname())
        assert peer.recv(100) == NON_ESP_MARKER + b"hello"
        natt.send_raw(b"\x00\x00\x10\x01esp", peer.getsockname())
        assert peer.recv(100) == b"\x00\x00\x10\x01esp"
        ike.send(b"hello", peer.getsockname())
        assert peer.recv(100) == b"hello"
    finally:
        natt.close()
        ike.close()
        peer.close()


@pytest.mark.timeout(20)
def test_transport_drains_batches_and_routes_by_local_address():
    async def main():
        batches: list[list[Datagram]] = []
        done = asyncio.Event()

        def on_input(batch):
            batches.append(batch)
            if sum(len(b) for b in batches) >= 102:
                done.set()

        transport = Transport(asyncio.get_running_loop(), on_input)
        natt = transport.open(Kind.NATT, "127.0.0.1", 0)
        ike = transport.open(Kind.IKE, "127.0.0.1", 0)
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        try:
            for i in range(100):
                peer.sendto(b"\x00\x00\x10\x01" + i.to_bytes(4, "big"), natt.local)
            peer.sendto(b"\xff", natt.local)  # keepalive
            peer.sendto(b"main mode", ike.local)
            await asyncio.wait_for(done.wait(), 5)
            items = [d for b in batches for d in b]
            assert [d.kind for d in items].count("esp") == 100
            assert [d.kind for d in items].count("keepalive") == 1
            assert any(d.kind == "ike" and d.data == b"main mode" and d.local == ike.local for d in items)
            assert len(batches) < 100  # read in batches, not one callback per datagram
            transport.send_ike(b"reply", natt.local, peer.getsockname())
            await asyncio.sleep(0.05)
            assert peer.recv(100) == NON_ESP_MARKER + b"reply"
        finally:
            transport.close()
            peer.close()

    asyncio.run(main())


@pytest.mark.timeout(20)
def test_wildcard_socket_reports_the_real_local_address():
    endpoint = UdpEndpoint(Kind.IKE, "0.0.0.0", 0)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(5)
    try:
        port = endpoint.local[1]
        peer.sendto(b"sa", ("127.0.0.2", port))
        select.select([endpoint.sock], [], [], 5)
        items = endpoint.drain()
        assert items[0].local == ("127.0.0.2", port)
        endpoint.send(b"answer", peer.getsockname(), "127.0.0.2")
        data, source = peer.recvfrom(100)
        assert data == b"answer" and source == ("127.0.0.2", port)
    finally:
        endpoint.close()
        peer.close()
