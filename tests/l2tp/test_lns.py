"""Control exchanges, data path, loss and teardown of the LNS against the in-memory LAC (RFC 2661)."""

import logging
import random

from ikel2tp.l2tp.avp import Accm, Avp, ResultCode
from ikel2tp.l2tp.constants import AvpType, CdnResult, ErrorCode, MessageType, StopCcnResult
from ikel2tp.l2tp.events import PppFrameReceived, SessionDown, SessionKey, SessionUp, TunnelDown, TunnelUp
from ikel2tp.l2tp.message import build_avps
from ikel2tp.l2tp.packet import Header, encode_datagram
from ikel2tp.l2tp.tunnel import TunnelState

from .lac import PEER, Lac, establish, events, exchange, make_lns, md5_response, messages, open_session

LCP = bytes.fromhex("c021010100040000")  # protocol field first


def test_tunnel_establishment():
    lns, lac = make_lns(), Lac()
    (sccrp,) = exchange(lns, lac, lac.sccrq(), 0.0)
    assert sccrp.message.name == "SCCRP" and sccrp.header.tunnel_id == lac.tunnel_id
    assert (sccrp.header.ns, sccrp.header.nr) == (0, 1)
    m = sccrp.message
    assert m.get(AvpType.PROTOCOL_VERSION) == (1, 0) and m.get(AvpType.HOST_NAME) == "ikel2tp"
    assert m.get(AvpType.RECEIVE_WINDOW_SIZE) == 8 and AvpType.CHALLENGE not in m.values
    assert events(lns) == []
    lac.lns_tunnel_id = m.get(AvpType.ASSIGNED_TUNNEL_ID)
    (zlb,) = exchange(lns, lac, lac.scccn(m), 0.1)
    assert zlb.message is None and (zlb.header.ns, zlb.header.nr) == (1, 2)
    assert events(lns) == [TunnelUp(lac.lns_tunnel_id, PEER, 100, "lac.example", "")]


def test_session_establishment_and_data_both_ways():
    lns, lac = make_lns(), Lac()
    tid = establish(lns, lac)
    events(lns)
    (icrp,) = exchange(lns, lac, lac.icrq(7), 1.0)
    assert icrp.message.name == "ICRP" and icrp.header.session_id == 7
    sid = icrp.message.get(AvpType.ASSIGNED_SESSION_ID)
    assert messages(exchange(lns, lac, lac.iccn(sid), 1.1)) == ["ZLB"]
    key = SessionKey(tid, sid)
    (up,) = events(lns)
    assert isinstance(up, SessionUp) and up.session_key == key and up.peer_session_id == 7
    assert not up.sequencing
    # With and without the FF 03 address/control header
    lns.receive_datagram(lac.data(sid, b"\xff\x03" + LCP), PEER, 1.2)
    lns.receive_datagram(lac.data(sid, LCP), PEER, 1.3)
    assert events(lns) == [PppFrameReceived(key, LCP)] * 2
    assert lns.send_ppp(key, LCP)
    ((data, to),) = lns.datagrams_to_send()
    got = lac.receive(data)
    assert to == PEER and not got.header.control and got.header.ns is None
    assert (got.header.tunnel_id, got.header.session_id, got.payload) == (100, 7, b"\xff\x03" + LCP)
    assert lns.send_ppp(SessionKey(tid, sid ^ 1), LCP) is False


def test_sequencing_required_and_s_bit():
    lns, lac = make_lns(), Lac()
    establish(lns, lac)
    key = open_session(lns, lac, sequencing=True)
    events(lns)
    lns.send_ppp(key, LCP)
    lns.send_ppp(key, LCP)
    sent = [lac.receive(d).header for d, _ in lns.datagrams_to_send()]
    assert [(h.ns, h.nr) for h in sent] == [(0, 0), (1, 0)]
    lns.receive_datagram(lac.data(key.session_id, LCP, ns=5), PEER, 2.0)
    lns.receive_datagram(lac.data(key.session_id, LCP, ns=4), PEER, 2.0)  # older: dropped
    assert len(events(lns)) == 1
    lns.send_ppp(key, LCP)
    (data, _), = lns.datagrams_to_send()
    assert (lac.receive(data).header.ns, lac.receive(data).header.nr) == (2, 0)   # Nr reserved (§3.1)


