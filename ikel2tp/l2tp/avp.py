"""AVP codec (RFC 2661 §4.1), hidden AVPs (§4.3) and the value format of each attribute (§4.4).

Wire layout of one AVP::

    |M|H| rsvd  |      Length       |           Vendor ID           |
    |         Attribute Type        |        Attribute Value ...    |

Length (10 bits) counts the whole AVP including the 6-byte header.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ikel2tp.common.buffer import Buffer
from ikel2tp.common.errors import DecodeError
from ikel2tp.l2tp.constants import AvpType, ErrorCode
from ikel2tp.l2tp.errors import L2tpError

AVP_HEADER = 6
AVP_MAX_LENGTH = 1023
_M_BIT = 0x8000
_H_BIT = 0x4000
_RESERVED_BITS = 0x3C00
_LENGTH_MASK = 0x03FF


@dataclass(frozen=True)
class Avp:
    """One AVP as on the wire; ``value`` is still hidden when ``hidden`` is set."""

    attribute_type: int
    value: bytes
    mandatory: bool = True
    hidden: bool = False
    vendor_id: int = 0


def pull_avp(buf: Buffer) -> Avp:
    """RFC 2661 §4.1: parse one AVP; the Length must cover the header and stay inside the message."""
    try:
        flags = buf.pull_uint16("avp length")
        length = flags & _LENGTH_MASK
        if length < AVP_HEADER:
            raise L2tpError(f"AVP length {length} below the 6-byte header", field="avp length",
                            error=ErrorCode.LENGTH_WRONG)
        if flags & _RESERVED_BITS:
            raise L2tpError("AVP reserved bits set", field="avp flags", error=ErrorCode.VALUE_OUT_OF_RANGE)
        vendor = buf.pull_uint16("avp vendor id")
        attribute = buf.pull_uint16("avp attribute type")
        value = buf.pull_bytes(length - AVP_HEADER, "avp value")
    except DecodeError as exc:
        raise L2tpError(f"AVP overruns the message: {exc.reason}", field=exc.field,
                        error=ErrorCode.LENGTH_WRONG) from None
    return Avp(attribute, value, bool(flags & _M_BIT), bool(flags & _H_BIT), vendor)


def push_avp(buf: Buffer, avp: Avp) -> None:
    length = AVP_HEADER + len(avp.value)
    if length > AVP_MAX_LENGTH:
        raise ValueError(f"AVP {avp.attribute_type} value of {len(avp.value)} bytes does not fit")
    buf.push_uint16((_M_BIT if avp.mandatory else 0) | (_H_BIT if avp.hidden else 0) | length)
    buf.push_uint16(avp.vendor_id)
    buf.push_uint16(avp.attribute_type)
    buf.push_bytes(avp.value)


def pull_avps(buf: Buffer) -> list[Avp]:
    avps = []
    while not buf.eof():
        avps.append(pull_avp(buf))
    return avps


# -- hidden AVPs (RFC 2661 §4.3) ------------------------------------------------------------------

def _md5_chain(attribute_type: int, secret: bytes, random_vector: bytes, data: bytes, *,
               hiding: bool) -> bytes:
    """RFC 2661 §4.3: c(i) = p(i) xor b(i) with b(1) = MD5(Attribute Type | secret | RV) and
    b(i) = MD5(secret | c(i-1)); the chain always feeds the hidden block c back."""
    out = bytearray()
    digest = hashlib.md5(attribute_type.to_bytes(2, "big") + secret + random_vector).digest()
    for start in range(0, len(data), 16):
        block = data[start:start + 16]
        mixed = bytes(a ^ b for a, b in zip(block, digest, strict=False))
        out += mixed
        digest = hashlib.md5(secret + (mixed if hiding else block)).digest()
    return bytes(out)


def hide_value(attribute_type: int, value: bytes, secret: bytes, random_vector: bytes,
               padding: bytes = b"") -> bytes:
    """RFC 2661 §4.3: the hidden subformat is Original Length (2) | Original Value | Padding, run
    through the MD5 chain.  ``padding`` hides the true length if wanted."""
    plain = len(value).to_bytes(2, "big") + value + padding
    return _md5_chain(attribute_type, secret, random_vector, plain, hiding=True)


def unhide_value(attribute_type: int, hidden: bytes, secret: bytes, random_vector: bytes) -> bytes:
    """Inverse of :func:`hide_value`; checks the Original Length against the hidden data."""
    plain = _md5_chain(attribute_type, secret, random_vector, hidden, hiding=False)
    if len(plain) < 2:
        raise L2tpError("hidden AVP shorter than its length field", field="hidden avp",
                        error=ErrorCode.LENGTH_WRONG)
    length = int.from_bytes(plain[:2], "big")
    if length > len(plain) - 2:
        raise L2tpError("hidden AVP original length overruns (wrong secret?)", field="hidden avp",
                        error=ErrorCode.LENGTH_WRONG)
    return plain[2:2 + length]


# -- value formats (RFC 2661 §4.4) ----------------------------------------------------------------

@dataclass(frozen=True)
class ResultCode:
    """RFC 2661 §4.4.2 Result Code AVP: result, optional error code, optional message."""

    result: int
    error: int | None = None
    message: str = ""


@dataclass(frozen=True)
class CallErrors:
    """RFC 2661 §4.4.6 Call Errors AVP (carried by WEN)."""

    crc_errors: int
    framing_errors: int
    hardware_overruns: int
    buffer_overruns: int
    timeout_errors: int
    alignment_errors: int


@dataclass(frozen=True)
class Accm:
    """RFC 2661 §4.4.6 ACCM AVP (carried by SLI)."""

    send_accm: int
    receive_accm: int


@dataclass(frozen=True)
class Q931Cause:
    """RFC 2661 §4.4.2 Q.931 Cause Code AVP (carried by CDN)."""

    cause: int
    message: int
    advisory: str = ""


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _untext(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def _pull_exact(buf: Buffer, pull: Callable[[Buffer], Any], field: str) -> Any:
    value = pull(buf)
    if not buf.eof():
        raise L2tpError(f"{buf.remaining} bytes after the value", field=field, error=ErrorCode.LENGTH_WRONG)
    return value


def _pull_result(buf: Buffer) -> ResultCode:
    result = buf.pull_uint16("result code")
    if buf.eof():
        return ResultCode(result)
    error = buf.pull_uint16("error code")
    return ResultCode(result, error, _text(buf.pull_rest()))


def _push_result(buf: Buffer, value: ResultCode) -> None:
    buf.push_uint16(value.result)
    if value.error is not None or value.message:
        buf.push_uint16(value.error or 0)
        buf.push_bytes(_untext(value.message))


def _pull_call_errors(buf: Buffer) -> CallErrors:
    buf.pull_uint16("call errors reserved")
    return CallErrors(*(buf.pull_uint32("call errors") for _ in range(6)))


def _push_call_errors(buf: Buffer, value: CallErrors) -> None:
    buf.push_uint16(0)
    for count in (value.crc_errors, value.framing_errors, value.hardware_overruns, value.buffer_overruns,
                  value.timeout_errors, value.alignment_errors):
        buf.push_uint32(count)


def _pull_accm(buf: Buffer) -> Accm:
    buf.pull_uint16("accm reserved")
    return Accm(buf.pull_uint32("send accm"), buf.pull_uint32("receive accm"))


def _push_accm(buf: Buffer, value: Accm) -> None:
    buf.push_uint16(0)
    buf.push_uint32(value.send_accm)
    buf.push_uint32(value.receive_accm)


def _pull_q931(buf: Buffer) -> Q931Cause:
    return Q931Cause(buf.pull_uint16("q931 cause"), buf.pull_uint8("q931 message"), _text(buf.pull_rest()))


def _push_q931(buf: Buffer, value: Q931Cause) -> None:
    buf.push_uint16(value.cause)
    buf.push_uint8(value.message)
    buf.push_bytes(_untext(value.advisory))


def _pull_version(buf: Buffer) -> tuple[int, int]:
    return buf.pull_uint8("protocol version"), buf.pull_uint8("protocol revision")


def _push_version(buf: Buffer, value: tuple[int, int]) -> None:
    buf.push_uint8(value[0])
    buf.push_uint8(value[1])


def _pull_empty(buf: Buffer) -> bool:
    return True


def _push_empty(buf: Buffer, value: bool) -> None:
    return None


@dataclass(frozen=True)
class AvpFormat:
    """How one attribute's value is read and written, and whether the whole value is consumed."""

    name: str
    pull: Callable[[Buffer], Any]
    push: Callable[[Buffer, Any], None]


