"""The RADIUS layer's error family (see :mod:`ikel2tp.common.errors`)."""

from __future__ import annotations

from ikel2tp.common.errors import ProtocolError


class RadiusError(ProtocolError):
    """A RADIUS datagram that does not parse or does not authenticate.

    ``code`` is unused for answers we receive (they are dropped); the Disconnect-Request listener
    sets it to the RFC 5176 Error-Cause it answers with.
    """

    layer = "radius"
