"""AVP codec, value formats and hidden AVPs (RFC 2661 §4.1, §4.3, §4.4)."""

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikel2tp.common.buffer import Buffer
from ikel2tp.l2tp.avp import (
    AVP_FORMATS,
    Accm,
    Avp,
    CallErrors,
    Q931Cause,
    ResultCode,
    decode_value,
    encode_value,
    hide_value,
    pull_avp,
    pull_avps,
    push_avp,
    unhide_value,
)
from ikel2tp.l2tp.constants import AvpType, ErrorCode, MessageType
from ikel2tp.l2tp.errors import L2tpError
from ikel2tp.l2tp.message import build_avps, decode_message

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
text = st.text(max_size=40)

STRATEGY = {
    AvpType.RESULT_CODE: st.one_of(
        st.builds(ResultCode, u16),
        st.builds(ResultCode, u16, u16, text)),
    AvpType.PROTOCOL_VERSION: st.tuples(st.integers(0, 255), st.integers(0, 255)),
    AvpType.TIE_BREAKER: st.binary(min_size=8, max_size=8),
    AvpType.CHALLENGE_RESPONSE: st.binary(min_size=16, max_size=16),
    AvpType.Q931_CAUSE_CODE: st.builds(Q931Cause, u16, st.integers(0, 255), text),
    AvpType.CALL_ERRORS: st.builds(CallErrors, u32, u32, u32, u32, u32, u32),
    AvpType.ACCM: st.builds(Accm, u32, u32),
    AvpType.SEQUENCING_REQUIRED: st.just(True),
}
U16 = {AvpType.MESSAGE_TYPE, AvpType.FIRMWARE_REVISION, AvpType.ASSIGNED_TUNNEL_ID,
       AvpType.RECEIVE_WINDOW_SIZE, AvpType.ASSIGNED_SESSION_ID, AvpType.PROXY_AUTHEN_TYPE,
       AvpType.PROXY_AUTHEN_ID}
TEXT = {AvpType.HOST_NAME, AvpType.VENDOR_NAME, AvpType.CALLED_NUMBER, AvpType.CALLING_NUMBER,
        AvpType.SUB_ADDRESS, AvpType.PROXY_AUTHEN_NAME}
BYTES = {AvpType.CHALLENGE, AvpType.INITIAL_RECEIVED_LCP_CONFREQ, AvpType.LAST_SENT_LCP_CONFREQ,
         AvpType.LAST_RECEIVED_LCP_CONFREQ, AvpType.PROXY_AUTHEN_CHALLENGE, AvpType.PROXY_AUTHEN_RESPONSE,
         AvpType.RANDOM_VECTOR, AvpType.PRIVATE_GROUP_ID}


def strategy(kind: AvpType):
    if kind in STRATEGY:
        return STRATEGY[kind]
    if kind in U16:
        return u16
    if kind in TEXT:
        return text
    if kind in BYTES:
        return st.binary(max_size=64)
    return u32


def test_every_attribute_has_a_format():
    assert set(AVP_FORMATS) == set(AvpType)


