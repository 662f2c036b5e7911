"""Mutated real packets: the codecs raise only L2tpError, the LNS raises nothing, and tunnels of
other peers are not touched (RFC 2661 input handling; STYLE "bad input never crashes")."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikel2tp.l2tp.avp import ResultCode
from ikel2tp.l2tp.constants import AvpType, MessageType
from ikel2tp.l2tp.errors import L2tpError
from ikel2tp.l2tp.message import decode_message
from ikel2tp.l2tp.packet import decode_control_body, decode_datagram
from ikel2tp.l2tp.tunnel import TunnelState

from .lac import Lac, establish, events, exchange, make_lns, open_session

ATTACKER = ("198.51.100.20", 1701)
VICTIM = ("192.0.2.10", 1701)


def with_victim():
    """An LNS with one established tunnel and session of another peer (the victim)."""
    lns = make_lns(secret=b"k")
    victim = Lac(tunnel_id=77, secret=b"k")
    establish(lns, victim, peer=VICTIM)
    key = open_session(lns, victim, 9, peer=VICTIM)
    events(lns)
    return lns, victim, key


def real_packets() -> list[bytes]:
    """A full LAC conversation from ATTACKER, recorded next to the victim (so that replaying it
    unmutated in the same setting reaches the same tunnel and session IDs)."""
    lns, _, _ = with_victim()
    lac = Lac(secret=b"k")
    sent = [lac.sccrq(challenge=b"c" * 16)]
    (sccrp,) = exchange(lns, lac, sent[-1], 0.0, peer=ATTACKER)
    lac.lns_tunnel_id = sccrp.message.get(AvpType.ASSIGNED_TUNNEL_ID)
    sent.append(lac.scccn(sccrp.message))
    exchange(lns, lac, sent[-1], 0.1, peer=ATTACKER)
    sent.append(lac.icrq(5, hide=frozenset({AvpType.ASSIGNED_SESSION_ID})))
    (icrp,) = exchange(lns, lac, sent[-1], 0.2, peer=ATTACKER)
    sid = icrp.message.get(AvpType.ASSIGNED_SESSION_ID)
    sent.append(lac.iccn(sid, sequencing=True))
    sent.append(lac.data(sid, b"\xff\x03\xc0\x21\x01\x01\x00\x04", ns=0))
    sent.append(lac.control(MessageType.HELLO, []))
    sent.append(lac.control(MessageType.CDN, [(AvpType.RESULT_CODE, ResultCode(3, 0, "x")),
                                              (AvpType.ASSIGNED_SESSION_ID, 5)], session_id=sid))
    sent.append(lac.zlb())
    return sent


PACKETS = real_packets()

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 400), st.integers(0, 7)),
    st.tuples(st.just("set"), st.integers(0, 400), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 400), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 400), st.integers(0, 255)),
)


def mutate(data: bytes, steps) -> bytes:
    out = bytearray(data)
    for kind, pos, arg in steps:
        pos = pos % (len(out) + 1)
        if kind == "flip" and pos < len(out):
            out[pos] ^= 1 << arg
        elif kind == "set" and pos < len(out):
            out[pos] = arg
        elif kind == "cut":
            del out[pos:]
        elif kind == "insert":
            out.insert(pos, arg)
    return bytes(out)


@settings(derandomize=True, max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PACKETS), st.lists(mutation, min_size=1, max_size=4))
def test_codecs_raise_only_l2tp_error(packet, steps):
    data = mutate(packet, steps)
    try:
        header, payload = decode_datagram(data)
        if header.control:
            avps = decode_control_body(payload)
            if avps:
                decode_message(avps, b"k")
    except L2tpError:
        pass


@settings(derandomize=True, max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(mutation, max_size=3), min_size=len(PACKETS), max_size=len(PACKETS)),
       st.lists(st.sampled_from(range(len(PACKETS))), max_size=4))
def test_lns_survives_mutated_conversations_and_other_tunnels_are_untouched(steps, replays):
    lns, victim, key = with_victim()
    script = [(i, steps[i]) for i in range(len(PACKETS))] + [(i, steps[i]) for i in replays]
    for index, mutations in script:   # the attacker's conversation, some packets mutated
        lns.receive_datagram(mutate(PACKETS[index], mutations), ATTACKER, 1.0 + index)
        lns.datagrams_to_send()
    lns.handle_timer(20.0)
    lns.datagrams_to_send()
    assert not [e for e in events(lns) if getattr(e, "peer", None) == VICTIM
                or getattr(e, "session_key", None) == key]
    tunnel = next(t for t in lns.tunnels() if t.peer == VICTIM)
    assert tunnel.state == TunnelState.ESTABLISHED and key.session_id in tunnel.sessions
    assert [r.message.name for r in exchange(lns, victim, victim.control(MessageType.HELLO, []), 20.0,
                                             peer=VICTIM) if r.message] == []


def test_unmutated_replay_reaches_deep_states():
    lns, _, _ = with_victim()
    for index, packet in enumerate(PACKETS):
        lns.receive_datagram(packet, ATTACKER, 1.0 + index)
    kinds = [type(e).__name__ for e in events(lns)]
    assert kinds == ["TunnelUp", "SessionUp", "PppFrameReceived", "SessionDown"]
