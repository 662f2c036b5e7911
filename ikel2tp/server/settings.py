"""From a validated :class:`~ikel2tp.config.Config` to the cores' settings objects and the cores.

The cores each take their own small settings dataclass; this module is the one place that maps the
configuration file's sections onto them, builds the cores and connects the data plane to the
shell's sockets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ikel2tp.certs.errors import CaError
from ikel2tp.certs.store import load_certificates, load_crl, load_private_key
from ikel2tp.config import Config
from ikel2tp.dataplane.base import create_dataplane
from ikel2tp.ike.certauth import CertAuthenticator, CertSettings, Credential
from ikel2tp.ike.constants import AuthMethod as IkeAuthMethod
from ikel2tp.ike.settings import IkeSettings, PeerSettings
from ikel2tp.l2tp.lns import Lns
from ikel2tp.l2tp.settings import L2tpSettings
from ikel2tp.pool import AddressPool
from ikel2tp.ppp.auth.credentials import AuthMethod
from ikel2tp.ppp.link import PppLink
from ikel2tp.ppp.settings import PppSettings
from ikel2tp.server.transport import Kind, Transport
from ikel2tp.server.wiring import Address, Gateway, ServerIO
from ikel2tp.users.local import LocalUserBackend

if TYPE_CHECKING:
    from ikel2tp.ike.manager import AuthenticatorFactory

EspSink = Callable[[bytes, Address, Address], None]
"""``sink(data, remote, local)``: where the shell hands ESP-in-UDP from its NAT-T socket."""


def l2tp_settings(config: Config) -> L2tpSettings:
    c = config.l2tp
    return L2tpSettings(
        secret=c.secret.encode() if c.secret else None,
        hello_interval=float(c.hello_interval),
        max_tunnels=c.max_tunnels,
        max_tunnels_per_peer=c.max_tunnels_per_peer,
        max_sessions_per_tunnel=c.max_sessions_per_tunnel,
        require_ipsec=c.require_ipsec,
    )


def ppp_settings(config: Config) -> PppSettings:
    c = config.ppp
    return PppSettings(
        auth=tuple(AuthMethod(name) for name in c.auth),
        mtu=c.mtu,
        mru=c.mru,
        echo_interval=float(c.lcp_echo_interval),
        echo_failures=c.lcp_echo_failure,
        mss_clamp=c.mss_clamp,
    )


def check(config: Config) -> None:
    """Raise ValueError for what a core cannot take, before the server sets anything up."""
    ike_settings(config)
    cert_settings(config)
    l2tp_settings(config)
    ppp_settings(config)


def make_dataplane(config: Config, transport: Transport, log: logging.Logger) -> tuple[Any, EspSink]:
    """The configured ESP backend, connected to the shell's IKE and NAT-T sockets, and where
    ESP-in-UDP from the NAT-T socket goes."""
    kind = config.server.dataplane
    dataplane = create_dataplane(kind, log=logging.getLogger("ikel2tp.dataplane"))
    try:
        esp_sink = _connect_dataplane(dataplane, transport)
    except OSError:
        dataplane.close()  # nothing half-installed stays behind
        raise
    if kind != "auto":  # the registry logs its own choice and reason for "auto"
        log.info("data plane: %s", dataplane.name)
    return dataplane, esp_sink


def ike_settings(config: Config) -> IkeSettings:
    """``[ike]`` as the IKE core reads it."""
    c = config.ike
    peers = tuple(
        PeerSettings(None if peer.address is None else str(peer.address), peer.psk.encode(), peer.id)
        for peer in c.peers
    )
    return IkeSettings(
        psk=c.psk.encode() if c.psk else None,
        peers=peers,
        local_id=c.local_id,
        phase1=tuple(str(suite) for suite in c.phase1),
        phase2=tuple(str(suite) for suite in c.phase2),
        phase1_lifetime=c.ike_lifetime,
        phase2_lifetime=c.ipsec_lifetime,
        phase2_lifetime_kb=c.ipsec_lifetime_kb,
        dpd_delay=float(c.dpd_interval),
        dpd_timeout=float(c.dpd_timeout),
        aggressive=c.aggressive_mode,
        nat_d_workaround=c.nat_d_workaround,
        force_encap=c.force_encapsulation,
        half_open_timeout=float(c.half_open_timeout),
        max_half_open=c.max_half_open,
        max_half_open_per_source=c.max_half_open_per_source,
        retransmit_timeout=c.retransmit_timeout,
        retransmit_tries=c.retransmit_tries,
        fragment_size=c.fragment_size,
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


def cert_settings(config: Config, wallclock: Callable[[], datetime] = _utc_now) -> CertSettings | None:
    """The certificate credentials of ``[ike]`` (cert, key, ca, crl, allowed_subjects), or None
    without ``cert``; ValueError names the key whose file is wrong."""
    c = config.ike
    if c.cert is None or c.key is None or c.ca is None:
        return None

    def load(key: str, loader: Callable[[Path], Any]) -> Any:
        try:
            return loader(Path(getattr(c, key)))
        except CaError as exc:
            raise ValueError(f"{config.source}: ike.{key}: {exc}") from exc

    chain = load("cert", load_certificates)
    private = load("key", load_private_key)
    crls = (load("crl", load_crl),) if c.crl is not None else ()
    try:
        credential = Credential(chain[0], private, tuple(chain[1:]))
    except ValueError as exc:
        raise ValueError(f"{config.source}: ike.key: {exc}") from exc
    return CertSettings(
        (credential,), tuple(load("ca", load_certificates)), wallclock, crls=crls,
        allowed_subjects=c.allowed_subjects,
    )


def ike_authenticators(config: Config) -> dict[int, AuthenticatorFactory]:
    """Authenticators beyond pre-shared keys: RSA signatures with the configured certificate."""
    certs = cert_settings(config)
    if certs is None:
        return {}
    return {IkeAuthMethod.RSA_SIGNATURES: lambda remote, peer_id: CertAuthenticator(certs)}


def _connect_dataplane(dataplane: Any, transport: Transport) -> EspSink:
    """Give the backend the shell's sockets, the same way for every backend (the DataPlane
    protocol): its settings on each IKE socket, then the loop and the ESP-in-UDP sender; ESP-in-UDP
    read from the NAT-T socket goes to its ``receive_udp_esp``."""
    for endpoint in transport.endpoints:
        if endpoint.kind in (Kind.IKE, Kind.NATT):
            dataplane.prepare_ike_socket(endpoint.sock, endpoint.kind is Kind.NATT)
    dataplane.attach(transport.loop, transport.send_esp_udp)
    return dataplane.receive_udp_esp


def make_gateway(config: Config, dataplane: Any, io: ServerIO, *, clock: Callable[[], float],
                 esp_sink: EspSink | None,
                 log: logging.Logger) -> Gateway:
    """Every core, built from ``config`` and wired to ``dataplane`` and ``io``."""
    from ikel2tp.ike.manager import IkeManager

    ike = IkeManager(ike_settings(config), spi_allocator=dataplane.allocate_spi,
                     log=logging.getLogger("ikel2tp.ike"), authenticators=ike_authenticators(config))
    lns = Lns(l2tp_settings(config), log=logging.getLogger("ikel2tp.l2tp"))
    pool = AddressPool(config.pool.network, gateway=config.pool.gateway, exclusions=config.pool.exclusions,
                       static={u.name: u.static_ip for u in config.users if u.static_ip is not None},
                       log=logging.getLogger("ikel2tp.pool"))
    users = LocalUserBackend(config.users, log=logging.getLogger("ikel2tp.users"))
    ppp = ppp_settings(config)
    ppp_log = logging.getLogger("ikel2tp.ppp")
    return Gateway(
        ike=ike, dataplane=dataplane, lns=lns, pool=pool, users=users,
        make_link=lambda name: PppLink(ppp, log=ppp_log, name=name),
        io=io, gateway_address=str(config.pool.gateway), dns=config.ppp.dns, wins=config.ppp.wins,
        esp_sink=esp_sink, clock=clock, log=log)


def reload(gateway: Gateway, config: Config) -> None:
    """SIGHUP: new users, pre-shared keys and certificate files (CAs, CRL, allowed subjects, our
    certificate); nothing else changes and no session drops."""
    gateway.users.reload(config.users)
    new = ike_settings(config)
    gateway.ike.settings = replace(gateway.ike.settings, psk=new.psk, peers=new.peers)
    gateway.ike.set_authenticators(ike_authenticators(config))
