"""RadiusUserBackend against a real FreeRADIUS 3 on loopback (Debian ``freeradius``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from ipaddress import IPv4Address

import pytest

from ikel2tp.ppp.auth import mschapv2
from ikel2tp.ppp.auth.chap import chap_md5_response
from ikel2tp.ppp.auth.credentials import (
    AuthResult,
    ChapCredentials,
    Credentials,
    MsChapV2Credentials,
    PapCredentials,
)
from ikel2tp.radius.client import RadiusAuthResult, SessionCounters, SessionInfo
from ikel2tp.radius.constants import TerminateCause
from ikel2tp.radius.settings import AccountingSettings, RadiusServer, RadiusSettings
from ikel2tp.users.radius import RadiusUserBackend
from tests.radius import freeradius

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(freeradius.FREERADIUS is None, reason="freeradius is not installed "
                       "(Debian package freeradius, listed in tools/debian-packages.txt)"),
]

LOG = "ikel2tp.test.radius"
Server = freeradius.FreeRadius


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = freeradius.start(tmp_path_factory.mktemp("freeradius"))
    try:
        yield running
    finally:
        running.stop()


def _server(fr: Server, *, secret: str = freeradius.SECRET, port: int | None = None,
            timeout: float = 1.0, retries: int = 1) -> RadiusServer:
    # Debian 12's FreeRADIUS 3.2.1 predates the BlastRADIUS fix: its answers carry no
    # Message-Authenticator, so requiring one would refuse every answer.
    return RadiusServer("127.0.0.1", secret, auth_port=port or fr.auth_port, acct_port=fr.acct_port,
                        timeout=timeout, retries=retries, require_message_authenticator=False)


def _settings(*servers: RadiusServer, interim: int = 0) -> RadiusSettings:
    return RadiusSettings(servers=servers, nas_identifier="ikel2tp-test", nas_ip=IPv4Address("127.0.0.1"),
                          dead_time=5, accounting=AccountingSettings(interim_interval=interim,
                                                                     retry_interval=1))


def _login(settings: RadiusSettings, credentials: Credentials) -> AuthResult:
    async def run() -> AuthResult:
        backend = RadiusUserBackend(settings, log=logging.getLogger(LOG))
        await backend.start()
        try:
            return await backend.authenticate(credentials, calling_station_id="198.51.100.7")
        finally:
            backend.close()
    return asyncio.run(run())


def _pap(user: str, password: str) -> PapCredentials:
    return PapCredentials(user, password.encode())


def _chap(user: str, password: str) -> ChapCredentials:
    challenge = bytes(range(16))
    return ChapCredentials(user, 42, challenge, chap_md5_response(42, password.encode(), challenge))


def _mschapv2(user: str, password: str) -> tuple[MsChapV2Credentials, str]:
    auth_challenge, peer_challenge = bytes(range(16, 32)), bytes(range(100, 116))
    password_hash = mschapv2.nt_password_hash(password)
    nt_response = mschapv2.generate_nt_response(auth_challenge, peer_challenge, user, password_hash)
    expected = mschapv2.generate_authenticator_response(password_hash, nt_response, peer_challenge,
                                                        auth_challenge, user)
    return MsChapV2Credentials(user, auth_challenge, peer_challenge, nt_response), expected


@pytest.mark.parametrize("make", [_pap, _chap], ids=["pap", "chap"])
def test_pap_and_chap_accept_and_reject(server: Server, make) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(_server(server))
    accepted = _login(settings, make("bob", freeradius.USERS["bob"]))
    assert accepted.success, accepted.reason
    rejected = _login(settings, make("bob", "not-the-password"))
    assert not rejected.success
    assert rejected.failure_code == 691
    assert "rejected by RADIUS 127.0.0.1" in rejected.reason


def test_mschapv2_accept_proves_the_server_knows_the_password(server: Server) -> None:
    credentials, expected = _mschapv2("bob", freeradius.USERS["bob"])
    result = _login(_settings(_server(server)), credentials)
    assert result.success, result.reason
    assert result.authenticator_response == expected  # our own RFC 2759 §8.7 computation


def test_mschapv2_reject_maps_ms_chap_error(server: Server) -> None:
    credentials, _ = _mschapv2("bob", "wrong password")
    result = _login(_settings(_server(server)), credentials)
    assert not result.success
    assert result.failure_code == 691  # from MS-CHAP-Error "E=691 R=1 ..."
    assert "E=691" in result.reason


def test_access_accept_attributes_are_applied(server: Server) -> None:
    credentials, _ = _mschapv2("alice", freeradius.USERS["alice"])
    result = _login(_settings(_server(server)), credentials)
    assert isinstance(result, RadiusAuthResult) and result.success, result.reason
    assert result.static_address == IPv4Address(freeradius.ALICE_ADDRESS)
    assert (result.framed_pool, result.session_timeout, result.idle_timeout, result.framed_mtu) == (
        "gold", 3600, 600, 1400)
    assert result.interim_interval == 300
    assert result.classes == (freeradius.ALICE_CLASS.encode(),)
    assert result.message == "Hello alice"


def test_reject_reply_message_is_logged(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, LOG):
        result = _login(_settings(_server(server)), _pap("carol", freeradius.USERS["carol"]))
    assert not result.success
    assert result.message == "carol is disabled"
    assert "Reply-Message 'carol is disabled'" in caplog.text


def test_failover_to_the_second_server(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    down = _server(server, port=freeradius.free_udp_port(), timeout=0.3, retries=1)
    with caplog.at_level(logging.INFO, LOG):
        result = _login(_settings(down, _server(server)), _pap("bob", freeradius.USERS["bob"]))
    assert result.success, result.reason
    assert f"127.0.0.1:{down.auth_port} did not answer 'bob' after 2 tries" in caplog.text


def test_wrong_shared_secret_is_detected(server: Server,
                                         caplog: pytest.LogCaptureFixture) -> None:
    wrong = _server(server, secret="not-the-shared-secret", timeout=0.3, retries=0)
    with caplog.at_level(logging.INFO, LOG):
        result = _login(_settings(wrong), _pap("bob", freeradius.USERS["bob"]))
    assert not result.success
    assert result.reason == "no RADIUS server answered"
    assert "wrong shared secret" in caplog.text
    assert "Shared secret is incorrect" in server.log  # FreeRADIUS checked our Message-Authenticator


def test_accounting_start_interim_stop_in_the_detail_file(server: Server) -> None:
    giga = 1 << 32
    totals = SessionCounters("ikel2tp-acct-1", 1, input_octets=3 * giga + 1000, output_octets=7 * giga + 5,
                             input_packets=11, output_packets=13)
    final = SessionCounters("ikel2tp-acct-1", 2, input_octets=5 * giga + 2000, output_octets=9 * giga + 6,
                            input_packets=21, output_packets=23)

    async def run() -> bool:
        backend = RadiusUserBackend(_settings(_server(server)), log=logging.getLogger(LOG),
                                    counters=lambda session_id: totals)
        await backend.start()
        try:
            backend.session_started(SessionInfo(
                "ikel2tp-acct-1", "alice", framed_ip=IPv4Address(freeradius.ALICE_ADDRESS),
                calling_station_id="198.51.100.7", classes=(freeradius.ALICE_CLASS.encode(),),
                interim_interval=1))
            await asyncio.sleep(1.3)  # one Interim-Update asked through the counters callback
            backend.session_stopped(final, TerminateCause.USER_REQUEST)
            return await backend.drain(5)
        finally:
            backend.close()

    assert asyncio.run(run())
    records = [r for r in server.detail_records() if r.get("Acct-Session-Id") == "ikel2tp-acct-1"]
    assert [r["Acct-Status-Type"] for r in records] == ["Start", "Interim-Update", "Stop"]
    start, interim, stop = records
    class_hex = "0x" + freeradius.ALICE_CLASS.encode().hex()
    for record in records:
        assert record["User-Name"] == "alice"
        assert record["Framed-IP-Address"] == freeradius.ALICE_ADDRESS
        assert record["Class"] == class_hex
        assert record["NAS-Identifier"] == "ikel2tp-test"
        assert record["Calling-Station-Id"] == "198.51.100.7"
    assert "Acct-Input-Octets" not in start
    assert (interim["Acct-Input-Octets"], interim["Acct-Input-Gigawords"]) == ("1000", "3")
    assert (interim["Acct-Output-Octets"], interim["Acct-Output-Gigawords"]) == ("5", "7")
    assert (stop["Acct-Input-Octets"], stop["Acct-Input-Gigawords"]) == ("2000", "5")
    assert (stop["Acct-Output-Octets"], stop["Acct-Output-Gigawords"]) == ("6", "9")
    assert (stop["Acct-Input-Packets"], stop["Acct-Output-Packets"]) == ("21", "23")
    assert stop["Acct-Session-Time"] == "2"
    assert stop["Acct-Terminate-Cause"] == "User-Request"


class _Relay(asyncio.DatagramProtocol):
    """A UDP relay in front of FreeRADIUS that can be cut (a RADIUS outage) and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.up = False
        self.transport: asyncio.DatagramTransport | None = None
        self.upstream: asyncio.DatagramTransport | None = None
        self.client: tuple[str, int] | None = None

    async def open(self) -> int:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        relay = self

        class Upstream(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                if relay.up and relay.client is not None and relay.transport is not None:
                    relay.transport.sendto(data, relay.client)

        self.upstream, _ = await loop.create_datagram_endpoint(Upstream, remote_addr=self.target)
        return self.transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.up and self.upstream is not None:
            self.client = addr
            self.upstream.sendto(data)

    def close(self) -> None:
        for transport in (self.transport, self.upstream):
            if transport is not None:
                transport.close()


def test_accounting_survives_an_outage(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    """Every server silent: Start and Stop are kept, in order, and sent once the server is back."""
    async def run() -> tuple[int, bool]:
        relay = _Relay(("127.0.0.1", server.acct_port))
        port = await relay.open()
        flaky = RadiusServer("127.0.0.1", freeradius.SECRET, auth_port=server.auth_port, acct_port=port,
                             timeout=0.2, retries=0, require_message_authenticator=False)
        backend = RadiusUserBackend(_settings(flaky), log=logging.getLogger(LOG))
        await backend.start()
        try:
            backend.session_started(SessionInfo("ikel2tp-acct-2", "bob"))
            backend.session_stopped(SessionCounters("ikel2tp-acct-2", 9, 100, 200, 1, 2),
                                    TerminateCause.ADMIN_RESET)
            await asyncio.sleep(0.5)
            kept = backend.core.accounting_backlog
            relay.up = True
            return kept, await backend.drain(5)
        finally:
            backend.close()
            relay.close()

    with caplog.at_level(logging.INFO, LOG):
        kept, drained = asyncio.run(run())
    assert kept == 2 and drained
    assert "no server took the accounting START of session ikel2tp-acct-2" in caplog.text
    records = [r for r in server.detail_records() if r.get("Acct-Session-Id") == "ikel2tp-acct-2"]
    assert [r["Acct-Status-Type"] for r in records] == ["Start", "Stop"]
    assert int(records[1]["Acct-Delay-Time"]) >= 1  # the retry interval: it waited
    assert records[1]["Acct-Terminate-Cause"] == "Admin-Reset"
