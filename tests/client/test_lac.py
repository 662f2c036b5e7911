"""The LAC core against ikel2tp's own LNS, wired back to back in memory."""

from __future__ import annotations

import logging
import random as random_module

import pytest

from ikel2tp.client.lac import (
    CALL_TABLE,
    TUNNEL_TABLE,
    CallState,
    Lac,
    LacSettings,
    PppFrameReceived,
    SessionClosed,
    SessionEstablished,
    TunnelClosed,
    TunnelEstablished,
    TunnelState,
)
from ikel2tp.l2tp import events as lns_events
from ikel2tp.l2tp.avp import ResultCode
from ikel2tp.l2tp.constants import AvpType, MessageType
from ikel2tp.l2tp.lns import Lns
from ikel2tp.l2tp.message import Message
from ikel2tp.l2tp.settings import L2tpSettings

LOG = logging.getLogger("test.client")
PEER = ("192.0.2.10", 1701)
VALUES = {AvpType.PROTOCOL_VERSION: (1, 0), AvpType.ASSIGNED_TUNNEL_ID: 7, AvpType.ASSIGNED_SESSION_ID: 9,
          AvpType.RESULT_CODE: ResultCode(1), AvpType.HOST_NAME: "lns"}


def seeded(seed: int):
    return random_module.Random(seed).randbytes


def drain(core) -> list:
    out = []
    while (event := core.next_event()) is not None:
        out.append(event)
    return out


class Wire:
    """LAC and LNS back to back; ``lose`` drops the next N datagrams from the LAC."""

    def __init__(self, lac_settings: LacSettings | None = None, **lns_settings) -> None:
        self.lac = Lac(lac_settings or LacSettings(), log=LOG, random=seeded(1))
        self.lns = Lns(L2tpSettings(**lns_settings), log=LOG, random=seeded(2))
        self.lose = 0
        self.lns_events: list = []
        self.lac_events: list = []

    def run(self, now: float, rounds: int = 10) -> None:
        for _ in range(rounds):
            moved = False
            for data in self.lac.datagrams_to_send():
                moved = True
                if self.lose:
                    self.lose -= 1
                    continue
                self.lns.receive_datagram(data, PEER, now)
            for data, _peer in self.lns.datagrams_to_send():
                moved = True
                self.lac.receive_datagram(data, now)
            self.lns_events += drain(self.lns)
            self.lac_events += drain(self.lac)
            if not moved:
                return

    def up(self, now: float = 0.0) -> None:
        self.lac.start(now)
        self.run(now)


def test_tunnel_and_call_come_up() -> None:
    wire = Wire()
    wire.up()
    kinds = [type(e) for e in wire.lac_events]
    assert kinds == [TunnelEstablished, SessionEstablished]
    assert wire.lac.state is TunnelState.ESTABLISHED and wire.lac.call is CallState.ESTABLISHED
    assert [type(e) for e in wire.lns_events] == [lns_events.TunnelUp, lns_events.SessionUp]
    up = wire.lns_events[1]
    assert up.peer_session_id == wire.lac.session_id
    assert wire.lac.peer_session_id == up.session_key.session_id


def test_ppp_frames_both_ways() -> None:
    wire = Wire()
    wire.up()
    wire.lac.send_ppp(b"\xc0\x21\x01\x01\x00\x04")
    wire.run(0.0)
    (frame,) = [e for e in wire.lns_events if isinstance(e, lns_events.PppFrameReceived)]
    assert frame.frame == b"\xc0\x21\x01\x01\x00\x04"
    wire.lns.send_ppp(frame.session_key, b"\xc0\x21\x02\x01\x00\x04")
    wire.run(0.0)
    assert wire.lac_events[-1] == PppFrameReceived(b"\xc0\x21\x02\x01\x00\x04")


def test_ppp_before_the_call_is_not_sent() -> None:
    lac = Lac(LacSettings(), log=LOG, random=seeded(1))
    lac.send_ppp(b"\xc0\x21")
    assert lac.datagrams_to_send() == []


def test_lost_sccrq_is_retransmitted() -> None:
    wire = Wire()
    wire.lose = 1
    wire.up(0.0)
    assert wire.lac.state is TunnelState.WAIT_CTL_REPLY
    assert wire.lac.get_timer() == pytest.approx(1.0)
    wire.lac.handle_timer(1.0)
    wire.run(1.0)
    assert wire.lac.call is CallState.ESTABLISHED


def test_silent_lns_fails_after_retransmits() -> None:
    lac = Lac(LacSettings(max_retransmits=2), log=LOG, random=seeded(1))
    lac.start(0.0)
    now = 0.0
    while not lac.finished and now < 100:
        now = lac.get_timer()
        lac.handle_timer(now)
    events = drain(lac)
    assert isinstance(events[-1], TunnelClosed) and "stopped acknowledging" in events[-1].reason
    assert len(lac.datagrams_to_send()) == 3  # SCCRQ and two retransmits


