"""The configuration file: one TOML document loaded into frozen, validated dataclasses.

Every key is declared once, as a dataclass field whose ``metadata["parse"]`` checks and converts
the TOML value; the field default is the documented default (docs/config.md).  Any problem is a
:class:`~ikel2tp.common.errors.ConfigError` whose message names the file, the key path
(``ike.phase1[2]``, list indices count from 0) and what is allowed.

Secrets (pre-shared keys, passwords, NT hashes, the L2TP tunnel secret) never appear in a repr.
"""

from __future__ import annotations

import difflib
import ipaddress
import logging
import os
import secrets
import socket
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from ikel2tp.certs.errors import CaError
from ikel2tp.certs.store import load_certificates, load_crl, load_private_key
from ikel2tp.common.errors import ConfigError
from ikel2tp.common.files import write_private
from ikel2tp.ike import suites
from ikel2tp.ppp.auth.mschapv2 import nt_password_hash
from ikel2tp.radius.settings import RadiusSettings, parse_radius_section

_log = logging.getLogger("ikel2tp.config")

DEFAULT_STATE_DIR = "/var/lib/ikel2tp"
CONFIG_NAME = "ikel2tp.toml"
CONTROL_SOCKET_NAME = "control.sock"

DATAPLANES = ("auto", "xfrm", "userspace", "fake")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
PPP_AUTH = ("mschapv2", "chap", "pap")
NAT_D_WORKAROUND = (True, False, "auto")

# Generated secrets: no 0/O, 1/l/I, so they can be read aloud and typed on a phone.
_UNAMBIGUOUS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"
_SHORT_PSK = 16


