"""The whole server's protocol side wired together (IKE events → data plane → L2TP → PPP → pool/TUN)
on the fake data plane, with real L2TP, PPP, user and pool cores and in-memory clients."""

from __future__ import annotations

import ipaddress
import logging

import pytest

from ikel2tp.config import UserConfig as LocalUser
from ikel2tp.dataplane.base import SaExpired
from ikel2tp.dataplane.fake import FakeDataPlane
from ikel2tp.ike.events import ChildSaDeleted, PeerDead
from ikel2tp.l2tp.constants import MessageType
from ikel2tp.l2tp.lns import Lns
from ikel2tp.l2tp.settings import L2tpSettings
from ikel2tp.pool import AddressPool
from ikel2tp.ppp.auth.credentials import AuthMethod
from ikel2tp.ppp.link import PppLink
from ikel2tp.ppp.settings import PppSettings
from ikel2tp.server.wiring import LIFETIME_CHECK, Gateway
from ikel2tp.users.local import LocalUserBackend
from tests.l2tp.lac import seeded
from tests.server.backtoback import Client, FakeIke, RecordingIO, udp_packet

LOG = logging.getLogger("test.server")
NET = ipaddress.IPv4Network("10.42.0.0/24")
GATEWAY = "10.42.0.1"
NAT = "203.0.113.9"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_gateway(*, ppp: PppSettings | None = None, users=None, hold_time: float = 300.0):
    ike = FakeIke()
    io = RecordingIO()
    users = users or [LocalUser("alice", password="alice-secret"), LocalUser("bob", password="bob-secret"),
                      LocalUser("carol", password="carol-secret",
                                static_ip=ipaddress.IPv4Address("10.42.0.77"))]
    pool = AddressPool(NET, gateway=ipaddress.IPv4Address(GATEWAY), hold_time=hold_time,
                       static={u.name: u.static_ip for u in users if u.static_ip}, log=LOG)
    ppp_settings = ppp or PppSettings()
    counter = iter(range(1, 1000))
    gateway = Gateway(
        ike=ike, dataplane=FakeDataPlane(log=LOG, random=seeded(5)),
        lns=Lns(L2tpSettings(), log=LOG, random=seeded(6)),
        pool=pool, users=LocalUserBackend(users, log=LOG),
        make_link=lambda name: PppLink(ppp_settings, log=LOG, random=seeded(next(counter)), name=name),
        io=io, gateway_address=GATEWAY, dns=(ipaddress.IPv4Address("192.0.2.53"),), clock=Clock(), log=LOG)
    gateway.dataplane.on_l2tp = lambda handle, payload, port: gateway.l2tp_input(handle, payload, port,
                                                                                 gateway._clock())
    return gateway, ike, io


def connect(gateway, ike, *, ike_sa_id, spi, port, user, password, now=100.0, **kw) -> Client:
    client = Client(gateway, ike, ike_sa_id=ike_sa_id, spi_in=spi, remote=(NAT, port), user=user,
                    password=password, **kw)
    client.negotiate_ipsec(now)
    client.connect_l2tp(now)
    client.run_ppp(now)
    return client


def test_one_client_end_to_end_and_traffic_both_ways(caplog):
    caplog.set_level(logging.INFO, logger="ikel2tp.timeline")
    gateway, ike, io = make_gateway()
    alice = connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="alice", password="alice-secret")
    assert alice.address == "10.42.0.2"
    assert io.routes == {"10.42.0.2"}

    # client -> server -> TUN
    alice.send_ip(udp_packet("10.42.0.2", "192.0.2.80", b"to the lan"), 101.0)
    assert io.tun and io.tun[-1].endswith(b"to the lan")
    # TUN -> server -> client
    gateway.tun_input(udp_packet("192.0.2.80", "10.42.0.2", b"from the lan"), 101.0)
    gateway.pump(101.0)
    alice.run_ppp(101.0)
    assert alice.received and alice.received[-1].endswith(b"from the lan")
    # a packet for an address nobody has goes nowhere
    gateway.tun_input(udp_packet("192.0.2.80", "10.42.0.99"), 101.0)

    (row,) = gateway.status(160.0)
    assert row["user"] == "alice" and row["address"] == "10.42.0.2" and row["nat"] is True
    assert row["inner_peer"] == "10.0.0.5" and row["peer"] == f"{NAT}:4500"
    assert row["phase1"] == "aes128-sha1-modp2048" and row["phase2"] == "aes128-sha1"
    assert row["bytes_in"] > 0 and row["bytes_out"] > 0 and row["uptime"] == 60.0
    assert row["state"] == "IPCP up"

    steps = [r.step for r in caplog.records if hasattr(r, "step")]
    assert steps == ["IKE phase 1 established", "IKE phase 2 established", "L2TP tunnel up",
                     "L2TP session up", "LCP up", "PPP authentication succeeded", "IPCP up"]
    assert {r.client for r in caplog.records if hasattr(r, "client")} == {"c1"}
    assert "alice-secret" not in caplog.text


