"""L2TP header and datagram codec (RFC 2661 §3.1), control message bodies (§3.2, §4.1).

Header::

    |T|L|x|x|S|x|O|P|x|x|x|x|  Ver  |          Length (opt)         |
    |           Tunnel ID           |           Session ID          |
    |             Ns (opt)          |             Nr (opt)          |
    |      Offset Size (opt)        |    Offset pad... (opt)

Control messages (T=1) MUST have L=1 and S=1 and O=0 (§3.1).  A control message with no AVP
at all is a ZLB acknowledgement (§5.8).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import NamedTuple

from ikel2tp.common.buffer import Buffer
from ikel2tp.common.errors import DecodeError
from ikel2tp.l2tp.avp import Avp, pull_avps, push_avp
from ikel2tp.l2tp.constants import L2TP_VERSION, ErrorCode
from ikel2tp.l2tp.errors import L2tpError

_T = 0x8000
_L = 0x4000
_S = 0x0800
_O = 0x0200
_P = 0x0100
_VERSION_MASK = 0x000F


class Header(NamedTuple):
    """RFC 2661 §3.1 header fields; ``ns``/``nr`` are None when the S bit is clear, ``offset`` is
    the Offset Size when the O bit is set (its padding is skipped), ``length`` is the L bit."""

    control: bool
    tunnel_id: int
    session_id: int
    ns: int | None = None
    nr: int | None = None
    length: bool = False
    offset: int | None = None
    priority: bool = False


def _layout(bits: int) -> tuple[struct.Struct, tuple[str, ...]]:
    names = (("length",) if bits & _L else ()) + ("tunnel_id", "session_id") \
        + (("ns", "nr") if bits & _S else ()) + (("offset",) if bits & _O else ())
    return struct.Struct("!" + "H" * len(names)), names


_OPTIONAL = _L | _S | _O
HEADER_LAYOUTS = {bits: _layout(bits) for bits in range(_OPTIONAL + 1) if bits & ~_OPTIONAL == 0}
"""RFC 2661 §3.1: the 16-bit fields after the flags word, by which of L, S, O are set."""


def pull_header(buf: Buffer, total: int) -> Header:
    """Read the header; ``total`` is the datagram size the Length field must not exceed."""
    flags = buf.pull_uint16("flags")
    version = flags & _VERSION_MASK
    if version != L2TP_VERSION:
        raise L2tpError(f"version {version} is not L2TPv2", field="version")
    control = bool(flags & _T)
    if control and flags & _OPTIONAL != _L | _S:
        raise L2tpError("control message needs L=1 S=1 O=0", field="flags")
    layout, names = HEADER_LAYOUTS[flags & _OPTIONAL]
    f = dict(zip(names, layout.unpack(buf.pull_bytes(layout.size, "header")), strict=True))
    offset = f.get("offset")
    if offset is not None:
        buf.pull_bytes(offset, "offset pad")
    length = f.get("length")
    if length is not None and not buf.position <= length <= total:
        raise L2tpError(f"Length {length} outside header..datagram ({buf.position}..{total})",
                        field="length", error=ErrorCode.LENGTH_WRONG)
    return Header(control, f["tunnel_id"], f["session_id"], f.get("ns"), f.get("nr"), length is not None,
                  offset, bool(flags & _P))


def push_header(buf: Buffer, header: Header, payload_length: int) -> None:
    bits = (_L if header.length else 0) | (_S if header.ns is not None else 0) \
        | (_O if header.offset is not None else 0)
    layout, names = HEADER_LAYOUTS[bits]
    size = 2 + layout.size + (header.offset or 0)
    values = {"length": size + payload_length, "tunnel_id": header.tunnel_id,
              "session_id": header.session_id, "ns": header.ns, "nr": header.nr or 0, "offset": header.offset}
    buf.push_uint16(L2TP_VERSION | bits | (_T if header.control else 0) | (_P if header.priority else 0))
    buf.push_bytes(layout.pack(*(values[name] for name in names)))
    if header.offset:
        buf.push_bytes(bytes(header.offset))


# Data messages (T=0) without an Offset field: the per-packet case, read and written with one
# struct call each.  Key: the flags word masked by _FAST_MASK; value: (layout, has Length, has Ns/Nr).
_FAST_MASK = _T | _OPTIONAL | _VERSION_MASK
_FAST_DATA = {
    L2TP_VERSION | bits: (struct.Struct("!H" + layout.format[1:]), bool(bits & _L), bool(bits & _S))
    for bits, (layout, _) in HEADER_LAYOUTS.items() if not bits & _O
}
_PLAIN, _WITH_LENGTH = _FAST_DATA[L2TP_VERSION][0], _FAST_DATA[L2TP_VERSION | _L][0]
_SEQUENCED, _BOTH = _FAST_DATA[L2TP_VERSION | _S][0], _FAST_DATA[L2TP_VERSION | _L | _S][0]


def decode_datagram(data: bytes) -> tuple[Header, bytes]:
    """Split a datagram into header and payload (bytes after the Length are ignored).

    Data messages without an Offset take a struct-based fast path; everything else (control
    messages, Offset, anything short or malformed) goes through :func:`decode_datagram_general`,
    which the fast path agrees with byte for byte and error for error.
    """
    size = len(data)
    fast = _FAST_DATA.get(((data[0] << 8) | data[1]) & _FAST_MASK) if size >= 2 else None
    if fast is None or size < fast[0].size:
        return decode_datagram_general(data)
    layout, has_length, sequenced = fast
    fields = layout.unpack_from(data)
    flags = fields[0]
    end = layout.size
    if has_length:
        length = fields[1]
        if not end <= length <= size:
            raise L2tpError(f"Length {length} outside header..datagram ({end}..{size})",
                            field="length", error=ErrorCode.LENGTH_WRONG)
        size = length
        fields = fields[1:]
    if sequenced:
        header = Header(False, fields[1], fields[2], fields[3], fields[4], has_length, None, bool(flags & _P))
    else:
        header = Header(False, fields[1], fields[2], None, None, has_length, None, bool(flags & _P))
    return header, data[end:size]


def decode_datagram_general(data: bytes) -> tuple[Header, bytes]:
    """:func:`decode_datagram` for every header form, through :func:`pull_header`."""
    buf = Buffer(data)
    try:
        header = pull_header(buf, len(data))
    except DecodeError as exc:
        raise L2tpError(f"truncated header: {exc.reason}", field=exc.field,
                        error=ErrorCode.LENGTH_WRONG) from None
    end = int.from_bytes(data[2:4], "big") if header.length else len(data)
    payload = data[buf.position:end]
    return header, payload


def encode_datagram(header: Header, payload: bytes) -> bytes:
    """Header and payload as one datagram; data messages without an Offset take a struct-based fast
    path that gives the same bytes as :func:`encode_datagram_general`."""
    if header.control or header.offset is not None:
        return encode_datagram_general(header, payload)
    flags = L2TP_VERSION | (_P if header.priority else 0)
    tunnel, session, ns = header.tunnel_id, header.session_id, header.ns
    if ns is None:
        if header.length:
            return _WITH_LENGTH.pack(flags | _L, 8 + len(payload), tunnel, session) + payload
        return _PLAIN.pack(flags, tunnel, session) + payload
    if header.length:
        return _BOTH.pack(flags | _L | _S, 12 + len(payload), tunnel, session, ns, header.nr or 0) + payload
    return _SEQUENCED.pack(flags | _S, tunnel, session, ns, header.nr or 0) + payload


def encode_datagram_general(header: Header, payload: bytes) -> bytes:
    """:func:`encode_datagram` for every header form, through :func:`push_header`."""
    buf = Buffer()
    push_header(buf, header, len(payload))
    buf.push_bytes(payload)
    return buf.data()


def encode_control(tunnel_id: int, session_id: int, ns: int, nr: int, avps: Sequence[Avp]) -> bytes:
    """A control message (T=1 L=1 S=1); an empty ``avps`` makes a ZLB acknowledgement."""
    body = Buffer()
    for avp in avps:
        push_avp(body, avp)
    return encode_datagram(Header(True, tunnel_id, session_id, ns, nr, length=True), body.data())


def decode_control_body(payload: bytes) -> list[Avp]:
    """The AVPs of a control message (empty for a ZLB); every AVP length is bounded."""
    return pull_avps(Buffer(payload))
