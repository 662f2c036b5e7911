"""LCP against a scripted Windows-like peer (raw frames), and the auth-method negotiation."""

from __future__ import annotations

import logging
import struct

from ikel2tp.ppp.auth.chap import ChapCode, pull_chap_packet
from ikel2tp.ppp.auth.credentials import AuthMethod
from ikel2tp.ppp.constants import Code, LcpOption, Protocol
from ikel2tp.ppp.events import LinkDown, LinkUp
from ikel2tp.ppp.link import PppLink
from ikel2tp.ppp.packet import (
    ControlPacket,
    Option,
    pull_control_packet,
    pull_frame,
    pull_options,
    push_control_packet,
    push_frame,
    push_options,
)
from ikel2tp.ppp.settings import PppSettings

from .ppp_peers import rng

LOG = logging.getLogger("tests.lcp")
MAGIC = Option(LcpOption.MAGIC_NUMBER, bytes.fromhex("5a1b2c3d"))
MRU = Option(LcpOption.MRU, struct.pack("!H", 1400))
PFC = Option(LcpOption.PFC)
ACFC = Option(LcpOption.ACFC)
CALLBACK = Option(LcpOption.CALLBACK, b"\x06")
MRRU = Option(LcpOption.MRRU, struct.pack("!H", 1614))
ENDPOINT = Option(LcpOption.ENDPOINT_DISCRIMINATOR, b"\x01" + bytes(range(16)))


def lcp(code: int, identifier: int, options: list[Option] | None = None, data: bytes = b"") -> bytes:
    body = push_options(options) if options is not None else data
    return push_frame(Protocol.LCP, push_control_packet(ControlPacket(code, identifier, body)))


def sent(link: PppLink) -> list[tuple[int, ControlPacket | bytes]]:
    out = []
    for frame in link.frames_to_send():
        protocol, info = pull_frame(frame)
        control = protocol in (Protocol.LCP, Protocol.IPCP)
        out.append((protocol, pull_control_packet(info) if control else info))
    return out


def events(link: PppLink) -> list:
    out = []
    while (event := link.next_event()) is not None:
        out.append(event)
    return out


def server(**settings) -> PppLink:
    link = PppLink(PppSettings(**settings), log=LOG, random=rng(7), name="srv")
    link.start(0.0)
    return link


def test_windows_like_peer_gets_its_extras_rejected_and_the_rest_acked() -> None:
    link = server()
    (protocol, request), = sent(link)
    assert protocol == Protocol.LCP and request.code == Code.CONFIGURE_REQUEST
    ours = pull_options(request.data)
    assert [o.type for o in ours] == [LcpOption.MRU, LcpOption.AUTH_PROTOCOL, LcpOption.MAGIC_NUMBER]
    assert ours[1].data == b"\xc2\x23\x81"  # MS-CHAPv2 first by default

    link.receive_frame(lcp(Code.CONFIGURE_REQUEST, 1, [MRU, MAGIC, PFC, ACFC, CALLBACK, MRRU, ENDPOINT]), 0.1)
    (_, reply), = sent(link)
    assert reply.code == Code.CONFIGURE_REJECT and reply.identifier == 1
    assert pull_options(reply.data) == [CALLBACK, MRRU, ENDPOINT]

    link.receive_frame(lcp(Code.CONFIGURE_REQUEST, 2, [MRU, MAGIC, PFC, ACFC]), 0.2)
    (_, reply), = sent(link)
    assert reply.code == Code.CONFIGURE_ACK and pull_options(reply.data) == [MRU, MAGIC, PFC, ACFC]
    assert events(link) == []  # no challenge before LCP is Opened (SoftEtherVPN#1102)

    link.receive_frame(lcp(Code.CONFIGURE_ACK, request.identifier, data=request.data), 0.3)
    assert events(link) == [LinkUp()]
    (protocol, challenge), = [(p, i) for p, i in sent(link)]
    assert protocol == Protocol.CHAP
    packet = pull_chap_packet(challenge)
    assert packet.code is ChapCode.CHALLENGE and len(packet.value) == 16 and packet.name == b"ikel2tp"


def test_challenge_is_retransmitted_then_the_link_ends() -> None:
    link = server(max_configure=3)
    (_, request), = sent(link)
    link.receive_frame(lcp(Code.CONFIGURE_REQUEST, 1, [MRU, MAGIC]), 0.0)
    link.receive_frame(lcp(Code.CONFIGURE_ACK, request.identifier, data=request.data), 0.0)
    sent(link)
    challenges = 1
    now = 0.0
    while not link.is_down:
        now = link.get_timer()
        link.handle_timer(now)
        challenges += sum(1 for p, _ in sent(link) if p == Protocol.CHAP)
    assert challenges == 3
    down = [e for e in events(link) if isinstance(e, LinkDown)]
    assert "never answered" in down[0].reason