class _Bad(Exception):
    """A value is invalid; ``path`` is the key path, ``message`` what is wrong and what is allowed."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


# --- value parsers: (value, key path) -> converted value, or raise _Bad ------------------------

Parser = Callable[[Any, str], Any]

_TOML_KINDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
               list: "a list", dict: "a table"}


def _kind(value: Any) -> str:
    return _TOML_KINDS.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return _kind(value)
    return f"{_kind(value)} ({value!r})"


def _integer(lo: int, hi: int) -> Parser:
    def parse(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _Bad(path, f"expected an integer from {lo} to {hi}, got {_show(value)}")
        return value
    return parse


def _number(lo: float, hi: float) -> Parser:
    def parse(value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise _Bad(path, f"expected a number from {lo:g} to {hi:g}, got {_show(value)}")
        return float(value)
    return parse


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _Bad(path, f"expected true or false, got {_show(value)}")
    return value


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise _Bad(path, f"expected a non-empty string without control characters, got {_show(value)}")
    return value


def _choice(*options: Any) -> Parser:
    allowed = ", ".join(_toml(option) for option in options)

    def parse(value: Any, path: str) -> Any:
        for option in options:  # `True == 1` in Python: compare types too
            if type(value) is type(option) and value == option:
                return value
        raise _Bad(path, f"expected one of {allowed}; got {_show(value)}")
    return parse


def _ip(value: Any, path: str) -> str:
    try:
        return str(ipaddress.ip_address(_string(value, path)))
    except ValueError as exc:
        raise _Bad(path, f"{value!r} is not an IPv4 or IPv6 address") from exc


def _ipv4(value: Any, path: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(_string(value, path))
    except ValueError as exc:
        raise _Bad(path, f"{value!r} is not an IPv4 address (PPP's IPCP assigns IPv4 only)") from exc


def _network(value: Any, path: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(_string(value, path), strict=True)
    except ValueError as exc:
        raise _Bad(path, f"{value!r} is not an IP address or CIDR network such as '198.51.100.0/24' "
                         f"({exc})") from exc


def _ipv4_network(value: Any, path: str) -> ipaddress.IPv4Network:
    network = _network(value, path)
    if not isinstance(network, ipaddress.IPv4Network):
        raise _Bad(path, f"{value!r}: expected an IPv4 network (PPP's IPCP assigns IPv4 only)")
    return network


def _interface(value: Any, path: str) -> str:
    # Linux dev_valid_name(): at most 15 bytes, not "." or "..", no '/', ':' or white space.
    text = _string(value, path)
    if len(text.encode()) > 15 or text in (".", "..") or any(c in "/:" or c.isspace() for c in text):
        raise _Bad(path, f"{value!r} is not a network interface name (1-15 characters, no '/', ':' "
                         "or spaces)")
    return text


def _bool_or_interface(value: Any, path: str) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _interface(value, path)
    raise _Bad(path, f"expected true, false or an interface name such as 'eth0', got {_show(value)}")


def _nt_hash(value: Any, path: str) -> bytes:
    text = _string(value, path)
    try:
        digest = bytes.fromhex(text)
    except ValueError:
        digest = b""
    if len(text) != 32 or len(digest) != 16:
        raise _Bad(path, "expected 32 hexadecimal characters (the MD4 of the UTF-16LE password), "
                         f"got {len(text)} characters")
    return digest


def _list(item: Parser, *, non_empty: bool = False, unique: bool = False, most: int | None = None) -> Parser:
    def parse(value: Any, path: str) -> tuple:
        if not isinstance(value, list):
            raise _Bad(path, f"expected a list, got {_show(value)}")
        if non_empty and not value:
            raise _Bad(path, "the list must not be empty")
        if most is not None and len(value) > most:
            raise _Bad(path, f"at most {most} entries allowed, got {len(value)}")
        result = tuple(item(element, f"{path}[{index}]") for index, element in enumerate(value))
        if unique:
            for index, element in enumerate(result):
                if element in result[:index]:
                    raise _Bad(f"{path}[{index}]", f"{_toml(value[index])} is listed twice")
        return result
    return parse


def _suites(parse_one: Callable[[str], Any]) -> Parser:
    def parse(value: Any, path: str) -> Any:
        try:
            return parse_one(_string(value, path))
        except ValueError as exc:
            raise _Bad(path, str(exc)) from exc
    return _list(parse, non_empty=True, unique=True)


def _table_list(cls: type) -> Parser:
    def parse(value: Any, path: str) -> Any:
        return cls(**_read(cls, value, path))
    tables = _list(parse)

    def parse_all(value: Any, path: str) -> tuple:
        if isinstance(value, dict):
            raise _Bad(path, f"write each entry as a [[{path}]] table (double brackets), not [{path}]")
        return tables(value, path)
    return parse_all


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _key(default: Any, parse: Parser, *, secret: bool = False) -> Any:
    """A configuration key: its default and its parser; ``secret`` keeps it out of repr."""
    return field(default=default, repr=not secret, metadata={"parse": parse})


def _read(cls: type, value: Any, path: str) -> dict[str, Any]:
    """Parse the keys of one TOML table into keyword arguments of ``cls``; reject unknown keys."""
    if not isinstance(value, dict):
        raise _Bad(path, f"expected a table, got {_show(value)}")
    keys = {f.name: f.metadata["parse"] for f in fields(cls) if "parse" in f.metadata}
    for key in value:
        if key not in keys:
            raise _Bad(_join(path, key), f"unknown key{_did_you_mean(key, keys)} "
                                         f"(allowed here: {', '.join(keys)})")
    return {key: keys[key](item, _join(path, key)) for key, item in value.items()}


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _did_you_mean(key: str, allowed: Any) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


# --- the sections ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServerConfig:
    """``[server]``: sockets, data plane, files, logging, the TUN device."""

    listen: tuple[str, ...] = _key(("0.0.0.0",), _list(_ip, non_empty=True, unique=True))
    ike_port: int = _key(500, _integer(0, 65535))
    natt_port: int = _key(4500, _integer(0, 65535))
    dataplane: str = _key("auto", _choice(*DATAPLANES))
    state_dir: str = _key(DEFAULT_STATE_DIR, _string)
    control_socket: str = _key("", _string)  # "" = <state_dir>/control.sock
    log_level: str = _key("info", _choice(*LOG_LEVELS))
    log_format: str = _key("text", _choice(*LOG_FORMATS))
    tun_name: str = _key("ikel2tp0", _interface)
    masquerade: bool | str = _key(False, _bool_or_interface)
    public_address: str | None = _key(None, _ip)

    def __post_init__(self) -> None:
        if not self.control_socket:
            object.__setattr__(self, "control_socket", os.path.join(self.state_dir, CONTROL_SOCKET_NAME))


@dataclass(frozen=True)
class PeerConfig:
    """``[[ike.peers]]``: a pre-shared key for clients from ``address`` and/or with IKE ID ``id``."""

    address: ipaddress.IPv4Network | ipaddress.IPv6Network | None = _key(None, _network)
    id: str | None = _key(None, _string)
    psk: str = _key("", _string, secret=True)


@dataclass(frozen=True)
class IkeConfig:
    """``[ike]``: authentication, proposals, timers, NAT traversal, half-open limits."""

    psk: str | None = _key(None, _string, secret=True)
    peers: tuple[PeerConfig, ...] = _key((), _table_list(PeerConfig))
    phase1: tuple[suites.Phase1Suite, ...] = _key(
        tuple(suites.parse_phase1(text) for text in suites.DEFAULT_PHASE1), _suites(suites.parse_phase1))
    phase2: tuple[suites.Phase2Suite, ...] = _key(
        tuple(suites.parse_phase2(text) for text in suites.DEFAULT_PHASE2), _suites(suites.parse_phase2))
    cert: str | None = _key(None, _string)  # PEM: our certificate, then any intermediates
    key: str | None = _key(None, _string)
    ca: str | None = _key(None, _string)  # PEM bundle: every CA client certificates may chain to
    crl: str | None = _key(None, _string)
    allowed_subjects: tuple[str, ...] = _key((), _list(_string, unique=True))
    local_id: str | None = _key(None, _string)
    dpd_interval: int = _key(15, _integer(0, 3600))
    dpd_timeout: int = _key(45, _integer(1, 86400))
    ike_lifetime: int = _key(28800, _integer(60, 604800))
    ipsec_lifetime: int = _key(3600, _integer(60, 604800))
    ipsec_lifetime_kb: int = _key(0, _integer(0, 2**31 - 1))
    aggressive_mode: bool = _key(False, _boolean)
    force_encapsulation: bool = _key(False, _boolean)
    # The file says true, false or "auto" (= true); the loaded value is a bool (see _resolve_nat_d).
    nat_d_workaround: bool = _key(True, _choice(*NAT_D_WORKAROUND))
    max_half_open: int = _key(1024, _integer(1, 1_000_000))
    max_half_open_per_source: int = _key(16, _integer(1, 1_000_000))
    half_open_timeout: int = _key(30, _integer(5, 600))
    retransmit_timeout: float = _key(2.0, _number(0.2, 30))
    retransmit_tries: int = _key(5, _integer(0, 20))
    fragment_size: int = _key(1280, _integer(576, 9000))


@dataclass(frozen=True)
class L2tpConfig:
    """``[l2tp]``: the LNS (RFC 2661)."""

    require_ipsec: bool = _key(True, _boolean)
    hello_interval: int = _key(60, _integer(0, 3600))
    secret: str | None = _key(None, _string, secret=True)
    max_tunnels: int = _key(1024, _integer(1, 65535))
    max_sessions_per_tunnel: int = _key(4, _integer(1, 65535))
    max_tunnels_per_peer: int = _key(4, _integer(1, 65535))
    plain_port: int = _key(1701, _integer(0, 65535))


@dataclass(frozen=True)
class PppConfig:
    """``[ppp]``: authentication order, MTU/MRU, DNS/WINS handed out by IPCP, LCP echo."""

    auth: tuple[str, ...] = _key(("mschapv2", "chap"), _list(_choice(*PPP_AUTH), non_empty=True, unique=True))
    mtu: int = _key(1400, _integer(576, 1500))
    mru: int = _key(1400, _integer(576, 1500))
    dns: tuple[ipaddress.IPv4Address, ...] = _key((), _list(_ipv4, unique=True, most=2))
    wins: tuple[ipaddress.IPv4Address, ...] = _key((), _list(_ipv4, unique=True, most=2))
    lcp_echo_interval: int = _key(15, _integer(0, 3600))
    lcp_echo_failure: int = _key(3, _integer(1, 100))
    mss_clamp: bool = _key(True, _boolean)


@dataclass(frozen=True)
class PoolConfig:
    """``[pool]``: the IPv4 network client addresses come from; the server's PPP end is ``gateway``."""

    network: ipaddress.IPv4Network = _key(ipaddress.IPv4Network("10.42.0.0/24"), _ipv4_network)  # /16-/30
    gateway: ipaddress.IPv4Address | None = _key(None, _ipv4)  # None = first host of network
    exclusions: tuple[ipaddress.IPv4Network, ...] = _key((), _list(_ipv4_network, unique=True))

    def __post_init__(self) -> None:
        if self.gateway is None:
            object.__setattr__(self, "gateway", self.network.network_address + 1)

    def size(self) -> int:
        """How many addresses the pool can hand out (static addresses included)."""
        hosts = self.network.num_addresses - 2 - (1 if self.gateway in self.network else 0)
        excluded = 0
        for net in ipaddress.collapse_addresses(self.exclusions):
            inside = [a for a in (self.network.network_address, self.network.broadcast_address, self.gateway)
                      if a in net]
            excluded += net.num_addresses - len(inside)
        return hosts - excluded


