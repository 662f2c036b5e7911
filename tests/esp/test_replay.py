"""RFC 4303 §3.4.3 / Appendix A anti-replay window: edge cases and a reference model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ikel2tp.esp.replay import DEFAULT_WINDOW, ReplayWindow


class Model:
    """The window as the RFC words it: a set of seen numbers, accept anything new within size of top."""

    def __init__(self, size: int) -> None:
        self.size, self.seen, self.top = size, set(), 0

    def check(self, seq: int) -> bool:
        return seq > 0 and seq not in self.seen and seq > self.top - self.size

    def commit(self, seq: int) -> None:
        self.seen.add(seq)
        self.top = max(self.top, seq)


def test_default_is_at_least_128():
    assert ReplayWindow().size == DEFAULT_WINDOW >= 128


def test_window_below_32_refused():
    with pytest.raises(ValueError, match="at least 32"):
        ReplayWindow(31)


# (window size, sequence numbers committed in order, sequence to check, expected)
CASES = [
    (64, [], 0, False),                  # 0 is never sent
    (64, [], 1, True),
    (64, [], 0xFFFFFFFF, True),          # a jump to the last number is fine
    (64, [1], 1, False),                 # duplicate
    (64, [5], 4, True),                  # late but inside the window
    (64, [100], 37, True),               # exactly the left edge: top - size + 1
    (64, [100], 36, False),              # one left of the edge
    (64, [100, 37], 37, False),          # the left edge, seen
    (64, [1, 200], 1, False),            # slid out of the window
    (64, [1, 64], 1, False),             # seen, at the left edge after a shift of 63
    (64, [2, 65], 3, True),              # unseen, one right of the left edge
    (64, [1, 65], 1, False),
    (64, [10, 20, 15], 15, False),
    (64, [10, 20, 15], 16, True),
    (64, [10, 1000], 999, True),         # shift larger than the window clears it
    (64, [10, 1000], 1000, False),
    (128, [1000], 873, True),
    (128, [1000], 872, False),
    (32, [0xFFFFFFFF], 0xFFFFFFFF - 31, True),
    (32, [0xFFFFFFFF], 0xFFFFFFFF - 32, False),
]


@pytest.mark.parametrize("size,committed,seq,expected", CASES)
def test_table(size, committed, seq, expected):
    window = ReplayWindow(size)
    for number in committed:
        assert window.check(number)
        window.commit(number)
    assert window.check(seq) is expected


def test_check_changes_nothing():
    window = ReplayWindow(64)
    window.commit(10)
    for seq in (11, 500, 9, 10):
        window.check(seq)
    assert window.top == 10 and window.check(9) and not window.check(10)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([32, 64, 128, 1024]),
       st.lists(st.tuples(st.integers(0, 3000), st.booleans()), max_size=200))
def test_against_model(size, steps):
    """Random arrivals; ``authentic`` False models a forged packet (checked, never committed)."""
    window, model = ReplayWindow(size), Model(size)
    for seq, authentic in steps:
        accepted = window.check(seq)
        assert accepted == model.check(seq), (seq, model.top)
        if accepted and authentic:
            window.commit(seq)
            model.commit(seq)
        assert window.top == model.top


# In-order arrivals only extend the run; these cases cross runs longer than the window and fold them.
RUN_CASES = [
    (64, 200, 137, False),  # seen, inside the window after a run of 200
    (64, 200, 136, False),  # left of the window
    (64, 200, 201, True),
    (32, 31, 1, False),     # a run one short of the window size
    (32, 32, 1, False),
]


@pytest.mark.parametrize("size,run,seq,expected", RUN_CASES)
def test_long_in_order_runs(size, run, seq, expected):
    window = ReplayWindow(size)
    for number in range(1, run + 1):
        window.commit(number)
    assert window.check(seq) is expected
    assert window.bits() == (1 << min(run, size)) - 1


def test_run_folds_on_out_of_order_arrival():
    window = ReplayWindow(64)
    for number in range(1, 11):
        window.commit(number)
    window.commit(15)  # a gap of 11..14
    assert [window.check(n) for n in range(9, 17)] == [False, False, True, True, True, True, False, True]
    window.commit(12)
    assert window.check(11) and not window.check(12)
    assert window.bits() == 0b1111111111_0_1_00_1  # 10..1, not 11, 12, not 13 and 14, 15


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([32, 64, 128]),
       st.lists(st.tuples(st.integers(0, 70), st.integers(-70, 3), st.booleans()), max_size=60))
def test_mostly_in_order_against_model(size, steps):
    """Runs of in-order numbers (the fast path) mixed with jumps back and forward."""
    window, model = ReplayWindow(size), Model(size)
    for run, jump, authentic in steps:
        start = max(1, model.top + jump)
        for seq in range(start, start + run):
            accepted = window.check(seq)
            assert accepted == model.check(seq), (seq, model.top)
            if accepted and authentic:
                window.commit(seq)
                model.commit(seq)
        assert window.top == model.top
        assert window.bits() == sum(1 << (model.top - n) for n in model.seen if model.top - n < size)
