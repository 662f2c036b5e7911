"""Events the IKE core emits (frozen, past tense), and the key hand-over to the data plane."""

from __future__ import annotations

from dataclasses import dataclass

Address = tuple[str, int]


@dataclass(frozen=True)
class ChildSaKeys:
    """A negotiated ESP SA pair, as Quick Mode hands it to the data plane (RFC 2409 §5.5).

    ``local``/``remote`` are the outer addresses after any NAT-T float (port 4500 when
    ``encap``).  ``spi_in`` is the SPI we allocated (the peer sends with it); ``spi_out`` the
    peer's.  Cipher, key size and integrity use the names of :mod:`ikel2tp.ike.suites`
    (``"aes-cbc"``/``"3des-cbc"``/``"aes-gcm"``; ``"sha1"``/``"sha256"``/… or ``None`` for AEAD).
    For AES-GCM (RFC 4106) each ``enc_key_*`` is the AES key followed by the 4-byte salt.
    ``natoa_*`` are the original (pre-NAT) addresses from NAT-OA, used to fix transport-mode
    checksums (RFC 3948 §3.1.2).  Lifetimes of 0 mean "none".
    """

    ike_sa_id: int
    local: Address
    remote: Address
    encap: bool
    spi_in: int
    spi_out: int
    cipher: str
    key_bits: int
    integrity: str | None
    enc_key_in: bytes
    enc_key_out: bytes
    auth_key_in: bytes
    auth_key_out: bytes
    protocol: int = 17
    local_port: int = 1701
    remote_port: int = 0
    natoa_local: str | None = None
    natoa_remote: str | None = None
    lifetime_seconds: int = 0
    lifetime_kilobytes: int = 0
    icv_bytes: int = 0

    def __repr__(self) -> str:  # keys never reach a log line
        return (f"ChildSaKeys(ike_sa={self.ike_sa_id}, {self.local}<->{self.remote}, encap={self.encap}, "
                f"spi_in={self.spi_in:#010x}, spi_out={self.spi_out:#010x}, "
                f"{self.cipher}/{self.key_bits}/{self.integrity})")


@dataclass(frozen=True)
class Phase1Established:
    """Main Mode (or Aggressive Mode) completed (RFC 2409 §5): the ISAKMP SA is authenticated."""

    ike_sa_id: int
    local: Address
    remote: Address
    peer_id: str
    suite: str
    nat_detected: bool
    client_kind: str


@dataclass(frozen=True)
class Phase1Failed:
    """A phase 1 negotiation ended without an SA; ``reason`` is plain words, ``refusal`` the
    proposal explanation (:class:`ikel2tp.ike.proposal.Refusal`) when no proposal was chosen."""

    remote: Address
    reason: str
    refusal: object | None = None


@dataclass(frozen=True)
class QuickModeFailed:
    """A Quick Mode negotiation was refused or timed out; the ISAKMP SA stays up."""

    ike_sa_id: int
    remote: Address
    reason: str
    refusal: object | None = None


@dataclass(frozen=True)
class ChildSaEstablished:
    """Quick Mode completed; hand ``child`` to the data plane."""

    child: ChildSaKeys


@dataclass(frozen=True)
class ChildSaDeleted:
    """An ESP SA pair is gone (peer's Delete, our Delete, expiry, INITIAL-CONTACT, dead peer)."""

    ike_sa_id: int
    spi_in: int
    spi_out: int
    reason: str


@dataclass(frozen=True)
class Phase1Deleted:
    """An ISAKMP SA is gone."""

    ike_sa_id: int
    remote: Address
    reason: str


@dataclass(frozen=True)
class InitialContact:
    """The peer announced INITIAL-CONTACT (RFC 2407 §4.6.3.3): its older SAs were dropped."""

    ike_sa_id: int
    remote: Address
    peer_id: str


@dataclass(frozen=True)
class PeerDead:
    """RFC 3706: R-U-THERE went unanswered; the peer's SAs are being deleted."""

    ike_sa_id: int
    remote: Address
