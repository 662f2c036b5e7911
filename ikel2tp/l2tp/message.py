"""Control messages as typed values (RFC 2661 §6): which AVPs each message must carry, the M bit
rule for unknown AVPs (§4.1) and hidden AVPs unhidden with the tunnel secret (§4.3)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ikel2tp.l2tp.avp import (
    AVP_FORMATS,
    Avp,
    avp_name,
    decode_value,
    encode_value,
    hide_value,
    unhide_value,
)
from ikel2tp.l2tp.constants import AvpType, ErrorCode, MessageType
from ikel2tp.l2tp.errors import L2tpError

A = AvpType
REQUIRED: dict[MessageType, frozenset[AvpType]] = {
    MessageType.SCCRQ: frozenset({A.PROTOCOL_VERSION, A.HOST_NAME, A.FRAMING_CAPABILITIES,
                                  A.ASSIGNED_TUNNEL_ID}),
    MessageType.SCCRP: frozenset({A.PROTOCOL_VERSION, A.HOST_NAME, A.FRAMING_CAPABILITIES,
                                  A.ASSIGNED_TUNNEL_ID}),
    MessageType.SCCCN: frozenset(),
    MessageType.StopCCN: frozenset({A.ASSIGNED_TUNNEL_ID, A.RESULT_CODE}),
    MessageType.HELLO: frozenset(),
    MessageType.OCRQ: frozenset({A.ASSIGNED_SESSION_ID, A.CALL_SERIAL_NUMBER, A.MINIMUM_BPS, A.MAXIMUM_BPS,
                                 A.BEARER_TYPE, A.FRAMING_TYPE, A.CALLED_NUMBER}),
    MessageType.OCRP: frozenset({A.ASSIGNED_SESSION_ID}),
    MessageType.OCCN: frozenset({A.TX_CONNECT_SPEED, A.FRAMING_TYPE}),
    MessageType.ICRQ: frozenset({A.ASSIGNED_SESSION_ID, A.CALL_SERIAL_NUMBER}),
    MessageType.ICRP: frozenset({A.ASSIGNED_SESSION_ID}),
    MessageType.ICCN: frozenset({A.TX_CONNECT_SPEED, A.FRAMING_TYPE}),
    MessageType.CDN: frozenset({A.RESULT_CODE, A.ASSIGNED_SESSION_ID}),
    MessageType.WEN: frozenset({A.CALL_ERRORS}),
    MessageType.SLI: frozenset({A.ACCM}),
}
"""RFC 2661 §6.1-§6.16: the AVPs each control message MUST carry (besides Message Type)."""

NOT_MANDATORY = frozenset({A.FIRMWARE_REVISION, A.VENDOR_NAME, A.TIE_BREAKER})
"""AVPs we send with M=0 (RFC 2661 §4.4.3); every other AVP we send has M=1."""


@dataclass(frozen=True)
class Message:
    """A decoded control message.  ``error`` is the first problem that obliges us to tear down the
    tunnel or session (§4.1, §6): unknown mandatory AVP, missing or malformed required AVP;
    ``ignored`` names optional AVPs we skipped."""

    message_type: int
    values: dict[AvpType, Any] = field(default_factory=dict)
    error: L2tpError | None = None
    ignored: tuple[str, ...] = ()

    def get(self, avp: AvpType, default: Any = None) -> Any:
        return self.values.get(avp, default)

    @property
    def name(self) -> str:
        known = MessageType._value2member_map_.get(self.message_type)
        return known.name if known is not None else f"message type {self.message_type}"


def decode_message(avps: list[Avp], secret: bytes | None) -> Message:
    """RFC 2661 §4.1/§4.3: type the AVPs of a non-ZLB control message.

    Raises :class:`L2tpError` only when the message cannot be identified (no Message Type first);
    everything else lands in ``Message.error`` so the caller can answer within its tunnel/session.
    """
    first = avps[0]
    if first.vendor_id != 0 or first.attribute_type != AvpType.MESSAGE_TYPE or first.hidden:
        raise L2tpError("first AVP is not Message Type", field="Message Type")
    message_type = decode_value(AvpType.MESSAGE_TYPE, first.value)
    if message_type not in MessageType._value2member_map_:
        error = L2tpError(f"unknown mandatory message type {message_type}", field="Message Type",
                          error=ErrorCode.UNKNOWN_MANDATORY_AVP) if first.mandatory else None
        return Message(message_type, {}, error)
    values: dict[AvpType, Any] = {}
    ignored: list[str] = []
    error: L2tpError | None = None
    random_vector: bytes | None = None
    for avp in avps[1:]:
        name = avp_name(avp.attribute_type, avp.vendor_id)
        try:
            if avp.vendor_id != 0 or avp.attribute_type not in AVP_FORMATS:
                raise L2tpError(f"unknown {name} with the M bit set", field=name,
                                error=ErrorCode.UNKNOWN_MANDATORY_AVP)
            kind = AvpType(avp.attribute_type)
            data = avp.value
            if avp.hidden:
                if secret is None or random_vector is None:
                    raise L2tpError(f"hidden {name} without a secret or Random Vector", field=name,
                                    error=ErrorCode.VALUE_OUT_OF_RANGE)
                data = unhide_value(kind, data, secret, random_vector)
            value = decode_value(kind, data)
        except L2tpError as exc:
            if avp.mandatory and error is None:
                error = exc
            elif not avp.mandatory:
                ignored.append(name)
            continue
        if kind == AvpType.RANDOM_VECTOR:
            random_vector = value
        values[kind] = value
    missing = sorted(REQUIRED[MessageType(message_type)] - values.keys())
    if missing and error is None:
        names = ", ".join(AVP_FORMATS[m].name for m in missing)
        error = L2tpError(f"missing required {names}", field=AVP_FORMATS[missing[0]].name,
                          error=ErrorCode.VALUE_OUT_OF_RANGE)
    return Message(message_type, values, error, tuple(ignored))


def build_avps(message_type: MessageType, items: Iterable[tuple[AvpType, Any]], *,
               hide: frozenset[AvpType] = frozenset(), secret: bytes | None = None,
               random: Callable[[int], bytes] | None = None) -> list[Avp]:
    """Encode a control message's AVPs, Message Type first.  AVPs in ``hide`` are hidden (§4.3)
    with a fresh Random Vector AVP placed before them."""
    avps = [Avp(AvpType.MESSAGE_TYPE, encode_value(AvpType.MESSAGE_TYPE, message_type))]
    random_vector: bytes | None = None
    for kind, value in items:
        data = encode_value(kind, value)
        hidden = kind in hide
        if hidden:
            if secret is None or random is None:
                raise ValueError("hiding an AVP needs the tunnel secret and a random source")
            if random_vector is None:
                random_vector = random(16)
                avps.append(Avp(AvpType.RANDOM_VECTOR, random_vector))
            data = hide_value(kind, data, secret, random_vector)
        avps.append(Avp(kind, data, mandatory=kind not in NOT_MANDATORY, hidden=hidden))
    return avps