@dataclass(frozen=True)
class UserConfig:
    """``[[users]]``: a local user; ``password`` (plaintext) or ``nt_hash`` (16 bytes), not both."""

    name: str = _key("", _string)
    password: str | None = _key(None, _string, secret=True)
    nt_hash: bytes | None = _key(None, _nt_hash, secret=True)
    static_ip: ipaddress.IPv4Address | None = _key(None, _ipv4)


@dataclass(frozen=True)
class Config:
    """A whole validated configuration.  ``source`` names where it came from; ``warnings`` lists
    what is allowed but unwise (weak algorithms, short PSK, L2TP without IPsec)."""

    server: ServerConfig = field(default_factory=ServerConfig)
    ike: IkeConfig = field(default_factory=IkeConfig)
    l2tp: L2tpConfig = field(default_factory=L2tpConfig)
    ppp: PppConfig = field(default_factory=PppConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
    users: tuple[UserConfig, ...] = ()
    source: str = "<defaults>"
    warnings: tuple[str, ...] = ()
    radius: RadiusSettings | None = None  # [radius] (docs/radius.md); None: local users only

    def summary(self) -> str:
        """One line for ``ikel2tp config check``: what the server would do, without secrets."""
        s, i = self.server, self.ike
        auth = []
        if i.psk:
            auth.append("global PSK")
        if i.peers:
            auth.append(f"{len(i.peers)} peer PSK(s)")
        if i.cert:
            auth.append("certificate")
        listen = ", ".join(s.listen)
        return (f"listen {listen} ports {s.ike_port}/{s.natt_port}, dataplane {s.dataplane}; "
                f"IKE auth {' + '.join(auth)}, {len(i.phase1)} phase 1 / {len(i.phase2)} phase 2 proposals; "
                f"L2TP {'over IPsec only' if self.l2tp.require_ipsec else 'also without IPsec'}; "
                f"PPP auth {'/'.join(self.ppp.auth)}; pool {self.pool.network} gateway {self.pool.gateway} "
                f"({self.pool.size()} addresses); {len(self.users)} user(s)"
                + (f"; RADIUS {len(self.radius.servers)} server(s)" if self.radius is not None else ""))


# Sections in file order; [[users]] and [radius] (ikel2tp.radius.settings) are read apart.
_SECTIONS: dict[str, type] = {"server": ServerConfig, "ike": IkeConfig, "l2tp": L2tpConfig,
                              "ppp": PppConfig, "pool": PoolConfig}


def load_config(path: str | os.PathLike[str], *, log: logging.Logger | None = _log) -> Config:
    """Read and validate a TOML configuration file; relative paths in it are relative to its folder.

    Each warning of the result is also logged to ``log`` (pass ``None`` to leave that to the caller).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc}") from exc
    return parse_config(text, str(path), base_dir=path.parent.resolve(), log=log)


def parse_config(text: str, source_name: str, *, base_dir: str | os.PathLike[str] | None = None,
                 log: logging.Logger | None = _log) -> Config:
    """Validate TOML ``text``; errors name ``source_name``.  Relative paths resolve against
    ``base_dir`` (default: the current directory)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source_name}: not valid TOML: {exc}") from exc
    return config_from_dict(data, source_name, base_dir=base_dir, log=log)