@settings(derandomize=True, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_value_round_trip(data):
    kind = data.draw(st.sampled_from(list(AvpType)))
    value = data.draw(strategy(kind))
    assert decode_value(kind, encode_value(kind, value)) == value


@settings(derandomize=True, deadline=None)
@given(st.sampled_from(list(AvpType)), st.binary(max_size=40))
def test_value_decode_is_strict_or_exact(kind, blob):
    try:
        value = decode_value(kind, blob)
    except L2tpError as exc:
        assert exc.error == ErrorCode.LENGTH_WRONG
        return
    if kind not in (AvpType.CALL_ERRORS, AvpType.ACCM, AvpType.SEQUENCING_REQUIRED):  # reserved fields
        assert encode_value(kind, value) == blob


@settings(derandomize=True, deadline=None)
@given(u16, st.binary(max_size=200), st.booleans(), st.booleans(), u16)
def test_avp_round_trip(attribute, value, mandatory, hidden, vendor):
    avp = Avp(attribute, value, mandatory, hidden, vendor)
    buf = Buffer()
    push_avp(buf, avp)
    assert pull_avp(Buffer(buf.data())) == avp


@pytest.mark.parametrize("raw", [
    b"\x80\x05\x00\x00\x00\x00",            # length 5 < header
    b"\x80\x08\x00\x00\x00\x00\x00",        # value overruns the message
    b"\x84\x06\x00\x00\x00\x00",            # reserved bit set
    b"\x80",                                # truncated header
])
def test_bad_avp_is_l2tp_error(raw):
    with pytest.raises(L2tpError):
        pull_avps(Buffer(raw))


def rfc_hide(attribute: int, value: bytes, secret: bytes, rv: bytes) -> bytes:
    """RFC 2661 §4.3 computed independently: p = len|value split in 16-byte blocks,
    b1 = MD5(type|secret|RV), c1 = p1 xor b1, b_i = MD5(secret|c_{i-1}), c_i = p_i xor b_i."""
    plain = len(value).to_bytes(2, "big") + value
    blocks = [plain[i:i + 16] for i in range(0, len(plain), 16)]
    out = b""
    b = hashlib.md5(attribute.to_bytes(2, "big") + secret + rv).digest()
    for p in blocks:
        c = bytes(x ^ y for x, y in zip(p, b, strict=False))
        out += c
        b = hashlib.md5(secret + c).digest()
    return out


@settings(derandomize=True, deadline=None)
@given(u16, st.binary(max_size=100), st.binary(min_size=1, max_size=20), st.binary(min_size=1, max_size=32))
def test_hidden_matches_rfc_construction(attribute, value, secret, rv):
    hidden = hide_value(attribute, value, secret, rv)
    assert hidden == rfc_hide(attribute, value, secret, rv)
    assert unhide_value(attribute, hidden, secret, rv) == value


def test_hidden_known_vector():
    # Assigned Session ID 0x1234 hidden with secret "s3cret" and an all-zero 16-byte RV.
    rv = bytes(16)
    b1 = hashlib.md5(b"\x00\x0es3cret" + rv).digest()
    expected = bytes(x ^ y for x, y in zip(b"\x00\x02\x12\x34", b1[:4], strict=True))
    assert hide_value(AvpType.ASSIGNED_SESSION_ID, b"\x12\x34", b"s3cret", rv) == expected


def test_hidden_padding_is_ignored():
    hidden = hide_value(7, b"host", b"k", b"rv", padding=b"\x00" * 11)
    assert unhide_value(7, hidden, b"k", b"rv") == b"host"


def test_hidden_with_wrong_secret_is_detected_or_garbled():
    hidden = hide_value(7, b"h", b"right", b"rv" * 8)
    try:
        assert unhide_value(7, hidden, b"wrong", b"rv" * 8) != b"h"
    except L2tpError:
        pass


def test_message_with_hidden_avps_round_trip():
    import random

    avps = build_avps(MessageType.ICRQ, [(AvpType.ASSIGNED_SESSION_ID, 9), (AvpType.CALL_SERIAL_NUMBER, 4),
                                         (AvpType.CALLING_NUMBER, "203.0.113.5")],
                      hide=frozenset({AvpType.ASSIGNED_SESSION_ID, AvpType.CALLING_NUMBER}), secret=b"k",
                      random=random.Random(1).randbytes)
    assert [a.attribute_type for a in avps][:2] == [AvpType.MESSAGE_TYPE, AvpType.RANDOM_VECTOR]
    message = decode_message(avps, b"k")
    assert message.error is None
    assert message.values[AvpType.CALLING_NUMBER] == "203.0.113.5"
    assert message.values[AvpType.ASSIGNED_SESSION_ID] == 9
    assert decode_message(avps, None).error is not None


def test_unknown_avps_follow_the_m_bit():
    base = build_avps(MessageType.HELLO, [])
    optional = decode_message(base + [Avp(200, b"x", mandatory=False), Avp(1, b"", False, vendor_id=311)],
                              None)
    assert optional.error is None and len(optional.ignored) == 2
    mandatory = decode_message(base + [Avp(1, b"", True, vendor_id=311)], None)
    assert mandatory.error.error == ErrorCode.UNKNOWN_MANDATORY_AVP


def test_missing_required_avp():
    message = decode_message(build_avps(MessageType.CDN, [(AvpType.ASSIGNED_SESSION_ID, 1)]), None)
    assert "Result Code" in message.error.reason


def test_first_avp_must_be_message_type():
    with pytest.raises(L2tpError):
        decode_message([Avp(AvpType.HOST_NAME, b"x")], None)