def test_peer_s_bit_turns_on_sequencing():
    lns, lac = make_lns(), Lac()
    establish(lns, lac)
    key = open_session(lns, lac)
    lns.send_ppp(key, LCP)
    lns.receive_datagram(lac.data(key.session_id, LCP, ns=0), PEER, 2.0)
    lns.send_ppp(key, LCP)
    assert [lac.receive(d).header.ns for d, _ in lns.datagrams_to_send()] == [None, 0]


def test_cdn_from_peer_and_from_us():
    lns, lac = make_lns(), Lac()
    establish(lns, lac)
    key = open_session(lns, lac, 7)
    events(lns)
    cdn = lac.control(MessageType.CDN, [(AvpType.RESULT_CODE, ResultCode(CdnResult.LOST_CARRIER)),
                                        (AvpType.ASSIGNED_SESSION_ID, 7)], session_id=key.session_id)
    assert messages(exchange(lns, lac, cdn, 2.0)) == ["ZLB"]
    (down,) = events(lns)
    assert down == SessionDown(key, "peer disconnected the call: LOST_CARRIER", CdnResult.LOST_CARRIER)
    key2 = open_session(lns, lac, 8)
    events(lns)
    lns.close_session(key2, "user kicked", 3.0)
    (cdn,) = [lac.receive(d) for d, _ in lns.datagrams_to_send()]
    assert cdn.message.name == "CDN" and cdn.header.session_id == 8
    assert cdn.message.get(AvpType.RESULT_CODE) == ResultCode(CdnResult.ADMINISTRATIVE, 0, "user kicked")
    assert cdn.message.get(AvpType.ASSIGNED_SESSION_ID) == key2.session_id
    assert events(lns) == [SessionDown(key2, "user kicked", CdnResult.ADMINISTRATIVE)]


def test_stopccn_from_peer_is_held_and_acked():
    lns, lac = make_lns(), Lac()
    tid = establish(lns, lac)
    key = open_session(lns, lac)
    events(lns)
    stop = lac.control(MessageType.StopCCN, [(AvpType.ASSIGNED_TUNNEL_ID, 100),
                                             (AvpType.RESULT_CODE, ResultCode(1, 0, "bye"))])
    assert messages(exchange(lns, lac, stop, 5.0)) == ["ZLB"]
    assert events(lns) == [SessionDown(key, "tunnel closed: peer closed the tunnel: GENERAL_REQUEST_TO_CLEAR "
                                            "(bye)", None),
                           TunnelDown(tid, PEER, "peer closed the tunnel: GENERAL_REQUEST_TO_CLEAR (bye)", 1)]
    lac.ns -= 1  # the peer lost our ZLB and retransmits its StopCCN: still acknowledged (§5.7)
    assert messages(exchange(lns, lac, stop, 6.0)) == ["ZLB"]
    assert lns.get_timer() == 5.0 + 31
    lns.handle_timer(36.0)
    assert lns.tunnels() == []


def test_close_all_sends_stopccn_and_retransmits_until_acked():
    lns, lac = make_lns(), Lac()
    tid = establish(lns, lac)
    events(lns)
    lns.close_all(10.0)
    (stop,) = [lac.receive(d) for d, _ in lns.datagrams_to_send()]
    assert stop.message.name == "StopCCN"
    assert stop.message.get(AvpType.RESULT_CODE).result == StopCcnResult.BEING_SHUT_DOWN
    assert stop.message.get(AvpType.ASSIGNED_TUNNEL_ID) == tid
    assert events(lns) == [TunnelDown(tid, PEER, "server shutting down", StopCcnResult.BEING_SHUT_DOWN)]
    lns.handle_timer(11.0)
    assert messages([lac.receive(d) for d, _ in lns.datagrams_to_send()]) == ["StopCCN"]
    exchange(lns, lac, lac.zlb(), 11.5)
    lns.handle_timer(20.0)
    assert lns.datagrams_to_send() == []
    lns.handle_timer(41.0)
    assert lns.tunnels() == []


