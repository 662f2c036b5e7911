"""The ISAKMP SA record: cookies, role, addresses (after NAT-T float), keys, IVs, retransmission
state, the peer's extensions and the ESP SA pairs negotiated under it."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum

from ikel2tp.ike import keymat
from ikel2tp.ike.constants import ExchangeType, Flag
from ikel2tp.ike.events import Address, ChildSaKeys
from ikel2tp.ike.keymat import Phase1Keys
from ikel2tp.ike.message import Header, decrypt_body, encode_encrypted
from ikel2tp.ike.payloads import Payload, push_payloads

MAX_MESSAGE_IVS = 16  # concurrent Quick Mode / Informational IVs kept per SA
MAX_CACHED_RESPONSES = 8


class State(Enum):
    """Main Mode states (RFC 2409 §5); transitions are in tasks/main_mode.py."""

    MM_START = "start"
    MM_SA_SENT = "sa sent"  # responder: sent MM2 / initiator: sent MM1
    MM_KE_SENT = "ke sent"  # responder: sent MM4 / initiator: sent MM3
    MM_AUTH_SENT = "auth sent"  # initiator: sent MM5
    ESTABLISHED = "established"
    DELETED = "deleted"


@dataclass
class Extensions:
    """What the peer announced by vendor ID (tasks/vendor.py)."""

    natt: str | None = None  # "rfc" or "draft" (RFC 3947 / draft-02..03)
    natt_vid: bytes | None = None
    dpd: bool = False
    fragmentation: bool = False
    client_kind: str = "unknown"


@dataclass
class Pending:
    """Datagrams we sent and will resend until the answer arrives (our own retransmission)."""

    datagrams: list[tuple[bytes, Address, Address]]
    deadline: float
    tries: int = 0
    message_id: int = 0


@dataclass
class ChildSa:
    keys: ChildSaKeys
    established: float
    expires: float


class IvChain:
    """RFC 2409 App. B IVs: phase 1 chains the last CBC block; each Quick Mode / Informational
    message ID starts from hash(last phase 1 block | M-ID) and then chains within its exchange."""

    def __init__(self, keys: Phase1Keys, block: int) -> None:
        self._keys = keys
        self._block = block
        self.phase1 = keys.iv
        self._mids: OrderedDict[int, bytes] = OrderedDict()

    def get(self, message_id: int) -> bytes:
        if message_id == 0:
            return self.phase1
        iv = self._mids.get(message_id)
        if iv is None:
            iv = keymat.message_iv(self._keys.hash_name, self.phase1, message_id, self._block)
        return iv

    def update(self, message_id: int, last_block: bytes) -> None:
        if message_id == 0:
            self.phase1 = last_block
            return
        self._mids[message_id] = last_block
        self._mids.move_to_end(message_id)
        while len(self._mids) > MAX_MESSAGE_IVS:
            self._mids.popitem(last=False)

    def forget(self, message_id: int) -> None:
        self._mids.pop(message_id, None)


@dataclass(eq=False)
class IkeSa:
    """One ISAKMP SA (both roles).  ``remote`` is the peer key: (address, port) after any float."""

    sa_id: int
    initiator: bool
    icookie: bytes
    rcookie: bytes
    local: Address
    remote: Address
    created: float
    state: State = State.MM_START
    ext: Extensions = field(default_factory=Extensions)
    keys: Phase1Keys | None = field(default=None, repr=False)
    ivs: IvChain | None = field(default=None, repr=False)
    cipher: str = ""
    block: int = 8
    suite: str = ""
    peer_id: str = ""
    nat_local: bool = False  # we are behind NAT (as the peer's NAT-D says)
    nat_remote: bool = False  # the peer is behind NAT
    expires: float = 0.0
    last_seen: float = 0.0
    dpd_seq: int = 0
    dpd_sent: float | None = None  # when our unanswered R-U-THERE went out
    pending: Pending | None = None
    timer_at: float = float("inf")  # the deadline this SA has in the manager's timer heap
    responses: OrderedDict[bytes, list[tuple[bytes, Address, Address]]] = field(default_factory=OrderedDict)
    children: list[ChildSa] = field(default_factory=list)
    main_mode: object | None = None
    quick_modes: dict[int, object] = field(default_factory=dict)

    @property
    def established(self) -> bool:
        return self.state == State.ESTABLISHED

    @property
    def encap(self) -> bool:
        return self.nat_local or self.nat_remote

    def describe(self) -> str:
        return f"{self.remote[0]}:{self.remote[1]} (IKE SA #{self.sa_id})"

    # -- retransmission cache (a repeated request gets the stored response) -------------------
    @staticmethod
    def request_digest(data: bytes) -> bytes:
        return hashlib.sha1(data).digest()

    def cache_response(self, request: bytes, datagrams: list[tuple[bytes, Address, Address]]) -> None:
        self.responses[self.request_digest(request)] = datagrams
        while len(self.responses) > MAX_CACHED_RESPONSES:
            self.responses.popitem(last=False)

    def cached_response(self, request: bytes) -> list[tuple[bytes, Address, Address]] | None:
        return self.responses.get(self.request_digest(request))

    # -- encrypted messages --------------------------------------------------------------------
    def header(self, exchange: ExchangeType, message_id: int, flags: int = 0) -> Header:
        return Header(self.icookie, self.rcookie, 0, exchange, flags, message_id)

    def encrypt(
        self, exchange: ExchangeType, message_id: int, payloads: list[Payload], flags: int = 0
    ) -> bytes:
        assert self.keys is not None and self.ivs is not None
        data, last = encode_encrypted(
            self.header(exchange, message_id, flags | Flag.ENCRYPTION),
            payloads,
            self.cipher,
            self.keys.enc_key,
            self.ivs.get(message_id),
        )
        self.ivs.update(message_id, last)
        return data

    def decrypt(self, message_id: int, body: bytes) -> tuple[bytes, bytes]:
        """(plaintext, last ciphertext block); the caller commits the IV only once the message
        authenticated (check-then-commit)."""
        assert self.keys is not None and self.ivs is not None
        plain = decrypt_body(body, self.cipher, self.keys.enc_key, self.ivs.get(message_id))
        return plain, body[-self.block :]


def hashed_payloads(payloads: list[Payload]) -> bytes:
    """The encoding of ``payloads`` as they follow a HASH payload (RFC 2409 §5.5)."""
    return push_payloads(payloads)[1]