def test_spoofed_source_is_dropped_and_counted():
    gateway, ike, io = make_gateway()
    alice = connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="alice", password="alice-secret")
    before = len(io.tun)
    alice.send_ip(udp_packet("10.42.0.50", "192.0.2.80"), 101.0)
    assert len(io.tun) == before
    assert gateway.status(101.0)[0]["drops"] == 1
    gateway.dataplane.counters(alice.handle).drops["replay"] += 2  # as the data plane counts them
    row = gateway.status(101.0)[0]
    assert row["drops"] == 3 and row["esp_drops"] == {"replay": 2}


def test_two_clients_behind_one_nat_stay_apart():
    gateway, ike, io = make_gateway()
    alice = connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="alice", password="alice-secret")
    bob = connect(gateway, ike, ike_sa_id=2, spi=0x2000, port=61001, user="bob", password="bob-secret",
                  tunnel_id=100)  # same LAC tunnel ID, same NAT address: only the SA tells them apart
    assert {alice.address, bob.address} == {"10.42.0.2", "10.42.0.3"}
    for client, other in ((alice, bob), (bob, alice)):
        gateway.tun_input(udp_packet("192.0.2.80", client.address, client.address.encode()), 102.0)
        gateway.pump(102.0)
        alice.run_ppp(102.0)
        bob.run_ppp(102.0)
        assert client.received[-1].endswith(client.address.encode())
        assert not any(p.endswith(client.address.encode()) for p in other.received)
    assert {r["user"] for r in gateway.status(102.0)} == {"alice", "bob"}


def test_static_address_and_wrong_password(caplog):
    gateway, ike, io = make_gateway()
    carol = connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="carol", password="carol-secret")
    assert carol.address == "10.42.0.77"
    caplog.set_level(logging.INFO, logger="ikel2tp.timeline")
    mallory = connect(gateway, ike, ike_sa_id=2, spi=0x2000, port=4501, user="alice", password="guess")
    assert mallory.address is None
    failed = [r for r in caplog.records if getattr(r, "step", "") == "PPP authentication failed"]
    assert failed and "'alice'" in failed[0].getMessage() and "wrong password" in failed[0].getMessage()
    assert "guess" not in caplog.text
    assert [r["user"] for r in gateway.status(101.0) if r["address"]] == ["carol"]


def _l2tp_log(client: Client) -> list:
    """Wrap ``client.inbox`` to record what reaches the client, in order: PPP frames as (protocol, code),
    control messages as their type."""
    seen: list = []
    inbox = client.inbox

    def recording() -> list:
        got = inbox()
        for r in got:
            if r.message is not None:
                seen.append(MessageType(r.message.message_type))
            elif not r.header.control:
                frame = r.payload[2:] if r.payload[:2] == b"\xff\x03" else r.payload
                seen.append((frame[:2].hex(), frame[2]))
        return got
    client.inbox = recording
    return seen


CHAP_FAILURE, LCP_TERMINATE_REQUEST, LCP_TERMINATE_ACK = ("c223", 4), ("c021", 5), ("c021", 6)


def test_wrong_password_failure_and_terminate_reach_the_client_before_the_cdn():
    """Regression (real pppd behind xl2tpd): a CDN sent together with the MS-CHAPv2 Failure made xl2tpd
    kill pppd before it read E=691, so the user saw no authentication error.  The L2TP session now
    stays until LCP has terminated (RFC 1661 §3.7)."""
    gateway, ike, io = make_gateway()
    client = Client(gateway, ike, ike_sa_id=2, spi_in=0x2000, remote=(NAT, 4501), user="alice",
                    password="guess")
    client.negotiate_ipsec(100.0)
    client.connect_l2tp(100.0)
    seen = _l2tp_log(client)
    client.run_ppp(100.0)
    failed = [e for e in client.ppp_events if type(e).__name__ == "AuthFailed"]
    assert failed and failed[0].reason.startswith("E=691")
    assert seen.index(CHAP_FAILURE) < seen.index(LCP_TERMINATE_REQUEST) < seen.index(LCP_TERMINATE_ACK)
    assert seen[-1] == MessageType.CDN and seen.count(MessageType.CDN) == 1


