"""RADIUS authenticators and attribute hiding.

- User-Password hiding, RFC 2865 §5.2: c(1) = p(1) xor MD5(S + RA), c(i) = p(i) xor MD5(S + c(i-1)).
- Response Authenticator, RFC 2865 §3: MD5(Code+ID+Length+RequestAuth+Attributes+Secret).
- Accounting-Request (RFC 2866 §3) and Disconnect-Request (RFC 5176 §2.3) Request Authenticator:
  MD5(Code+ID+Length+16 zero octets+Attributes+Secret).
- Message-Authenticator, RFC 3579 §3.2: HMAC-MD5(Secret, whole packet with the attribute's value
  zeroed); the Authenticator field holds the Request Authenticator for Access-Request and for every
  response, and 16 zero octets for Accounting-/Disconnect-Request.  It is computed before the
  Response or Accounting Request Authenticator, which then covers it.

Every comparison is constant time.
"""

from __future__ import annotations

import hashlib
import hmac

from ikel2tp.radius.constants import AUTHENTICATOR_LENGTH, HEADER_LENGTH, MESSAGE_AUTHENTICATOR_LENGTH, Attr
from ikel2tp.radius.errors import RadiusError
from ikel2tp.radius.packet import RadiusPacket, push_packet

MAX_PASSWORD_LENGTH = 128  # RFC 2865 §5.2
_ZERO = bytes(AUTHENTICATOR_LENGTH)
_MA_ATTRIBUTE = (Attr.MESSAGE_AUTHENTICATOR, bytes(MESSAGE_AUTHENTICATOR_LENGTH))


def hide_password(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """RFC 2865 §5.2: pad to a multiple of 16 with NULs, then chain MD5 over the secret."""
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"a User-Password holds at most {MAX_PASSWORD_LENGTH} octets")
    padded = password.ljust(max(16, -(-len(password) // 16) * 16), b"\x00")
    out = bytearray()
    previous = authenticator
    for i in range(0, len(padded), 16):
        key = hashlib.md5(secret + previous).digest()
        block = bytes(p ^ k for p, k in zip(padded[i : i + 16], key, strict=True))
        out += block
        previous = block
    return bytes(out)


def _message_authenticator_offset(data: bytes) -> int | None:
    """Where the value of the (single) Message-Authenticator starts in an already-parsed packet."""
    pos, found = HEADER_LENGTH, None
    end = int.from_bytes(data[2:4], "big")
    while pos + 2 <= end:
        kind, length = data[pos], data[pos + 1]
        if kind == Attr.MESSAGE_AUTHENTICATOR:
            if found is not None:
                raise RadiusError("more than one Message-Authenticator", field="radius.MESSAGE_AUTHENTICATOR")
            if length != 2 + MESSAGE_AUTHENTICATOR_LENGTH:
                raise RadiusError(f"Message-Authenticator of length {length}",
                                  field="radius.MESSAGE_AUTHENTICATOR")
            found = pos + 2
        pos += max(length, 2)
    return found


def _hmac(data: bytes, offset: int, authenticator: bytes, secret: bytes) -> bytes:
    """RFC 3579 §3.2 over ``data`` with ``authenticator`` in the header and the value zeroed."""
    zeroed = (data[:4] + authenticator + data[HEADER_LENGTH:offset]
              + bytes(MESSAGE_AUTHENTICATOR_LENGTH) + data[offset + MESSAGE_AUTHENTICATOR_LENGTH :])
    return hmac.new(secret, zeroed, hashlib.md5).digest()


def _with_message_authenticator(packet: RadiusPacket, authenticator: bytes, secret: bytes) -> bytes:
    data = push_packet(RadiusPacket(packet.code, packet.identifier, authenticator,
                                    packet.attributes + (_MA_ATTRIBUTE,)))
    offset = len(data) - MESSAGE_AUTHENTICATOR_LENGTH
    return data[:offset] + _hmac(data, offset, authenticator, secret)


def sign_access_request(packet: RadiusPacket, secret: bytes) -> bytes:
    """An Access-Request (its random Request Authenticator already in ``packet``) with a
    Message-Authenticator appended (RFC 3579 §3.2; on every request, as the BlastRADIUS
    advisory of 2024 recommends)."""
    return _with_message_authenticator(packet, packet.authenticator, secret)


def sign_computed_request(packet: RadiusPacket, secret: bytes) -> bytes:
    """An Accounting-Request (RFC 2866 §3) or Disconnect/CoA-Request (RFC 5176 §2.3): the
    Message-Authenticator over the zero authenticator, then the Request Authenticator."""
    data = _with_message_authenticator(packet, _ZERO, secret)
    digest = hashlib.md5(data[:4] + _ZERO + data[HEADER_LENGTH:] + secret).digest()
    return data[:4] + digest + data[HEADER_LENGTH:]


def sign_response(packet: RadiusPacket, request_authenticator: bytes, secret: bytes) -> bytes:
    """A response (we send Disconnect-ACK/NAK): Message-Authenticator with the Request
    Authenticator in the header, then the Response Authenticator (RFC 2865 §3)."""
    data = _with_message_authenticator(packet, request_authenticator, secret)
    digest = hashlib.md5(data[:4] + request_authenticator + data[HEADER_LENGTH:] + secret).digest()
    return data[:4] + digest + data[HEADER_LENGTH:]


def verify_response(data: bytes, request_authenticator: bytes, secret: bytes, *,
                    require_message_authenticator: bool) -> None:
    """Check an answer (already parsed by :func:`~ikel2tp.radius.packet.pull_packet`) against the
    request it answers; raise :class:`RadiusError` saying what is wrong."""
    length = int.from_bytes(data[2:4], "big")
    data = data[:length]
    expected = hashlib.md5(data[:4] + request_authenticator + data[HEADER_LENGTH:] + secret).digest()
    if not hmac.compare_digest(expected, data[4:HEADER_LENGTH]):
        raise RadiusError("bad Response Authenticator (is the shared secret right?)",
                          field="radius.authenticator")
    _check_message_authenticator(data, request_authenticator, secret, require_message_authenticator)


def verify_computed_request(data: bytes, secret: bytes, *, require_message_authenticator: bool) -> None:
    """Check a Disconnect/CoA-Request's authenticator (RFC 5176 §2.3) and Message-Authenticator."""
    length = int.from_bytes(data[2:4], "big")
    data = data[:length]
    expected = hashlib.md5(data[:4] + _ZERO + data[HEADER_LENGTH:] + secret).digest()
    if not hmac.compare_digest(expected, data[4:HEADER_LENGTH]):
        raise RadiusError("bad Request Authenticator (is the shared secret right?)",
                          field="radius.authenticator")
    _check_message_authenticator(data, _ZERO, secret, require_message_authenticator)


def _check_message_authenticator(data: bytes, authenticator: bytes, secret: bytes, required: bool) -> None:
    offset = _message_authenticator_offset(data)
    if offset is None:
        if required:
            raise RadiusError("no Message-Authenticator (required; RFC 3579 §3.2)",
                              field="radius.MESSAGE_AUTHENTICATOR")
        return
    expected = _hmac(data, offset, authenticator, secret)
    if not hmac.compare_digest(expected, data[offset : offset + MESSAGE_AUTHENTICATOR_LENGTH]):
        raise RadiusError("bad Message-Authenticator (is the shared secret right?)",
                          field="radius.MESSAGE_AUTHENTICATOR")

