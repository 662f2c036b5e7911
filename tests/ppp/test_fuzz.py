"""Mutated real LCP/IPCP/CHAP messages: the link never raises, logs, and keeps serving."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikel2tp.common.errors import DecodeError
from ikel2tp.ppp.constants import Code, IpcpOption
from ikel2tp.ppp.packet import Option, PppError, pull_frame

from .ppp_peers import Pair
from .test_ipcp import VJ, ZERO, ipcp
from .test_lcp import ACFC, CALLBACK, ENDPOINT, MAGIC, MRRU, MRU, PFC, lcp

SEEDS = [
    lcp(Code.CONFIGURE_REQUEST, 1, [MRU, MAGIC, PFC, ACFC, CALLBACK, MRRU, ENDPOINT]),
    lcp(Code.CONFIGURE_NAK, 1, [Option(3, b"\xc2\x23\x05")]),
    lcp(Code.CONFIGURE_REJECT, 1, [MRU]),
    lcp(Code.ECHO_REQUEST, 4, data=MAGIC.data + b"abc"),
    lcp(Code.PROTOCOL_REJECT, 4, data=b"\x80\x21\x01\x01\x00\x04"),
    lcp(Code.TERMINATE_REQUEST, 4),
    ipcp(Code.CONFIGURE_REQUEST, 1,
         [VJ, Option(IpcpOption.IP_ADDRESS, ZERO), Option(IpcpOption.PRIMARY_DNS, ZERO)]),
    ipcp(Code.CONFIGURE_NAK, 1, [Option(IpcpOption.IP_ADDRESS, ZERO)]),
    b"\xc2\x23\x02\x01\x00\x3c\x31" + bytes(49) + b"alice",  # MS-CHAPv2 Response
    b"\xc0\x23\x01\x01\x00\x0c\x05alice\x01x",  # PAP Authenticate-Request
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    frame = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        index = draw(st.integers(0, len(frame) - 1))
        frame[index] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(frame)))
    return bytes(frame[:cut]) + draw(st.binary(max_size=6))


def _templates() -> list:
    fresh = Pair()
    fresh.server.start(0.0)
    fresh.server.frames_to_send()
    up = Pair()
    up.start()
    return [fresh.server, up.server, up.client]


TEMPLATES = _templates()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated(), min_size=1, max_size=5))
def test_mutated_frames_never_escape(frames: list[bytes]) -> None:
    # Each example starts from copies of a link in establishment, and of both ends of an up link.
    for link in copy.deepcopy(TEMPLATES):
        for frame in frames:
            link.receive_frame(frame, 1.0)
        link.frames_to_send()
        while link.next_event() is not None:
            pass
        timer = link.get_timer()
        assert timer is None or timer >= 0


@settings(max_examples=200, deadline=None)
@given(mutated())
def test_layer_parsers_raise_only_ppp_errors(frame: bytes) -> None:
    pair = copy.deepcopy(TEMPLATES[1])
    try:
        protocol, information = pull_frame(frame)
    except DecodeError:
        return
    layer = {0xC021: pair.lcp, 0x8021: pair.ipcp}.get(protocol)
    if layer is None:
        return
    try:
        layer.receive(information, 1.0)
    except PppError:
        pass
    pair.frames_to_send()
