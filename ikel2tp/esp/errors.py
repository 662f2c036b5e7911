"""The ESP layer's error family and the reasons a packet is dropped (counted per reason)."""

from __future__ import annotations

from enum import StrEnum

from ikel2tp.common.errors import ProtocolError


class DropReason(StrEnum):
    """Why an ESP packet (or an L2TP datagram on its way out) was dropped; the counter keys."""

    SHORT = "short"                      # shorter than SPI + sequence + IV + ICV
    UNKNOWN_SPI = "unknown-spi"          # no inbound SA with this SPI
    SA_DELETED = "sa-deleted"            # the SA was deleted a moment ago
    WRONG_PATH = "wrong-path"            # UDP-encapsulated SA reached over raw ESP, or the reverse
    REPLAY = "replay"                    # RFC 4303 §3.4.3: duplicate or left of the window
    ICV = "icv"                          # RFC 4303 §3.4.4: integrity check failed
    LENGTH = "length"                    # ciphertext not a whole number of cipher blocks
    PADDING = "padding"                  # RFC 4303 §2.4: pad length or pad bytes wrong
    DUMMY = "dummy"                      # RFC 4303 §2.6: next header 59 (TFC dummy packet)
    NEXT_HEADER = "next-header"          # transport mode carries anything but UDP
    UDP = "udp"                          # the inner UDP header does not parse or is not for L2TP
    SEQUENCE_EXHAUSTED = "seq-exhausted"  # RFC 4303 §3.3.3: outbound sequence number would wrap
    NO_SA = "no-sa"                      # kernel data plane: L2TP that did not come through our SAs
    NO_SENDER = "no-sender"              # no socket or receiver attached for this SA's path
    SEND_FAILED = "send-failed"          # the socket refused the datagram


class EspError(ProtocolError):
    """A packet the ESP layer drops; ``drop`` names the counter.  ESP never answers a peer."""

    layer = "esp"

    def __init__(self, drop: DropReason, reason: str | None = None, *, field: str | None = None) -> None:
        super().__init__(reason or drop.value, field=field)
        self.drop = drop
