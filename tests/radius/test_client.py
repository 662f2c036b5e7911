"""The sans-I/O RadiusClient against answers built here independently (hashlib/hmac, not our crypto)."""

from __future__ import annotations

import hashlib
import hmac
import logging
from ipaddress import IPv4Address

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikel2tp.ppp.auth.credentials import ChapCredentials, MsChapV2Credentials, PapCredentials
from ikel2tp.radius.client import (
    AccountingDropped,
    AuthCompleted,
    InterimUpdateDue,
    RadiusAuthResult,
    RadiusClient,
    SessionCounters,
    SessionInfo,
)
from ikel2tp.radius.constants import VENDOR_MICROSOFT, AcctStatusType, Attr, Code, MsAttr, TerminateCause
from ikel2tp.radius.packet import RadiusPacket, pull_packet, pull_vendor_specific
from ikel2tp.radius.settings import AccountingSettings, RadiusServer, RadiusSettings

SECRET = "test-secret-1234"
A = ("192.0.2.1", 1812)
B = ("192.0.2.2", 1812)
A_ACCT = ("192.0.2.1", 1813)
LOG = "ikel2tp.test.radius.client"


class _Random:
    """Deterministic bytes."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, size: int) -> bytes:
        self.n += 1
        return hashlib.sha256(self.n.to_bytes(4, "big")).digest()[:size].ljust(size, b"\x01")


def _settings(*, retries: int = 1, timeout: float = 1.0, queue: int = 100, interim: int = 0,
              servers: tuple[str, ...] = ("192.0.2.1", "192.0.2.2")) -> RadiusSettings:
    return RadiusSettings(
        servers=tuple(RadiusServer(address, SECRET, timeout=timeout, retries=retries) for address in servers),
        nas_identifier="nas-1", nas_ip=IPv4Address("192.0.2.100"), dead_time=30,
        accounting=AccountingSettings(interim_interval=interim, queue_limit=queue, retry_interval=10))


def _client(**kwargs: object) -> RadiusClient:
    return RadiusClient(_settings(**kwargs), log=logging.getLogger(LOG), random=_Random())  # type: ignore[arg-type]


def _answer(request: bytes, code: int, attributes: list[tuple[int, bytes]] = (), *,  # type: ignore[assignment]
            secret: str = SECRET, message_authenticator: bool = True, identifier: int | None = None) -> bytes:
    """An answer per RFC 2865 §3 and RFC 3579 §3.2, written out with hashlib and hmac."""
    body = b"".join(bytes([kind, len(value) + 2]) + value for kind, value in attributes)
    if message_authenticator:
        body += bytes([80, 18]) + bytes(16)
    ident = request[1] if identifier is None else identifier
    header = bytes([code, ident]) + (20 + len(body)).to_bytes(2, "big")
    request_authenticator = request[4:20]
    if message_authenticator:
        mac = hmac.new(secret.encode(), header + request_authenticator + body, hashlib.md5).digest()
        body = body[:-16] + mac
    response = hashlib.md5(header + request_authenticator + body + secret.encode()).digest()
    return header + response + body


def _ms(vendor_type: int, value: bytes) -> tuple[int, bytes]:
    return (26, (311).to_bytes(4, "big") + bytes([vendor_type, len(value) + 2]) + value)


def _only(client: RadiusClient) -> tuple[bytes, tuple[str, int]]:
    out = client.datagrams_to_send()
    assert len(out) == 1, out
    return out[0]


def _events(client: RadiusClient) -> list[object]:
    events = []
    while (event := client.next_event()) is not None:
        events.append(event)
    return events


def _result(client: RadiusClient) -> RadiusAuthResult:
    [event] = _events(client)
    assert isinstance(event, AuthCompleted)
    return event.result


def _reveal(hidden: bytes, authenticator: bytes) -> bytes:
    plain, previous = b"", authenticator
    for i in range(0, len(hidden), 16):
        key = hashlib.md5(SECRET.encode() + previous).digest()
        plain += bytes(a ^ b for a, b in zip(hidden[i : i + 16], key, strict=True))
        previous = hidden[i : i + 16]
    return plain.rstrip(b"\x00")


# --- requests ---------------------------------------------------------------------------------


def test_pap_request_and_accept_attributes() -> None:
    client = _client()
    token = client.authenticate(PapCredentials("alice", b"pass word"), 0.0, calling_station_id="198.51.100.9",
                                nas_port=17)
    data, where = _only(client)
    assert where == A
    request = pull_packet(data)
    assert request.code == Code.ACCESS_REQUEST
    assert request.text(Attr.USER_NAME) == "alice"
    assert _reveal(request.get(Attr.USER_PASSWORD) or b"", request.authenticator) == b"pass word"
    assert request.text(Attr.NAS_IDENTIFIER) == "nas-1"
    assert request.address(Attr.NAS_IP_ADDRESS) == IPv4Address("192.0.2.100")
    assert request.text(Attr.CALLING_STATION_ID) == "198.51.100.9"
    assert request.integer(Attr.NAS_PORT) == 17
    mac = request.get(Attr.MESSAGE_AUTHENTICATOR)
    zeroed = data[:-16] + bytes(16)  # our Message-Authenticator is the last attribute
    assert mac == hmac.new(SECRET.encode(), zeroed, hashlib.md5).digest()

    client.receive_datagram(_answer(data, Code.ACCESS_ACCEPT, [
        (Attr.FRAMED_IP_ADDRESS, bytes([10, 1, 2, 3])), (Attr.FRAMED_POOL, b"gold"),
        (Attr.SESSION_TIMEOUT, (3600).to_bytes(4, "big")), (Attr.IDLE_TIMEOUT, (300).to_bytes(4, "big")),
        (Attr.FRAMED_MTU, (1400).to_bytes(4, "big")), (Attr.CLASS, b"c1"), (Attr.CLASS, b"c2"),
        (Attr.ACCT_INTERIM_INTERVAL, (5).to_bytes(4, "big")), (Attr.REPLY_MESSAGE, b"hello")]), A, 0.1)
    [event] = _events(client)
    assert isinstance(event, AuthCompleted) and event.request == token
    result = event.result
    assert result.success and result.user == "alice" and result.message == "hello"
    assert result.static_address == IPv4Address("10.1.2.3")
    assert (result.framed_pool, result.session_timeout, result.idle_timeout, result.framed_mtu) == (
        "gold", 3600, 300, 1400)
    assert result.classes == (b"c1", b"c2")
    assert result.interim_interval == 60  # RFC 2869 §5.16 floor
    assert result.server == "192.0.2.1:1812"
    assert client.get_timer() is None


def test_framed_ip_address_meaning_nas_assigns_is_not_static() -> None:
    client = _client()
    client.authenticate(PapCredentials("u", b"p"), 0.0)
    data, _ = _only(client)
    nas_assigns = (Attr.FRAMED_IP_ADDRESS, b"\xff\xff\xff\xfe")
    client.receive_datagram(_answer(data, Code.ACCESS_ACCEPT, [nas_assigns]), A, 0.1)
    assert _result(client).static_address is None


def test_chap_request_carries_ident_response_and_challenge() -> None:
    client = _client()
    client.authenticate(ChapCredentials("bob", 77, b"C" * 16, b"R" * 16), 0.0)
    request = pull_packet(_only(client)[0])
    assert request.get(Attr.CHAP_PASSWORD) == bytes([77]) + b"R" * 16
    assert request.get(Attr.CHAP_CHALLENGE) == b"C" * 16
    assert request.get(Attr.USER_PASSWORD) is None


def _mschap_request(client: RadiusClient) -> bytes:
    client.authenticate(MsChapV2Credentials("DOM\\carol", b"A" * 16, b"P" * 16, b"N" * 24), 0.0)
    return _only(client)[0]


def test_mschapv2_request_layout_and_success() -> None:
    client = _client()
    data = _mschap_request(client)
    request = pull_packet(data)
    vendor = [item for value in request.get_all(Attr.VENDOR_SPECIFIC) for item in pull_vendor_specific(value)]
    assert (VENDOR_MICROSOFT, MsAttr.MS_CHAP_CHALLENGE, b"A" * 16) in vendor
    # RFC 2548 MS-CHAP2-Response: Ident, Flags, Peer-Challenge, 8 reserved, NT-Response.
    assert (VENDOR_MICROSOFT, MsAttr.MS_CHAP2_RESPONSE, bytes(2) + b"P" * 16 + bytes(8) + b"N" * 24) in vendor
    assert request.text(Attr.USER_NAME) == "DOM\\carol"
    success = "S=" + "0123456789ABCDEF" * 2 + "01234567"
    client.receive_datagram(_answer(data, Code.ACCESS_ACCEPT, [
        _ms(MsAttr.MS_CHAP2_SUCCESS, b"\x00" + success.encode()),
        _ms(MsAttr.MS_MPPE_SEND_KEY, bytes(34))]), A, 0.1)
    result = _result(client)
    assert result.success and result.authenticator_response == success


def test_mschapv2_accept_without_success_attribute_fails() -> None:
    client = _client()
    data = _mschap_request(client)
    client.receive_datagram(_answer(data, Code.ACCESS_ACCEPT), A, 0.1)
    result = _result(client)
    assert not result.success and "MS-CHAP2-Success" in result.reason


def test_mschap_error_maps_to_the_ppp_failure_code(caplog: pytest.LogCaptureFixture) -> None:
    client = _client()
    data = _mschap_request(client)
    error = b"\x00E=648 R=0 C=00112233445566778899AABBCCDDEEFF V=3 M=expired"
    with caplog.at_level(logging.INFO, LOG):
        client.receive_datagram(_answer(data, Code.ACCESS_REJECT, [
            _ms(MsAttr.MS_CHAP_ERROR, error), (Attr.REPLY_MESSAGE, b"Password expired")]), A, 0.1)
    result = _result(client)
    assert not result.success and result.failure_code == 648
    assert result.message == "Password expired"
    assert "Reply-Message 'Password expired'" in caplog.text


def test_access_challenge_is_a_failure() -> None:
    client = _client()
    client.authenticate(PapCredentials("u", b"p"), 0.0)
    data, _ = _only(client)
    client.receive_datagram(_answer(data, Code.ACCESS_CHALLENGE), A, 0.1)
    result = _result(client)
    assert not result.success and "Access-Challenge" in result.reason


# --- bad answers --------------------------------------------------------------------------


def _login() -> tuple[RadiusClient, bytes]:
    client = _client()
    client.authenticate(PapCredentials("alice", b"pw"), 0.0)
    return client, _only(client)[0]


@pytest.mark.parametrize(("make", "source", "logged"), [
    (lambda d: _answer(d, Code.ACCESS_ACCEPT, secret="wrong-secret-000"), A, "bad Response Authenticator"),
    (lambda d: _answer(d, Code.ACCESS_ACCEPT, identifier=(d[1] + 1) % 256), A, "matches no request"),
    (lambda d: _answer(d, Code.ACCESS_ACCEPT), B, "matches no request"),
    (lambda d: _answer(d, Code.ACCESS_ACCEPT), ("192.0.2.1", 9999), "matches no request"),
    (lambda d: _answer(d, Code.ACCESS_ACCEPT)[:-3], A, "radius.length"),
    (lambda d: _answer(d, Code.ACCESS_ACCEPT, [(Attr.USER_NAME, b"x")])[:21] + b"\x01\x01"
     + bytes(_answer(d, Code.ACCESS_ACCEPT)[23:]), A, "radius"),
    (lambda d: _answer(d, Code.ACCOUNTING_RESPONSE), A, "does not answer"),
    (lambda d: _answer(d, Code.ACCESS_ACCEPT, message_authenticator=False), A, "no Message-Authenticator"),
    (lambda d: b"\x02", A, "1-octet datagram"),
], ids=["wrong-secret", "wrong-identifier", "other-server", "other-port", "truncated", "bad-attribute",
        "wrong-code", "no-message-authenticator", "one-octet"])
def test_bad_answers_are_dropped_and_the_login_goes_on(make, source, logged,  # type: ignore[no-untyped-def]
                                                      caplog: pytest.LogCaptureFixture) -> None:
    client, data = _login()
    with caplog.at_level(logging.WARNING, LOG):
        client.receive_datagram(make(data), source, 0.1)
    assert logged in caplog.text
    assert _events(client) == []
    assert client.get_timer() == 1.0  # still waiting
    client.receive_datagram(_answer(data, Code.ACCESS_ACCEPT), A, 0.2)  # the good answer still counts
    assert _result(client).success


def test_bad_message_authenticator_under_a_right_response_authenticator(
        caplog: pytest.LogCaptureFixture) -> None:
    client, data = _login()
    answer = bytearray(_answer(data, Code.ACCESS_ACCEPT))
    answer[-1] ^= 0xFF
    answer[4:20] = hashlib.md5(bytes(answer[:4]) + data[4:20] + bytes(answer[20:]) + SECRET.encode()).digest()
    with caplog.at_level(logging.WARNING, LOG):
        client.receive_datagram(bytes(answer), A, 0.1)
    assert "bad Message-Authenticator" in caplog.text and _events(client) == []


def test_wrong_secret_is_named_when_the_server_gives_up(caplog: pytest.LogCaptureFixture) -> None:
    client = _client(retries=0, servers=("192.0.2.1",))
    client.authenticate(PapCredentials("alice", b"pw"), 0.0)
    data, _ = _only(client)
    with caplog.at_level(logging.WARNING, LOG):
        client.receive_datagram(_answer(data, Code.ACCESS_REJECT, secret="another-secret"), A, 0.1)
        client.handle_timer(1.0)
    result = _result(client)
    assert not result.success and result.reason == "no RADIUS server answered"
    assert "the shared secret is likely wrong" in caplog.text


# --- retransmission and failover -----------------------------------------------------------


def test_retransmit_then_fail_over_then_fail_cleanly() -> None:
    client = _client(retries=1, timeout=1.0)
    client.authenticate(PapCredentials("alice", b"pw"), 0.0)
    first, where = _only(client)
    assert where == A
    client.handle_timer(0.5)
    assert client.datagrams_to_send() == []
    client.handle_timer(1.0)
    assert _only(client) == (first, A)  # RFC 5080 §2.2.1: same bytes
    client.handle_timer(2.0)
    second, where = _only(client)
    assert where == B and pull_packet(second).authenticator != pull_packet(first).authenticator
    client.handle_timer(3.0)
    assert _only(client) == (second, B)
    assert _events(client) == []
    client.handle_timer(4.0)
    result = _result(client)
    assert not result.success and result.server is None and result.reason == "no RADIUS server answered"
    assert client.get_timer() is None
    # A's answer to the first request, late: nobody waits for it any more.
    client.receive_datagram(_answer(first, Code.ACCESS_ACCEPT), A, 4.1)
    assert _events(client) == []


def test_a_silent_server_is_tried_last_for_dead_time() -> None:
    client = _client(retries=0)
    client.authenticate(PapCredentials("alice", b"pw"), 0.0)
    client.datagrams_to_send()
    client.handle_timer(1.0)  # A silent: on to B
    data, where = _only(client)
    assert where == B
    client.receive_datagram(_answer(data, Code.ACCESS_ACCEPT), B, 1.1)
    assert _result(client).server == "192.0.2.2:1812"
    client.authenticate(PapCredentials("bob", b"pw"), 2.0)
    assert _only(client)[1] == B  # A is dead for 30 s
    client.handle_timer(3.0)
    assert _only(client)[1] == A
    client.handle_timer(4.0)
    _result(client)
    client.authenticate(PapCredentials("carol", b"pw"), 33.5)
    assert _only(client)[1] == B  # B silent at 2.0: last until 32.0; A silent at 3.0: last until 33.0+
    client.handle_timer(34.5)
    assert _only(client)[1] == A


def test_identifiers_run_out_at_256_and_the_rest_wait() -> None:
    client = _client(servers=("192.0.2.1",))
    for i in range(257):
        client.authenticate(PapCredentials(f"user{i}", b"pw"), 0.0)
    sent = client.datagrams_to_send()
    assert len(sent) == 256 and len({data[1] for data, _ in sent}) == 256
    client.receive_datagram(_answer(sent[0][0], Code.ACCESS_REJECT), A, 0.1)
    assert len(_events(client)) == 1
    [(late, _)] = client.datagrams_to_send()
    assert pull_packet(late).text(Attr.USER_NAME) == "user256"


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzz_answers_never_raise(data: st.DataObject) -> None:
    client, request = _login()
    answer = bytearray(_answer(request, Code.ACCESS_ACCEPT, [(Attr.FRAMED_IP_ADDRESS, b"\x0a\x00\x00\x01"),
                                                             _ms(MsAttr.MS_CHAP2_SUCCESS, b"\x00S=00")]))
    for _ in range(data.draw(st.integers(1, 5))):
        answer[data.draw(st.integers(0, len(answer) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(answer)))
    client.receive_datagram(bytes(answer[:cut]), A, 0.1)
    client.handle_timer(10.0)
    client.handle_timer(20.0)
    client.handle_timer(30.0)
    client.handle_timer(40.0)
    assert len(_events(client)) == 1  # answered (a mutation that still verifies is not possible) or gave up


# --- accounting ----------------------------------------------------------------------------


def _attrs(data: bytes) -> RadiusPacket:
    packet = pull_packet(data)
    assert packet.code == Code.ACCOUNTING_REQUEST
    # RFC 2866 §3 Request Authenticator, computed here independently.
    assert data[4:20] == hashlib.md5(data[:4] + bytes(16) + data[20:] + SECRET.encode()).digest()
    return packet


def _ack(client: RadiusClient, data: bytes, now: float) -> None:
    client.receive_datagram(_answer(data, Code.ACCOUNTING_RESPONSE, message_authenticator=True), A_ACCT, now)


def test_start_interim_stop_carry_counters_with_gigawords() -> None:
    client = _client(interim=100)
    info = SessionInfo("s-1", "alice", framed_ip=IPv4Address("10.0.0.5"), calling_station_id="198.51.100.1",
                       nas_port=3, classes=(b"class-a",))
    client.start_session(info, 0.0)
    data, where = _only(client)
    assert where == A_ACCT
    start = _attrs(data)
    assert start.integer(Attr.ACCT_STATUS_TYPE) == AcctStatusType.START
    assert start.text(Attr.ACCT_SESSION_ID) == "s-1"
    assert start.get(Attr.CLASS) == b"class-a"
    assert start.address(Attr.FRAMED_IP_ADDRESS) == IPv4Address("10.0.0.5")
    assert start.integer(Attr.ACCT_DELAY_TIME) == 0
    assert start.get(Attr.ACCT_INPUT_OCTETS) is None
    _ack(client, data, 0.1)
    assert client.accounting_backlog == 0
    assert client.get_timer() == 100.0
    client.handle_timer(100.0)
    assert _events(client) == [InterimUpdateDue("s-1")]
    giga = 1 << 32
    client.update_session(SessionCounters("s-1", 100, 2 * giga + 7, giga + 8, 9, 10), 100.0)
    interim = _attrs(_only(client)[0])
    assert interim.integer(Attr.ACCT_STATUS_TYPE) == AcctStatusType.INTERIM_UPDATE
    assert (interim.integer(Attr.ACCT_INPUT_OCTETS), interim.integer(Attr.ACCT_INPUT_GIGAWORDS)) == (7, 2)
    assert (interim.integer(Attr.ACCT_OUTPUT_OCTETS), interim.integer(Attr.ACCT_OUTPUT_GIGAWORDS)) == (8, 1)
    assert (interim.integer(Attr.ACCT_INPUT_PACKETS), interim.integer(Attr.ACCT_OUTPUT_PACKETS)) == (9, 10)
    client.stop_session(SessionCounters("s-1", 150, 1, 2, 3, 4), TerminateCause.IDLE_TIMEOUT, 150.0)
    assert client.datagrams_to_send() == []  # one record per session on the wire: the Stop waits
    client.handle_timer(101.0)  # the Interim-Update is resent, unchanged
    [(again, _)] = client.datagrams_to_send()
    assert _attrs(again).integer(Attr.ACCT_STATUS_TYPE) == AcctStatusType.INTERIM_UPDATE
    _ack(client, again, 150.1)
    stop = _attrs(_only(client)[0])
    assert stop.integer(Attr.ACCT_STATUS_TYPE) == AcctStatusType.STOP
    assert stop.integer(Attr.ACCT_TERMINATE_CAUSE) == TerminateCause.IDLE_TIMEOUT
    assert stop.integer(Attr.ACCT_SESSION_TIME) == 150
    assert client.get_timer() == 151.1  # no more interim deadlines


def test_accounting_outage_keeps_order_and_sets_delay_time() -> None:
    client = _client(retries=0, servers=("192.0.2.1",))
    client.start_session(SessionInfo("s-1", "alice"), 0.0)
    client.start_session(SessionInfo("s-2", "bob"), 0.0)
    client.stop_session(SessionCounters("s-1", 5), TerminateCause.USER_REQUEST, 0.5)
    assert len(client.datagrams_to_send()) == 2  # the Stop of s-1 waits for its Start
    client.handle_timer(1.0)  # the server is silent: everything goes back to the queue
    assert client.accounting_backlog == 3
    assert client.get_timer() == 11.0  # retry_interval
    client.handle_timer(11.0)
    sent = client.datagrams_to_send()
    assert [_attrs(d).text(Attr.ACCT_SESSION_ID) for d, _ in sent] == ["s-1", "s-2"]
    assert _attrs(sent[0][0]).integer(Attr.ACCT_DELAY_TIME) == 11  # RFC 2866 §5.2
    for data, _ in sent:
        _ack(client, data, 11.1)
    stop = _attrs(_only(client)[0])
    assert stop.integer(Attr.ACCT_STATUS_TYPE) == AcctStatusType.STOP
    assert stop.integer(Attr.ACCT_DELAY_TIME) == 10


def test_full_queue_drops_interim_updates_before_stops(caplog: pytest.LogCaptureFixture) -> None:
    client = _client(queue=2, servers=("192.0.2.1",))
    client.start_session(SessionInfo("s-0", "u"), 0.0)  # on the wire, not in the queue
    client.start_session(SessionInfo("s-1", "u"), 0.0)
    client.datagrams_to_send()
    client.update_session(SessionCounters("s-0", 1), 1.0)
    client.update_session(SessionCounters("s-0", 2), 1.0)  # supersedes the queued one
    assert client.accounting_backlog == 3
    client.stop_session(SessionCounters("s-1", 3), TerminateCause.USER_REQUEST, 2.0)
    with caplog.at_level(logging.ERROR, LOG):
        client.stop_session(SessionCounters("s-0", 3), TerminateCause.USER_REQUEST, 2.0)
    assert _events(client) == [AccountingDropped("s-0", AcctStatusType.INTERIM_UPDATE, caplog.records[0]
                                                 .getMessage().removeprefix("radius: "))]
    assert "accounting queue full (2)" in caplog.text


def test_accounting_off_sends_nothing_but_updates_are_harmless() -> None:
    settings_ = _settings()
    client = RadiusClient(RadiusSettings(servers=settings_.servers,
                                         accounting=AccountingSettings(enabled=False)),
                          log=logging.getLogger(LOG), random=_Random())
    client.start_session(SessionInfo("s-1", "u"), 0.0)
    client.stop_session(SessionCounters("s-1", 1), TerminateCause.USER_REQUEST, 1.0)
    assert client.datagrams_to_send() == [] and client.get_timer() is None


def test_unknown_sessions_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    client = _client()
    with caplog.at_level(logging.WARNING, LOG):
        client.update_session(SessionCounters("nope", 1), 0.0)
        client.stop_session(SessionCounters("nope", 1), TerminateCause.USER_REQUEST, 0.0)
    assert caplog.text.count("unknown session nope") == 2
    assert client.datagrams_to_send() == []


@pytest.mark.parametrize(("credentials", "reason"), [
    (PapCredentials("u", bytes(129)), "PAP password longer than 128 octets"),
    (PapCredentials("x" * 254, b"p"), "user name of 254 octets"),
    (ChapCredentials("", 1, bytes(16), bytes(16)), "user name of 0 octets"),
], ids=["long-password", "long-name", "empty-name"])
def test_credentials_that_do_not_fit_fail_at_once(credentials, reason) -> None:  # type: ignore[no-untyped-def]
    client = _client()
    client.authenticate(credentials, 0.0)
    assert client.datagrams_to_send() == []
    result = _result(client)
    assert not result.success and reason in result.reason


def test_long_accounting_names_are_cut_to_fit() -> None:
    client = _client()
    client.start_session(SessionInfo("s" * 300, "u" * 300, calling_station_id="c" * 300), 0.0)
    packet = _attrs(_only(client)[0])
    assert packet.get(Attr.USER_NAME) == b"u" * 253 and packet.get(Attr.ACCT_SESSION_ID) == b"s" * 253


def test_authentic_answer_with_a_malformed_attribute_fails(caplog: pytest.LogCaptureFixture) -> None:
    client = _client()
    data = _mschap_request(client)
    broken_vendor = (26, (311).to_bytes(4, "big") + bytes([26, 1]))  # Vendor-Length 1
    with caplog.at_level(logging.WARNING, LOG):
        client.receive_datagram(_answer(data, Code.ACCESS_ACCEPT, [broken_vendor]), A, 0.1)
    result = _result(client)
    assert not result.success and "malformed attribute" in result.reason
    assert "malformed attribute" in caplog.text
