"""The last refusal explanations per peer, kept by the server for ``ikel2tp proposals last``.

Pure and bounded: at most ``per_peer`` records for each of at most ``max_peers`` peers (the peer
seen least recently is forgotten first).  The server answers the control request

    {"cmd": "refusals", "peer": "198.51.100.7" | null}
    -> {"ok": true, "refusals": [{"peer": ..., "time": <unix seconds>, "text": ...}, ...]}

with :meth:`RefusalHistory.as_json` (oldest first).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import asdict, dataclass
from typing import Any

CONTROL_COMMAND = "refusals"


@dataclass(frozen=True)
class RefusalRecord:
    peer: str
    time: float  # wall-clock seconds (the server passes time.time())
    text: str


class RefusalHistory:
    """Bounded per-peer history of explanations (one line each)."""

    def __init__(self, per_peer: int = 16, max_peers: int = 256) -> None:
        if per_peer < 1 or max_peers < 1:
            raise ValueError("per_peer and max_peers must be at least 1")
        self.per_peer = per_peer
        self.max_peers = max_peers
        self._peers: OrderedDict[str, deque[RefusalRecord]] = OrderedDict()

    def record(self, peer: str, text: str, when: float) -> None:
        records = self._peers.get(peer)
        if records is None:
            if len(self._peers) >= self.max_peers:
                self._peers.popitem(last=False)
            records = self._peers[peer] = deque(maxlen=self.per_peer)
        else:
            self._peers.move_to_end(peer)
        records.append(RefusalRecord(peer, when, text))

    def last(self, peer: str | None = None) -> list[RefusalRecord]:
        """One peer's records, or every peer's, oldest first."""
        if peer is not None:
            return list(self._peers.get(peer, ()))
        return sorted((r for records in self._peers.values() for r in records), key=lambda r: r.time)

    def as_json(self, peer: str | None = None) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.last(peer)]

    def __len__(self) -> int:
        return sum(len(r) for r in self._peers.values())
