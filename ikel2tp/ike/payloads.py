"""ISAKMP payload codecs (RFC 2408 §3, RFC 2407 §4, RFC 3947, IKE fragmentation).

One ``pull_*``/``push_*`` pair per wire structure.  Payload chains are decoded by
:func:`pull_payloads` (bounded count, every length checked) and encoded by :func:`push_payloads`.
Payload *bodies* (what follows the 4-byte generic header) are what the dataclasses hold; hashes
such as SAi_b and IDii_b are computed over those bodies (:func:`payload_body`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ikel2tp.common.buffer import Buffer
from ikel2tp.common.errors import DecodeError
from ikel2tp.ike.constants import DOI_IPSEC, SIT_IDENTITY_ONLY, IdType, NotifyType, PayloadType
from ikel2tp.ike.errors import IkeError

GENERIC_HEADER = 4
MAX_PAYLOADS = 64  # a message carrying more is dropped (no legitimate IKEv1 message comes close)
MAX_PROPOSALS = 64
MAX_TRANSFORMS = 64
MAX_ATTRIBUTES = 32
_AF_TV = 0x8000  # RFC 2408 §3.3: attribute format bit, 1 = TV (basic), 0 = TLV (variable)


def _malformed(reason: str, field_: str) -> IkeError:
    return IkeError(reason, field=field_, code=NotifyType.PAYLOAD_MALFORMED)


# -- data attributes (RFC 2408 §3.3) ------------------------------------------------------------
@dataclass(frozen=True)
class Attribute:
    """A data attribute; ``basic`` attributes (TV) carry a 16-bit value, others (TLV) bytes."""

    type: int
    value: int | bytes
    basic: bool = True

    @staticmethod
    def of(type_: int, value: int) -> Attribute:
        """The shortest encoding of an integer: TV below 65536, else a 4-byte TLV."""
        if value < 0x10000:
            return Attribute(type_, value, True)
        return Attribute(type_, value.to_bytes(4, "big"), False)

    def as_int(self) -> int:
        if isinstance(self.value, int):
            return self.value
        if not 0 < len(self.value) <= 8:
            raise _malformed(f"attribute {self.type} value is {len(self.value)} bytes", "attribute")
        return int.from_bytes(self.value, "big")


def pull_attribute(buf: Buffer) -> Attribute:
    head = buf.pull_uint16("attribute type")
    if head & _AF_TV:
        return Attribute(head & 0x7FFF, buf.pull_uint16("attribute value"), True)
    length = buf.pull_uint16("attribute length")
    return Attribute(head, buf.pull_bytes(length, "attribute value"), False)


def push_attribute(buf: Buffer, attr: Attribute) -> None:
    if attr.basic:
        buf.push_uint16(_AF_TV | attr.type)
        buf.push_uint16(int(attr.value))
    else:
        value = bytes(attr.value) if not isinstance(attr.value, int) else attr.value.to_bytes(4, "big")
        buf.push_uint16(attr.type)
        buf.push_uint16(len(value))
        buf.push_bytes(value)


# -- SA / Proposal / Transform (RFC 2408 §3.4-3.6, RFC 2407 §4.6.1) ------------------------------
@dataclass(frozen=True)
class Transform:
    number: int
    transform_id: int
    attributes: tuple[Attribute, ...] = ()


@dataclass(frozen=True)
class Proposal:
    number: int
    protocol: int
    spi: bytes
    transforms: tuple[Transform, ...]


@dataclass(frozen=True)
class SaPayload:
    proposals: tuple[Proposal, ...]
    doi: int = DOI_IPSEC
    situation: int = SIT_IDENTITY_ONLY
    type = PayloadType.SA


def pull_transform(buf: Buffer) -> Transform:
    number = buf.pull_uint8("transform number")
    transform_id = buf.pull_uint8("transform id")
    buf.pull_uint16("transform reserved")
    attrs = []
    while not buf.eof():
        if len(attrs) == MAX_ATTRIBUTES:
            raise _malformed("too many attributes", "transform")
        attrs.append(pull_attribute(buf))
    return Transform(number, transform_id, tuple(attrs))


def push_transform(buf: Buffer, t: Transform) -> None:
    buf.push_uint8(t.number)
    buf.push_uint8(t.transform_id)
    buf.push_uint16(0)
    for attr in t.attributes:
        push_attribute(buf, attr)


def pull_proposal(buf: Buffer) -> Proposal:
    number = buf.pull_uint8("proposal number")
    protocol = buf.pull_uint8("protocol id")
    spi_size = buf.pull_uint8("spi size")
    count = buf.pull_uint8("number of transforms")
    spi = buf.pull_bytes(spi_size, "spi")
    transforms = []
    next_type = PayloadType.TRANSFORM
    while next_type == PayloadType.TRANSFORM:
        if len(transforms) == MAX_TRANSFORMS:
            raise _malformed("too many transforms", "proposal")
        next_type = buf.pull_uint8("transform next payload")
        buf.pull_uint8("reserved")
        length = buf.pull_uint16("transform length")
        if length < 8:
            raise _malformed(f"transform length {length} < 8", "transform")
        transforms.append(pull_transform(buf.sub(length - GENERIC_HEADER, "transform")))
    if next_type != PayloadType.NONE:
        raise _malformed(f"transform followed by payload type {next_type}", "transform")
    if len(transforms) != count:
        raise _malformed(f"proposal announces {count} transforms, carries {len(transforms)}", "proposal")
    if not buf.eof():
        raise _malformed("trailing bytes after the last transform", "proposal")
    return Proposal(number, protocol, spi, tuple(transforms))


def push_proposal(buf: Buffer, p: Proposal) -> None:
    buf.push_uint8(p.number)
    buf.push_uint8(p.protocol)
    buf.push_uint8(len(p.spi))
    buf.push_uint8(len(p.transforms))
    buf.push_bytes(p.spi)
    for i, t in enumerate(p.transforms):
        inner = Buffer()
        push_transform(inner, t)
        last = i == len(p.transforms) - 1
        buf.push_uint8(PayloadType.NONE if last else PayloadType.TRANSFORM)
        buf.push_uint8(0)
        buf.push_uint16(GENERIC_HEADER + len(inner))
        buf.push_bytes(inner.data())


def pull_sa(buf: Buffer) -> SaPayload:
    doi = buf.pull_uint32("doi")
    if doi != DOI_IPSEC:
        raise IkeError(f"DOI {doi} is not IPsec", field="SA", code=NotifyType.DOI_NOT_SUPPORTED)
    situation = buf.pull_uint32("situation")
    if situation != SIT_IDENTITY_ONLY:
        raise IkeError(
            f"situation {situation:#x} is not SIT_IDENTITY_ONLY",
            field="SA",
            code=NotifyType.SITUATION_NOT_SUPPORTED,
        )
    proposals = []
    next_type = PayloadType.PROPOSAL if not buf.eof() else PayloadType.NONE
    while next_type == PayloadType.PROPOSAL:
        if len(proposals) == MAX_PROPOSALS:
            raise _malformed("too many proposals", "SA")
        next_type = buf.pull_uint8("proposal next payload")
        buf.pull_uint8("reserved")
        length = buf.pull_uint16("proposal length")
        if length < 8:
            raise _malformed(f"proposal length {length} < 8", "proposal")
        proposals.append(pull_proposal(buf.sub(length - GENERIC_HEADER, "proposal")))
    if next_type != PayloadType.NONE or not proposals:
        raise _malformed("SA payload without a well-formed proposal list", "SA")
    if not buf.eof():
        raise _malformed("trailing bytes after the last proposal", "SA")
    return SaPayload(tuple(proposals), doi, situation)


def push_sa(buf: Buffer, sa: SaPayload) -> None:
    buf.push_uint32(sa.doi)
    buf.push_uint32(sa.situation)
    for i, p in enumerate(sa.proposals):
        inner = Buffer()
        push_proposal(inner, p)
        last = i == len(sa.proposals) - 1
        buf.push_uint8(PayloadType.NONE if last else PayloadType.PROPOSAL)
        buf.push_uint8(0)
        buf.push_uint16(GENERIC_HEADER + len(inner))
        buf.push_bytes(inner.data())


# -- simple payloads ---------------------------------------------------------------------------
@dataclass(frozen=True)
class KePayload:
    """RFC 2408 §3.7 Key Exchange."""

    data: bytes
    type = PayloadType.KE


@dataclass(frozen=True)
class HashPayload:
    """RFC 2408 §3.11."""

    data: bytes
    type = PayloadType.HASH


@dataclass(frozen=True)
class SigPayload:
    """RFC 2408 §3.12."""

    data: bytes
    type = PayloadType.SIG


@dataclass(frozen=True)
class NoncePayload:
    """RFC 2408 §3.13 (RFC 2409 §5: 8..256 bytes)."""

    data: bytes
    type = PayloadType.NONCE


@dataclass(frozen=True)
class VendorIdPayload:
    """RFC 2408 §3.16."""

    data: bytes
    type = PayloadType.VID


@dataclass(frozen=True)
class NatDPayload:
    """RFC 3947 §3.2 NAT-D: HASH(CKY-I | CKY-R | IP | Port); payload number 20 or draft 130."""

    data: bytes
    type: PayloadType = PayloadType.NAT_D


@dataclass(frozen=True)
class UnknownPayload:
    """A payload type this codec does not know; the exchange rules decide (normally reject)."""

    type: int
    data: bytes


def _pull_opaque(cls):
    def pull(buf: Buffer):
        return cls(buf.pull_rest())

    return pull


def _push_opaque(buf: Buffer, p) -> None:
    buf.push_bytes(p.data)


# -- ID (RFC 2407 §4.6.2) and NAT-OA (RFC 3947 §5.2) --------------------------------------------
@dataclass(frozen=True)
class IdPayload:
    """Identification: type, protocol and port (phase 2 selectors; 0/0 or 17/500 in phase 1)."""

    id_type: int
    data: bytes
    protocol: int = 0
    port: int = 0
    type = PayloadType.ID

    @staticmethod
    def from_address(address: str, protocol: int = 0, port: int = 0) -> IdPayload:
        ip = ipaddress.ip_address(address)
        kind = IdType.ID_IPV4_ADDR if ip.version == 4 else IdType.ID_IPV6_ADDR
        return IdPayload(kind, ip.packed, protocol, port)

    def address(self) -> str | None:
        """The address for ID_IPV4_ADDR/ID_IPV6_ADDR (or a /32 or /128 subnet), else None."""
        if self.id_type == IdType.ID_IPV4_ADDR and len(self.data) == 4:
            return str(ipaddress.IPv4Address(self.data))
        if self.id_type == IdType.ID_IPV6_ADDR and len(self.data) == 16:
            return str(ipaddress.IPv6Address(self.data))
        if self.id_type == IdType.ID_IPV4_ADDR_SUBNET and self.data[4:] == b"\xff" * 4:
            return str(ipaddress.IPv4Address(self.data[:4]))
        if self.id_type == IdType.ID_IPV6_ADDR_SUBNET and self.data[16:] == b"\xff" * 16:
            return str(ipaddress.IPv6Address(self.data[:16]))
        return None

    def describe(self, ports: bool = True) -> str:
        """Plain text for logs: an address, a name, or the type and length (and protocol/port)."""
        addr = self.address()
        if addr:
            text = addr
        elif self.id_type in (IdType.ID_FQDN, IdType.ID_USER_FQDN, IdType.ID_KEY_ID):
            text = self.data.decode("utf-8", "replace")
        else:
            text = f"type {self.id_type} ({len(self.data)} bytes)"
        return f"{text}[{self.protocol}/{self.port}]" if ports and (self.protocol or self.port) else text


def pull_id(buf: Buffer) -> IdPayload:
    id_type = buf.pull_uint8("id type")
    protocol = buf.pull_uint8("id protocol")
    port = buf.pull_uint16("id port")
    return IdPayload(id_type, buf.pull_rest(), protocol, port)


def push_id(buf: Buffer, p: IdPayload) -> None:
    buf.push_uint8(p.id_type)
    buf.push_uint8(p.protocol)
    buf.push_uint16(p.port)
    buf.push_bytes(p.data)


@dataclass(frozen=True)
class NatOaPayload:
    """RFC 3947 §5.2 NAT-OA: ID type, 3 reserved bytes, address; payload number 21 or draft 131."""

    id_type: int
    data: bytes
    type: PayloadType = PayloadType.NAT_OA

    @staticmethod
    def from_address(address: str, type_: PayloadType = PayloadType.NAT_OA) -> NatOaPayload:
        ip = ipaddress.ip_address(address)
        kind = IdType.ID_IPV4_ADDR if ip.version == 4 else IdType.ID_IPV6_ADDR
        return NatOaPayload(kind, ip.packed, type_)

    def address(self) -> str | None:
        return IdPayload(self.id_type, self.data).address()


def _pull_nat_oa(type_: PayloadType):
    def pull(buf: Buffer) -> NatOaPayload:
        id_type = buf.pull_uint8("nat-oa id type")
        buf.pull_bytes(3, "nat-oa reserved")
        return NatOaPayload(id_type, buf.pull_rest(), type_)

    return pull


def push_nat_oa(buf: Buffer, p: NatOaPayload) -> None:
    buf.push_uint8(p.id_type)
    buf.push_bytes(b"\x00\x00\x00")
    buf.push_bytes(p.data)


# -- CERT / CERTREQ (RFC 2408 §3.9, §3.10) ------------------------------------------------------
@dataclass(frozen=True)
class CertPayload:
    encoding: int
    data: bytes
    type = PayloadType.CERT


@dataclass(frozen=True)
class CertReqPayload:
    encoding: int
    data: bytes
    type = PayloadType.CERTREQ


def _pull_cert(cls):
    def pull(buf: Buffer):
        return cls(buf.pull_uint8("cert encoding"), buf.pull_rest())

    return pull


def push_cert(buf: Buffer, p) -> None:
    buf.push_uint8(p.encoding)
    buf.push_bytes(p.data)


# -- Notification (RFC 2408 §3.14) and Delete (§3.15) --------------------------------------------
@dataclass(frozen=True)
class NotifyPayload:
    notify_type: int
    protocol: int = 1
    spi: bytes = b""
    data: bytes = b""
    doi: int = DOI_IPSEC
    type = PayloadType.N

    def name(self) -> str:
        try:
            return NotifyType(self.notify_type).name
        except ValueError:
            return f"notify {self.notify_type}"


def pull_notify(buf: Buffer) -> NotifyPayload:
    doi = buf.pull_uint32("notify doi")
    protocol = buf.pull_uint8("notify protocol")
    spi_size = buf.pull_uint8("notify spi size")
    notify_type = buf.pull_uint16("notify type")
    spi = buf.pull_bytes(spi_size, "notify spi")
    return NotifyPayload(notify_type, protocol, spi, buf.pull_rest(), doi)


def push_notify(buf: Buffer, p: NotifyPayload) -> None:
    buf.push_uint32(p.doi)
    buf.push_uint8(p.protocol)
    buf.push_uint8(len(p.spi))
    buf.push_uint16(p.notify_type)
    buf.push_bytes(p.spi)
    buf.push_bytes(p.data)


@dataclass(frozen=True)
class DeletePayload:
    protocol: int
    spis: tuple[bytes, ...]
    doi: int = DOI_IPSEC
    type = PayloadType.D


def pull_delete(buf: Buffer) -> DeletePayload:
    doi = buf.pull_uint32("delete doi")
    protocol = buf.pull_uint8("delete protocol")
    spi_size = buf.pull_uint8("delete spi size")
    count = buf.pull_uint16("delete number of spis")
    if spi_size == 0 and count:
        raise _malformed("delete with SPI size 0 lists SPIs", "D")
    spis = tuple(buf.pull_bytes(spi_size, "delete spi") for _ in range(count))
    if not buf.eof():
        raise _malformed("trailing bytes after the SPIs", "D")
    return DeletePayload(protocol, spis, doi)


def push_delete(buf: Buffer, p: DeletePayload) -> None:
    sizes = {len(s) for s in p.spis}
    if len(sizes) > 1:
        raise ValueError("all SPIs of one delete payload have the same size")
    buf.push_uint32(p.doi)
    buf.push_uint8(p.protocol)
    buf.push_uint8(sizes.pop() if sizes else 0)
    buf.push_uint16(len(p.spis))
    for spi in p.spis:
        buf.push_bytes(spi)


# -- IKE fragment (payload 132, the vendor-ID-negotiated IKEv1 fragmentation) ------------------
FRAGMENT_LAST = 0x01


@dataclass(frozen=True)
class FragmentPayload:
    """Fragment ID (16 bits), fragment number (from 1), flags (0x01 = last fragment), data."""

    fragment_id: int
    number: int
    last: bool
    data: bytes
    type = PayloadType.FRAGMENT


def pull_fragment(buf: Buffer) -> FragmentPayload:
    fragment_id = buf.pull_uint16("fragment id")
    number = buf.pull_uint8("fragment number")
    flags = buf.pull_uint8("fragment flags")
    return FragmentPayload(fragment_id, number, bool(flags & FRAGMENT_LAST), buf.pull_rest())


def push_fragment(buf: Buffer, p: FragmentPayload) -> None:
    buf.push_uint16(p.fragment_id)
    buf.push_uint8(p.number)
    buf.push_uint8(FRAGMENT_LAST if p.last else 0)
    buf.push_bytes(p.data)


Payload = (
    SaPayload
    | KePayload
    | IdPayload
    | CertPayload
    | CertReqPayload
    | HashPayload
    | SigPayload
    | NoncePayload
    | NotifyPayload
    | DeletePayload
    | VendorIdPayload
    | NatDPayload
    | NatOaPayload
    | FragmentPayload
    | UnknownPayload
)


def _pull_nat_d(type_: PayloadType):
    def pull(buf: Buffer) -> NatDPayload:
        return NatDPayload(buf.pull_rest(), type_)

    return pull


# Registry: payload type -> (pull body, push body).  Rules as data: adding a payload is one line.
CODECS = {
    PayloadType.SA: (pull_sa, push_sa),
    PayloadType.KE: (_pull_opaque(KePayload), _push_opaque),
    PayloadType.ID: (pull_id, push_id),
    PayloadType.CERT: (_pull_cert(CertPayload), push_cert),
    PayloadType.CERTREQ: (_pull_cert(CertReqPayload), push_cert),
    PayloadType.HASH: (_pull_opaque(HashPayload), _push_opaque),
    PayloadType.SIG: (_pull_opaque(SigPayload), _push_opaque),
    PayloadType.NONCE: (_pull_opaque(NoncePayload), _push_opaque),
    PayloadType.N: (pull_notify, push_notify),
    PayloadType.D: (pull_delete, push_delete),
    PayloadType.VID: (_pull_opaque(VendorIdPayload), _push_opaque),
    PayloadType.NAT_D: (_pull_nat_d(PayloadType.NAT_D), _push_opaque),
    PayloadType.NAT_D_DRAFT: (_pull_nat_d(PayloadType.NAT_D_DRAFT), _push_opaque),
    PayloadType.NAT_OA: (_pull_nat_oa(PayloadType.NAT_OA), push_nat_oa),
    PayloadType.NAT_OA_DRAFT: (_pull_nat_oa(PayloadType.NAT_OA_DRAFT), push_nat_oa),
    PayloadType.FRAGMENT: (pull_fragment, push_fragment),
}


def payload_body(p: Payload) -> bytes:
    """The encoded payload without its generic header (SAi_b, IDii_b, Ni_b ... of RFC 2409)."""
    if isinstance(p, UnknownPayload):
        return p.data
    buf = Buffer()
    CODECS[p.type][1](buf, p)
    return buf.data()


@dataclass
class RawPayload:
    """A decoded payload with the exact bytes it came from (for hashes over received payloads)."""

    payload: Payload
    body: bytes = field(repr=False)


def pull_payloads(data: bytes, first: int) -> list[RawPayload]:
    """Decode a payload chain starting with type ``first``; bytes after the last payload (CBC
    padding, RFC 2409 App. B) are ignored.  Raises :class:`IkeError` on any malformation."""
    buf = Buffer(data)
    out: list[RawPayload] = []
    next_type = first
    try:
        while next_type != PayloadType.NONE:
            if len(out) == MAX_PAYLOADS:
                raise _malformed(f"more than {MAX_PAYLOADS} payloads", "payload chain")
            current = next_type
            next_type = buf.pull_uint8("next payload")
            buf.pull_uint8("reserved")
            length = buf.pull_uint16("payload length")
            if length < GENERIC_HEADER:
                raise _malformed(f"payload length {length} < 4", f"payload {current}")
            body = buf.pull_bytes(length - GENERIC_HEADER, f"payload {current}")
            codec = CODECS.get(current)  # type: ignore[call-overload]
            if codec is None:
                out.append(RawPayload(UnknownPayload(current, body), body))
                continue
            inner = Buffer(body)
            payload = codec[0](inner)
            if not inner.eof():
                raise _malformed("trailing bytes", f"payload {current}")
            out.append(RawPayload(payload, body))
    except DecodeError as exc:
        raise _malformed(exc.reason, exc.field or "payload") from exc
    return out


def push_payloads(payloads: list[Payload]) -> tuple[int, bytes]:
    """Encode a chain; returns (type of the first payload, bytes)."""
    buf = Buffer()
    bodies = [payload_body(p) for p in payloads]
    for i, (p, body) in enumerate(zip(payloads, bodies, strict=True)):
        nxt = payloads[i + 1].type if i + 1 < len(payloads) else PayloadType.NONE
        if len(body) + GENERIC_HEADER > 0xFFFF:
            raise ValueError(f"payload {p.type} too long")
        buf.push_uint8(nxt)
        buf.push_uint8(0)
        buf.push_uint16(GENERIC_HEADER + len(body))
        buf.push_bytes(body)
    return (payloads[0].type if payloads else PayloadType.NONE), buf.data()