def nak_auth(link: PppLink, request: ControlPacket, suggestion: bytes, now: float) -> ControlPacket:
    link.receive_frame(lcp(Code.CONFIGURE_NAK, request.identifier,
                           [Option(LcpOption.AUTH_PROTOCOL, suggestion)]), now)
    return next(p for _, p in sent(link) if p.code == Code.CONFIGURE_REQUEST)


def test_nak_moves_to_the_suggested_allowed_method() -> None:
    link = server(auth=(AuthMethod.MSCHAPV2, AuthMethod.CHAP, AuthMethod.PAP))
    (_, request), = sent(link)
    request = nak_auth(link, request, b"\xc0\x23", 0.1)  # peer wants PAP
    assert pull_options(request.data)[1].data == b"\xc0\x23"


def test_nak_with_an_unknown_method_moves_to_our_next() -> None:
    link = server()
    (_, request), = sent(link)
    request = nak_auth(link, request, b"\xc2\x27", 0.1)  # EAP
    assert pull_options(request.data)[1].data == b"\xc2\x23\x05"


def test_peer_refusing_every_method_ends_the_link_with_a_reason() -> None:
    link = server()
    (_, request), = sent(link)
    request = nak_auth(link, request, b"\xc0\x23", 0.1)  # PAP, not allowed
    link.receive_frame(lcp(Code.CONFIGURE_NAK, request.identifier,
                           [Option(LcpOption.AUTH_PROTOCOL, b"\xc2\x23\x80")]), 0.2)  # MS-CHAP v1
    down = [e for e in events(link) if isinstance(e, LinkDown)]
    assert len(down) == 1
    assert "offered PAP, MS-CHAP (v1)" in down[0].reason and "mschapv2, chap" in down[0].reason
    frames = sent(link)
    assert frames[-1][1].code == Code.TERMINATE_REQUEST


def test_endless_naks_are_bounded() -> None:
    link = server(max_failure=4)
    (_, request), = sent(link)
    rounds = 0
    while not link.is_down and rounds < 100:
        rounds += 1
        nak = lcp(Code.CONFIGURE_NAK, request.identifier, [Option(LcpOption.MRU, b"\x05\xdc")])
        link.receive_frame(nak, 0.1)
        requests = [p for _, p in sent(link) if p.code == Code.CONFIGURE_REQUEST]
        if requests:
            request = requests[-1]
    assert rounds == 5
    assert "refused our request 5 times" in [e for e in events(link) if isinstance(e, LinkDown)][0].reason


def test_endless_peer_requests_turn_naks_into_rejects() -> None:
    link = server(max_failure=2)
    sent(link)
    codes = []
    for identifier in range(5):
        link.receive_frame(lcp(Code.CONFIGURE_REQUEST, identifier, [Option(LcpOption.MRU, b"\x00\x10")]), 0.1)
        codes += [p.code for _, p in sent(link)]
    assert codes == [Code.CONFIGURE_NAK] * 2 + [Code.CONFIGURE_REJECT] * 3
    tiny_mru = Option(LcpOption.MRU, b"\x00\x10")
    link.receive_frame(lcp(Code.CONFIGURE_REQUEST, 9, [tiny_mru, MAGIC]), 0.2)
    (_, reply), = sent(link)
    assert reply.code == Code.CONFIGURE_REJECT and pull_options(reply.data) == [tiny_mru]  # verbatim


def test_looped_back_magic_is_naked() -> None:
    link = server()
    (_, request), = sent(link)
    ours = pull_options(request.data)[2]
    link.receive_frame(lcp(Code.CONFIGURE_REQUEST, 9, [ours]), 0.1)
    (_, reply), = sent(link)
    assert reply.code == Code.CONFIGURE_NAK and pull_options(reply.data)[0].data != ours.data


def opened() -> PppLink:
    link = server()
    (_, request), = sent(link)
    link.receive_frame(lcp(Code.CONFIGURE_REQUEST, 1, [MRU, MAGIC]), 0.0)
    link.receive_frame(lcp(Code.CONFIGURE_ACK, request.identifier, data=request.data), 0.0)
    sent(link)
    events(link)
    return link


