"""IPCP with a Windows-like peer: addresses, DNS/WINS steering, VJ compression rejected."""

from __future__ import annotations

from ipaddress import IPv4Address

from ikel2tp.ppp.constants import Code, IpcpOption, Protocol
from ikel2tp.ppp.events import NetworkUp
from ikel2tp.ppp.packet import (
    ControlPacket,
    Option,
    pull_options,
    push_control_packet,
    push_frame,
    push_options,
)

from .ppp_peers import DNS, GATEWAY, PEER, WINS, Pair
from .test_lcp import events, sent

ZERO = bytes(4)
VJ = Option(IpcpOption.IP_COMPRESSION, b"\x00\x2d\x0f\x01")


def ipcp(code: int, identifier: int, options: list[Option]) -> bytes:
    packet = ControlPacket(code, identifier, push_options(options))
    return push_frame(Protocol.IPCP, push_control_packet(packet))


def network_phase_server():
    pair = Pair()
    pair.server.start(0.0)
    pair.client.start(0.0)
    # Run everything up to authentication, but keep the client out of IPCP.
    pair.client._begin_network = lambda now: None  # type: ignore[method-assign]
    pair.pump(0.0)
    link = pair.server
    events(link)
    link.handle_timer(3.0)  # our IPCP request went to a client that ignored it: the retransmission
    return link


def test_windows_like_ipcp_request_is_steered() -> None:
    link = network_phase_server()
    (_, our_request), = sent(link)
    assert our_request.code == Code.CONFIGURE_REQUEST
    assert pull_options(our_request.data) == [Option(IpcpOption.IP_ADDRESS, GATEWAY.packed)]

    windows = [Option(IpcpOption.IP_COMPRESSION, VJ.data), Option(IpcpOption.IP_ADDRESS, ZERO),
               Option(IpcpOption.PRIMARY_DNS, ZERO), Option(IpcpOption.PRIMARY_NBNS, ZERO),
               Option(IpcpOption.SECONDARY_DNS, ZERO), Option(IpcpOption.SECONDARY_NBNS, ZERO)]
    link.receive_frame(ipcp(Code.CONFIGURE_REQUEST, 1, windows), 1.0)
    (_, reply), = sent(link)
    assert reply.code == Code.CONFIGURE_REJECT
    assert pull_options(reply.data) == [windows[0], windows[5]]  # VJ, and WINS 2 (only one configured)

    link.receive_frame(ipcp(Code.CONFIGURE_REQUEST, 2, windows[1:5]), 1.1)
    (_, reply), = sent(link)
    assert reply.code == Code.CONFIGURE_NAK
    assert pull_options(reply.data) == [
        Option(IpcpOption.IP_ADDRESS, PEER.packed), Option(IpcpOption.PRIMARY_DNS, DNS[0].packed),
        Option(IpcpOption.PRIMARY_NBNS, WINS[0].packed), Option(IpcpOption.SECONDARY_DNS, DNS[1].packed)]

    link.receive_frame(ipcp(Code.CONFIGURE_REQUEST, 3, pull_options(reply.data)), 1.2)
    (_, reply), = sent(link)
    assert reply.code == Code.CONFIGURE_ACK
    link.receive_frame(ipcp(Code.CONFIGURE_ACK, our_request.identifier, pull_options(our_request.data)), 1.3)
    assert events(link) == [NetworkUp(PEER, GATEWAY, tuple(DNS))]


def test_peer_insisting_on_another_address_is_not_given_it() -> None:
    link = network_phase_server()
    sent(link)
    other = Option(IpcpOption.IP_ADDRESS, IPv4Address("10.9.0.50").packed)
    codes = []
    for identifier in range(8):
        link.receive_frame(ipcp(Code.CONFIGURE_REQUEST, identifier, [other]), 1.0)
        codes += [p.code for _, p in sent(link)]
    # Nak'd with the assigned address, then (Max-Failure) Rejected: never Acked.
    assert Code.CONFIGURE_ACK not in codes and codes[0] == Code.CONFIGURE_NAK
    assert not link.ipcp.is_open


def test_peer_rejecting_ipcp_ends_the_link() -> None:
    link = network_phase_server()
    sent(link)
    lcp_reject = push_frame(Protocol.LCP, push_control_packet(
        ControlPacket(Code.PROTOCOL_REJECT, 9, b"\x80\x21\x01\x01\x00\x04")))
    link.receive_frame(lcp_reject, 1.0)
    assert link.is_down and "refused IPCP" in link._down_reason


def test_peer_that_does_not_ask_for_an_address_is_prompted_once() -> None:
    link = network_phase_server()
    sent(link)
    link.receive_frame(ipcp(Code.CONFIGURE_REQUEST, 1, []), 1.0)  # pppd-style: no IP-Address at all
    (_, reply), = sent(link)
    assert reply.code == Code.CONFIGURE_NAK
    assert pull_options(reply.data) == [Option(IpcpOption.IP_ADDRESS, PEER.packed)]
    link.receive_frame(ipcp(Code.CONFIGURE_REQUEST, 2, []), 1.1)
    (_, reply), = sent(link)
    assert reply.code == Code.CONFIGURE_ACK


def test_empty_lcp_request_is_acked() -> None:
    from .test_lcp import lcp, server

    link = server()
    sent(link)
    link.receive_frame(lcp(Code.CONFIGURE_REQUEST, 1, []), 0.1)
    (_, reply), = sent(link)
    assert reply.code == Code.CONFIGURE_ACK and reply.data == b""
