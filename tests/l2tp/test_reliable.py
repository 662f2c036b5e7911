"""Control channel sequencing, window and retransmission (RFC 2661 §5.8)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from ikel2tp.l2tp.reliable import ControlChannel, serial_diff


def channel(**kw):
    args = dict(our_window=4, initial_timeout=1.0, max_timeout=8.0, max_retransmits=5)
    args.update(kw)
    return ControlChannel(**args)


@settings(derandomize=True, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(-0x8000, 0x7FFF))
def test_serial_diff(a, d):
    assert serial_diff((a + d) % 65536, a) == d


def test_in_order_and_reorder_and_duplicates():
    ch = channel()
    assert ch.receive(0, "a") == ["a"]
    assert ch.receive(2, "c") == []
    assert ch.receive(3, "d") == []
    assert ch.receive(1, "b") == ["b", "c", "d"]
    assert ch.rcv_nxt == 4
    ch.ack_pending = False
    assert ch.receive(2, "c") == []          # duplicate: acknowledged again, not delivered
    assert ch.ack_pending and ch.duplicates == 1
    assert ch.receive(4 + 4, "far") == []    # beyond our window of 4: dropped
    assert ch.out_of_window == 1


def test_wraparound():
    ch = channel()
    ch.rcv_nxt = 0xFFFF
    assert ch.receive(0, "b") == []
    assert ch.receive(0xFFFF, "a") == ["a", "b"]
    assert ch.rcv_nxt == 1


def test_peer_window_limits_outstanding():
    ch = channel()
    ch.peer_window = 2
    for i in range(5):
        ch.queue(0, [i])
    assert [o.ns for o in ch.transmit(0.0)] == [0, 1]
    assert ch.transmit(0.0) == []
    assert ch.acknowledge(1, 0.5)
    assert [o.ns for o in ch.transmit(0.5)] == [2]
    assert ch.acknowledge(5, 0.6) is False   # acknowledges what was never sent: ignored
    assert ch.acknowledge(3, 0.7)
    assert [o.ns for o in ch.transmit(0.7)] == [3, 4]


def test_backoff_1_2_4_8_8_then_failure():
    ch = channel()
    ch.queue(0, ["msg"])
    ch.transmit(0.0)
    times = []
    now = 0.0
    while not ch.failed:
        now = ch.retransmit_at
        if ch.handle_timer(now):
            times.append(now)
    assert times == [1, 3, 7, 15, 23]
    assert now == 31


def test_ack_resets_backoff():
    ch = channel()
    ch.queue(0, ["a"])
    ch.transmit(0.0)
    ch.handle_timer(1.0)
    ch.handle_timer(3.0)
    ch.queue(0, ["b"])
    ch.transmit(3.5)
    assert ch.acknowledge(1, 4.0)
    assert ch.retransmits == 0 and ch.retransmit_at == 5.0
    assert ch.acknowledge(2, 4.5) and ch.retransmit_at is None
