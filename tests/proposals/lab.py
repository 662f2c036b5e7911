"""Our IKE initiator against our responder in memory, captured at the server's side into a pcap.

``dialed`` is the address the client sends to; the server owns ``SERVER``.  When they differ a
1:1 NAT sits in front of the server (seed 003's "invalid local address"); the responder echoes the
client's NAT-D (nat_d_workaround), so both sides stay on UDP 500.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

from ikel2tp.ike.manager import IkeManager
from ikel2tp.ike.settings import IkeSettings
from ikel2tp.proposals.explain import format_decryption_table
from ikel2tp.proposals.pcap import LinkType, frame, ike_payload, write_pcap, write_pcapng
from tests.ike.peers import seeded

SERVER = "192.0.2.1"
CLIENT = "198.51.100.7"
PSK = b"correct horse battery staple"


@dataclass
class Lab:
    server_settings: IkeSettings
    client_settings: IkeSettings
    dialed: str = SERVER
    seed: int = 7
    records: list = field(default_factory=list)  # (time, src, dst, ISAKMP bytes) at the server
    now: float = 0.0

    def __post_init__(self) -> None:
        spis_s, spis_c = itertools.count(0x5000), itertools.count(0x7000)
        self.server = IkeManager(
            self.server_settings,
            spi_allocator=lambda: next(spis_s),
            log=logging.getLogger("test.proposals.server"),
            random=seeded(self.seed),
        )
        self.client = IkeManager(
            self.client_settings,
            spi_allocator=lambda: next(spis_c),
            log=logging.getLogger("test.proposals.client"),
            random=seeded(self.seed + 1),
        )
        self.server_events: list = []
        self.client_events: list = []
        self.keys: dict[bytes, bytes] = {}

    def _pump(self) -> bool:
        moved = False
        for data, local, remote in self.client.datagrams_to_send():
            moved = True
            real = (SERVER, remote[1])
            self.records.append((self.now, local, real, data))
            self.server.receive_datagram(data, real, local, self.now)
        for data, local, remote in self.server.datagrams_to_send():
            moved = True
            self.records.append((self.now, local, remote, data))
            self.client.receive_datagram(data, remote, (self.dialed, local[1]), self.now)
        for sa in self.server.ike_sas():
            if sa.keys is not None:
                self.keys[sa.icookie] = sa.keys.enc_key
        for mgr, sink in ((self.server, self.server_events), (self.client, self.client_events)):
            while (event := mgr.next_event()) is not None:
                sink.append(event)
        return moved

    def run(self, seconds: float = 40.0) -> Lab:
        self.client.initiate((CLIENT, 500), (self.dialed, 500), self.now)
        end = self.now + seconds
        while self.now < end:
            while self._pump():
                self.now += 0.01
            deadlines = [t for t in (self.client.get_timer(), self.server.get_timer()) if t is not None]
            if not deadlines or min(deadlines) > end:
                break
            self.now = max(self.now, min(deadlines))
            self.client.handle_timer(self.now)
            self.server.handle_timer(self.now)
        return self

    def frames(self, link: int = LinkType.ETHERNET) -> list[tuple[float, bytes]]:
        return [
            (1_700_000_000 + t, frame(src, dst, ike_payload(src, dst, data), link))
            for t, src, dst, data in self.records
        ]

    def pcap(self, link: int = LinkType.ETHERNET) -> bytes:
        return write_pcap(self.frames(link), link)

    def pcapng(self) -> bytes:
        return write_pcapng(self.frames())

    def table(self) -> str:
        return format_decryption_table(list(self.keys.items()))


def settings(p1: tuple[str, ...] | str, p2: tuple[str, ...] | str, psk: bytes = PSK, **kw) -> IkeSettings:
    p1 = (p1,) if isinstance(p1, str) else p1
    p2 = (p2,) if isinstance(p2, str) else p2
    return IkeSettings(psk=psk, phase1=p1, phase2=p2, retransmit_tries=3, **kw)
