"""Anti-replay window of RFC 4303 §3.4.3 and Appendix A (32-bit sequence numbers, no ESN).

The window is a bit map held in a Python int, kept in two parts so that the common case, a packet
one past the top, costs two integer additions instead of shifting a ``size``-bit int:

* ``run``: the numbers ``top, top - 1, ..., top - run + 1`` were all received (capped at ``size``
  when folded; it may grow beyond, which only means the whole window is full);
* ``bitmap``: below the run, bit ``i`` set means number ``top - run - i`` was received.

Any other arrival folds the run into the bit map first (:meth:`ReplayWindow.bits`).
:meth:`ReplayWindow.check` is a pure test done *before* the ICV check; only after the packet
authenticated does the caller :meth:`ReplayWindow.commit` it, so a forged packet changes nothing
(RFC 4303 §3.4.3: "the receive window is updated only if the integrity verification succeeds").
"""

from __future__ import annotations

DEFAULT_WINDOW = 1024


class ReplayWindow:
    """Sliding window of ``size`` sequence numbers ending at the highest authenticated one."""

    __slots__ = ("size", "top", "_run", "_bitmap", "_mask")

    def __init__(self, size: int = DEFAULT_WINDOW) -> None:
        if size < 32:
            raise ValueError(f"replay window of {size} packets: RFC 4303 §3.4.3 requires at least 32")
        self.size = size
        self.top = 0  # highest sequence number accepted so far (0: none yet)
        self._run = 0
        self._bitmap = 0
        self._mask = (1 << size) - 1

    def bits(self) -> int:
        """The whole window as one bit map: bit ``i`` set means ``top - i`` was received."""
        run = min(self._run, self.size)
        return ((self._bitmap << run) | ((1 << run) - 1)) & self._mask

    def check(self, sequence: int) -> bool:
        """True when ``sequence`` is new and not left of the window (changes nothing)."""
        if sequence == 0:  # RFC 4303 §3.3.3: the first packet sent carries 1; 0 is never sent
            return False
        diff = self.top - sequence
        if diff < 0:
            return True
        if diff >= self.size:
            return False
        diff -= self._run
        return diff >= 0 and not (self._bitmap >> diff) & 1

    def commit(self, sequence: int) -> None:
        """Record an authenticated ``sequence`` that :meth:`check` accepted (Appendix A2.3)."""
        shift = sequence - self.top
        if shift == 1:  # in order: extend the run
            self.top = sequence
            self._run += 1
            return
        bits = self.bits()
        if shift > 0:
            self._bitmap = ((bits << shift) | 1) & self._mask if shift < self.size else 1
            self.top = sequence
        else:
            self._bitmap = bits | (1 << -shift)
        self._run = 0