def config_from_dict(data: dict[str, Any], source_name: str = "<dict>", *,
                     base_dir: str | os.PathLike[str] | None = None,
                     log: logging.Logger | None = _log) -> Config:
    """Validate an already parsed document (what :func:`tomllib.loads` returns); tests build configs
    this way.  Same rules, errors and warnings as :func:`parse_config`."""
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    try:
        config = _build(data, source_name, base)
    except _Bad as exc:
        raise ConfigError(f"{source_name}: {exc.path}: {exc.message}") from None
    if log is not None:
        for warning in config.warnings:
            log.warning("%s: %s", source_name, warning)
    return config


def _build(data: dict[str, Any], source: str, base: Path) -> Config:
    for name in data:
        if name not in _SECTIONS and name not in ("users", "radius"):
            allowed = [*_SECTIONS, "users", "radius"]
            raise _Bad(name, f"unknown section{_did_you_mean(name, allowed)} (allowed: {', '.join(allowed)})")
    raw = {name: _read(cls, data.get(name, {}), name) for name, cls in _SECTIONS.items()}
    warnings: list[str] = []
    server = _build_server(raw["server"], base)
    ike = _build_ike(raw["ike"], server, base, warnings)
    l2tp = L2tpConfig(**raw["l2tp"])
    if not l2tp.require_ipsec:
        warnings.append("l2tp.require_ipsec = false: L2TP and PPP are accepted in plaintext on "
                        f"UDP port {l2tp.plain_port} (lab and test use only)")
    ppp = PppConfig(**raw["ppp"])
    pool = _build_pool(raw["pool"])
    users = _build_users(data.get("users", []), pool)
    radius = parse_radius_section(data["radius"], source) if "radius" in data else None
    return Config(server, ike, l2tp, ppp, pool, users, source, tuple(warnings), radius)


