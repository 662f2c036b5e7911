"""PPP link settings (the ``[ppp]`` configuration section, as the core needs it)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ikel2tp.ppp.auth.credentials import AuthMethod


class Role(StrEnum):
    """The server authenticates the peer and assigns addresses; the client (load generator,
    back-to-back tests) authenticates itself and takes what it is given."""

    SERVER = "server"
    CLIENT = "client"


@dataclass(frozen=True)
class PppSettings:
    """Defaults follow RFC 1661 §4.6 (restart 3 s, Max-Configure 10, Max-Terminate 2, Max-Failure 5).

    ``auth`` is the order in which the server proposes methods (client role: the methods it
    accepts).  With the echo defaults a silent peer is declared dead at most
    ``echo_interval * (echo_failures + 1)`` = 60 s after its last frame; ``echo_interval = 0``
    turns the keepalive off.
    """

    auth: tuple[AuthMethod, ...] = (AuthMethod.MSCHAPV2, AuthMethod.CHAP)
    mtu: int = 1400
    mru: int = 1400
    echo_interval: float = 15.0
    echo_failures: int = 3
    restart_interval: float = 3.0
    max_configure: int = 10
    max_terminate: int = 2
    max_failure: int = 5
    auth_timeout: float = 30.0
    mss_clamp: bool = True
    ipv6: bool = False
    host_name: str = "ikel2tp"
    failure_message: str = "Authentication failed"

