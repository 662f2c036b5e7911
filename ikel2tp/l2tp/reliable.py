"""The reliable control channel of one tunnel (RFC 2661 §5.8), in the manner of OpenBSD npppd:
``snd_una`` (oldest unacknowledged Ns), ``snd_nxt`` (next Ns to assign), ``rcv_nxt`` (next Ns
expected from the peer, sent back as Nr).

- Sequence numbers are 16-bit serial numbers (RFC 1982 arithmetic, §5.8).
- At most ``peer_window`` messages are outstanding (the peer's Receive Window Size, §4.4.3,
  default 4); later ones wait in the queue.
- Messages ahead of ``rcv_nxt`` but inside our own window are kept in an out-of-order queue;
  duplicates (behind ``rcv_nxt``) are acknowledged again, never delivered twice.
- Unacknowledged messages are retransmitted after 1, 2, 4, 8, 8 … seconds (capped exponential
  backoff, §5.8); after ``max_retransmits`` the channel reports failure and the tunnel is torn down.
- When nothing we send carries the acknowledgement, a ZLB does (§5.8).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ikel2tp.l2tp.avp import Avp
from ikel2tp.l2tp.constants import DEFAULT_PEER_WINDOW

T = TypeVar("T")
SERIAL = 1 << 16


def serial_diff(a: int, b: int) -> int:
    """``a - b`` in 16-bit serial arithmetic, in [-32768, 32767]."""
    return (a - b + 0x8000) % SERIAL - 0x8000


@dataclass
class Outgoing:
    """A control message waiting for its acknowledgement; its Nr is filled in when it is sent."""

    ns: int
    session_id: int
    avps: Sequence[Avp]
    sent: bool = False


class ControlChannel(Generic[T]):
    """Sequencing and retransmission for one tunnel; ``T`` is whatever the tunnel delivers."""

    def __init__(self, *, our_window: int, initial_timeout: float, max_timeout: float,
                 max_retransmits: int) -> None:
        self.snd_una = 0
        self.snd_nxt = 0
        self.snd_max = 0  # one past the highest Ns actually sent (queued ones may wait for the window)
        self.rcv_nxt = 0
        self.peer_window = DEFAULT_PEER_WINDOW
        self.our_window = our_window
        self.initial_timeout = initial_timeout
        self.max_timeout = max_timeout
        self.max_retransmits = max_retransmits
        self.timeout = initial_timeout
        self.retransmits = 0
        self.retransmit_at: float | None = None
        self.ack_pending = False
        self.failed = False
        self.duplicates = 0
        self.out_of_window = 0
        self._queue: deque[Outgoing] = deque()
        self._reorder: dict[int, T] = {}

    # -- sending ---------------------------------------------------------------------------------
    def queue(self, session_id: int, avps: Sequence[Avp]) -> None:
        """Give the message the next Ns; :meth:`transmit` sends it when the window allows."""
        self._queue.append(Outgoing(self.snd_nxt, session_id, avps))
        self.snd_nxt = (self.snd_nxt + 1) % SERIAL

    @property
    def unacknowledged(self) -> int:
        return len(self._queue)

    def transmit(self, now: float) -> list[Outgoing]:
        """Messages that may go out now (new ones inside the peer's window)."""
        out = []
        for item in self._queue:
            if serial_diff(item.ns, self.snd_una) >= self.peer_window:
                break
            if not item.sent:
                item.sent = True
                self.snd_max = (item.ns + 1) % SERIAL
                out.append(item)
        if out:
            self.ack_pending = False
            if self.retransmit_at is None:
                self.retransmit_at = now + self.timeout
        return out

    def handle_timer(self, now: float) -> list[Outgoing]:
        """Retransmit every outstanding message once the deadline has passed (§5.8)."""
        if self.retransmit_at is None or now < self.retransmit_at:
            return []
        if self.retransmits >= self.max_retransmits:
            self.failed = True
            self.retransmit_at = None
            return []
        self.retransmits += 1
        self.timeout = min(self.timeout * 2, self.max_timeout)
        self.retransmit_at = now + self.timeout
        self.ack_pending = False
        return [item for item in self._queue if item.sent]

    def abandon(self) -> None:
        """Stop retransmitting (the peer closed the tunnel, RFC 2661 §5.7)."""
        self._queue.clear()
        self.retransmit_at = None

    # -- receiving -------------------------------------------------------------------------------
    def acknowledge(self, nr: int, now: float) -> bool:
        """Process the peer's Nr; False when it acknowledges something never sent (ignored)."""
        if serial_diff(nr, self.snd_una) < 0 or serial_diff(nr, self.snd_max) > 0:
            return False
        acked = False
        while self._queue and serial_diff(self._queue[0].ns, nr) < 0:
            self._queue.popleft()
            acked = True
        self.snd_una = nr
        if acked:
            self.retransmits = 0
            self.timeout = self.initial_timeout
            self.retransmit_at = now + self.timeout if any(i.sent for i in self._queue) else None
        return True

    def receive(self, ns: int, message: T) -> list[T]:
        """Sequence a non-ZLB message: what is now deliverable in order (possibly nothing)."""
        ahead = serial_diff(ns, self.rcv_nxt)
        if ahead < 0:
            self.duplicates += 1
            self.ack_pending = True
            return []
        if ahead >= self.our_window:
            self.out_of_window += 1
            return []
        if ahead > 0:
            self._reorder.setdefault(ns, message)
            return []
        delivered = [message]
        self.rcv_nxt = (self.rcv_nxt + 1) % SERIAL
        while self.rcv_nxt in self._reorder:
            delivered.append(self._reorder.pop(self.rcv_nxt))
            self.rcv_nxt = (self.rcv_nxt + 1) % SERIAL
        self.ack_pending = True
        return delivered