def test_a_silent_peer_gets_the_cdn_when_lcp_gives_up_terminating():
    gateway, ike, io = make_gateway()
    client = Client(gateway, ike, ike_sa_id=2, spi_in=0x2000, remote=(NAT, 4501), user="alice",
                    password="guess")
    client.negotiate_ipsec(100.0)
    client.connect_l2tp(100.0)
    seen = _l2tp_log(client)
    frames_to_send, answered = client.ppp.frames_to_send, []

    def quiet_after_the_chap_response() -> list:  # the client vanishes once it has answered
        if answered:
            frames_to_send()
            return []
        out = frames_to_send()
        answered.extend(f for f in out if f[:3] == bytes.fromhex("c22302"))
        return out
    client.ppp.frames_to_send = quiet_after_the_chap_response
    client.run_ppp(100.0)
    assert answered and CHAP_FAILURE in seen and LCP_TERMINATE_REQUEST in seen
    assert MessageType.CDN not in seen  # LCP is still waiting for the Terminate-Ack
    now = 100.0
    while MessageType.CDN not in seen and now < 130.0:
        now = max(gateway.next_deadline(), now)
        gateway.timer(now)
        gateway.pump(now)
        client.inbox()
    assert MessageType.CDN in seen and now < 115.0, (now, seen)  # max-terminate x restart timer


def test_failed_logins_are_rate_limited_per_user():
    gateway, ike, io = make_gateway()
    for attempt in range(gateway.limiter.max_failures):
        connect(gateway, ike, ike_sa_id=10 + attempt, spi=0x1000 + attempt, port=5000 + attempt, user="bob",
                password="wrong")
    # now even the right password is refused without reaching the backend
    late = connect(gateway, ike, ike_sa_id=99, spi=0x9000, port=5999, user="bob", password="bob-secret")
    assert late.address is None


def test_kick_by_user_and_by_address():
    gateway, ike, io = make_gateway()
    alice = connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="alice", password="alice-secret")
    bob = connect(gateway, ike, ike_sa_id=2, spi=0x2000, port=4501, user="bob", password="bob-secret")
    assert gateway.kick("nobody", 110.0) == 0
    assert gateway.kick("alice", 110.0) == 1
    assert ike.deleted_children == [0x1000]  # IKE Delete for alice's SA
    assert io.routes == {bob.address}
    assert [r["user"] for r in gateway.status(110.0) if r["user"]] == ["bob"]
    assert gateway.kick(bob.address, 111.0) == 1
    assert io.routes == set()
    assert alice.address  # (they had addresses before)


def test_sa_deleted_cleans_up_session_route_and_pool(caplog):
    caplog.set_level(logging.INFO, logger="ikel2tp.timeline")
    gateway, ike, io = make_gateway(hold_time=0.0)
    alice = connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="alice", password="alice-secret")
    handle = alice.handle
    ike.events.append(ChildSaDeleted(1, 0x1000, 0x1001, "peer sent Delete"))
    gateway.pump(120.0)
    assert handle in gateway.dataplane.deleted
    assert io.routes == set() and len(gateway.table) == 0
    assert gateway.pool.free_count(121.0) == gateway.pool.capacity
    steps = [(r.client, r.step) for r in caplog.records if hasattr(r, "step")]
    assert ("c1", "L2TP tunnel down") in steps and {client for client, _ in steps} == {"c1"}


def test_phase2_rekey_keeps_the_session_and_moves_traffic_to_the_new_sa():
    gateway, ike, io = make_gateway()
    alice = connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="alice", password="alice-secret")
    old = alice.handle
    new = alice.rekey(0x1100, 150.0)
    ike.events.append(ChildSaDeleted(1, 0x1000, 0x1001, "rekeyed"))
    gateway.pump(151.0)
    assert old in gateway.dataplane.deleted and len(gateway.table) == 1
    gateway.tun_input(udp_packet("192.0.2.80", alice.address, b"after rekey"), 152.0)
    gateway.pump(152.0)
    assert {h for h, _, _ in gateway.dataplane.sent} == {new}
    alice.run_ppp(152.0)
    assert alice.received[-1].endswith(b"after rekey")
    alice.send_ip(udp_packet(alice.address, "192.0.2.80", b"up through the new SA"), 153.0)
    assert io.tun[-1].endswith(b"up through the new SA")
    assert gateway.status(153.0)[0]["state"] == "IPCP up"


def test_data_plane_refusing_an_sa_deletes_it_in_ike():
    gateway, ike, io = make_gateway()
    client = Client(gateway, ike, ike_sa_id=1, spi_in=0x1000, remote=(NAT, 4500), user="alice",
                    password="alice-secret")
    client.negotiate_ipsec(100.0)
    client.negotiate_ipsec(100.0)  # the same SPI again: the fake data plane refuses it
    assert ike.deleted_children == [0x1000]


