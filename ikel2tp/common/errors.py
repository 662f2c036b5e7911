"""One error family per layer, each carrying the wire code the layer answers with.

Protocol cores raise a subclass of :class:`ProtocolError`; the boundary that can answer
the peer (the layer's manager) catches it, logs ``layer``/``peer``/``field``/``reason``
and drops only the offending exchange.
"""

from __future__ import annotations


class Ikel2tpError(Exception):
    """Base of every error raised by ikel2tp code."""


class ConfigError(Ikel2tpError):
    """A configuration file is invalid; the message names the file, the key and what is allowed."""


class ProtocolError(Ikel2tpError):
    """Malformed or illegal input from a peer.

    ``code`` is the wire code the layer answers with (an ISAKMP notify type, an L2TP
    result code, ...) or ``None`` when the input is dropped silently.
    """

    layer = "protocol"

    def __init__(self, reason: str, *, field: str | None = None, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.code = code

    def __str__(self) -> str:
        where = f" ({self.field})" if self.field else ""
        return f"{self.layer}: {self.reason}{where}"


class DecodeError(ProtocolError):
    """A wire structure does not parse: truncated, a length that overruns, a bad value."""

    layer = "decode"