def _fixed(name: str, size: int) -> AvpFormat:
    return AvpFormat(name, lambda buf: buf.pull_bytes(size, name), lambda buf, v: buf.push_bytes(v))


_U16 = ("u16", lambda buf: buf.pull_uint16(), lambda buf, v: buf.push_uint16(v))
_U32 = ("u32", lambda buf: buf.pull_uint32(), lambda buf, v: buf.push_uint32(v))
_BYTES = ("bytes", lambda buf: buf.pull_rest(), lambda buf, v: buf.push_bytes(v))
_TEXT = ("text", lambda buf: _text(buf.pull_rest()), lambda buf, v: buf.push_bytes(_untext(v)))


def _kind(kind: tuple[str, Callable[[Buffer], Any], Callable[[Buffer, Any], None]], name: str) -> AvpFormat:
    return AvpFormat(name, kind[1], kind[2])


AVP_FORMATS: dict[AvpType, AvpFormat] = {
    AvpType.MESSAGE_TYPE: _kind(_U16, "Message Type"),
    AvpType.RESULT_CODE: AvpFormat("Result Code", _pull_result, _push_result),
    AvpType.PROTOCOL_VERSION: AvpFormat("Protocol Version", _pull_version, _push_version),
    AvpType.FRAMING_CAPABILITIES: _kind(_U32, "Framing Capabilities"),
    AvpType.BEARER_CAPABILITIES: _kind(_U32, "Bearer Capabilities"),
    AvpType.TIE_BREAKER: _fixed("Tie Breaker", 8),
    AvpType.FIRMWARE_REVISION: _kind(_U16, "Firmware Revision"),
    AvpType.HOST_NAME: _kind(_TEXT, "Host Name"),
    AvpType.VENDOR_NAME: _kind(_TEXT, "Vendor Name"),
    AvpType.ASSIGNED_TUNNEL_ID: _kind(_U16, "Assigned Tunnel ID"),
    AvpType.RECEIVE_WINDOW_SIZE: _kind(_U16, "Receive Window Size"),
    AvpType.CHALLENGE: _kind(_BYTES, "Challenge"),
    AvpType.Q931_CAUSE_CODE: AvpFormat("Q.931 Cause Code", _pull_q931, _push_q931),
    AvpType.CHALLENGE_RESPONSE: _fixed("Challenge Response", 16),
    AvpType.ASSIGNED_SESSION_ID: _kind(_U16, "Assigned Session ID"),
    AvpType.CALL_SERIAL_NUMBER: _kind(_U32, "Call Serial Number"),
    AvpType.MINIMUM_BPS: _kind(_U32, "Minimum BPS"),
    AvpType.MAXIMUM_BPS: _kind(_U32, "Maximum BPS"),
    AvpType.BEARER_TYPE: _kind(_U32, "Bearer Type"),
    AvpType.FRAMING_TYPE: _kind(_U32, "Framing Type"),
    AvpType.CALLED_NUMBER: _kind(_TEXT, "Called Number"),
    AvpType.CALLING_NUMBER: _kind(_TEXT, "Calling Number"),
    AvpType.SUB_ADDRESS: _kind(_TEXT, "Sub-Address"),
    AvpType.TX_CONNECT_SPEED: _kind(_U32, "Tx Connect Speed"),
    AvpType.PHYSICAL_CHANNEL_ID: _kind(_U32, "Physical Channel ID"),
    AvpType.INITIAL_RECEIVED_LCP_CONFREQ: _kind(_BYTES, "Initial Received LCP CONFREQ"),
    AvpType.LAST_SENT_LCP_CONFREQ: _kind(_BYTES, "Last Sent LCP CONFREQ"),
    AvpType.LAST_RECEIVED_LCP_CONFREQ: _kind(_BYTES, "Last Received LCP CONFREQ"),
    AvpType.PROXY_AUTHEN_TYPE: _kind(_U16, "Proxy Authen Type"),
    AvpType.PROXY_AUTHEN_NAME: _kind(_TEXT, "Proxy Authen Name"),
    AvpType.PROXY_AUTHEN_CHALLENGE: _kind(_BYTES, "Proxy Authen Challenge"),
    AvpType.PROXY_AUTHEN_ID: _kind(_U16, "Proxy Authen ID"),
    AvpType.PROXY_AUTHEN_RESPONSE: _kind(_BYTES, "Proxy Authen Response"),
    AvpType.CALL_ERRORS: AvpFormat("Call Errors", _pull_call_errors, _push_call_errors),
    AvpType.ACCM: AvpFormat("ACCM", _pull_accm, _push_accm),
    AvpType.RANDOM_VECTOR: _kind(_BYTES, "Random Vector"),
    AvpType.PRIVATE_GROUP_ID: _kind(_BYTES, "Private Group ID"),
    AvpType.RX_CONNECT_SPEED: _kind(_U32, "Rx Connect Speed"),
    AvpType.SEQUENCING_REQUIRED: AvpFormat("Sequencing Required", _pull_empty, _push_empty),
}
"""RFC 2661 §4.4: one entry per IETF attribute; a value must fill its AVP exactly."""


def avp_name(attribute_type: int, vendor_id: int = 0) -> str:
    if vendor_id == 0 and attribute_type in AVP_FORMATS:
        return AVP_FORMATS[AvpType(attribute_type)].name
    return f"AVP {vendor_id}:{attribute_type}"


def decode_value(attribute_type: AvpType, data: bytes) -> Any:
    """Read one attribute's value; any short or overlong value is an :class:`L2tpError`."""
    fmt = AVP_FORMATS[attribute_type]
    try:
        return _pull_exact(Buffer(data), fmt.pull, fmt.name)
    except DecodeError as exc:
        raise L2tpError(f"{fmt.name} value too short: {exc.reason}", field=fmt.name,
                        error=ErrorCode.LENGTH_WRONG) from None


def encode_value(attribute_type: AvpType, value: Any) -> bytes:
    buf = Buffer()
    AVP_FORMATS[attribute_type].push(buf, value)
    return buf.data()
