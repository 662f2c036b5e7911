"""One ESP SA pair (inbound and outbound) in transport mode: sequence numbers, replay window,
counters and lifetimes, sans-I/O.

Inbound processing follows RFC 4303 §3.4: SPI lookup (the caller), replay check, ICV verification and
decryption, replay window update, padding check.  A packet that fails before authentication leaves
the SA exactly as it was; only its drop counter moves.

Lifetimes (RFC 2407 §4.5 SA Life Type/Duration, negotiated in Quick Mode) are enforced per direction
in bytes and packets and for the pair in seconds.  The soft limit (``soft_fraction`` of the hard one)
raises :class:`SaLifetimeExpired` with ``hard=False``: in IKEv1 the initiator rekeys, so we only log.
At the hard limit the SA refuses traffic and the event asks the data plane to delete it.  The
outbound 32-bit sequence number never wraps (RFC 4303 §3.3.3): at 90 % it raises a soft event, at
2^32 - 1 a hard one, and no packet is sent with a recycled number.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import NoReturn

from ikel2tp.esp.errors import DropReason, EspError
from ikel2tp.esp.packet import ESP_HEADER, MAX_SEQUENCE, PAD_ENDINGS, NextHeader, strip_trailer, trailers
from ikel2tp.esp.replay import DEFAULT_WINDOW, ReplayWindow
from ikel2tp.esp.transforms import Transform

_unpack_header = ESP_HEADER.unpack_from
_pack_header = ESP_HEADER.pack
_UDP = int(NextHeader.UDP)
_NO_NEXT_HEADER = int(NextHeader.NO_NEXT_HEADER)  # a plain int: enum attribute lookups cost per packet


@dataclass(slots=True)
class SaCounters:
    """Per SA pair: payload packets/bytes each way and drops by :class:`DropReason`."""

    packets_in: int = 0
    bytes_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0
    drops: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Lifetime:
    """Hard limits (0 = none); soft limits are ``soft_fraction`` of them."""

    seconds: float = 0
    bytes: int = 0
    packets: int = 0
    soft_fraction: float = 0.9


@dataclass(frozen=True)
class SaLifetimeExpired:
    """A soft or hard limit was reached; ``limit`` is "seconds", "bytes", "packets" or "sequence"."""

    spi_in: int
    spi_out: int
    hard: bool
    limit: str


def _marks(hard: float, fraction: float) -> list[tuple[float, bool]]:
    """Thresholds in the order they are crossed: [(soft, False), (hard, True)], or none."""
    if not hard:
        return []
    return [(math.floor(hard * fraction), False), (hard, True)]


class _Volume:
    """One direction's byte and packet limits, checked with two comparisons per packet."""

    __slots__ = ("_bytes", "_packets", "bytes_mark", "packets_mark")

    def __init__(self, lifetime: Lifetime) -> None:
        self._bytes = _marks(lifetime.bytes, lifetime.soft_fraction)
        self._packets = _marks(lifetime.packets, lifetime.soft_fraction)
        self.bytes_mark = self._bytes[0][0] if self._bytes else math.inf
        self.packets_mark = self._packets[0][0] if self._packets else math.inf

    def crossed(self, total_bytes: int, total_packets: int) -> list[tuple[str, bool]]:
        """Limits crossed by these totals, each reported once."""
        found = []
        while self._bytes and total_bytes >= self._bytes[0][0]:
            found.append(("bytes", self._bytes.pop(0)[1]))
        while self._packets and total_packets >= self._packets[0][0]:
            found.append(("packets", self._packets.pop(0)[1]))
        self.bytes_mark = self._bytes[0][0] if self._bytes else math.inf
        self.packets_mark = self._packets[0][0] if self._packets else math.inf
        return found


