"""The L2TP layer's error family (one per layer, ``code`` = the RFC 2661 §4.4.2 Result Code)."""

from __future__ import annotations

from ikel2tp.common.errors import ProtocolError


class L2tpError(ProtocolError):
    """Malformed or illegal L2TP input.

    ``code`` is the Result Code to answer with (StopCCN or CDN, by the message's scope) or
    ``None`` when the datagram is only dropped; ``error`` is the General Error Code.
    """

    layer = "l2tp"

    def __init__(self, reason: str, *, field: str | None = None, code: int | None = None,
                 error: int | None = None) -> None:
        super().__init__(reason, field=field, code=code)
        self.error = error