def _resolve(base: Path, path: str) -> str:
    return str(base / path) if not os.path.isabs(path) else path


def _build_server(raw: dict[str, Any], base: Path) -> ServerConfig:
    for key in ("state_dir", "control_socket"):
        if key in raw:
            raw[key] = _resolve(base, raw[key])
    server = ServerConfig(**raw)
    if server.ike_port == server.natt_port != 0:
        raise _Bad("server.natt_port", f"must differ from server.ike_port ({server.ike_port})")
    return server


def _build_ike(raw: dict[str, Any], server: ServerConfig, base: Path, warnings: list[str]) -> IkeConfig:
    for index, peer in enumerate(raw.get("peers", ())):
        where = f"ike.peers[{index}]"
        if peer.address is None and peer.id is None:
            raise _Bad(where, "a peer needs 'address' (IP or CIDR), 'id' (its IKE identity) or both")
        if not peer.psk:
            raise _Bad(f"{where}.psk", "missing: every [[ike.peers]] entry needs its pre-shared key")
        _check_psk(peer.psk, f"{where}.psk", warnings)
    for key in ("cert", "key", "ca", "crl"):
        if key in raw:
            raw[key] = _resolve(base, raw[key])
            if not os.path.exists(raw[key]):
                raise _Bad(f"ike.{key}", f"file not found: {raw[key]}")
    if ("cert" in raw) != ("key" in raw):
        raise _Bad("ike.cert" if "key" in raw else "ike.key",
                   "'cert' and 'key' go together: set both or neither")
    for key in ("ca", "crl", "allowed_subjects"):
        if key in raw and "cert" not in raw:
            raise _Bad(f"ike.{key}", f"'{key}' is for client certificates and needs the server's "
                                     "'cert' and 'key'")
    if "cert" in raw:
        if "ca" not in raw:
            raise _Bad("ike.ca", "missing: with 'cert', set 'ca' to the CA certificate(s) that client "
                                 "certificates must chain to")
        _check_certificate_files(raw, warnings)
    if "psk" in raw:
        _check_psk(raw["psk"], "ike.psk", warnings)
    if "psk" not in raw and not raw.get("peers") and "cert" not in raw:
        raise _Bad("ike", "no way to authenticate clients: set 'psk', add [[ike.peers]] "
                          "or set 'cert' and 'key'")
    for kind in ("phase1", "phase2"):
        for index, suite in enumerate(raw.get(kind, ())):
            weak = suites.weak_parts(suite)
            if weak:
                warnings.append(f"ike.{kind}[{index}]: {suite} uses weak {', '.join(weak)} "
                                "(allowed because it is listed explicitly)")
    dpd_interval = raw.get("dpd_interval", IkeConfig.dpd_interval)
    if dpd_interval and raw.get("dpd_timeout", IkeConfig.dpd_timeout) < dpd_interval:
        raise _Bad("ike.dpd_timeout", f"must be at least ike.dpd_interval ({dpd_interval} s)")
    raw["nat_d_workaround"] = _resolve_nat_d(raw.get("nat_d_workaround", True), server)
    return IkeConfig(**raw)


