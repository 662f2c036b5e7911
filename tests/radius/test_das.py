"""Disconnect-Request (RFC 5176): the sans-I/O listener, and the adapter against FreeRADIUS's radclient."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import shutil
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ikel2tp.radius.constants import Attr, Code, ErrorCause
from ikel2tp.radius.das import DisconnectRequested, DisconnectServer
from ikel2tp.radius.packet import pull_packet
from ikel2tp.radius.settings import DasSettings, RadiusServer, RadiusSettings
from ikel2tp.users.radius import RadiusUserBackend

SECRET = "das-secret-5678"
CLIENT = ("192.0.2.1", 40000)
LOG = "ikel2tp.test.radius.das"


def _request(attributes: list[tuple[int, bytes]], *, code: int = Code.DISCONNECT_REQUEST, ident: int = 5,
             secret: str = SECRET, message_authenticator: bool = True) -> bytes:
    """RFC 5176 §2.3 and RFC 3579 §3.2, written out with hashlib and hmac."""
    body = b"".join(bytes([kind, len(value) + 2]) + value for kind, value in attributes)
    if message_authenticator:
        body += bytes([80, 18]) + bytes(16)
    header = bytes([code, ident]) + (20 + len(body)).to_bytes(2, "big")
    if message_authenticator:
        body = body[:-16] + hmac.new(secret.encode(), header + bytes(16) + body, hashlib.md5).digest()
    return header + hashlib.md5(header + bytes(16) + body + secret.encode()).digest() + body


def _server() -> DisconnectServer:
    return DisconnectServer(DasSettings(SECRET), allowed=("192.0.2.1",), nas_identifier="nas-1",
                            nas_ip=IPv4Address("192.0.2.100"), log=logging.getLogger(LOG))


def _check_answer(answer: bytes, request: bytes, code: int, cause: int | None) -> None:
    packet = pull_packet(answer)
    assert (packet.code, packet.identifier) == (code, request[1])
    assert answer[4:20] == hashlib.md5(answer[:4] + request[4:20] + answer[20:] + SECRET.encode()).digest()
    assert packet.integer(Attr.ERROR_CAUSE) == cause


def test_disconnect_by_user_is_acked_and_retransmissions_get_the_same_answer() -> None:
    das = _server()
    request = _request([(Attr.USER_NAME, b"alice"), (Attr.ACCT_SESSION_ID, b"s-1"),
                        (Attr.PROXY_STATE, b"ps"), (Attr.NAS_IDENTIFIER, b"nas-1")])
    das.receive_datagram(request, CLIENT, 0.0)
    event = das.next_event()
    assert event == DisconnectRequested(1, CLIENT, "alice", None, "s-1")
    das.receive_datagram(request, CLIENT, 0.5)  # while the shell decides: ignored
    assert das.datagrams_to_send() == []
    das.answer(event.request, 1)
    [(answer, where)] = das.datagrams_to_send()
    assert where == CLIENT
    _check_answer(answer, request, Code.DISCONNECT_ACK, None)
    assert pull_packet(answer).get(Attr.PROXY_STATE) == b"ps"
    das.receive_datagram(request, CLIENT, 1.0)
    assert das.datagrams_to_send() == [(answer, CLIENT)] and das.next_event() is None


def test_no_session_found_is_a_nak_503() -> None:
    das = _server()
    request = _request([(Attr.FRAMED_IP_ADDRESS, bytes([10, 0, 0, 9]))])
    das.receive_datagram(request, CLIENT, 0.0)
    event = das.next_event()
    assert event is not None and event.framed_ip == IPv4Address("10.0.0.9")
    das.answer(event.request, 0)
    [(answer, _)] = das.datagrams_to_send()
    _check_answer(answer, request, Code.DISCONNECT_NAK, ErrorCause.SESSION_CONTEXT_NOT_FOUND)


@pytest.mark.parametrize(("attributes", "code", "answer", "cause"), [
    ([(Attr.NAS_IDENTIFIER, b"nas-1")], Code.DISCONNECT_REQUEST, Code.DISCONNECT_NAK,
     ErrorCause.MISSING_ATTRIBUTE),
    ([(Attr.USER_NAME, b"a"), (Attr.NAS_IDENTIFIER, b"other")], Code.DISCONNECT_REQUEST, Code.DISCONNECT_NAK,
     ErrorCause.NAS_IDENTIFICATION_MISMATCH),
    ([(Attr.USER_NAME, b"a"), (Attr.NAS_IP_ADDRESS, bytes([192, 0, 2, 99]))], Code.DISCONNECT_REQUEST,
     Code.DISCONNECT_NAK, ErrorCause.NAS_IDENTIFICATION_MISMATCH),
    ([(Attr.USER_NAME, b"a")], Code.COA_REQUEST, Code.COA_NAK, ErrorCause.UNSUPPORTED_SERVICE),
    ([(Attr.FRAMED_IP_ADDRESS, b"\x0a\x00\x01")], Code.DISCONNECT_REQUEST, Code.DISCONNECT_NAK,
     ErrorCause.INVALID_REQUEST),
], ids=["no-identification", "other-nas-identifier", "other-nas-ip", "coa", "three-octet-address"])
def test_refusals_are_answered_at_once(attributes, code, answer, cause) -> None:  # type: ignore[no-untyped-def]
    das = _server()
    request = _request(attributes, code=code)
    das.receive_datagram(request, CLIENT, 0.0)
    assert das.next_event() is None
    _check_answer(das.datagrams_to_send()[0][0], request, answer, cause)


@pytest.mark.parametrize(("data", "source", "logged"), [
    (_request([(Attr.USER_NAME, b"a")], secret="wrong-secret-99"), CLIENT, "bad Request Authenticator"),
    (_request([(Attr.USER_NAME, b"a")]), ("198.51.100.1", 1), "not an allowed client"),
    (_request([(Attr.USER_NAME, b"a")], message_authenticator=False), CLIENT, "no Message-Authenticator"),
    (_request([(Attr.USER_NAME, b"a")], code=Code.ACCESS_REQUEST), CLIENT, "not a Disconnect-Request"),
    (_request([(Attr.USER_NAME, b"a")])[:-2], CLIENT, "radius.length"),
], ids=["wrong-secret", "unknown-client", "no-message-authenticator", "access-request", "truncated"])
def test_bad_requests_are_dropped(data: bytes, source: tuple[str, int], logged: str,
                                  caplog: pytest.LogCaptureFixture) -> None:
    das = _server()
    with caplog.at_level(logging.WARNING, LOG):
        das.receive_datagram(data, source, 0.0)
    assert logged in caplog.text
    assert das.next_event() is None and das.datagrams_to_send() == []


@given(st.data())
def test_fuzz_requests_never_raise(data: st.DataObject) -> None:
    das = _server()
    request = bytearray(_request([(Attr.USER_NAME, b"alice"), (Attr.FRAMED_IP_ADDRESS, bytes(4))]))
    for _ in range(data.draw(st.integers(0, 4))):
        request[data.draw(st.integers(0, len(request) - 1))] = data.draw(st.integers(0, 255))
    das.receive_datagram(bytes(request[: data.draw(st.integers(0, len(request)))]), CLIENT, 0.0)
    while (event := das.next_event()) is not None:
        das.answer(event.request, 0)
    for answer, _ in das.datagrams_to_send():
        assert pull_packet(answer).code in (Code.DISCONNECT_NAK, Code.COA_NAK)


@pytest.mark.interop
@pytest.mark.skipif(shutil.which("radclient") is None, reason="radclient is not installed (freeradius-utils)")
def test_radclient_disconnect_through_the_adapter() -> None:
    """FreeRADIUS's radclient sends Disconnect-Requests and checks our answers' authenticators."""
    kicked: list[DisconnectRequested] = []

    def on_disconnect(event: DisconnectRequested) -> int:
        kicked.append(event)
        return 1 if event.user_name == "alice" else 0

    async def run() -> tuple[str, str]:
        settings = RadiusSettings(servers=(RadiusServer("127.0.0.1", "unused-secret-1"),),
                                  nas_identifier="nas-1", das=DasSettings(SECRET, listen="127.0.0.1", port=0))
        backend = RadiusUserBackend(settings, log=logging.getLogger(LOG), on_disconnect=on_disconnect)
        await backend.start()
        try:
            assert backend.das_address is not None
            target = f"127.0.0.1:{backend.das_address[1]}"
            outputs = []
            for user in ("alice", "nobody"):
                process = await asyncio.create_subprocess_exec(
                    "radclient", "-x", "-r", "1", "-t", "2", target, "disconnect", SECRET,
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT)
                out, _ = await asyncio.wait_for(process.communicate(
                    f"User-Name = {user}\nMessage-Authenticator = 0x00\n".encode()), 10)
                outputs.append(out.decode(errors="replace"))
            return outputs[0], outputs[1]
        finally:
            backend.close()

    acked, nakked = asyncio.run(run())
    assert "Received Disconnect-ACK" in acked, acked
    assert "Received Disconnect-NAK" in nakked and "Session-Context-Not-Found" in nakked, nakked
    assert [event.user_name for event in kicked] == ["alice", "nobody"]
