"""RADIUS in the server (ikel2tp/server/radius.py): ``[radius]`` in the configuration, and the wired
Gateway (fake data plane, in-memory LAC and PPP clients) logging users in through a real FreeRADIUS,
with Framed-IP-Address, accounting Start/Stop in its detail file and radclient's Disconnect-Request.
The timers and the Terminate-Cause mapping are checked with a stand-in backend."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address

import pytest

from ikel2tp.common.errors import ConfigError
from ikel2tp.config import UserConfig
from ikel2tp.dataplane.fake import FakeDataPlane
from ikel2tp.l2tp.lns import Lns
from ikel2tp.l2tp.settings import L2tpSettings
from ikel2tp.pool import AddressPool
from ikel2tp.ppp.auth.credentials import AuthMethod
from ikel2tp.ppp.events import AuthFailed, LinkDown
from ikel2tp.ppp.link import PppLink
from ikel2tp.ppp.settings import PppSettings
from ikel2tp.radius.client import RadiusAuthResult
from ikel2tp.radius.constants import TerminateCause
from ikel2tp.radius.settings import AccountingSettings, DasSettings, RadiusServer, RadiusSettings
from ikel2tp.server.radius import RadiusSessions, nas_port, terminate_cause
from ikel2tp.server.wiring import Gateway
from ikel2tp.users.local import LocalUserBackend
from tests.l2tp.lac import seeded
from tests.radius import freeradius
from tests.server.backtoback import Client, FakeIke, RecordingIO, udp_packet

LOG = logging.getLogger("ikel2tp.test.radius")
NET = ipaddress.IPv4Network("10.42.0.0/24")
GATEWAY = "10.42.0.1"
NAT = "203.0.113.9"
MSCHAPV2 = (AuthMethod.MSCHAPV2,)
DAS_SECRET = "ikel2tp-das-secret-4Kd"
SECRET = "long-enough-secret"
BOOTS = itertools.count(0x5EED)  # a fresh Acct-Session-Id prefix per gateway: one FreeRADIUS serves all
needs_freeradius = [
    pytest.mark.interop,
    pytest.mark.skipif(freeradius.FREERADIUS is None, reason="freeradius is not installed"),
]


# -- the configuration ----------------------------------------------------------------------------

def test_radius_section_is_parsed_into_the_config(make_config) -> None:  # type: ignore[no-untyped-def]
    config = make_config(radius={"servers": [{"address": "192.0.2.10", "secret": SECRET}],
                                 "local_fallback": True, "accounting": {"interim_interval": 60}})
    assert config.radius is not None
    assert config.radius.servers[0].address == "192.0.2.10" and config.radius.local_fallback
    assert config.radius.accounting.interim_interval == 60
    assert "RADIUS 1 server(s)" in config.summary() and SECRET not in config.summary()
    assert make_config().radius is None


@pytest.mark.parametrize("radius, key", [
    ({}, "radius.servers"),
    ({"servers": [{"address": "radius.example", "secret": SECRET}]}, "radius.servers[0].address"),
    ({"servers": [{"address": "192.0.2.10", "secret": "short"}]}, "radius.servers[0].secret"),
    ({"servers": [{"address": "192.0.2.10", "secret": SECRET}], "das": {}}, "radius.das.secret"),
])
def test_radius_errors_name_the_key(make_config, radius, key) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as raised:
        make_config(radius=radius)
    assert str(raised.value).startswith(f"test-config: {key}: ")
    assert "short" not in str(raised.value)


def test_terminate_cause_from_the_down_reason() -> None:
    assert terminate_cause("server shutting down") is TerminateCause.NAS_REBOOT
    assert terminate_cause("disconnected by the administrator") is TerminateCause.ADMIN_RESET
    assert terminate_cause("peer sent LCP Terminate-Request") is TerminateCause.USER_REQUEST
    assert terminate_cause("peer disconnected the call: ADMINISTRATIVE") is TerminateCause.USER_REQUEST
    assert terminate_cause("tunnel closed: peer closed the tunnel: GENERAL") is TerminateCause.USER_REQUEST
    assert terminate_cause("tunnel closed: no answer to DPD R-U-THERE") is TerminateCause.LOST_CARRIER
    assert terminate_cause("peer dead: 5 LCP Echo-Requests unanswered") is TerminateCause.LOST_CARRIER


# -- a gateway with RADIUS ------------------------------------------------------------------------

def make_gateway(settings: RadiusSettings, *, ppp: PppSettings | None = None,
                 users: tuple[UserConfig, ...] = ()) -> tuple[Gateway, FakeIke, RadiusSessions]:
    """The wired server on the fake data plane, clocked by the running loop, with ``gateway.radius``."""
    loop = asyncio.get_running_loop()
    ike = FakeIke()
    pool = AddressPool(NET, gateway=IPv4Address(GATEWAY), log=LOG)
    server_ppp = ppp or PppSettings(auth=MSCHAPV2)
    counter = iter(range(1, 1000))
    gateway = Gateway(
        ike=ike, dataplane=FakeDataPlane(log=LOG, random=seeded(5)), lns=Lns(L2tpSettings(), log=LOG,
                                                                          random=seeded(6)),
        pool=pool, users=LocalUserBackend(users, log=LOG),
        make_link=lambda name: PppLink(server_ppp, log=LOG, random=seeded(next(counter)), name=name),
        io=RecordingIO(), gateway_address=GATEWAY, clock=loop.time, log=LOG)
    gateway.dataplane.on_l2tp = lambda handle, payload, port: gateway.l2tp_input(handle, payload, port,
                                                                                 loop.time())
    radius = RadiusSessions(settings, gateway, clock=loop.time, log=LOG, boot=next(BOOTS))
    gateway.radius = radius
    return gateway, ike, radius


async def login(gateway: Gateway, ike: FakeIke, user: str, password: str, *, ike_sa_id: int = 1,
                spi: int = 0x1000, port: int = 4500) -> Client:
    """Connect a client and run PPP until it has an address or its login failed (5 s at most)."""
    loop = asyncio.get_running_loop()
    client = Client(gateway, ike, ike_sa_id=ike_sa_id, spi_in=spi, remote=(NAT, port), user=user,
                    password=password, auth=MSCHAPV2)
    client.negotiate_ipsec(loop.time())
    client.connect_l2tp(loop.time())
    for _ in range(500):
        client.run_ppp(loop.time())
        if client.address or any(isinstance(e, AuthFailed | LinkDown) for e in client.ppp_events):
            break
        await asyncio.sleep(0.01)
    return client


def traffic(gateway: Gateway, client: Client) -> None:
    """One packet each way through the session."""
    now = asyncio.get_running_loop().time()
    assert client.address is not None
    client.send_ip(udp_packet(client.address, "192.0.2.99", b"x" * 100), now)
    gateway.tun_input(udp_packet("192.0.2.99", client.address, b"y" * 200), now)
    gateway.pump(now)
    client.run_ppp(now)


async def until(condition, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


# -- against FreeRADIUS ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[freeradius.FreeRadius]:
    if freeradius.FREERADIUS is None:
        pytest.skip("freeradius is not installed")
    running = freeradius.start(tmp_path_factory.mktemp("freeradius"))
    try:
        yield running
    finally:
        running.stop()


def radius_settings(fr: freeradius.FreeRadius, das_port: int = 0, interim: int = 0) -> RadiusSettings:
    # FreeRADIUS 3.2.1 (Debian 12) sends no Message-Authenticator in its answers (see docs/radius.md).
    server = RadiusServer("127.0.0.1", freeradius.SECRET, auth_port=fr.auth_port, acct_port=fr.acct_port,
                          timeout=1.0, retries=1, require_message_authenticator=False)
    return RadiusSettings(servers=(server,), nas_identifier="ikel2tp-test", nas_ip=IPv4Address("127.0.0.1"),
                          accounting=AccountingSettings(interim_interval=interim, retry_interval=1),
                          das=DasSettings(DAS_SECRET, listen="127.0.0.1", port=das_port,
                                          require_message_authenticator=False))


def records(fr: freeradius.FreeRadius, status: str, session_id: str) -> list[dict[str, str]]:
    return [r for r in fr.detail_records()
            if r.get("Acct-Status-Type") == status and r.get("Acct-Session-Id") == session_id]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["radclient", "shutdown"])
def test_mschapv2_login_accounting_and_the_end_of_the_session(fr: freeradius.FreeRadius, how: str) -> None:
    """alice logs in with MS-CHAPv2 through FreeRADIUS, gets her Framed-IP-Address, sends and receives;
    the detail file has her Start and a Stop with the octets and the Terminate-Cause of how it ended:
    radclient's Disconnect-Request (Admin-Reset) or the server's shutdown (NAS-Reboot)."""
    async def main() -> tuple[str, list[dict[str, str]], list[dict[str, str]], str]:
        gateway, ike, radius = make_gateway(radius_settings(fr))
        await radius.start()
        try:
            alice = await login(gateway, ike, "alice", freeradius.USERS["alice"])
            assert alice.address == freeradius.ALICE_ADDRESS  # Framed-IP-Address, outside [pool]
            (session,) = gateway.table
            assert session.link.settings.mtu == 1400  # Framed-MTU
            (tracked,) = radius._tracked.values()
            session_id = tracked.session_id
            await until(lambda: records(fr, "Start", session_id))
            traffic(gateway, alice)
            if how == "radclient":
                das = radius.backend.das_address
                assert das is not None
                process = await asyncio.create_subprocess_exec(
                    "radclient", "-r", "1", "-t", "3", f"{das[0]}:{das[1]}", "disconnect", DAS_SECRET,
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT)
                out, _ = await asyncio.wait_for(process.communicate(
                    f'User-Name = "alice"\nAcct-Session-Id = "{session_id}"\n'.encode()), 15)
                answer = out.decode(errors="replace")
                assert "Disconnect-ACK" in answer, answer
            else:
                gateway.shutdown(asyncio.get_running_loop().time())
                answer = ""
            assert not gateway.table.sessions
            await until(lambda: records(fr, "Stop", session_id))
        finally:
            await radius.stop()
        return session_id, records(fr, "Start", session_id), records(fr, "Stop", session_id), answer

    session_id, starts, stops, _ = asyncio.run(main())
    (start,), (stop,) = starts, stops
    assert start["User-Name"] == "alice" and start["Framed-IP-Address"] == freeradius.ALICE_ADDRESS
    assert start["Calling-Station-Id"] == NAT
    assert start["Class"].endswith(freeradius.ALICE_CLASS.encode().hex())
    assert stop["Acct-Input-Octets"] == "128" and stop["Acct-Output-Octets"] == "228"
    assert stop["Acct-Input-Packets"] == "1" and stop["Acct-Output-Packets"] == "1"
    assert stop["Acct-Terminate-Cause"] == ("Admin-Reset" if how == "radclient" else "NAS-Reboot")
    assert int(stop["Acct-Session-Time"]) >= 0 and stop["NAS-Port"] == start["NAS-Port"]


@pytest.mark.timeout(60)
def test_mschapv2_reject_is_ppp_failure_691_and_no_accounting(fr: freeradius.FreeRadius,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> Client:
        gateway, ike, radius = make_gateway(radius_settings(fr))
        await radius.start()
        try:
            bob = await login(gateway, ike, "bob", "not-bobs-password")
            assert bob.address is None and not radius._tracked
            return bob
        finally:
            await radius.stop()

    with caplog.at_level(logging.INFO):
        bob = asyncio.run(main())
    failed = [e for e in bob.ppp_events if isinstance(e, AuthFailed | LinkDown)]
    assert failed and "E=691" in str(failed[0]), bob.ppp_events
    assert "not-bobs-password" not in caplog.text


@pytest.mark.timeout(60)
def test_interim_update_carries_the_counters_so_far(fr: freeradius.FreeRadius) -> None:
    """bob's Access-Accept has no Acct-Interim-Interval: the setting's 1 s applies."""
    async def main() -> str:
        gateway, ike, radius = make_gateway(radius_settings(fr, interim=1))
        await radius.start()
        try:
            bob = await login(gateway, ike, "bob", freeradius.USERS["bob"])
            assert bob.address is not None and bob.address.startswith("10.42.0.")  # from the pool
            (tracked,) = radius._tracked.values()
            traffic(gateway, bob)
            await until(lambda: any(r.get("Acct-Input-Octets") == "128"
                                    for r in records(fr, "Interim-Update", tracked.session_id)))
            assert gateway.kick("bob", asyncio.get_running_loop().time()) == 1
            await until(lambda: records(fr, "Stop", tracked.session_id))
            return tracked.session_id
        finally:
            await radius.stop()

    session_id = asyncio.run(main())
    interim = [r for r in records(fr, "Interim-Update", session_id) if r["Acct-Input-Octets"] == "128"][0]
    assert interim["Acct-Output-Octets"] == "228" and interim["Acct-Authentic"] == "RADIUS"
    (stop,) = records(fr, "Stop", session_id)
    assert stop["Acct-Terminate-Cause"] == "Admin-Reset" and stop["User-Name"] == "bob"


# -- limits and causes, with a stand-in backend ---------------------------------------------------

@dataclass
class StandIn:
    """Answers like RadiusUserBackend and records the accounting calls."""

    accept: RadiusAuthResult
    asked: list = field(default_factory=list)
    started: list = field(default_factory=list)
    stopped: list = field(default_factory=list)

    async def authenticate(self, credentials, *, calling_station_id=None, nas_port=None):  # type: ignore[no-untyped-def]
        self.asked.append((credentials.user, calling_station_id, nas_port))
        local = LocalUserBackend([UserConfig("alice", password="alice-secret")], log=LOG)
        verdict = local.authenticate(credentials)
        if not verdict.success:
            return verdict
        return replace(self.accept, authenticator_response=verdict.authenticator_response)

    def session_started(self, info):  # type: ignore[no-untyped-def]
        self.started.append(info)

    def session_stopped(self, counters, cause):  # type: ignore[no-untyped-def]
        self.stopped.append((counters, cause))

    def close(self) -> None:
        pass


def offline_settings() -> RadiusSettings:
    return RadiusSettings(servers=(RadiusServer("127.0.0.1", "not-used-secret"),))


@pytest.mark.timeout(20)
@pytest.mark.parametrize("limits, cause", [
    ({"session_timeout": 1}, TerminateCause.SESSION_TIMEOUT),
    ({"idle_timeout": 1}, TerminateCause.IDLE_TIMEOUT),
    ({}, TerminateCause.ADMIN_RESET),  # the administrator's kick
])
def test_session_and_idle_timeouts_and_kick_end_the_session_with_their_cause(limits, cause) -> None:
    async def main() -> tuple[StandIn, Gateway, float]:
        gateway, ike, radius = make_gateway(offline_settings())
        woken: list[bool] = []
        gateway.on_async_output = lambda: woken.append(True)
        stand_in = StandIn(RadiusAuthResult(True, "alice", static_address=IPv4Address("10.42.0.50"),
                                            framed_pool="gold", **limits))
        radius.backend = stand_in  # type: ignore[assignment]
        alice = await login(gateway, ike, "alice", "alice-secret")
        assert alice.address == "10.42.0.50"
        start = asyncio.get_running_loop().time()
        if not limits:
            assert gateway.kick("alice", start) == 1
        else:
            await until(lambda: not gateway.table.sessions)
            assert woken
        return stand_in, gateway, asyncio.get_running_loop().time() - start

    stand_in, gateway, took = asyncio.run(main())
    ((user, calling, port),) = stand_in.asked
    assert (user, calling) == ("alice", NAT) and port is not None and port >> 16 > 0
    (info,) = stand_in.started
    assert info.framed_ip == IPv4Address("10.42.0.50") and info.calling_station_id == NAT
    ((counters, got),) = stand_in.stopped
    assert got is cause and counters.session_id == info.session_id
    if limits:
        assert 0.8 < took < 3.0


@pytest.mark.timeout(20)
def test_idle_timeout_waits_while_the_user_sends() -> None:
    async def main() -> tuple[StandIn, float]:
        gateway, ike, radius = make_gateway(offline_settings())
        stand_in = StandIn(RadiusAuthResult(True, "alice", idle_timeout=1))
        radius.backend = stand_in  # type: ignore[assignment]
        alice = await login(gateway, ike, "alice", "alice-secret")
        start = asyncio.get_running_loop().time()
        for _ in range(8):  # 1.6 s of traffic: longer than the Idle-Timeout
            traffic(gateway, alice)
            await asyncio.sleep(0.2)
        await until(lambda: not gateway.table.sessions)
        return stand_in, asyncio.get_running_loop().time() - start

    stand_in, took = asyncio.run(main())
    ((counters, cause),) = stand_in.stopped
    assert cause is TerminateCause.IDLE_TIMEOUT and took > 2.0
    assert counters.input_packets >= 8 and counters.output_packets >= 8


def test_nas_port_from_the_l2tp_session_key() -> None:
    from ikel2tp.l2tp.events import SessionKey

    assert nas_port(SessionKey(0x1234, 0x0042)) == 0x12340042
    assert nas_port(("plain", 1)) is None


@pytest.mark.timeout(10)
def test_start_radius_opens_the_sockets_or_says_which_port_failed(make_config) -> None:  # type: ignore[no-untyped-def]
    import socket

    from ikel2tp.server.radius import start_radius

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        section = {"servers": [{"address": "127.0.0.1", "secret": SECRET}],
                   "das": {"secret": DAS_SECRET, "port": port}}

        async def main() -> tuple[object, str]:
            gateway, _, _ = make_gateway(offline_settings())
            gateway.radius = None
            clock = asyncio.get_running_loop().time
            assert await start_radius(make_config(), gateway, clock=clock, log=LOG) is None
            with pytest.raises(OSError) as raised:
                await start_radius(make_config(radius=section), gateway, clock=clock, log=LOG)
            assert gateway.radius is None
            taken.close()
            started = await start_radius(make_config(radius=section), gateway, clock=clock, log=LOG)
            assert started is not None and gateway.radius is started
            assert started.backend.das_address == ("127.0.0.1", port)
            await started.stop()
            return started, str(raised.value)

        _, message = asyncio.run(main())
    assert message == (f"cannot open the RADIUS sockets (Disconnect-Requests on UDP 127.0.0.1:{port}): "
                       "Address already in use")
