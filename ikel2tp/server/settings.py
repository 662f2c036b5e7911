"""From a validated :class:`~ikel2tp.config.Config` to the cores' settings objects and the cores.

The cores each take their own small settings dataclass; this module is the one place that maps the
configuration file's sections onto them, builds the cores and connects the data plane to the
shell's sockets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ikel2tp.config import Config
from ikel2tp.dataplane.base import create_dataplane
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
        mru=c.mru,
        echo_interval=float(c.lcp_echo_interval),
        echo_failures=c.lcp_echo_failure,
        mss_clamp=c.mss_clamp,
    )


def check(config: Config) -> None:
    """Raise ValueError for what a core cannot take, before the server sets anything up."""
    ike_settings(config)
    l2tp_settings(config)
    ppp_settings(config)


def make_dataplane(config: Config, transport: Transport, log: logging.Logger) -> tuple[Any, EspSink | None]:
    """The configured ESP backend, connected to the shell's NAT-T socket (and its raw ESP socket),
    and where ESP-in-UDP from the NAT-T socket goes (None: the backend never gets it from us)."""
    kind = config.server.dataplane
    try:
        dataplane = create_dataplane(kind, log=logging.getLogger("ikel2tp.dataplane"))
    except ImportError as exc:
        raise ValueError(f"data plane {kind!r}: not built yet (missing {exc.name})") from exc
    try:
        esp_sink = _connect_dataplane(dataplane, transport)
    except OSError:
        dataplane.close()  # nothing half-installed stays behind
        raise
    if kind != "auto":  # the registry logs its own choice and reason for "auto"
        log.info("data plane: %s", dataplane.name)
    return dataplane, esp_sink


def ike_settings(config: Config) -> IkeSettings:
    """``[ike]`` as the IKE core reads it; ValueError names a key the core cannot honour yet."""
    c = config.ike
    peers = []
    for index, peer in enumerate(c.peers):
        if peer.id is not None or peer.address is None or peer.address.num_addresses != 1:
            raise ValueError(f"{config.source}: ike.peers[{index}]: the IKE core picks a peer's key by one "
                             "source address; 'id' and networks are not supported yet")
        peers.append(PeerSettings(str(peer.address.network_address), peer.psk.encode()))
    if c.cert is not None:
        raise ValueError(f"{config.source}: ike.cert: certificate authentication is not built yet; "
                         "use a pre-shared key")
    return IkeSettings(
        psk=c.psk.encode() if c.psk else None,
        peers=tuple(peers),
        phase1=tuple(str(suite) for suite in c.phase1),
        phase2=tuple(str(suite) for suite in c.phase2),
        phase1_lifetime=c.ike_lifetime,
        phase2_lifetime=c.ipsec_lifetime,
        dpd_delay=float(c.dpd_interval),
        dpd_timeout=float(c.dpd_timeout),
        nat_d_workaround=c.nat_d_workaround,
        force_encap=c.force_encapsulation,
        max_half_open=c.max_half_open,
        max_half_open_per_source=c.max_half_open_per_source,
    )


def _connect_dataplane(dataplane: Any, transport: Transport) -> EspSink | None:
    """Give the backend the sockets it needs; where ESP-in-UDP from the NAT-T socket goes."""
    if dataplane.name == "userspace":
        dataplane.attach_udp(transport.send_esp_udp)
        try:
            dataplane.open_raw(transport.loop)
        except OSError as exc:
            raise OSError(f"cannot open the raw ESP socket (needs CAP_NET_RAW): {exc.strerror}") from exc
        return dataplane.receive_udp_esp
    if dataplane.name == "xfrm":
        from ikel2tp.dataplane.xfrm import enable_udp_encap, set_ike_bypass

        # The kernel takes ESP off the NAT-T sockets and passes only IKE and keepalives up; IKE
        # itself must never be caught by an IPsec policy.
        for endpoint in transport.endpoints:
            if endpoint.kind in (Kind.IKE, Kind.NATT):
                set_ike_bypass(endpoint.sock)
            if endpoint.kind is Kind.NATT:
                enable_udp_encap(endpoint.sock)
        dataplane.attach(transport.loop)
    return None


def make_gateway(config: Config, dataplane: Any, io: ServerIO, *, clock: Callable[[], float],
                 esp_sink: EspSink | None,
                 log: logging.Logger) -> Gateway:
    """Every core, built from ``config`` and wired to ``dataplane`` and ``io``."""
    from ikel2tp.ike.manager import IkeManager

    ike = IkeManager(ike_settings(config), spi_allocator=dataplane.allocate_spi,
                     log=logging.getLogger("ikel2tp.ike"))
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
    """SIGHUP: new users and pre-shared keys; nothing else changes and no session drops."""
    gateway.users.reload(config.users)
    new = ike_settings(config)
    gateway.ike.settings = replace(gateway.ike.settings, psk=new.psk, peers=new.peers)