def test_hello_when_idle_and_teardown_when_unanswered():
    lns, lac = make_lns(hello_interval=60), Lac()
    tid = establish(lns, lac)
    events(lns)
    assert lns.get_timer() == 60.0
    lns.handle_timer(60.0)
    (hello,) = [lac.receive(d) for d, _ in lns.datagrams_to_send()]
    assert hello.message.name == "HELLO"
    exchange(lns, lac, lac.zlb(), 60.5)              # acknowledged: next HELLO 60 s later
    assert lns.get_timer() == 120.5
    lns.handle_timer(120.5)
    lns.datagrams_to_send()
    sent_at = []
    while lns.tunnels():
        now = lns.get_timer()
        lns.handle_timer(now)
        if lns.datagrams_to_send():
            sent_at.append(now - 120.5)
    assert sent_at == [1, 3, 7, 15, 23]
    assert now - 120.5 == 31
    (down,) = events(lns)
    assert down.tunnel_id == tid and "stopped acknowledging" in down.reason


def test_peer_hello_is_acked():
    lns, lac = make_lns(), Lac()
    establish(lns, lac)
    assert messages(exchange(lns, lac, lac.control(MessageType.HELLO, []), 3.0)) == ["ZLB"]


def test_lost_sccrp_is_retransmitted_and_duplicate_sccrq_gets_only_an_ack():
    lns, lac = make_lns(), Lac()
    sccrq = lac.sccrq()
    lns.receive_datagram(sccrq, PEER, 0.0)
    lns.datagrams_to_send()                          # SCCRP lost
    # the LAC retransmits its SCCRQ: npppd habit, no new SCCRP, just an acknowledgement
    assert messages(exchange(lns, lac, sccrq, 0.9)) == ["ZLB"]
    assert len(lns.tunnels()) == 1
    lns.handle_timer(1.0)
    (sccrp,) = [lac.receive(d) for d, _ in lns.datagrams_to_send()]
    assert sccrp.message.name == "SCCRP" and sccrp.header.ns == 0
    lac.lns_tunnel_id = sccrp.message.get(AvpType.ASSIGNED_TUNNEL_ID)
    exchange(lns, lac, lac.scccn(sccrp.message), 1.1)
    assert isinstance(events(lns)[0], TunnelUp)


def test_reordered_icrq_iccn_and_duplicate():
    lns, lac = make_lns(), Lac()
    establish(lns, lac)
    icrq = lac.icrq(7)
    hello = lac.control(MessageType.HELLO, [])
    assert messages(exchange(lns, lac, hello, 1.0)) == []     # ahead of Nr: queued, not delivered
    out = exchange(lns, lac, icrq, 1.1)
    assert messages(out) == ["ICRP"] and out[0].header.nr == 4  # both delivered now
    assert messages(exchange(lns, lac, icrq, 1.2)) == ["ZLB"]  # duplicate
    assert sum(isinstance(e, SessionUp) for e in events(lns)) == 0
    assert len(lns.tunnels()[0].sessions) == 1


def test_our_window_respects_peer_receive_window():
    lns, lac = make_lns(max_sessions_per_tunnel=10), Lac(window=1)
    establish(lns, lac)
    for i in range(3):
        lns.receive_datagram(lac.icrq(10 + i), PEER, 1.0)
    out = [lac.receive(d) for d, _ in lns.datagrams_to_send()]
    assert messages(out) == ["ICRP", "ZLB", "ZLB"]      # one ICRP outstanding; the other ICRQs acked
    out = exchange(lns, lac, lac.zlb(), 1.1)
    assert messages(out) == ["ICRP"]
    assert messages(exchange(lns, lac, lac.zlb(), 1.2)) == ["ICRP"]


def test_tunnel_authentication_both_directions():
    secret = b"tunnel-secret"
    lns, lac = make_lns(secret=secret), Lac(secret=secret)
    (sccrp,) = exchange(lns, lac, lac.sccrq(challenge=b"C" * 16), 0.0)
    m = sccrp.message
    assert m.get(AvpType.CHALLENGE_RESPONSE) == md5_response(MessageType.SCCRP, secret, b"C" * 16)
    assert len(m.get(AvpType.CHALLENGE)) == 16
    lac.lns_tunnel_id = m.get(AvpType.ASSIGNED_TUNNEL_ID)
    assert messages(exchange(lns, lac, lac.scccn(m), 0.1)) == ["ZLB"]
    assert isinstance(events(lns)[0], TunnelUp)


