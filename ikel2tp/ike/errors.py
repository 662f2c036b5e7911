"""The IKE layer's error family: each carries the ISAKMP notify type it answers with (or None)."""

from __future__ import annotations

from ikel2tp.common.errors import ProtocolError


class IkeError(ProtocolError):
    """Bad or illegal IKE input; ``code`` is a :class:`~ikel2tp.ike.constants.NotifyType` or None."""

    layer = "ike"