class EspSa:
    """The inbound SA ``spi_in`` and outbound SA ``spi_out`` negotiated by one Quick Mode."""

    def __init__(self, *, spi_in: int, spi_out: int, inbound: Transform, outbound: Transform,
                 now: float, lifetime: Lifetime = Lifetime(), replay_window: int = DEFAULT_WINDOW) -> None:
        self.spi_in = spi_in
        self.spi_out = spi_out
        self.counters = SaCounters()
        self.replay = ReplayWindow(replay_window)
        self.sequence = 0  # last outbound sequence number used
        self.hard_expired = False
        self._in = inbound
        self._open = inbound.open  # bound once: the transform's whole verify-and-decrypt path
        self._skip = inbound.skip
        self._out = outbound
        self._seal = outbound.seal
        self._out_block = outbound.block
        self._udp_trailers = trailers(NextHeader.UDP)
        self._volume_in = _Volume(lifetime)
        self._volume_out = _Volume(lifetime)
        self._deadlines = [(now + t, hard) for t, hard in _marks(lifetime.seconds, lifetime.soft_fraction)]
        self._sequence_soft = math.floor(MAX_SEQUENCE * lifetime.soft_fraction)
        self._events: list[SaLifetimeExpired] = []

    # -- inbound -------------------------------------------------------------------------------
    def unprotect(self, packet: bytes) -> tuple[int, bytes]:
        """RFC 4303 §3.4: ``(next_header, payload)`` of an authenticated packet, or :class:`EspError`."""
        if self.hard_expired:
            self._drop(DropReason.SA_DELETED, "SA reached its hard lifetime")
        try:
            spi, sequence = _unpack_header(packet)
        except struct.error:
            self._drop(DropReason.SHORT, f"{len(packet)} bytes")
        if spi != self.spi_in:
            raise ValueError(f"packet for SPI {spi:#010x} handed to SA {self.spi_in:#010x}")
        replay = self.replay
        if sequence <= replay.top and not replay.check(sequence):  # RFC 4303 §3.4.3: before the ICV
            self._drop(DropReason.REPLAY, f"sequence {sequence} (window top {replay.top})")
        try:
            plain = self._open(packet)
        except EspError as error:
            self.counters.drops[error.drop] += 1
            raise
        replay.commit(sequence)  # authenticated: now the window may move
        # RFC 4303 §2.4, §3.4.4.1: the trailer, checked here rather than by a call (measured ~0.1 µs);
        # :func:`strip_trailer` names what is wrong when this fast test fails.
        pad_len = plain[-2]  # the transform's minimum length leaves room for pad length and next header
        end = len(plain) - 2 - pad_len
        next_header = plain[-1]
        if end < self._skip or plain[end:-1] != PAD_ENDINGS[pad_len] or next_header == _NO_NEXT_HEADER:
            self._bad_trailer(plain)
        payload = plain[self._skip : end]
        counters = self.counters
        counters.packets_in += 1
        counters.bytes_in += len(payload)
        volume = self._volume_in
        if counters.bytes_in >= volume.bytes_mark or counters.packets_in >= volume.packets_mark:
            self._crossed(volume.crossed(counters.bytes_in, counters.packets_in))
        return next_header, payload

    # -- outbound ------------------------------------------------------------------------------
    def protect(self, payload: bytes, next_header: int = NextHeader.UDP, prefix: bytes = b"") -> bytes:
        """RFC 4303 §3.3: the ESP packet carrying ``prefix + payload`` (a header such as UDP's goes in
        ``prefix`` to save a copy); :class:`EspError` when it must not go."""
        if self.hard_expired:
            self._drop(DropReason.SA_DELETED, "SA reached its hard lifetime")
        sequence = self.sequence + 1
        if sequence >= self._sequence_soft:  # one test per packet for both sequence limits
            self._sequence_limits(sequence)
        self.sequence = sequence
        size = len(prefix) + len(payload)
        pad = (self._udp_trailers if next_header == _UDP else trailers(next_header))[
            -(size + 2) % self._out_block]
        packet = self._seal(_pack_header(self.spi_out, sequence), sequence, prefix, payload, pad)
        counters = self.counters
        counters.packets_out += 1
        counters.bytes_out += size
        volume = self._volume_out
        if counters.bytes_out >= volume.bytes_mark or counters.packets_out >= volume.packets_mark:
            self._crossed(volume.crossed(counters.bytes_out, counters.packets_out))
        return packet

    def _sequence_limits(self, sequence: int) -> None:
        """RFC 4303 §3.3.3: never cycle the counter; warn at the soft fraction of its space."""
        if sequence > MAX_SEQUENCE:
            self._crossed([("sequence", True)])
            self._drop(DropReason.SEQUENCE_EXHAUSTED, "outbound sequence number space used up")
        if sequence == self._sequence_soft:
            self._crossed([("sequence", False)])

    # -- lifetimes -----------------------------------------------------------------------------
    def get_timer(self) -> float | None:
        """The next seconds-lifetime deadline, or None."""
        return self._deadlines[0][0] if self._deadlines else None

    def handle_timer(self, now: float) -> None:
        while self._deadlines and now >= self._deadlines[0][0]:
            self._crossed([("seconds", self._deadlines.pop(0)[1])])

    def next_event(self) -> SaLifetimeExpired | None:
        return self._events.pop(0) if self._events else None

    def _crossed(self, limits: list[tuple[str, bool]]) -> None:
        for limit, hard in limits:
            if self.hard_expired:
                return
            self.hard_expired = hard
            self._events.append(SaLifetimeExpired(self.spi_in, self.spi_out, hard, limit))

    def _bad_trailer(self, plain: bytes) -> NoReturn:
        """The fast trailer test failed: a padding error (counted by its reason) or a dummy packet."""
        try:
            strip_trailer(plain, self._skip)
        except EspError as error:
            self.counters.drops[error.drop] += 1
            raise
        self._drop(DropReason.DUMMY, "dummy packet")

    def _drop(self, reason: DropReason, text: str) -> NoReturn:
        self.counters.drops[reason] += 1
        raise EspError(reason, text)