def test_wrong_secret_is_refused_with_not_authorized(caplog):
    lns, lac = make_lns(secret=b"right"), Lac(secret=b"right")
    (sccrp,) = exchange(lns, lac, lac.sccrq(), 0.0)
    lac.lns_tunnel_id = sccrp.message.get(AvpType.ASSIGNED_TUNNEL_ID)
    with caplog.at_level(logging.INFO, "test.l2tp"):
        (stop,) = exchange(lns, lac, lac.scccn(sccrp.message, secret=b"wrong"), 0.1)
    assert stop.message.name == "StopCCN"
    assert stop.message.get(AvpType.RESULT_CODE).result == StopCcnResult.NOT_AUTHORIZED
    (down,) = events(lns)
    assert down.result_code == StopCcnResult.NOT_AUTHORIZED and "tunnel secrets differ" in down.reason
    assert "wrong Challenge Response" in caplog.text and "right" not in caplog.text.replace("wrong", "")


def test_challenge_without_configured_secret_is_refused():
    lns, lac = make_lns(), Lac()
    (stop,) = exchange(lns, lac, lac.sccrq(challenge=b"x" * 16), 0.0)
    assert stop.message.name == "StopCCN"
    assert stop.message.get(AvpType.RESULT_CODE).result == StopCcnResult.NOT_AUTHORIZED


def test_hidden_avps_from_peer_are_unhidden():
    lns, lac = make_lns(secret=b"k"), Lac(secret=b"k")
    establish(lns, lac)
    (icrp,) = exchange(lns, lac, lac.icrq(77, hide=frozenset({AvpType.ASSIGNED_SESSION_ID,
                                                                AvpType.CALLING_NUMBER})), 1.0)
    assert icrp.header.session_id == 77


def test_unknown_mandatory_avp_in_session_message_closes_only_the_session():
    lns, lac = make_lns(), Lac()
    establish(lns, lac)
    key = open_session(lns, lac, 7)
    events(lns)
    avps = build_avps(MessageType.SLI, [(AvpType.ACCM, Accm(0, 0))])
    (cdn,) = exchange(lns, lac, lac.raw(avps + [Avp(999, b"", True)], key.session_id), 2.0)
    assert cdn.message.name == "CDN"
    result = cdn.message.get(AvpType.RESULT_CODE)
    assert (result.result, result.error) == (CdnResult.GENERAL_ERROR, ErrorCode.UNKNOWN_MANDATORY_AVP)
    assert [type(e) for e in events(lns)] == [SessionDown]
    assert lns.tunnels()[0].state == TunnelState.ESTABLISHED


def test_unknown_mandatory_avp_in_tunnel_message_closes_the_tunnel():
    lns, lac = make_lns(), Lac()
    establish(lns, lac)
    avps = build_avps(MessageType.HELLO, []) + [Avp(5, b"", True, vendor_id=9)]
    (stop,) = exchange(lns, lac, lac.raw(avps), 2.0)
    result = stop.message.get(AvpType.RESULT_CODE)
    assert (result.result, result.error) == (StopCcnResult.GENERAL_ERROR, ErrorCode.UNKNOWN_MANDATORY_AVP)


def test_unknown_optional_avp_and_unknown_message_type_are_ignored():
    lns, lac = make_lns(), Lac()
    establish(lns, lac)
    avps = build_avps(MessageType.HELLO, []) + [Avp(999, b"x", False), Avp(1, b"", False, vendor_id=311)]
    assert messages(exchange(lns, lac, lac.raw(avps), 2.0)) == ["ZLB"]
    optional_type = [Avp(AvpType.MESSAGE_TYPE, b"\x00\x63", mandatory=False)]
    assert messages(exchange(lns, lac, lac.raw(optional_type), 2.1)) == ["ZLB"]
    assert lns.tunnels()[0].state == TunnelState.ESTABLISHED


