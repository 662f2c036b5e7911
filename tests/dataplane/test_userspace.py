"""Userspace ESP backend: inbound/outbound through SAs, drops, lifetimes, and real sockets on loopback."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct

import pytest
from dataplane_support import child_keys, peer_sa
from hypothesis import given, settings
from hypothesis import strategies as st

from ikel2tp.dataplane.base import RECEIVE_BUFFER, DataPlane, SaExpired, SaHandle
from ikel2tp.dataplane.userspace import UserspaceDataPlane, add_drain_reader
from ikel2tp.esp.packet import NattKind, classify_natt, pull_ipv4, pull_udp, push_udp

SERVER = ("198.51.100.1", 4500)
NAT = "203.0.113.9"
log = logging.getLogger("test.userspace")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dp(clock: Clock) -> UserspaceDataPlane:
    plane = UserspaceDataPlane(log=log, clock=clock, replay_window=64)
    plane.received = []
    plane.on_l2tp = lambda handle, payload, port: plane.received.append((handle, payload, port))
    plane.sent = []
    plane.attach_udp(lambda data, local, remote: plane.sent.append((data, local, remote)))
    yield plane
    plane.close()


def test_is_a_dataplane(dp):
    assert isinstance(dp, DataPlane) and dp.name == "userspace"


def test_two_clients_behind_one_nat_stay_apart(dp):
    """Same public address, different NAT-T ports, both inner port 1701: separate handles both ways."""
    keys = [child_keys("aes128-sha1", 0x1001 + i, 0x2001 + i, SERVER, (NAT, 40000 + i)) for i in range(2)]
    handles = [dp.install(k) for k in keys]
    peers = [peer_sa(k) for k in keys]
    assert handles[0] != handles[1]
    for i in (0, 1, 0):
        dp.receive_udp_esp(peers[i].protect(push_udp(1701, 1701, b"hello from %d" % i)), (NAT, 40000 + i),
                           SERVER)
    assert dp.received == [(handles[0], b"hello from 0", 1701), (handles[1], b"hello from 1", 1701),
                           (handles[0], b"hello from 0", 1701)]
    for i in (1, 0):
        dp.send_l2tp(handles[i], b"reply to %d" % i, 1701)
    for (data, local, remote), i in zip(dp.sent, (1, 0), strict=True):
        assert (local, remote) == (SERVER, (NAT, 40000 + i))
        header, payload = pull_udp(peers[i].unprotect(data)[1])
        assert (header.source_port, header.destination_port, payload) == (1701, 1701, b"reply to %d" % i)
    c = dp.counters(handles[0])
    assert (c.packets_in, c.bytes_in, c.packets_out, c.bytes_out) == (2, 2 * (8 + 12), 1, 8 + 10)


def test_allocate_spi_unique_and_not_reserved(dp):
    spis = {dp.allocate_spi() for _ in range(500)}
    assert len(spis) == 500 and min(spis) >= 256


def test_allocated_spi_can_be_installed(dp):
    spi = dp.allocate_spi()
    handle = dp.install(child_keys("aes128gcm16", spi, 0x9999, SERVER, (NAT, 4500)))
    assert handle == SaHandle(spi, 0x9999)


@pytest.mark.parametrize("data,reason", [(b"\x00\x00", "short"), (struct.pack("!II", 0x4242, 1) + bytes(40),
                                                                 "unknown-spi")])
def test_drops_without_sa(dp, data, reason):
    dp.receive_udp_esp(data, (NAT, 4500), SERVER)
    assert dp.drops == {reason: 1} and dp.received == []


def test_deleted_sa(dp, clock):
    keys = child_keys("aes256-sha256", 0x1001, 0x2001, SERVER, (NAT, 4500))
    handle = dp.install(keys)
    peer = peer_sa(keys)
    packet = peer.protect(push_udp(1701, 1701, b"late"))
    dp.delete(handle)
    dp.delete(handle)  # idempotent
    dp.receive_udp_esp(packet, (NAT, 4500), SERVER)
    dp.send_l2tp(handle, b"nobody", 1701)
    assert dp.drops == {"sa-deleted": 2} and dp.sent == []
    with pytest.raises(KeyError):
        dp.counters(handle)
    clock.now += 60
    dp.expired(clock.now)  # tombstone gone: now just unknown
    dp.receive_udp_esp(packet, (NAT, 4500), SERVER)
    assert dp.drops["unknown-spi"] == 1


def test_per_sa_drops(dp):
    keys = child_keys("aes128-sha1", 0x1001, 0x2001, SERVER, (NAT, 4500))
    handle = dp.install(keys)
    peer = peer_sa(keys)
    good = peer.protect(push_udp(1701, 1701, b"x"))
    forged = bytearray(good)
    forged[-1] ^= 1
    cases = [
        (bytes(forged), "icv"),
        (good, None),
        (good, "replay"),
        (peer.protect(b"not udp", 6), "next-header"),
        (peer.protect(b"\x00"), "udp"),
        (peer.protect(push_udp(1701, 1702, b"other port")), "udp"),
    ]
    for packet, reason in cases:
        before = dict(dp.counters(handle).drops)
        dp.receive_udp_esp(packet, (NAT, 4500), SERVER)
        after = dict(dp.counters(handle).drops)
        if reason:
            assert after.get(reason, 0) == before.get(reason, 0) + 1
    assert len(dp.received) == 1 and not dp.drops


def test_wrong_path(dp):
    keys = child_keys("aes128-sha1", 0x1001, 0x2001, SERVER, (NAT, 4500))
    handle = dp.install(keys)
    packet = peer_sa(keys).protect(push_udp(1701, 1701, b"x"))
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(packet), 0, 0, 64, 50, 0,
                     socket.inet_aton(NAT), socket.inet_aton(SERVER[0]))
    dp.receive_raw(ip + packet, (NAT, 0))
    assert dp.counters(handle).drops == {"wrong-path": 1} and dp.received == []


def test_nat_mapping_change_followed_after_authentication(dp):
    keys = child_keys("aes128gcm16", 0x1001, 0x2001, SERVER, (NAT, 4500))
    handle = dp.install(keys)
    peer = peer_sa(keys)
    forged = bytearray(peer.protect(push_udp(1701, 1701, b"x")))
    forged[20] ^= 1
    dp.receive_udp_esp(bytes(forged), (NAT, 5555), SERVER)
    assert dp.remote(handle) == (NAT, 4500)  # a forgery moves nothing
    dp.receive_udp_esp(peer.protect(push_udp(1701, 1701, b"x")), (NAT, 5555), SERVER)
    assert dp.remote(handle) == (NAT, 5555)
    dp.send_l2tp(handle, b"y", 1701)
    assert dp.sent[-1][2] == (NAT, 5555)


def test_receiver_exception_does_not_escape(dp, caplog):
    keys = child_keys("aes128-sha1", 0x1001, 0x2001, SERVER, (NAT, 4500))
    dp.install(keys)
    dp.on_l2tp = lambda *args: 1 / 0
    with caplog.at_level(logging.ERROR):
        dp.receive_udp_esp(peer_sa(keys).protect(push_udp(1701, 1701, b"x")), (NAT, 4500), SERVER)
    assert "L2TP receiver failed" in caplog.text


def test_drop_log_rate_limited(dp, clock, caplog):
    junk = struct.pack("!II", 0x4242, 1) + bytes(40)
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            dp.receive_udp_esp(junk, (NAT, 4500), SERVER)
        dp.receive_udp_esp(junk, ("192.0.2.1", 4500), SERVER)
        clock.now += 11
        dp.receive_udp_esp(junk, (NAT, 4500), SERVER)
    lines = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(lines) == 3 and dp.drops["unknown-spi"] == 7
    assert "0x00004242" in lines[0]


def test_lifetimes(dp, clock):
    keys = child_keys("aes128-sha1", 0x1001, 0x2001, SERVER, (NAT, 4500), lifetime_seconds=100,
                      lifetime_kilobytes=1)
    handle = dp.install(keys)
    assert dp.get_timer() == clock.now + 90
    for _ in range(10):
        dp.send_l2tp(handle, bytes(92), 1701)  # 100 bytes of UDP each
    assert dp.expired(clock.now) == [SaExpired(handle, False, "bytes")]
    clock.now += 95
    assert dp.expired(clock.now) == [SaExpired(handle, False, "seconds")]
    dp.send_l2tp(handle, bytes(100), 1701)
    assert dp.expired(clock.now) == [SaExpired(handle, True, "bytes")]
    with pytest.raises(KeyError):
        dp.counters(handle)  # hard expiry deleted it
    assert dp.get_timer() is None


def test_install_refuses_what_it_cannot_carry(dp):
    with pytest.raises(ValueError, match="only UDP"):
        dp.install(child_keys("aes128-sha1", 0x1001, 0x2001, SERVER, (NAT, 4500), protocol=6))
    keys = child_keys("aes128-sha1", 0x1001, 0x2001, SERVER, (NAT, 4500))
    dp.install(keys)
    with pytest.raises(ValueError, match="already installed"):
        dp.install(keys)


def test_oversized_payload_counted(dp):
    handle = dp.install(child_keys("aes128-sha1", 0x1001, 0x2001, SERVER, (NAT, 4500)))
    dp.send_l2tp(handle, bytes(70000), 1701)
    assert dp.counters(handle).drops == {"udp": 1} and dp.sent == []


def test_no_sender(clock):
    plane = UserspaceDataPlane(log=log, clock=clock)
    handle = plane.install(child_keys("aes128-sha1", 0x1001, 0x2001, SERVER, (NAT, 4500)))
    plane.send_l2tp(handle, b"x", 1701)
    assert plane.counters(handle).drops == {"no-sender": 1}
    plane.close()


# -- real sockets ------------------------------------------------------------------------------------
def _udp(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def _recv(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytes:
    return await asyncio.wait_for(loop.sock_recv(sock, 65535), 5)


@pytest.mark.timeout(30)
def test_udp_4500_two_clients_same_address_over_loopback():
    """ESP-in-UDP over loopback: two 'clients' at 127.0.0.1 with different ports and the same inner
    port; the shell-side reader tells ESP from IKE and keepalives."""
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        server = _udp()
        local = server.getsockname()
        clients = [_udp(), _udp()]
        plane = UserspaceDataPlane(log=log)
        got: list[tuple[SaHandle, bytes, int]] = []
        other: list[NattKind] = []
        plane.on_l2tp = lambda handle, payload, port: got.append((handle, payload, port))

        def shell_reader(data: bytes, remote) -> None:
            kind = classify_natt(data)
            if kind is NattKind.ESP:
                plane.receive_udp_esp(data, remote, local)
            else:
                other.append(kind)
        add_drain_reader(loop, server, shell_reader, log)
        plane.attach_udp(lambda data, src, dst: server.sendto(data, dst))
        keys = [child_keys(s, plane.allocate_spi(), 0x7000 + i, local, c.getsockname())
                for i, (s, c) in enumerate(zip(("aes256-sha1", "aes128gcm16"), clients, strict=True))]
        handles = [plane.install(k) for k in keys]
        peers = [peer_sa(k) for k in keys]
        try:
            clients[0].sendto(b"\xff", local)  # keepalive
            clients[0].sendto(b"\x00\x00\x00\x00" + bytes(28), local)  # IKE
            for round_ in range(3):
                for i, client in enumerate(clients):
                    client.sendto(peers[i].protect(push_udp(1701, 1701, b"c%d r%d" % (i, round_))), local)
            for _ in range(100):
                if len(got) == 6:
                    break
                await asyncio.sleep(0.01)
            assert sorted(got, key=lambda g: g[1]) == [
                (handles[i], b"c%d r%d" % (i, r), 1701) for i in (0, 1) for r in range(3)]
            assert other == [NattKind.KEEPALIVE, NattKind.IKE]
            for i in (0, 1):
                plane.send_l2tp(handles[i], b"to client %d" % i, 1701)
            for i, client in enumerate(clients):
                _, datagram = peers[i].unprotect(await _recv(loop, client))
                assert pull_udp(datagram)[1] == b"to client %d" % i
        finally:
            loop.remove_reader(server.fileno())
            plane.close()
            for s in (server, *clients):
                s.close()
    asyncio.run(scenario())


@pytest.mark.timeout(30)
def test_raw_esp_over_loopback():
    """Raw IPPROTO_ESP both ways on loopback (needs CAP_NET_RAW)."""
    try:
        client = socket.socket(socket.AF_INET, socket.SOCK_RAW, 50)
    except PermissionError:
        pytest.skip("raw sockets need CAP_NET_RAW")
    client.setblocking(False)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        plane = UserspaceDataPlane(log=log)
        got = []
        plane.on_l2tp = lambda handle, payload, port: got.append((handle, payload, port))
        plane.open_raw(loop)
        keys = child_keys("aes128-sha256", plane.allocate_spi(), 0x7001, ("127.0.0.1", 500),
                          ("127.0.0.1", 500), encap=False)
        handle = plane.install(keys)
        peer = peer_sa(keys)
        try:
            client.sendto(peer.protect(push_udp(1701, 1701, b"over raw ESP")), ("127.0.0.1", 0))
            for _ in range(100):
                if got:
                    break
                await asyncio.sleep(0.01)
            assert got == [(handle, b"over raw ESP", 1701)]
            plane.send_l2tp(handle, b"raw reply", 1701)
            while True:  # the client's raw socket also sees its own packet: wait for ours
                header, packet = pull_ipv4(await _recv(loop, client))
                if struct.unpack("!I", packet[:4])[0] == keys.spi_out:
                    break
            assert header.protocol == 50 and header.source == "127.0.0.1"
            assert pull_udp(peer.unprotect(packet)[1])[1] == b"raw reply"
        finally:
            plane.close()
    try:
        asyncio.run(scenario())
    finally:
        client.close()


@pytest.mark.timeout(30)
def test_attach_opens_raw_and_uses_the_shell_sender():
    async def scenario():
        plane = UserspaceDataPlane(log=log)
        sent = []
        plane.attach(asyncio.get_running_loop(), lambda data, local, remote: sent.append(remote))
        try:
            assert plane._raw is not None or os.geteuid() != 0
            if plane._raw is not None:  # a burst of plain ESP fits in the raw socket's buffer
                assert plane._raw.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= RECEIVE_BUFFER
            handle = plane.install(child_keys("aes128-sha1", 0x1001, 0x2001, SERVER, (NAT, 4500)))
            plane.send_l2tp(handle, b"x", 1701)
            assert sent == [(NAT, 4500)]
        finally:
            plane.close()
        assert plane._raw is None
    asyncio.run(scenario())


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200), raw=st.booleans(), flips=st.lists(st.integers(0, 10_000), max_size=3))
def test_receive_never_raises(data, raw, flips):
    """Random bytes and mutated real packets into both receive paths: counted, never raised."""
    plane = UserspaceDataPlane(log=log, clock=Clock())
    keys = child_keys("aes128-sha1", 0x1001, 0x2001, SERVER, (NAT, 4500))
    plane.install(keys)
    plane.on_l2tp = lambda *args: None
    real = bytearray(peer_sa(keys).protect(push_udp(1701, 1701, data)))
    for position in flips:
        real[position % len(real)] ^= 0x5A
    for packet in (data, bytes(real), struct.pack("!I", 0x1001) + data):
        if raw:
            plane.receive_raw(packet, (NAT, 0))
        else:
            plane.receive_udp_esp(packet, (NAT, 4500), SERVER)
    plane.close()