def _resolve_nat_d(setting: str | bool, server: ServerConfig) -> bool:
    """``auto`` is on: the workaround echoes the client's own NAT-D hash of the address it dialed,
    which is the server's own hash when nothing translates it, so it changes nothing for a server
    that is not behind NAT (with or without ``public_address``) and is needed for one that is."""
    return setting is not False


def _check_certificate_files(raw: dict[str, Any], warnings: list[str]) -> None:
    """The ``[ike]`` certificate files load and fit together (``config check`` reports it)."""
    def load(key: str, loader: Callable[[Path], Any]) -> Any:
        try:
            return loader(Path(raw[key]))
        except CaError as exc:
            raise _Bad(f"ike.{key}", str(exc)) from exc

    chain = load("cert", load_certificates)
    private = load("key", load_private_key)
    load("ca", load_certificates)
    if "crl" in raw:
        load("crl", load_crl)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise _Bad("ike.key", "not an RSA key: IKEv1 signature authentication (method 3) needs RSA")
    if private.public_key().public_numbers() != chain[0].public_key().public_numbers():
        raise _Bad("ike.key", f"this key does not belong to the certificate in {raw['cert']}")
    if chain[0].not_valid_after_utc < datetime.now(UTC):
        warnings.append(f"ike.cert: the server certificate expired on "
                        f"{chain[0].not_valid_after_utc:%Y-%m-%d}; clients will refuse it")


def _check_psk(psk: str, path: str, warnings: list[str]) -> None:
    if len(psk) < _SHORT_PSK:
        warnings.append(f"{path}: the pre-shared key has only {len(psk)} characters; use {_SHORT_PSK} "
                        "or more (random), it is the only thing between the internet and your users' "
                        "passwords")


def _build_pool(raw: dict[str, Any]) -> PoolConfig:
    pool = PoolConfig(**raw)
    net = pool.network
    if net.prefixlen > 30:
        raise _Bad("pool.network", f"{net} is too small: use a network from /16 to /30")
    if net.prefixlen < 16:
        raise _Bad("pool.network", f"{net} is too large: use a network from /16 to /30 "
                                   "(65534 clients at most)")
    if pool.gateway not in net or pool.gateway in (net.network_address, net.broadcast_address):
        raise _Bad("pool.gateway", f"{pool.gateway} must be a host address inside pool.network {net}")
    for index, excluded in enumerate(pool.exclusions):
        if not excluded.subnet_of(net):
            raise _Bad(f"pool.exclusions[{index}]", f"{excluded} is not inside pool.network {net}")
    if pool.size() < 1:
        raise _Bad("pool.exclusions", f"no address of {net} is left for clients")
    return pool