def test_wrong_protocol_version():
    lns, lac = make_lns(), Lac()
    items = [(AvpType.PROTOCOL_VERSION, (2, 0)), (AvpType.HOST_NAME, "x"), (AvpType.FRAMING_CAPABILITIES, 3),
             (AvpType.ASSIGNED_TUNNEL_ID, 5)]
    (stop,) = exchange(lns, lac, lac.control(MessageType.SCCRQ, items, tunnel_id=0), 0.0)
    result = stop.message.get(AvpType.RESULT_CODE)
    assert result == ResultCode(5, 0x0100, "protocol version (2, 0) is not 1.0")


def test_pinning_two_peers_same_tunnel_id_and_close_peer():
    lns = make_lns()
    a, b = Lac(), Lac()
    peer_b = ("192.0.2.10", 1702)   # same NAT address, another SA/port
    tid_a = establish(lns, a)
    tid_b = establish(lns, b, peer=peer_b)
    assert tid_a != tid_b and len(lns.tunnels()) == 2
    events(lns)
    # b's packets addressed to a's tunnel are dropped (pinned to a)
    hello = a.control(MessageType.HELLO, [])
    lns.receive_datagram(hello, peer_b, 1.0)
    ((answer, to),) = lns.datagrams_to_send()     # b is told its view of that tunnel is stale
    assert to == peer_b and Lac().receive(answer).message.name == "StopCCN" and lns.dropped == 1
    assert {t.tunnel_id: t.state for t in lns.tunnels()} == {tid_a: TunnelState.ESTABLISHED,
                                                              tid_b: TunnelState.ESTABLISHED}
    lns.close_peer(PEER, "IKE SA replaced (INITIAL-CONTACT)", 2.0)
    assert events(lns) == [TunnelDown(tid_a, PEER, "IKE SA replaced (INITIAL-CONTACT)", None)]
    assert [t.tunnel_id for t in lns.tunnels()] == [tid_b] and lns.datagrams_to_send() == []
    # the client comes back on a new SA with the same tunnel ID: a fresh tunnel
    new_peer = ("192.0.2.10", 1703)
    tid_new = establish(lns, Lac(), peer=new_peer)
    assert tid_new not in (tid_a, tid_b)


def test_unknown_tunnel_traffic_is_counted_and_logged_once_per_interval(caplog):
    lns, lac = make_lns(log_interval=60), Lac()
    lac.lns_tunnel_id = 4242
    with caplog.at_level(logging.WARNING, "test.l2tp"):
        for i in range(100):
            lns.receive_datagram(lac.control(MessageType.HELLO, []), PEER, i * 0.1)
            lns.receive_datagram(lac.data(1, LCP), PEER, i * 0.1)
        lns.receive_datagram(lac.data(1, LCP), PEER, 61.0)
    assert lns.dropped == 201
    assert messages([lac.receive(d) for d, _ in lns.datagrams_to_send()]) == ["StopCCN"]  # answered once
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "unknown tunnel 4242" in lines[0] and "200 datagram(s) dropped" in lines[1]


def test_limits_and_sccrq_flood():
    lns = make_lns(max_tunnels_per_peer=2, max_tunnels=3, log_interval=60)
    for i in range(2):
        establish(lns, Lac(tunnel_id=1 + i))
    # a flood of SCCRQs with fresh tunnel IDs: refused, answered once per interval, no state kept
    answers = []
    for i in range(500):
        lac = Lac(tunnel_id=1000 + i)
        answers += exchange(lns, lac, lac.sccrq(), 1.0 + i * 0.01)
    assert len(lns.tunnels()) == 2 and len(answers) == 1
    result = answers[0].message.get(AvpType.RESULT_CODE)
    assert result.error == ErrorCode.INSUFFICIENT_RESOURCES and "per-peer" in result.message
    establish(lns, Lac(tunnel_id=9), peer=("198.51.100.7", 1701))
    lac = Lac(tunnel_id=10)
    assert exchange(lns, lac, lac.sccrq(), 2.0, peer=("203.0.113.9", 1701))[0].message.name == "StopCCN"
    assert len(lns.tunnels()) == 3