def test_echo_request_is_answered_with_our_magic() -> None:
    link = opened()
    link.receive_frame(lcp(Code.ECHO_REQUEST, 42, data=MAGIC.data + b"ping"), 1.0)
    (_, reply), = sent(link)
    assert reply.code == Code.ECHO_REPLY and reply.identifier == 42
    assert reply.data[4:] == b"ping" and reply.data[:4] == link.lcp.magic.to_bytes(4, "big")


def test_unknown_protocol_gets_protocol_reject_and_ccp_too() -> None:
    link = opened()
    link.receive_frame(push_frame(0x80FD, b"\x01\x01\x00\x0a\x12\x06\x01\x00\x00\x40"), 1.0)  # CCP MPPE
    link.receive_frame(push_frame(0x4023, b"whatever"), 1.0)
    rejects = sent(link)
    assert [p.code for _, p in rejects] == [Code.PROTOCOL_REJECT] * 2
    assert rejects[0][1].data[:2] == b"\x80\xfd" and rejects[1][1].data == b"\x40\x23whatever"
    assert link.counters.protocol_rejects == 2


def test_unknown_code_gets_code_reject_and_link_stays() -> None:
    link = opened()
    link.receive_frame(lcp(77, 3, data=b"xyz"), 1.0)
    (_, reply), = sent(link)
    assert reply.code == Code.CODE_REJECT and reply.data == bytes([77, 3, 0, 7]) + b"xyz"
    assert link.lcp.is_open


def test_discard_request_is_silently_taken() -> None:
    link = opened()
    link.receive_frame(lcp(Code.DISCARD_REQUEST, 3, data=MAGIC.data), 1.0)
    assert sent(link) == [] and link.lcp.is_open


def test_non_lcp_before_opened_is_discarded() -> None:
    link = server()
    sent(link)
    link.receive_frame(push_frame(Protocol.IPCP, b"\x01\x01\x00\x04"), 0.1)
    link.receive_frame(push_frame(0x0021, b"\x45" + bytes(19)), 0.1)
    assert sent(link) == [] and link.counters.not_ready == 2


def test_compressed_protocol_field_is_understood() -> None:
    link = opened()
    link.receive_frame(b"\x21" + b"\x45" + bytes(19), 1.0)  # PFC: IPv4 as 0x21
    assert link.counters.not_ready == 1  # parsed as IPv4, held back because IPCP is not up


def test_peer_terminate_request_is_acked_and_link_goes_down() -> None:
    link = opened()
    link.receive_frame(lcp(Code.TERMINATE_REQUEST, 5), 2.0)
    (_, ack), = sent(link)
    assert ack.code == Code.TERMINATE_ACK and ack.identifier == 5
    assert events(link) == [LinkDown("peer sent LCP Terminate-Request")]


def test_a_finished_link_does_not_come_back() -> None:
    link = opened()
    link.receive_frame(lcp(Code.TERMINATE_REQUEST, 5), 2.0)
    while (deadline := link.get_timer()) is not None:
        link.handle_timer(deadline)
    sent(link)
    events(link)
    link.receive_frame(lcp(Code.CONFIGURE_REQUEST, 6, [MRU, MAGIC]), 10.0)
    assert sent(link) == [] and events(link) == []


def test_pap_retransmission_after_the_verdict_gets_it_again_with_its_id() -> None:
    from ikel2tp.ppp.auth.credentials import AuthResult
    from ikel2tp.ppp.auth.pap import PapCode, PapReply, PapRequest, pull_pap_packet, push_pap_packet

    link = server(auth=(AuthMethod.PAP,))
    (_, request), = sent(link)
    link.receive_frame(lcp(Code.CONFIGURE_REQUEST, 1, [MRU, MAGIC]), 0.0)
    link.receive_frame(lcp(Code.CONFIGURE_ACK, request.identifier, data=request.data), 0.0)
    sent(link)
    link.receive_frame(push_frame(Protocol.PAP, push_pap_packet(PapRequest(1, b"u", b"p"))), 0.1)
    link.auth_result(AuthResult(True, "u"), 0.2)
    link.receive_frame(push_frame(Protocol.PAP, push_pap_packet(PapRequest(2, b"u", b"p"))), 3.0)
    replies = [pull_pap_packet(info) for p, info in sent(link) if p == Protocol.PAP]
    assert [(r.code, r.identifier) for r in replies if isinstance(r, PapReply)] == [
        (PapCode.AUTHENTICATE_ACK, 1), (PapCode.AUTHENTICATE_ACK, 2)]