def test_peer_dead_then_hard_expiry_and_unknown_events_are_harmless():
    gateway, ike, io = make_gateway()
    alice = connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="alice", password="alice-secret")
    ike.events.append(PeerDead(1, (NAT, 4500)))
    gateway.pump(130.0)
    assert len(gateway.table) == 1  # PeerDead itself only logs; the core's ChildSaDeleted cleans up
    gateway.dataplane.expire(alice.handle, hard=True)
    deadline = gateway.next_deadline()
    assert deadline is not None and deadline <= 100.0 + LIFETIME_CHECK  # lifetimes are looked at
    gateway.timer(131.0)
    gateway.pump(131.0)
    assert len(gateway.table) == 0 and io.routes == set()
    assert gateway.dataplane.expired(131.0) == []
    gateway._on_sa_expired(SaExpired(alice.handle, True, "seconds"), 132.0)  # already gone: no error


def test_sa_lifetimes_are_looked_at_by_the_data_plane_deadline():
    """A seconds lifetime the data plane tracks (get_timer) is acted on at that deadline, not at
    the next periodic look."""
    gateway, ike, io = make_gateway()
    dataplane = gateway.dataplane
    dataplane.get_timer = lambda: 101.5
    looked = []
    expired = dataplane.expired
    dataplane.expired = lambda now: looked.append(now) or expired(now)
    alice = connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="alice", password="alice-secret")
    assert gateway.next_deadline() <= 101.5
    dataplane.expire(alice.handle, hard=True)
    gateway.timer(101.5)
    gateway.pump(101.5)
    assert looked == [101.5] and len(gateway.table) == 0
    dataplane.get_timer = lambda: 90.0  # a deadline already past never makes a tight loop
    assert gateway._next_lifetime_check(102.0) == 102.0 + LIFETIME_CHECK


def test_link_timers_drive_keepalive_death():
    gateway, ike, io = make_gateway(ppp=PppSettings(echo_interval=5.0, echo_failures=2))
    alice = connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="alice", password="alice-secret")
    assert alice.address
    now = 100.0
    for _ in range(20):  # the client stops answering; only the server's timers run
        deadline = gateway.next_deadline()
        assert deadline is not None
        now = max(now, deadline)
        gateway.timer(now)
        gateway.pump(now)
        if not gateway.table.sessions:
            break
    assert not gateway.table.sessions and io.routes == set()


def test_shutdown_says_goodbye_and_removes_state():
    gateway, ike, io = make_gateway()
    alice = connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="alice", password="alice-secret")
    gateway.dataplane.sent.clear()
    gateway.shutdown(200.0)
    assert ike.deleted_all
    sent = [alice.lac.receive(p) for h, p, _ in gateway.dataplane.sent if h == alice.handle]
    names = [r.message.name for r in sent if r.message is not None]
    assert "CDN" in names or "StopCCN" in names
    assert alice.handle in gateway.dataplane.deleted
    assert io.routes == set()


def test_plaintext_l2tp_mode_uses_the_address_as_peer():
    gateway, ike, io = make_gateway(ppp=PppSettings(auth=(AuthMethod.PAP,)))
    from tests.l2tp.lac import Lac

    lac = Lac()
    gateway.plain_l2tp_input(lac.sccrq(), ("192.0.2.1", 1701), ("198.51.100.4", 1701), 100.0)
    gateway.pump(100.0)
    (data, local, remote), = io.plain
    assert local == ("192.0.2.1", 1701) and remote == ("198.51.100.4", 1701)
    assert lac.receive(data).message.name == "SCCRP"


@pytest.mark.parametrize("packet", [b"", b"\x60" + bytes(39), b"\x45\x00"])
def test_tun_input_ignores_what_is_not_a_client_ipv4_packet(packet):
    gateway, ike, io = make_gateway()
    gateway.tun_input(packet, 100.0)
    gateway.pump(100.0)


def test_a_user_backend_that_answers_later():
    """RADIUS-style: ``authenticate`` is a coroutine; the link waits and the answer is wired in later."""
    import asyncio

    class LateUsers:
        def __init__(self, inner):
            self.inner = inner
            self.asked = 0

        async def authenticate(self, credentials):
            self.asked += 1
            await asyncio.sleep(0.01)
            return self.inner.authenticate(credentials)

    async def main():
        gateway, ike, io = make_gateway()
        gateway.users = LateUsers(gateway.users)
        woken = []
        gateway.on_async_output = lambda: woken.append(True)
        alice = connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="alice",
                        password="alice-secret")
        assert alice.address is None  # waiting for the backend
        for _ in range(50):
            await asyncio.sleep(0.01)
            alice.run_ppp(100.0)
            if alice.address:
                break
        assert alice.address == "10.42.0.2" and woken and gateway.users.asked == 1
        return gateway

    gateway = asyncio.run(main())
    assert gateway.status(101.0)[0]["user"] == "alice"