def test_session_limit():
    lns, lac = make_lns(max_sessions_per_tunnel=1), Lac()
    establish(lns, lac)
    open_session(lns, lac, 1)
    (cdn,) = exchange(lns, lac, lac.icrq(2), 1.0)
    assert cdn.message.name == "CDN" and cdn.header.session_id == 2
    assert cdn.message.get(AvpType.RESULT_CODE).error == ErrorCode.INSUFFICIENT_RESOURCES


def test_setup_timeouts():
    lns, lac = make_lns(setup_timeout=10), Lac()
    (sccrp,) = exchange(lns, lac, lac.sccrq(), 0.0)
    lac.lns_tunnel_id = sccrp.message.get(AvpType.ASSIGNED_TUNNEL_ID)
    exchange(lns, lac, lac.zlb(), 0.1)              # SCCRP acknowledged, but no SCCCN ever
    lns.handle_timer(10.0)
    assert messages([lac.receive(d) for d, _ in lns.datagrams_to_send()]) == ["StopCCN"]
    lns2, lac2 = make_lns(setup_timeout=10), Lac()
    establish(lns2, lac2)
    exchange(lns2, lac2, lac2.icrq(3), 1.0)
    exchange(lns2, lac2, lac2.zlb(), 1.1)
    lns2.handle_timer(11.0)
    assert messages([lac2.receive(d) for d, _ in lns2.datagrams_to_send()]) == ["CDN"]


def test_wrong_nr_is_dropped():
    lns, lac = make_lns(), Lac()
    establish(lns, lac)
    lac.nr = 50
    assert exchange(lns, lac, lac.control(MessageType.HELLO, []), 1.0) == []


def test_new_sccrq_reusing_a_tunnel_id_replaces_the_stale_tunnel():
    lns, lac = make_lns(), Lac(tunnel_id=100)
    old = establish(lns, lac)
    key = open_session(lns, lac)
    events(lns)
    again = Lac(tunnel_id=100, host_name="lac.example.after-sleep")   # same peer, same ID, new SCCRQ
    new = establish(lns, again, now=50.0)
    assert new != old and [t.tunnel_id for t in lns.tunnels()] == [new]
    reason = "tunnel closed: peer started a new tunnel with the same Tunnel ID (it lost the old one)"
    assert events(lns) == [SessionDown(key, reason, None), TunnelDown(old, PEER, reason[15:], None),
                           TunnelUp(new, PEER, 100, "lac.example.after-sleep", "")]


def test_control_for_unknown_tunnel_is_answered_once_with_stopccn():
    lns, lac = make_lns(log_interval=60), Lac()
    lac.lns_tunnel_id, lac.ns, lac.nr = 4242, 17, 9     # a tunnel the server forgot (restart, sleep)
    (stop,) = exchange(lns, lac, lac.control(MessageType.HELLO, []), 1.0)
    assert stop.message.name == "StopCCN"
    assert (stop.header.tunnel_id, stop.header.ns, stop.header.nr) == (0, 9, 18)
    assert stop.message.get(AvpType.ASSIGNED_TUNNEL_ID) == 4242
    assert stop.message.get(AvpType.RESULT_CODE).error == ErrorCode.NO_CONTROL_CONNECTION
    for i in range(50):
        assert exchange(lns, lac, lac.control(MessageType.HELLO, []), 2.0 + i) == []
    assert lns.tunnels() == [] and lns.dropped == 51


def test_unknown_session_is_answered_once_with_cdn():
    lns, lac = make_lns(), Lac()
    establish(lns, lac)
    for _ in range(3):
        lns.receive_datagram(lac.data(999, LCP), PEER, 1.0)
    (cdn,) = [lac.receive(d) for d, _ in lns.datagrams_to_send()]
    assert cdn.message.name == "CDN" and cdn.header.session_id == 0
    assert cdn.message.get(AvpType.ASSIGNED_SESSION_ID) == 999
    assert cdn.message.get(AvpType.RESULT_CODE).error == ErrorCode.INVALID_SESSION_ID
    assert exchange(lns, lac, lac.iccn(999), 1.1)[0].message is None     # acknowledged, not answered again


