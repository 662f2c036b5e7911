"""Clients for the wired server, in memory: a LAC (tests/l2tp/lac.py) and a client-role PppLink per
client, talking to a :class:`~ikel2tp.server.wiring.Gateway` through the fake data plane."""

from __future__ import annotations

import ipaddress
import logging
import struct
from collections import deque
from dataclasses import dataclass, field

from ikel2tp.dataplane.base import SaHandle
from ikel2tp.dataplane.fake import FakeDataPlane
from ikel2tp.ike.events import ChildSaEstablished, ChildSaKeys, Phase1Established
from ikel2tp.ike.settings import IkeSettings
from ikel2tp.l2tp.constants import AvpType, MessageType
from ikel2tp.ppp.auth.credentials import ClientLogin
from ikel2tp.ppp.events import IpPacketReceived, NetworkUp
from ikel2tp.ppp.link import PppLink
from ikel2tp.ppp.settings import PppSettings, Role
from ikel2tp.server.wiring import Gateway
from tests.l2tp.lac import Lac, seeded

LOG = logging.getLogger("test.server")
SERVER = ("192.0.2.1", 4500)


class FakeIke:
    """Stands in for the IKE core where a test drives phase 1 / phase 2 results directly."""

    def __init__(self) -> None:
        self.settings = IkeSettings()  # SIGHUP replaces the pre-shared keys in it
        self.events: deque = deque()
        self.out: list = []
        self.deleted_children: list[int] = []
        self.deleted_all = False
        self.alive: list = []

    def receive_datagram(self, data, local, remote, now) -> None:
        self.out.append((b"echo:" + data, local, remote))

    def datagrams_to_send(self):
        out, self.out = self.out, []
        return out

    def next_event(self):
        return self.events.popleft() if self.events else None

    def get_timer(self):
        return None

    def handle_timer(self, now) -> None:
        pass

    def set_authenticators(self, authenticators) -> None:
        self.authenticators = authenticators

    def delete_child(self, spi_in: int) -> None:
        self.deleted_children.append(spi_in)

    def delete_all(self) -> None:
        self.deleted_all = True

    def peer_alive(self, remote, now) -> None:
        self.alive.append((remote, now))


@dataclass
class RecordingIO:
    ike: list = field(default_factory=list)
    plain: list = field(default_factory=list)
    tun: list = field(default_factory=list)
    routes: set = field(default_factory=set)
    route_log: list = field(default_factory=list)

    def send_ike(self, data, local, remote):
        self.ike.append((data, local, remote))

    def send_l2tp_plain(self, data, local, remote):
        self.plain.append((data, local, remote))

    def tun_write(self, packet):
        self.tun.append(packet)

    def add_route(self, address):
        self.routes.add(address)
        self.route_log.append(("add", address))

    def remove_route(self, address):
        self.routes.discard(address)
        self.route_log.append(("del", address))


def udp_packet(src: str, dst: str, payload: bytes = b"hello") -> bytes:
    """A minimal IPv4/UDP packet (checksums are not checked on this path)."""
    total = 28 + len(payload)
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0, 64, 17, 0,
                         ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    return header + struct.pack("!HHHH", 5000, 6000, 8 + len(payload), 0) + payload


class Client:
    """One remote user: an IPsec SA (installed through IKE events), a LAC and a PPP client."""

    def __init__(self, gateway: Gateway, ike: FakeIke, *, ike_sa_id: int, spi_in: int, remote: tuple,
                 user: str, password: str, tunnel_id: int = 100, auth=None) -> None:
        self.gateway = gateway
        self.dataplane: FakeDataPlane = gateway.dataplane
        self.ike = ike
        self.ike_sa_id = ike_sa_id
        self.spi_in = spi_in
        self.remote = remote
        self.lac = Lac(tunnel_id=tunnel_id)
        settings = PppSettings(auth=auth) if auth else PppSettings()
        self.ppp = PppLink(settings, log=LOG, random=seeded(1000 + ike_sa_id), name=f"client{ike_sa_id}",
                           role=Role.CLIENT, login=ClientLogin(user, password))
        self.handle = SaHandle(spi_in, spi_in + 1)
        self.handles = {self.handle}
        self.session_id = 0
        self.address: str | None = None
        self.received: list[bytes] = []
        self.ppp_events: list = []

    def negotiate_ipsec(self, now: float) -> None:
        self.ike.events.append(Phase1Established(self.ike_sa_id, SERVER, self.remote, "peer",
                                                 "aes128-sha1-modp2048", True, "test"))
        self._child(self.spi_in, now)

    def _child(self, spi_in: int, now: float) -> None:
        keys = ChildSaKeys(self.ike_sa_id, SERVER, self.remote, True, spi_in, spi_in + 1,
                           "aes-cbc", 128, "sha1", b"k" * 16, b"k" * 16, b"a" * 20, b"a" * 20,
                           natoa_remote="10.0.0.5")
        self.ike.events.append(ChildSaEstablished(keys))
        self.gateway.pump(now)

    def rekey(self, spi_in: int, now: float) -> SaHandle:
        """Phase 2 rekey: a new SA pair to the same outer address; the client sends through it."""
        self._child(spi_in, now)
        self.handle = SaHandle(spi_in, spi_in + 1)
        self.handles.add(self.handle)
        return self.handle

    def _send(self, data: bytes, now: float) -> None:
        self.dataplane.inject_l2tp(self.handle, data, 1701)
        self.gateway.pump(now)

    def inbox(self) -> list:
        """What the server sent this client, parsed by the LAC; data frames go to the PPP client."""
        mine = [d for d in self.dataplane.sent if d[0] in self.handles]
        self.dataplane.sent = [d for d in self.dataplane.sent if d[0] not in self.handles]
        got = [self.lac.receive(payload) for _, payload, _ in mine]
        return got

    def connect_l2tp(self, now: float) -> None:
        self._send(self.lac.sccrq(), now)
        (sccrp,) = [r for r in self.inbox() if r.message is not None]
        assert sccrp.message.message_type == MessageType.SCCRP
        self.lac.lns_tunnel_id = sccrp.message.get(AvpType.ASSIGNED_TUNNEL_ID)
        self._send(self.lac.scccn(sccrp.message), now)
        self._send(self.lac.icrq(7), now)
        (icrp,) = [r for r in self.inbox() if r.message is not None]
        self.session_id = icrp.message.get(AvpType.ASSIGNED_SESSION_ID)
        self._send(self.lac.iccn(self.session_id), now)
        self.ppp.start(now)

    def run_ppp(self, now: float, rounds: int = 30) -> None:
        """Exchange PPP frames until both sides are quiet."""
        for _ in range(rounds):
            moved = False
            for received in self.inbox():
                if received.message is None and not received.header.control:
                    payload = received.payload
                    self.ppp.receive_frame(payload[2:] if payload[:2] == b"\xff\x03" else payload, now)
                    moved = True
            for frame in self.ppp.frames_to_send():
                self._send(self.lac.data(self.session_id, b"\xff\x03" + frame), now)
                moved = True
            while (event := self.ppp.next_event()) is not None:
                self.ppp_events.append(event)
                if isinstance(event, NetworkUp):
                    self.address = str(event.local_address)  # client role: ours is "local"
                elif isinstance(event, IpPacketReceived):
                    self.received.append(event.packet)
                moved = True
            if not moved:
                return

    def send_ip(self, packet: bytes, now: float) -> None:
        self.ppp.send_ip(packet)
        self.run_ppp(now)
