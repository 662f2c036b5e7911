"""The ``[radius]`` configuration section (docs/radius.md): frozen settings and their parser.

:func:`parse_radius_section` takes the section as TOML gave it and raises
:class:`~ikel2tp.common.errors.ConfigError` naming the file, the key (``radius.servers[0].secret``,
list indices count from 0) and what is allowed.  Secrets never appear in a repr.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from ikel2tp.common.errors import ConfigError
from ikel2tp.ppp.auth.credentials import AuthMethod

MIN_SECRET_LENGTH = 8  # short shared secrets make RFC 2865 §5.2 hiding guessable offline
MAX_QUEUE = 1_000_000


@dataclass(frozen=True)
class RadiusServer:
    """One server; servers are tried in the order listed (failover order)."""

    address: str
    secret: str = field(repr=False)
    auth_port: int = 1812
    acct_port: int = 1813
    timeout: float = 3.0  # seconds before a retransmission
    retries: int = 2  # retransmissions after the first try, then the next server
    require_message_authenticator: bool = True  # drop answers without one (RFC 3579 §3.2)


@dataclass(frozen=True)
class AccountingSettings:
    enabled: bool = True
    interim_interval: int = 600  # seconds between Interim-Updates, 0: none (RFC 2869 §2.1)
    queue_limit: int = 4096  # accounting requests kept across an outage
    retry_interval: float = 30.0  # seconds before retrying after every server failed


@dataclass(frozen=True)
class DasSettings:
    """Dynamic Authorization Server (RFC 5176): where we listen for Disconnect-Request."""

    secret: str = field(repr=False)
    listen: str = "127.0.0.1"
    port: int = 3799
    clients: tuple[str, ...] = ()  # source addresses allowed; empty: the RADIUS servers' addresses
    require_message_authenticator: bool = True


@dataclass(frozen=True)
class RadiusSettings:
    servers: tuple[RadiusServer, ...]
    nas_identifier: str = "ikel2tp"
    nas_ip: IPv4Address | None = None
    methods: tuple[AuthMethod, ...] = (AuthMethod.MSCHAPV2, AuthMethod.CHAP, AuthMethod.PAP)
    local_fallback: bool = False  # use [[users]] when no RADIUS server answers
    dead_time: float = 30.0  # seconds a silent server is tried last
    accounting: AccountingSettings = AccountingSettings()
    das: DasSettings | None = None


class _Bad(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def _show(value: Any) -> str:
    return type(value).__name__ if isinstance(value, dict | list) else repr(value)


def _integer(lo: int, hi: int) -> Callable[[Any, str], int]:
    def parse(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _Bad(key, f"expected an integer from {lo} to {hi}, got {_show(value)}")
        return value
    return parse


def _number(lo: float, hi: float) -> Callable[[Any, str], float]:
    def parse(value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise _Bad(key, f"expected a number of seconds from {lo:g} to {hi:g}, got {_show(value)}")
        return float(value)
    return parse


def _boolean(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise _Bad(key, f"expected true or false, got {_show(value)}")
    return value


def _ip(value: Any, key: str) -> str:
    try:
        return str(ipaddress.ip_address(value if isinstance(value, str) else None))  # type: ignore[arg-type]
    except ValueError:
        raise _Bad(key, f"expected an IP address (no host names), got {_show(value)}") from None


def _ipv4(value: Any, key: str) -> IPv4Address:
    try:
        return IPv4Address(value if isinstance(value, str) else None)  # type: ignore[arg-type]
    except ValueError:
        raise _Bad(key, f"expected an IPv4 address, got {_show(value)}") from None


def _secret(value: Any, key: str) -> str:
    if not isinstance(value, str) or len(value.encode()) < MIN_SECRET_LENGTH:
        raise _Bad(key, f"expected a string of at least {MIN_SECRET_LENGTH} characters"
                        " (the shared secret; its value is not shown)")
    return value


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value.encode()) <= 253:
        raise _Bad(key, f"expected a string of 1 to 253 octets, got {_show(value)}")
    return value


def _methods(value: Any, key: str) -> tuple[AuthMethod, ...]:
    allowed = [m.value for m in AuthMethod]
    if not isinstance(value, list) or not all(isinstance(v, str) and v in allowed for v in value):
        raise _Bad(key, f"expected a list of {', '.join(allowed)}, got {_show(value)}")
    return tuple(AuthMethod(v) for v in dict.fromkeys(value))


def _table(raw: Any, key: str, parsers: dict[str, Callable[[Any, str], Any]],
           required: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _Bad(key, f"expected a table, got {_show(raw)}")
    unknown = sorted(set(raw) - set(parsers))
    if unknown:
        raise _Bad(f"{key}.{unknown[0]}", f"unknown key; allowed: {', '.join(parsers)}")
    for name in required:
        if name not in raw:
            raise _Bad(f"{key}.{name}", "is required")
    return {name: parsers[name](value, f"{key}.{name}") for name, value in raw.items()}


_SERVER = {
    "address": _ip, "secret": _secret, "auth_port": _integer(1, 65535), "acct_port": _integer(1, 65535),
    "timeout": _number(0.1, 60), "retries": _integer(0, 10), "require_message_authenticator": _boolean,
}
_ACCOUNTING = {
    "enabled": _boolean, "interim_interval": _integer(0, 86400), "queue_limit": _integer(1, MAX_QUEUE),
    "retry_interval": _number(1, 3600),
}
_DAS = {
    "secret": _secret, "listen": _ip, "port": _integer(1, 65535),
    "clients": lambda value, key: _list_of(_ip, value, key),
    "require_message_authenticator": _boolean,
}


def _list_of(parse: Callable[[Any, str], Any], value: Any, key: str) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise _Bad(key, f"expected a list, got {_show(value)}")
    return tuple(parse(item, f"{key}[{i}]") for i, item in enumerate(value))


def _servers(value: Any, key: str) -> tuple[RadiusServer, ...]:
    if not isinstance(value, list) or not value:
        raise _Bad(key, "expected at least one [[radius.servers]] table")
    servers = tuple(RadiusServer(**_table(item, f"{key}[{i}]", _SERVER, ("address", "secret")))
                    for i, item in enumerate(value))
    seen: set[tuple[str, int]] = set()
    for i, server in enumerate(servers):
        if (server.address, server.auth_port) in seen:
            raise _Bad(f"{key}[{i}].address", f"{server.address} port {server.auth_port} is listed twice")
        seen.add((server.address, server.auth_port))
    return servers


_SECTION = {
    "servers": _servers, "nas_identifier": _text, "nas_ip": _ipv4, "methods": _methods,
    "local_fallback": _boolean, "dead_time": _number(0, 3600),
    "accounting": lambda value, key: AccountingSettings(**_table(value, key, _ACCOUNTING)),
    "das": lambda value, key: DasSettings(**_table(value, key, _DAS, ("secret",))),
}


def parse_radius_section(raw: dict[str, Any], path: str) -> RadiusSettings:
    """Validate the ``[radius]`` table of the configuration file ``path``."""
    try:
        values = _table(raw, "radius", _SECTION, ("servers",))
        if "methods" in values and not values["methods"]:
            raise _Bad("radius.methods", "expected at least one method (leave [radius] out to use none)")
        return RadiusSettings(**values)
    except _Bad as exc:
        raise ConfigError(f"{path}: {exc.key}: {exc.message}") from None