def test_out_of_place_sccrq_and_iccn_clear_tunnel_or_call():
    lns, lac = make_lns(), Lac()
    establish(lns, lac)
    key = open_session(lns, lac, 7)
    events(lns)
    (cdn,) = exchange(lns, lac, lac.iccn(key.session_id), 1.0)      # ICCN on an established call
    assert cdn.message.name == "CDN" and cdn.header.session_id == 7
    assert [type(e) for e in events(lns)] == [SessionDown]
    (stop,) = exchange(lns, lac, lac.scccn(cdn.message), 1.1)         # SCCCN on an established tunnel
    assert stop.message.get(AvpType.RESULT_CODE).result == StopCcnResult.FSM_ERROR


def test_data_before_iccn_and_for_closed_session_is_dropped():
    lns, lac = make_lns(), Lac()
    tid = establish(lns, lac)
    events(lns)
    (icrp,) = exchange(lns, lac, lac.icrq(7), 1.0)
    sid = icrp.message.get(AvpType.ASSIGNED_SESSION_ID)
    lns.receive_datagram(lac.data(sid, LCP), PEER, 1.1)
    assert lns.dropped == 1 and events(lns) == []
    exchange(lns, lac, lac.iccn(sid), 1.2)
    lns.close_session(SessionKey(tid, sid), "test", 1.3)
    events(lns)
    lns.datagrams_to_send()
    lns.receive_datagram(lac.data(sid, LCP), PEER, 1.4)
    assert lns.dropped == 2 and events(lns) == [] and lns.datagrams_to_send() == []  # its CDN went out


def test_timer_heap_matches_every_tunnels_deadline():
    rng = random.Random(4)
    lns = make_lns(max_tunnels_per_peer=50, hello_interval=20)
    lacs = []
    for i in range(20):
        lac = Lac(tunnel_id=i + 1)
        establish(lns, lac, now=rng.random())
        lacs.append(lac)
    now = 1.0
    for _ in range(300):
        lac = rng.choice(lacs)
        action = rng.random()
        if action < 0.3:
            exchange(lns, lac, lac.control(MessageType.HELLO, []), now)
        elif action < 0.4:
            exchange(lns, lac, lac.icrq(rng.randrange(1, 1000)), now)
        elif action < 0.45:
            lns.close_all(now)
        brute = min((d for t in lns.tunnels() if (d := t.deadline()) is not None), default=None)
        assert lns.get_timer() == brute
        now = max(now, brute or now) + rng.random()
        lns.handle_timer(now)
        lns.datagrams_to_send()
    assert lns.get_timer() is None or lns.tunnels()


def test_lost_acks_and_replies_never_duplicate_events():
    lns, lac = make_lns(), Lac()
    (sccrp,) = exchange(lns, lac, lac.sccrq(), 0.0)
    lac.lns_tunnel_id = sccrp.message.get(AvpType.ASSIGNED_TUNNEL_ID)
    scccn = lac.scccn(sccrp.message)
    lns.receive_datagram(scccn, PEER, 0.1)
    lns.datagrams_to_send()                                   # our ZLB is lost
    assert messages(exchange(lns, lac, scccn, 1.1)) == ["ZLB"]  # the LAC retransmits SCCCN
    icrq = lac.icrq(7)
    lns.receive_datagram(icrq, PEER, 2.0)
    lns.datagrams_to_send()                                   # our ICRP is lost
    assert messages(exchange(lns, lac, icrq, 2.5)) == ["ZLB"]   # duplicate ICRQ: acknowledged only
    lns.handle_timer(3.0)                                     # our retransmission brings the ICRP
    (icrp,) = [lac.receive(d) for d, _ in lns.datagrams_to_send()]
    assert icrp.message.name == "ICRP" and icrp.header.nr == 3
    exchange(lns, lac, lac.iccn(icrp.message.get(AvpType.ASSIGNED_SESSION_ID)), 3.1)
    assert [type(e) for e in events(lns)] == [TunnelUp, SessionUp]
    assert len(lns.tunnels()[0].sessions) == 1


