"""A ClientSession (our LAC and a client-role PPP link) against the server's wired Gateway in memory,
through the fake data plane: every step is reached in order and IP packets go both ways."""

from __future__ import annotations

import logging
import random as random_module
import struct

from ikel2tp.client.packets import echo_request, udp_datagram
from ikel2tp.client.session import STEPS, ClientSession, State, Step
from ikel2tp.common.inet import internet_checksum as checksum
from ikel2tp.ppp.auth.credentials import ClientLogin
from tests.server.backtoback import Client as SaOnly
from tests.server.test_wiring import GATEWAY, NAT, make_gateway

LOG = logging.getLogger("test.client")


def wire(password: str = "alice-secret"):
    gateway, ike, io = make_gateway()
    sa = SaOnly(gateway, ike, ike_sa_id=1, spi_in=0x1000, remote=(NAT, 4500), user="alice", password="-")
    sa.negotiate_ipsec(100.0)
    session = ClientSession(0, "198.51.100.7", ClientLogin("alice", password), log=LOG,
                            random=random_module.Random(4).randbytes)
    return gateway, io, sa, session


def run(gateway, sa, session: ClientSession, now: float, rounds: int = 40) -> None:
    """Shuttle L2TP between the session and the gateway until both are quiet."""
    for _ in range(rounds):
        out = session.pump(now)
        for data in out:
            gateway.dataplane.inject_l2tp(sa.handle, data, 1701)
        gateway.pump(now)
        back = [payload for handle, payload, _port in gateway.dataplane.sent if handle == sa.handle]
        gateway.dataplane.sent.clear()
        for data in back:
            session.l2tp_input(data, now)
        if not out and not back:
            return


def test_all_steps_then_traffic_both_ways() -> None:
    gateway, io, sa, session = wire()
    session.started = 99.0
    session.reached(Step.PHASE1, 99.5)
    session.ipsec_up(sa.handle, 100.0)
    run(gateway, sa, session, 100.0)
    assert session.state is State.UP
    assert list(session.steps) == list(STEPS)
    assert session.connect_time == 1.0
    assert session.gateway == GATEWAY and session.address.startswith("10.42.0.")
    session.send_ip(echo_request(session.address, GATEWAY, 100))
    run(gateway, sa, session, 100.5)
    assert len(io.tun) == 1 and len(io.tun[0]) == 100
    gateway.tun_input(udp_datagram(GATEWAY, session.address, 5000, 64), 100.6)
    gateway.pump(100.6)
    received = []
    session.on_packet = lambda s, packet: received.append(packet)
    run(gateway, sa, session, 100.6)
    assert len(received) == 1 and session.traffic.received == 1 and session.traffic.sent == 1


def test_wrong_password_fails_at_auth() -> None:
    gateway, io, sa, session = wire(password="wrong")
    session.ipsec_up(sa.handle, 100.0)
    run(gateway, sa, session, 100.0)
    assert session.state is State.FAILED
    assert session.failure[0] is Step.AUTH and "authentication failed" in session.failure[1]


def test_close_tears_down_the_server_session() -> None:
    gateway, io, sa, session = wire()
    session.ipsec_up(sa.handle, 100.0)
    run(gateway, sa, session, 100.0)
    session.close("done", 101.0)
    run(gateway, sa, session, 101.0)
    assert session.state is State.CLOSED
    assert not gateway.table.sessions


def test_packets_have_valid_checksums_and_sizes() -> None:
    for size in (28, 64, 1400):
        packet = echo_request("10.0.0.2", "10.0.0.1", size, sequence=7)
        assert len(packet) == size and checksum(packet[:20]) == 0 and checksum(packet[20:]) == 0
        assert struct.unpack("!H", packet[2:4])[0] == size
    assert len(udp_datagram("10.0.0.2", "10.0.0.1", 9, 64)) == 64