def test_close_sends_cdn_and_stopccn() -> None:
    wire = Wire()
    wire.up()
    wire.lac.close("user hung up", 1.0)
    wire.run(1.0)
    kinds = [type(e) for e in wire.lns_events[2:]]
    assert kinds == [lns_events.SessionDown, lns_events.TunnelDown]
    assert "user hung up" in wire.lns_events[-1].reason
    assert [type(e) for e in wire.lac_events[2:]] == [SessionClosed, TunnelClosed]
    assert wire.lac.state is TunnelState.CLOSING
    wire.lac.handle_timer(wire.lac.get_timer())
    assert wire.lac.finished


def test_lns_stopccn_closes_the_lac() -> None:
    wire = Wire()
    wire.up()
    wire.lns.close_all(2.0)
    wire.run(2.0)
    closed = [e for e in wire.lac_events if isinstance(e, TunnelClosed)]
    assert closed and closed[0].result_code is not None
    assert wire.lac.state is TunnelState.CLOSING and wire.lac.call is CallState.IDLE


def test_hello_from_lns_is_acknowledged() -> None:
    wire = Wire(hello_interval=5)
    wire.up(0.0)
    wire.lns.handle_timer(5.0)
    wire.run(5.0)
    assert wire.lns.get_timer() >= 10.0  # acknowledged: nothing outstanding, next HELLO scheduled


def test_lac_hello_keeps_tunnel_alive() -> None:
    wire = Wire(LacSettings(hello_interval=3))
    wire.up(0.0)
    assert wire.lac.get_timer() == pytest.approx(3.0)
    wire.lac.handle_timer(3.0)
    wire.run(3.0)
    assert wire.lac.channel.unacknowledged == 0
    assert wire.lac.state is TunnelState.ESTABLISHED


@pytest.mark.parametrize("lac_secret, lns_secret, up", [
    (b"s3cret", b"s3cret", True), (b"s3cret", b"other", False), (None, b"s3cret", False)])
def test_tunnel_authentication(lac_secret, lns_secret, up) -> None:
    wire = Wire(LacSettings(secret=lac_secret), secret=lns_secret)
    wire.up()
    assert (wire.lac.call is CallState.ESTABLISHED) is up
    if not up:
        assert any(isinstance(e, TunnelClosed) for e in wire.lac_events)


def test_lns_cdn_closes_only_the_call() -> None:
    wire = Wire()
    wire.up()
    wire.lns.close_session(wire.lns_events[1].session_key, "kicked", 0.0)
    wire.run(0.0)
    closed = [e for e in wire.lac_events if isinstance(e, SessionClosed)]
    assert closed and "disconnected the call" in closed[0].reason
    assert wire.lac.state is TunnelState.ESTABLISHED


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xc8\x02\x00\x0c", bytes(40), b"\xff" * 30])
def test_garbage_is_dropped(data: bytes) -> None:
    wire = Wire()
    wire.up()
    wire.lac.receive_datagram(data, 1.0)
    assert wire.lac.dropped >= 1 or data == b""
    assert wire.lac.call is CallState.ESTABLISHED


def test_mutated_lns_messages_never_raise() -> None:
    rng = random_module.Random(9)
    for seed in range(60):
        wire = Wire()
        wire.lac = Lac(LacSettings(), log=LOG, random=seeded(seed))
        wire.lac.start(0.0)
        (sccrq,) = wire.lac.datagrams_to_send()
        wire.lns.receive_datagram(sccrq, PEER, 0.0)
        for data, _peer in wire.lns.datagrams_to_send():
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            wire.lac.receive_datagram(bytes(mutated), 0.0)  # only logs and drops


def test_tables_name_existing_actions() -> None:
    for action, _next in TUNNEL_TABLE.values():
        assert callable(getattr(Lac, f"_on_{action}"))
    for action, _next in CALL_TABLE.values():
        assert callable(getattr(Lac, f"_call_{action}"))


@pytest.mark.parametrize("state", list(TunnelState))
@pytest.mark.parametrize("kind", list(MessageType))
def test_every_state_and_message_pair_is_safe(state: TunnelState, kind: MessageType) -> None:
    """(state, message) pairs outside the table are dropped, never raise."""
    wire = Wire()
    wire.up()
    wire.lac.state = state
    wire.lac._dispatch(wire.lac.session_id, Message(int(kind), dict(VALUES)), 1.0)
    assert wire.lac.state in (state, TunnelState.ESTABLISHED, TunnelState.CLOSING)