def test_proxy_lcp_and_authentication_avps_are_recognised_and_logged(caplog):
    lns, lac = make_lns(), Lac()
    establish(lns, lac)
    (icrp,) = exchange(lns, lac, lac.icrq(7), 1.0)
    sid = icrp.message.get(AvpType.ASSIGNED_SESSION_ID)
    iccn = lac.control(MessageType.ICCN, [
        (AvpType.TX_CONNECT_SPEED, 10000000), (AvpType.FRAMING_TYPE, 1), (AvpType.RX_CONNECT_SPEED, 10000000),
        (AvpType.INITIAL_RECEIVED_LCP_CONFREQ, bytes.fromhex("0104057805060a0b0c0d")),
        (AvpType.LAST_SENT_LCP_CONFREQ, bytes.fromhex("0305c22305")),
        (AvpType.LAST_RECEIVED_LCP_CONFREQ, bytes.fromhex("0104057805060a0b0c0d")),
        (AvpType.PROXY_AUTHEN_TYPE, 2), (AvpType.PROXY_AUTHEN_NAME, "alice"),
        (AvpType.PROXY_AUTHEN_CHALLENGE, b"c" * 16), (AvpType.PROXY_AUTHEN_ID, 1),
        (AvpType.PROXY_AUTHEN_RESPONSE, b"r" * 16), (AvpType.PRIVATE_GROUP_ID, b"group"),
    ], session_id=sid)
    with caplog.at_level(logging.INFO, "test.l2tp"):
        assert messages(exchange(lns, lac, iccn, 1.1)) == ["ZLB"]
    (up,) = [e for e in events(lns) if isinstance(e, SessionUp)]
    assert up.proxy_authen_type == 2
    assert "proxy LCP/authentication (PPP_CHAP, name 'alice')" in caplog.text


def test_data_with_offset_and_length():
    lns, lac = make_lns(), Lac()
    tid = establish(lns, lac)
    key = open_session(lns, lac)
    events(lns)
    data = encode_datagram(Header(False, tid, key.session_id, length=True, offset=3), b"\xff\x03" + LCP)
    lns.receive_datagram(data + b"trailing", PEER, 2.0)
    assert events(lns) == [PppFrameReceived(key, LCP)]


def test_per_peer_tunnel_count_is_freed_on_every_removal_path():
    lns = make_lns(max_tunnels_per_peer=1, hello_interval=60, log_interval=0)
    other = ("198.51.100.7", 1701)

    def counted() -> dict:
        return {peer: set(mine) for peer, mine in lns._of_peer.items()}

    def scanned() -> dict:
        by_peer: dict = {}
        for t in lns.tunnels():
            by_peer.setdefault(t.peer, set()).add(t.tunnel_id)
        return by_peer

    def refused(peer, now: float) -> bool:
        lac = Lac(tunnel_id=999)
        return messages(exchange(lns, lac, lac.sccrq(), now, peer=peer)) == ["StopCCN"]

    # 1. StopCCN from the peer, held then forgotten
    lac = Lac(tunnel_id=1)
    establish(lns, lac)
    establish(lns, Lac(tunnel_id=1), peer=other)
    assert refused(PEER, 1.0) and counted() == scanned()
    exchange(lns, lac, lac.control(MessageType.StopCCN, [(AvpType.ASSIGNED_TUNNEL_ID, 1),
                                                         (AvpType.RESULT_CODE, ResultCode(1, 0, ""))]), 2.0)
    lns.handle_timer(40.0)
    assert counted() == scanned() == {other: {t.tunnel_id for t in lns.tunnels()}}
    # 2. close_peer (the IKE SA went away)
    establish(lns, Lac(tunnel_id=2), now=41.0)
    lns.close_peer(PEER, "IKE SA deleted", 42.0)
    assert counted() == scanned() and PEER not in counted()
    # 3. a new SCCRQ reusing the Tunnel ID replaces the stale tunnel (the limit of 1 still lets it in)
    establish(lns, Lac(tunnel_id=3), now=43.0)
    establish(lns, Lac(tunnel_id=3, host_name="after-sleep"), now=44.0)
    assert len(counted()[PEER]) == 1 and counted() == scanned()
    # 4. HELLO unanswered: the tunnel is torn down
    while PEER in counted():
        now = lns.get_timer()
        lns.handle_timer(now)
        lns.datagrams_to_send()
    assert counted() == scanned() and not refused(PEER, now + 1)
