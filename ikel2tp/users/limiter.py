"""Rate limit for failed logins, per user name and per peer (brute-force defence).

Pure and clock-free: every call takes ``now``.  After ``max_failures`` failures of one user name
(``max_peer_failures`` from one peer address: a NAT may hide a whole office) within ``window``
seconds, that user or peer is locked for ``lockout`` seconds.  The table is bounded: beyond
``max_entries`` keys the least recently touched are forgotten.

The shell checks :meth:`blocked` on ``AuthRequested`` before asking the backend (a blocked attempt
is answered with a failure at once and does not reach the backend), then reports the outcome.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable
from dataclasses import dataclass, field


@dataclass
class _Entry:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class FailureLimiter:
    def __init__(self, *, max_failures: int = 5, max_peer_failures: int = 20, window: float = 300.0,
                 lockout: float = 300.0, max_entries: int = 10_000) -> None:
        self.max_failures = max_failures
        self.max_peer_failures = max_peer_failures
        self.window = window
        self.lockout = lockout
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, Hashable], _Entry] = OrderedDict()

    def blocked(self, user: str, peer: Hashable, now: float) -> str | None:
        """Why this attempt must be refused without checking the password, or None."""
        for kind, key in (("user", user), ("peer", peer)):
            entry = self._entries.get((kind, key))
            if entry is not None and entry.locked_until > now:
                return (f"too many failed logins for this {kind}; locked for another "
                        f"{entry.locked_until - now:.0f} s")
        return None

    def failed(self, user: str, peer: Hashable, now: float) -> None:
        for kind, key in (("user", user), ("peer", peer)):
            entry = self._entries.pop((kind, key), None) or _Entry()
            self._entries[(kind, key)] = entry  # most recently touched last
            entry.failures.append(now)
            while entry.failures and entry.failures[0] <= now - self.window:
                entry.failures.popleft()
            if len(entry.failures) >= (self.max_failures if kind == "user" else self.max_peer_failures):
                entry.locked_until = now + self.lockout
                entry.failures.clear()
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def succeeded(self, user: str, peer: Hashable) -> None:
        """A good login clears the user's count (not the peer's: one NAT may hide an attacker)."""
        self._entries.pop(("user", user), None)