def _build_users(value: Any, pool: PoolConfig) -> tuple[UserConfig, ...]:
    users = _table_list(UserConfig)(value, "users")
    names: set[str] = set()
    static: dict[ipaddress.IPv4Address, str] = {}
    for index, user in enumerate(users):
        where = f"users[{index}]"
        if not user.name:
            raise _Bad(f"{where}.name", "missing: every user needs a name")
        if user.name in names:
            raise _Bad(f"{where}.name", f"user {user.name!r} is defined twice")
        names.add(user.name)
        if (user.password is None) == (user.nt_hash is None):
            raise _Bad(where, f"user {user.name!r} needs exactly one of 'password' or 'nt_hash'")
        ip = user.static_ip
        if ip is None:
            continue
        net = pool.network
        if ip not in net or ip in (net.network_address, net.broadcast_address, pool.gateway):
            raise _Bad(f"{where}.static_ip", f"{ip} must be a client address inside pool.network {net} "
                                             f"(not its network, broadcast or gateway {pool.gateway})")
        if ip in static:
            raise _Bad(f"{where}.static_ip", f"{ip} is already the static_ip of user {static[ip]!r}")
        static[ip] = user.name
    return users


# --- the embedded default for `ikel2tp serve` without --config ----------------------------------

_DEFAULT_TEMPLATE = """\
# ikel2tp configuration, written on the first run of `ikel2tp serve`.
# Every key is described in docs/config.md. Keep this file private (mode 0600): it holds the secrets.

[server]
state_dir = {state_dir}
# Clients reach the internet through this server (NAT on the interface of the default route).
masquerade = true

[ike]
# Pre-shared key every client types in ("IPsec secret", "Shared secret").
psk = {psk}

[ppp]
dns = ["1.1.1.1", "8.8.8.8"]

[[users]]
name = "vpnuser"
# MD4 of the UTF-16LE password (the NT hash MS-CHAPv2 needs); the password itself was shown once.
nt_hash = "{nt_hash}"
"""


def random_secret(length: int) -> str:
    """A random string over an alphabet without look-alike characters (0/O, 1/l/I)."""
    return "".join(secrets.choice(_UNAMBIGUOUS) for _ in range(length))


def ensure_default_config(state_dir: str | os.PathLike[str] = DEFAULT_STATE_DIR) -> tuple[Config, str | None]:
    """Load ``<state_dir>/ikel2tp.toml``, writing it with fresh secrets on the first run.

    ``state_dir`` is created with mode 0700 and the file with mode 0600.  On the first run the
    second element is a message with what a client user types in (server address, PSK, user
    name, password: the password is shown only then; the file keeps its NT hash).  Later runs
    return ``None`` there.
    """
    state = Path(state_dir).absolute()
    if not state.is_dir():
        try:
            state.mkdir(mode=0o700, parents=True)
            state.chmod(0o700)  # mkdir's mode is filtered by the umask
        except OSError as exc:
            raise ConfigError(f"{state}: cannot create the state directory: {exc}") from exc
    path = state / CONFIG_NAME
    if path.exists():
        return load_config(path), None
    psk, password = random_secret(24), random_secret(16)
    text = _DEFAULT_TEMPLATE.format(state_dir=_toml_string(str(state)), psk=_toml_string(psk),
                                    nt_hash=nt_password_hash(password).hex())
    try:
        write_private(path, text.encode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the default configuration: {exc}") from exc
    config = load_config(path)
    return config, _first_run_message(path, psk, password)


def _toml_string(text: str) -> str:
    escaped = "".join(c if c.isprintable() and c not in '"\\' else f"\\U{ord(c):08x}" for c in text)
    return f'"{escaped}"'


def _first_run_message(path: Path, psk: str, password: str) -> str:
    address = _local_address()
    if address is None:
        where = "<this server's public IP address or DNS name>"
    elif ipaddress.ip_address(address).is_private:
        where = (f"<this server's public IP address or DNS name> (locally {address}: behind NAT, "
                 "forward UDP 500 and 4500 to it)")
    else:
        where = address
    return (f"First run: wrote {path} with new secrets (this is the only time the password is shown).\n"
            "Set up a client (Windows, macOS, iOS, Android up to 11) as:\n"
            "  VPN type:        L2TP/IPsec with pre-shared key\n"
            f"  Server address:  {where}\n"
            f"  Pre-shared key:  {psk}\n"
            "  User name:       vpnuser\n"
            f"  Password:        {password}\n"
            f"Add users or change settings in {path} (see docs/config.md), then restart ikel2tp.")


def _local_address() -> str | None:
    """The source address of the default route: a UDP connect() picks it and sends nothing."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            return probe.getsockname()[0]
    except OSError:
        return None
