"""ISAKMP messages: the fixed header (RFC 2408 §3.1) and encrypted bodies (RFC 2409 App. B).

An encrypted message is header | CBC(payload chain | zero padding); the padding brings the body
to a multiple of the block size and is at least one byte (as strongSwan sends); the header length
covers the padded body.  IVs are managed by :class:`ikel2tp.ike.sa.IvChain`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ikel2tp.common.buffer import Buffer
from ikel2tp.common.errors import DecodeError
from ikel2tp.crypto.ciphers import BLOCK_SIZES, cbc_decrypt, cbc_encrypt
from ikel2tp.ike.constants import ISAKMP_VERSION, Flag, NotifyType
from ikel2tp.ike.errors import IkeError
from ikel2tp.ike.payloads import Payload, RawPayload, pull_payloads, push_payloads

HEADER_LENGTH = 28
MAX_MESSAGE = 65535


@dataclass(frozen=True)
class Header:
    """RFC 2408 §3.1: cookies, next payload, version, exchange type, flags, message ID, length."""

    icookie: bytes
    rcookie: bytes
    next_payload: int
    exchange: int
    flags: int
    message_id: int
    length: int = 0
    version: int = ISAKMP_VERSION


def pull_header(buf: Buffer) -> Header:
    try:
        icookie = buf.pull_bytes(8, "initiator cookie")
        rcookie = buf.pull_bytes(8, "responder cookie")
        next_payload = buf.pull_uint8("next payload")
        version = buf.pull_uint8("version")
        exchange = buf.pull_uint8("exchange type")
        flags = buf.pull_uint8("flags")
        message_id = buf.pull_uint32("message id")
        length = buf.pull_uint32("length")
    except DecodeError as exc:
        raise IkeError(exc.reason, field=exc.field, code=None) from exc
    if version >> 4 != 1:
        raise IkeError(
            f"major version {version >> 4} is not 1", field="version", code=NotifyType.INVALID_MAJOR_VERSION
        )
    return Header(icookie, rcookie, next_payload, exchange, flags, message_id, length, version)


def push_header(buf: Buffer, h: Header) -> None:
    buf.push_bytes(h.icookie)
    buf.push_bytes(h.rcookie)
    buf.push_uint8(h.next_payload)
    buf.push_uint8(h.version)
    buf.push_uint8(h.exchange)
    buf.push_uint8(h.flags)
    buf.push_uint32(h.message_id)
    buf.push_uint32(h.length)


@dataclass
class Message:
    """A decoded message: header, payloads (with their received bodies) and the raw body."""

    header: Header
    payloads: list[RawPayload] = field(default_factory=list)
    body: bytes = field(default=b"", repr=False)

    def all(self, cls) -> list:
        return [r.payload for r in self.payloads if isinstance(r.payload, cls)]

    def first(self, cls):
        for r in self.payloads:
            if isinstance(r.payload, cls):
                return r.payload
        return None

    def after_first(self) -> bytes:
        """The encoded payloads after the first one (the HASH), without padding (RFC 2409 §5.5)."""
        start = 4 + len(self.payloads[0].body)
        end = sum(4 + len(r.body) for r in self.payloads)
        return self.body[start:end]

    def raw(self, cls) -> RawPayload | None:
        for r in self.payloads:
            if isinstance(r.payload, cls):
                return r
        return None


def split(data: bytes) -> tuple[Header, bytes]:
    """Parse the header and return the body it announces (checks the length field)."""
    if len(data) > MAX_MESSAGE:
        raise IkeError(f"message of {len(data)} bytes", field="length")
    header = pull_header(Buffer(data))
    if header.length != len(data):
        # RFC 2408 §5.1 says drop; some stacks pad the UDP datagram, so accept extra bytes only.
        if header.length < HEADER_LENGTH or header.length > len(data):
            raise IkeError(
                f"header length {header.length}, datagram {len(data)} bytes",
                field="length",
                code=NotifyType.UNEQUAL_PAYLOAD_LENGTHS,
            )
    return header, data[HEADER_LENGTH : header.length]


def decode_plain(header: Header, body: bytes) -> Message:
    return Message(header, pull_payloads(body, header.next_payload), body)


def encode(header: Header, payloads: list[Payload]) -> bytes:
    """An unencrypted message."""
    first, body = push_payloads(payloads)
    return _assemble(header, first, header.flags & ~Flag.ENCRYPTION, body)


def _assemble(header: Header, first: int, flags: int, body: bytes) -> bytes:
    buf = Buffer()
    push_header(
        buf,
        Header(
            header.icookie,
            header.rcookie,
            first,
            header.exchange,
            flags,
            header.message_id,
            HEADER_LENGTH + len(body),
            header.version,
        ),
    )
    buf.push_bytes(body)
    return buf.data()


def encode_encrypted(
    header: Header, payloads: list[Payload], cipher: str, key: bytes, iv: bytes
) -> tuple[bytes, bytes]:
    """Encrypt the payload chain (RFC 2409 App. B); returns (message, last ciphertext block)."""
    first, plain = push_payloads(payloads)
    return encrypt_body(header, first, plain, cipher, key, iv)


def encrypt_body(
    header: Header, first: int, plain: bytes, cipher: str, key: bytes, iv: bytes
) -> tuple[bytes, bytes]:
    block = BLOCK_SIZES[cipher]
    padded = plain + bytes(block - len(plain) % block)
    sealed = cbc_encrypt(cipher, key, iv, padded)
    return _assemble(header, first, header.flags | Flag.ENCRYPTION, sealed), sealed[-block:]


def decrypt_body(body: bytes, cipher: str, key: bytes, iv: bytes) -> bytes:
    """Decrypt an encrypted body; raises :class:`IkeError` when it is not whole blocks."""
    block = BLOCK_SIZES[cipher]
    if not body or len(body) % block:
        raise IkeError(
            f"encrypted body of {len(body)} bytes is not a multiple of {block}",
            field="encrypted body",
            code=NotifyType.PAYLOAD_MALFORMED,
        )
    return cbc_decrypt(cipher, key, iv, body)
