"""Two PppLinks back to back: server and client roles through LCP, authentication, IPCP, data."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

import pytest

from ikel2tp.config import UserConfig
from ikel2tp.ppp.auth.credentials import AuthMethod, ClientLogin
from ikel2tp.ppp.auth.mschapv2 import nt_password_hash
from ikel2tp.ppp.events import (
    AuthFailed,
    AuthRequested,
    AuthSucceeded,
    IpPacketReceived,
    Ipv6Up,
    LinkDown,
    LinkUp,
    NetworkUp,
)
from ikel2tp.ppp.mss import clamp_mss
from ikel2tp.ppp.settings import PppSettings

from .ppp_peers import DNS, GATEWAY, PEER, Pair

M, C, P = AuthMethod.MSCHAPV2, AuthMethod.CHAP, AuthMethod.PAP


def kinds(events: list) -> list[type]:
    return [type(e) for e in events]


def ipv4(src: IPv4Address, dst: IPv4Address, payload: bytes = b"hello", proto: int = 17) -> bytes:
    length = 20 + len(payload)
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, length, 0, 0, 64, proto, 0, src.packed, dst.packed) + payload


@pytest.mark.parametrize("method", [M, C, P])
def test_each_method_connects(method: AuthMethod) -> None:
    pair = Pair(PppSettings(auth=(method,)), PppSettings(auth=(method,)))
    pair.start()
    assert kinds(pair.server_events) == [LinkUp, AuthRequested, AuthSucceeded, NetworkUp]
    assert kinds(pair.client_events) == [LinkUp, AuthSucceeded, NetworkUp]
    assert pair.server_events[-1] == NetworkUp(PEER, GATEWAY, tuple(DNS))
    assert pair.client_events[-1] == NetworkUp(GATEWAY, PEER, tuple(DNS))
    assert pair.server.lcp.auth is method


def test_client_that_only_does_chap_gets_chap() -> None:
    pair = Pair(PppSettings(), PppSettings(auth=(C,)))
    pair.start()
    assert pair.server.lcp.auth is C and isinstance(pair.client_events[-1], NetworkUp)


def test_client_that_only_does_pap_is_refused_with_a_reason() -> None:
    pair = Pair(PppSettings(), PppSettings(auth=(P,)))
    pair.start()
    down = [e for e in pair.server_events if isinstance(e, LinkDown)]
    assert down and "offered PAP" in down[0].reason and "mschapv2, chap" in down[0].reason
    assert any(isinstance(e, LinkDown) for e in pair.client_events)


@pytest.mark.parametrize("method", [M, C, P])
def test_wrong_password_fails_on_both_sides(method: AuthMethod) -> None:
    pair = Pair(PppSettings(auth=(method,)), PppSettings(auth=(method,)), login=ClientLogin("alice", "nope"))
    pair.start()
    failed = [e for e in pair.server_events if isinstance(e, AuthFailed)]
    name = {M: "MS-CHAPv2", C: "CHAP-MD5", P: "PAP"}[method]
    assert failed == [AuthFailed("alice", f"wrong password ({name})")]
    assert isinstance(pair.server_events[-1], LinkDown) and "alice" in pair.server_events[-1].reason
    client_failed = [e for e in pair.client_events if isinstance(e, AuthFailed)]
    assert client_failed and isinstance(pair.client_events[-1], LinkDown)
    if method is M:
        assert client_failed[0].reason.startswith("E=691 R=0 C=")


def test_unknown_user_is_logged_as_such() -> None:
    pair = Pair(login=ClientLogin("mallory", "x"))
    pair.start()
    failed = [e for e in pair.server_events if isinstance(e, AuthFailed)]
    assert failed == [AuthFailed("mallory", "unknown user")]


def test_nt_hash_only_user() -> None:
    users = [UserConfig("carol", nt_hash=nt_password_hash("s3cret"))]
    pair = Pair(login=ClientLogin("carol", "s3cret"))
    pair.backend.reload(users)
    pair.start()
    assert isinstance(pair.server_events[-1], NetworkUp)

    pair = Pair(PppSettings(auth=(C,)), PppSettings(auth=(C,)), login=ClientLogin("carol", "s3cret"))
    pair.backend.reload(users)
    pair.start()
    failed = [e for e in pair.server_events if isinstance(e, AuthFailed)]
    assert "needs the plaintext password" in failed[0].reason


def test_ip_data_both_ways_with_anti_spoofing() -> None:
    pair = Pair()
    pair.client.send_ip(ipv4(PEER, GATEWAY))  # before start: not ready
    assert pair.client.counters.not_ready == 1
    pair.start()
    pair.server_events.clear()
    pair.client.send_ip(ipv4(PEER, IPv4Address("192.0.2.1")))
    pair.client.send_ip(ipv4(IPv4Address("10.9.0.99"), IPv4Address("192.0.2.1")))  # spoofed
    pair.server.send_ip(ipv4(IPv4Address("192.0.2.1"), PEER, b"back"))
    pair.pump(1.0)
    assert pair.server_events == [IpPacketReceived(ipv4(PEER, IPv4Address("192.0.2.1")))]
    assert pair.server.counters.spoofed == 1
    assert pair.client_events[-1] == IpPacketReceived(ipv4(IPv4Address("192.0.2.1"), PEER, b"back"))


def syn(src: IPv4Address, dst: IPv4Address, mss: int) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", 40000, 443, 1, 0, 6 << 4, 0x02, 65535, 0, 0)
    tcp += struct.pack("!BBHBB", 2, 4, mss, 1, 1)
    return ipv4(src, dst, tcp, proto=6)


def test_mss_is_clamped_on_the_ppp_path() -> None:
    pair = Pair()
    pair.start()
    pair.server_events.clear()
    pair.client.send_ip(syn(PEER, IPv4Address("192.0.2.1"), 1460))
    pair.pump(1.0)
    received = pair.server_events[-1].packet
    assert struct.unpack_from("!H", received, 40 + 2)[0] == 1360
    assert received == clamp_mss(syn(PEER, IPv4Address("192.0.2.1"), 1460), 1360)


def test_silent_peer_is_declared_dead_within_60_seconds() -> None:
    pair = Pair()
    pair.start()
    now = 0.0
    while not pair.server.is_down:
        now = pair.server.get_timer()
        assert now is not None
        pair.server.handle_timer(now)
        pair.server.frames_to_send()  # the client never hears them, never answers
    assert now <= 60.0
    down = [e for e in pair.server._events if isinstance(e, LinkDown)]
    assert down and "3 LCP Echo-Requests unanswered" in down[0].reason


def test_answering_peer_stays_up() -> None:
    pair = Pair()
    pair.start()
    reached = pair.run_until(300.0)
    assert reached >= 285.0 and not pair.server.is_down and not pair.client.is_down


def test_close_sends_terminate_and_both_go_down() -> None:
    pair = Pair()
    pair.start()
    pair.server.close("kicked by the administrator", 5.0)
    pair.pump(5.0)
    assert pair.server_events[-1] == LinkDown("kicked by the administrator")
    assert pair.client_events[-1] == LinkDown("peer sent LCP Terminate-Request")


def test_lost_success_is_recovered_by_retransmission() -> None:
    pair = Pair()
    lost = []

    def lose_first_success(frame: bytes) -> bool:
        if frame[:3] == b"\xc2\x23\x03" and not lost:  # CHAP Success
            lost.append(frame)
            return True
        return False

    pair.drop_to_client = lose_first_success
    pair.start()
    assert lost and not any(isinstance(e, NetworkUp) for e in pair.client_events)
    pair.run_until(10.0)
    assert isinstance(pair.client_events[-1], NetworkUp)
    assert sum(isinstance(e, AuthRequested) for e in pair.server_events) == 1


def test_ipv6cp_negotiates_identifiers() -> None:
    pair = Pair(PppSettings(ipv6=True), PppSettings(ipv6=True))
    pair.start()
    server_up = [e for e in pair.server_events if isinstance(e, Ipv6Up)]
    client_up = [e for e in pair.client_events if isinstance(e, Ipv6Up)]
    assert server_up and client_up
    assert server_up[0].local_identifier == client_up[0].peer_identifier != client_up[0].local_identifier


def test_ipv6cp_refused_by_a_v4_only_server_leaves_ipv4_up() -> None:
    pair = Pair(PppSettings(), PppSettings(ipv6=True))
    pair.start()
    pair.run_until(20.0)
    assert isinstance(pair.client_events[-1], NetworkUp) and not pair.client.is_down
    assert pair.server.counters.protocol_rejects >= 1


def test_addresses_set_after_authentication() -> None:
    pair = Pair()
    set_addresses = pair.server.set_addresses
    pair.server.set_addresses = lambda *a, **k: None  # the shell answers later
    pair.start()
    assert not any(isinstance(e, NetworkUp) for e in pair.server_events)
    set_addresses(GATEWAY, PEER, dns=DNS, now=2.0)
    pair.pump(2.0)
    pair.run_until(10.0, now=2.0)
    assert isinstance(pair.server_events[-1], NetworkUp)


def test_backend_that_never_answers_ends_the_link() -> None:
    pair = Pair(PppSettings(auth_timeout=10.0))
    pair.backend.authenticate = lambda credentials: None  # type: ignore[method-assign]
    pair.server.auth_result = lambda result, now: None  # type: ignore[method-assign]
    pair.start()
    pair.run_until(15.0)
    down = [e for e in pair.server_events if isinstance(e, LinkDown)]
    assert down and "user backend gave no answer" in down[0].reason


def test_client_without_login_stops() -> None:
    pair = Pair(login=None)
    pair.start()
    assert any(isinstance(e, LinkDown) and "no login" in e.reason for e in pair.client_events)


def test_keepalive_off_when_the_interval_is_0() -> None:
    pair = Pair(PppSettings(echo_interval=0), PppSettings(auth=(M,)))
    pair.start()
    assert pair.server.get_timer() is None


def test_late_answers_after_close_change_nothing() -> None:
    pair = Pair()
    pair.server.auth_result = lambda result, now: None  # type: ignore[method-assign]
    pair.start()
    pending = next(e for e in pair.server_events if isinstance(e, AuthRequested))
    pair.server.close("session torn down", 1.0)
    pair.pump(1.0)
    del pair.server.auth_result  # the real method again
    pair.server.auth_result(pair.backend.authenticate(pending.credentials), 2.0)
    pair.server.set_addresses(GATEWAY, PEER, now=2.0)
    assert pair.server.frames_to_send() == [] and pair.server.next_event() is None
    assert kinds(pair.server_events)[-1] is LinkDown
