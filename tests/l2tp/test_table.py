"""Walk the tunnel and session transition tables over every (state, message) pair (RFC 2661 §7)."""

import logging

import pytest

from ikel2tp.l2tp.avp import Accm, CallErrors, ResultCode
from ikel2tp.l2tp.constants import AvpType, ErrorCode, MessageType, StopCcnResult
from ikel2tp.l2tp.message import REQUIRED, Message
from ikel2tp.l2tp.packet import Header
from ikel2tp.l2tp.session import SESSION_TABLE, SessionState
from ikel2tp.l2tp.settings import L2tpSettings
from ikel2tp.l2tp.tunnel import TUNNEL_TABLE, Context, Tunnel, TunnelState

from .lac import seeded

SAMPLE = {
    AvpType.RESULT_CODE: ResultCode(1),
    AvpType.PROTOCOL_VERSION: (1, 0),
    AvpType.HOST_NAME: "lac",
    AvpType.FRAMING_CAPABILITIES: 3,
    AvpType.ASSIGNED_TUNNEL_ID: 100,
    AvpType.ASSIGNED_SESSION_ID: 7,
    AvpType.CALL_SERIAL_NUMBER: 1,
    AvpType.MINIMUM_BPS: 1,
    AvpType.MAXIMUM_BPS: 1,
    AvpType.BEARER_TYPE: 1,
    AvpType.FRAMING_TYPE: 1,
    AvpType.CALLED_NUMBER: "1",
    AvpType.TX_CONNECT_SPEED: 1,
    AvpType.CALL_ERRORS: CallErrors(0, 0, 0, 0, 0, 0),
    AvpType.ACCM: Accm(0, 0),
}


def minimal(kind: MessageType) -> Message:
    return Message(kind, {avp: SAMPLE[avp] for avp in REQUIRED[kind]})


class Walker:
    """Drives one Tunnel directly with its own Ns so any state can be reached."""

    def __init__(self):
        self.ctx = Context(L2tpSettings(), logging.getLogger("test.table"), seeded(5))
        self.tunnel = Tunnel(self.ctx, 1000, ("192.0.2.10", 1701), 100, 0.0)
        self.ns = 0

    def feed(self, message: Message, session_id: int = 0) -> None:
        header = Header(True, 1000, session_id, self.ns, self.tunnel.channel.snd_max, length=True)
        self.ns += 1
        self.tunnel.receive_control(header, message, 1.0)

    def reach(self, state: TunnelState) -> None:
        if state != TunnelState.IDLE:
            self.feed(minimal(MessageType.SCCRQ))
        if state in (TunnelState.ESTABLISHED, TunnelState.CLOSING):
            self.feed(minimal(MessageType.SCCCN))
        if state == TunnelState.CLOSING:
            self.tunnel.stop(StopCcnResult.GENERAL_REQUEST_TO_CLEAR, ErrorCode.NO_ERROR, "test", 1.0)
        assert self.tunnel.state == state

    def session(self, state: SessionState) -> int:
        self.feed(minimal(MessageType.ICRQ))
        (session,) = self.tunnel.sessions.values()
        if state == SessionState.ESTABLISHED:
            self.feed(minimal(MessageType.ICCN), session.session_id)
        assert session.state == state
        return session.session_id


@pytest.mark.parametrize("state", list(TunnelState))
@pytest.mark.parametrize("kind", list(MessageType))
def test_tunnel_table(state, kind):
    walker = Walker()
    walker.reach(state)
    walker.ctx.events.clear()
    walker.feed(minimal(kind))
    entry = TUNNEL_TABLE.get((state, kind))
    expected = entry[1] if entry else state
    assert walker.tunnel.state == expected
    if entry is None:
        assert not walker.ctx.events  # ignored: nothing happened besides the acknowledgement


SESSION_KINDS = [k for k in MessageType if k not in (MessageType.SCCRQ, MessageType.SCCRP, MessageType.SCCCN,
                                                      MessageType.StopCCN, MessageType.HELLO)]


@pytest.mark.parametrize("state", [SessionState.WAIT_CONNECT, SessionState.ESTABLISHED])
@pytest.mark.parametrize("kind", SESSION_KINDS)
def test_session_table(state, kind):
    walker = Walker()
    walker.reach(TunnelState.ESTABLISHED)
    sid = walker.session(state)
    walker.ctx.events.clear()
    walker.feed(minimal(kind), sid)
    session = walker.tunnel.sessions.get(sid)
    if kind == MessageType.ICRQ:   # a new call beside this one
        assert session.state == state and len(walker.tunnel.sessions) == 2
        return
    entry = SESSION_TABLE.get((state, kind))
    if entry is None:
        assert session is not None and session.state == state and not walker.ctx.events
    elif entry[1] is None:  # the call is gone; SessionDown only for a call that was up
        assert session is None and len(walker.ctx.events) == (state == SessionState.ESTABLISHED)
    else:
        assert session.state == entry[1]
    assert walker.tunnel.state == TunnelState.ESTABLISHED
