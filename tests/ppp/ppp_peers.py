"""Two PppLinks wired back to back in memory, with a server shell stand-in."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from ipaddress import IPv4Address

from ikel2tp.config import UserConfig
from ikel2tp.ppp.auth.credentials import ClientLogin
from ikel2tp.ppp.events import AuthRequested, AuthSucceeded, PppEvent
from ikel2tp.ppp.link import PppLink
from ikel2tp.ppp.settings import PppSettings, Role
from ikel2tp.users.local import LocalUserBackend

LOG = logging.getLogger("tests.ppp")
GATEWAY = IPv4Address("10.9.0.1")
PEER = IPv4Address("10.9.0.7")
DNS = [IPv4Address("192.0.2.53"), IPv4Address("192.0.2.54")]
WINS = [IPv4Address("192.0.2.137")]
ALICE = ClientLogin("alice", "wonderland")
USERS = [UserConfig("alice", password="wonderland"), UserConfig("bob", nt_hash=bytes(16))]


def rng(seed: int):
    return random.Random(seed).randbytes


class Pair:
    """A server link and a client link; ``pump`` moves frames until both are quiet and plays the
    server shell: credentials to the local backend, addresses after authentication."""

    def __init__(self, server_settings: PppSettings | None = None, client_settings: PppSettings | None = None,
                 login: ClientLogin | None = ALICE, seed: int = 1) -> None:
        self.server = PppLink(server_settings or PppSettings(), log=LOG, random=rng(seed), name="server")
        self.client = PppLink(client_settings or PppSettings(), log=LOG, random=rng(seed + 100),
                              name="client", role=Role.CLIENT, login=login)
        self.backend = LocalUserBackend(USERS, log=LOG)
        self.server_events: list[PppEvent] = []
        self.client_events: list[PppEvent] = []
        self.drop_to_client: Callable[[bytes], bool] = lambda frame: False  # loss tests

    def start(self, now: float = 0.0) -> None:
        self.server.start(now)
        self.client.start(now)
        self.pump(now)

    def pump(self, now: float, rounds: int = 100) -> None:
        for _ in range(rounds):
            moved = False
            for frame in self.server.frames_to_send():
                moved = True
                if self.drop_to_client(frame):
                    continue
                self.client.receive_frame(frame, now)
            for frame in self.client.frames_to_send():
                moved = True
                self.server.receive_frame(frame, now)
            moved |= self._drain(now)
            if not moved:
                return
        raise AssertionError("links did not settle")

    def _drain(self, now: float) -> bool:
        moved = False
        while (event := self.server.next_event()) is not None:
            moved = True
            self.server_events.append(event)
            if isinstance(event, AuthRequested):
                self.server.auth_result(self.backend.authenticate(event.credentials), now)
            elif isinstance(event, AuthSucceeded):
                self.server.set_addresses(GATEWAY, PEER, dns=DNS, wins=WINS, now=now)
        while (event := self.client.next_event()) is not None:
            moved = True
            self.client_events.append(event)
        return moved

    def run_until(self, end: float, now: float = 0.0) -> float:
        """Fire timers in order until ``end``; returns the time reached."""
        while True:
            deadlines = [t for t in (self.server.get_timer(), self.client.get_timer()) if t is not None]
            if not deadlines or min(deadlines) > end:
                return now
            now = max(now, min(deadlines))
            self.server.handle_timer(now)
            self.client.handle_timer(now)
            self.pump(now)
