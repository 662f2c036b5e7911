"""Two IKE managers wired back to back in memory, with an optional NAT between them."""

from __future__ import annotations

import itertools
import logging
import random as _random
from dataclasses import dataclass, field

from ikel2tp.ike.manager import IkeManager
from ikel2tp.ike.settings import IkeSettings

SERVER = ("192.0.2.1", 500)
CLIENT = ("198.51.100.7", 500)
NAT_PUBLIC = "203.0.113.9"


def seeded(seed: int):
    rng = _random.Random(seed)
    return lambda n: rng.randbytes(n)


@dataclass
class Pair:
    """A responder and an initiator.  With ``nat``, the client's packets leave through a NAPT
    that maps (client ip, port) to (NAT_PUBLIC, port + 10000); the server sees only that."""

    server_settings: IkeSettings
    client_settings: IkeSettings
    nat: bool = False
    seed: int = 1
    wire: list = field(default_factory=list)  # every (direction, bytes) seen
    server_auth: dict | None = None  # extra authenticator factories (method -> factory)
    client_auth: dict | None = None

    def __post_init__(self) -> None:
        server_spis, client_spis = itertools.count(0x1000), itertools.count(0x101000)
        self.server_log = logging.getLogger("test.ike.server")
        self.client_log = logging.getLogger("test.ike.client")
        self.server = IkeManager(
            self.server_settings,
            spi_allocator=lambda: next(server_spis),
            log=self.server_log,
            random=seeded(self.seed),
            authenticators=self.server_auth,
        )
        self.client = IkeManager(
            self.client_settings,
            spi_allocator=lambda: next(client_spis),
            log=self.client_log,
            random=seeded(self.seed + 1000),
            authenticators=self.client_auth,
        )
        self.now = 0.0
        self.drop_to_server = 0  # drop the next N client->server datagrams
        self.server_events: list = []
        self.client_events: list = []

    def client_outer(self, port: int) -> tuple[str, int]:
        return (NAT_PUBLIC, port + 10000) if self.nat else (CLIENT[0], port)

    def start(self) -> int:
        return self.client.initiate(CLIENT, SERVER, self.now)

    def pump(self, rounds: int = 20) -> None:
        for _ in range(rounds):
            moved = False
            for data, local, remote in self.client.datagrams_to_send():
                moved = True
                self.wire.append(("c2s", data))
                if self.drop_to_server:
                    self.drop_to_server -= 1
                    continue
                self.server.receive_datagram(data, remote, self.client_outer(local[1]), self.now)
            for data, local, remote in self.server.datagrams_to_send():
                moved = True
                self.wire.append(("s2c", data))
                port = remote[1] - 10000 if self.nat else remote[1]
                self.client.receive_datagram(data, (CLIENT[0], port), local, self.now)
            self._collect()
            if not moved:
                break

    def _collect(self) -> None:
        for mgr, sink in ((self.server, self.server_events), (self.client, self.client_events)):
            while (ev := mgr.next_event()) is not None:
                sink.append(ev)

    def events(self, side: str, cls) -> list:
        return [
            e for e in (self.server_events if side == "server" else self.client_events) if isinstance(e, cls)
        ]
