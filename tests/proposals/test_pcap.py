"""The capture reader: formats, link types, IPv6, the non-ESP marker, and bad input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ikel2tp.proposals.explain import explain_capture
from ikel2tp.proposals.pcap import (
    CaptureError,
    LinkType,
    frame,
    ike_payload,
    ip_udp,
    read_capture,
    write_pcap,
    write_pcapng,
)
from tests.proposals.lab import Lab
from tests.proposals.lab import settings as ike_settings

A, B = ("192.0.2.1", 500), ("198.51.100.7", 500)


def test_pcap_and_pcapng_round_trip():
    records = [
        (10.25, frame(A, B, b"one")),
        (
            11.5,
            frame(
                ("2001:db8::1", 4500), ("2001:db8::2", 4500), ike_payload(("x", 4500), ("y", 4500), b"two")
            ),
        ),
    ]
    for data in (write_pcap(records), write_pcapng(records)):
        capture = read_capture(data)
        assert [(d.time, d.src, d.dst, d.data, d.number) for d in capture.datagrams] == [
            (10.25, A, B, b"one", 1),
            (11.5, ("2001:db8::1", 4500), ("2001:db8::2", 4500), b"two", 2),
        ]


def test_big_endian_and_nanosecond_pcap():
    packet = frame(A, B, b"x")
    header = struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, LinkType.ETHERNET)
    data = header + struct.pack(">IIII", 5, 500_000_000, len(packet), len(packet)) + packet
    (d,) = read_capture(data).datagrams
    assert d.time == pytest.approx(5.5) and d.data == b"x"


def _records(link_frame: bytes, link: int) -> bytes:
    return write_pcap([(0.0, link_frame)], link)


def test_link_types():
    packet = ip_udp(A, B, b"ike")
    sll = struct.pack("!HHH8sH", 0, 1, 6, bytes(8), 0x0800) + packet
    sll2 = struct.pack("!HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, bytes(8)) + packet
    vlan = bytes(12) + struct.pack("!HHH", 0x8100, 7, 0x0800) + packet
    for data, link in (
        (sll, LinkType.LINUX_SLL),
        (sll2, LinkType.LINUX_SLL2),
        (vlan, LinkType.ETHERNET),
        (packet, LinkType.RAW),
        (packet, LinkType.IPV4),
    ):
        (d,) = read_capture(_records(data, link)).datagrams
        assert (d.src, d.dst, d.data) == (A, B, b"ike"), link


def test_non_ike_traffic_is_counted_not_decoded():
    records = [
        (0, frame(("192.0.2.1", 53), ("198.51.100.7", 53), b"dns")),
        (0, frame(("192.0.2.1", 4500), ("198.51.100.7", 4500), b"\xff")),
        (0, frame(("192.0.2.1", 4500), ("198.51.100.7", 4500), b"\x01\x02\x03\x04esp")),
        (0, bytes(12) + b"\x08\x06" + bytes(28)),  # ARP
    ]
    capture = read_capture(write_pcap(records))
    assert capture.datagrams == []
    assert dict(capture.skipped) == {
        "not UDP 500/4500": 1,
        "NAT-T keepalive": 1,
        "ESP in UDP": 1,
        "not IP": 1,
    }
    reports, notes = explain_capture(capture)
    assert reports == [] and notes[-1] == "no IKE traffic (UDP 500/4500) among 4 packet(s)"


def test_garbage_on_port_500_is_explained_as_not_ike():
    capture = read_capture(write_pcap([(0, frame(A, B, b"hello, not isakmp" * 3))]))
    assert explain_capture(capture) == ([], ["packet 1: not an ISAKMP message (major version 6 is not 1)"])


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "not a pcap or pcapng file"),
        (b"GIF89a..........", "not a pcap or pcapng file"),
        (write_pcap([(0, frame(A, B, b"x" * 40))])[:-5], "cut short"),
        (write_pcapng([(0, frame(A, B, b"x" * 40))])[:-5], "has length"),
    ],
)
def test_broken_files(data, reason):
    with pytest.raises(CaptureError, match=reason):
        read_capture(data)


def test_unsupported_link_type():
    with pytest.raises(CaptureError, match="link type 147"):
        read_capture(write_pcap([(0, b"abc")], 147))


@pytest.fixture(scope="module")
def real_capture() -> bytes:
    lab = Lab(
        ike_settings("aes128-sha1-modp2048", "aes128-md5"),
        ike_settings("aes128-sha1-modp2048", "aes128-sha1"),
        dialed="203.0.113.5",
    )
    return lab.run().pcapng()


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_fuzz_mutated_real_capture_only_capture_error_escapes(real_capture, data):
    """Mutated captures: the reader raises only CaptureError, the explainer nothing at all."""
    blob = bytearray(real_capture)
    for _ in range(data.draw(st.integers(1, 8))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(blob) // 2, len(blob)))
    try:
        capture = read_capture(bytes(blob[:cut]))
    except CaptureError:
        return
    explain_capture(capture)


@pytest.fixture(scope="module")
def real_lab() -> Lab:
    lab = Lab(
        ike_settings("aes128-sha1-modp2048", "aes128-md5"),
        ike_settings("aes128-sha1-modp2048", "aes128-sha1"),
    )
    return lab.run()


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_fuzz_mutated_ike_messages_are_explained_never_raise(real_lab, data):
    """Valid frames carrying mutated IKE messages (decryption table given): the explainer never raises."""
    from ikel2tp.proposals.explain import parse_decryption_table

    records = list(real_lab.records)
    index = data.draw(st.integers(0, len(records) - 1))
    t, src, dst, message = records[index]
    blob = bytearray(message)
    for _ in range(data.draw(st.integers(1, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    records[index] = (t, src, dst, bytes(blob[: data.draw(st.integers(1, len(blob)))]))
    frames = [(t, frame(s, d, ike_payload(s, d, m))) for t, s, d, m in records]
    reports, _ = explain_capture(
        read_capture(write_pcap(frames)), None, parse_decryption_table(real_lab.table())
    )
    assert all(r.title for r in reports)


def _be_block(kind: int, body: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    return struct.pack(">II", kind, len(body) + 12) + body + struct.pack(">I", len(body) + 12)


def test_big_endian_pcapng_with_tsresol_and_simple_packet_block():
    packet = frame(A, B, b"ike")
    tsresol = struct.pack(">HH", 9, 1) + b"\x09" + bytes(3) + struct.pack(">HH", 0, 0)  # nanoseconds
    data = (
        _be_block(0x0A0D0D0A, struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1))
        + _be_block(1, struct.pack(">HHI", LinkType.ETHERNET, 0, 0) + tsresol)
        + _be_block(6, struct.pack(">IIIII", 0, 0, 2_500_000_000, len(packet), len(packet)) + packet)
        + _be_block(3, struct.pack(">I", len(packet)) + packet)
        + _be_block(5, b"statistics block, ignored")
    )
    first, second = read_capture(data).datagrams
    assert first.time == pytest.approx(2.5) and first.data == b"ike"
    assert (second.time, second.data, second.number) == (0.0, b"ike", 2)


@settings(max_examples=60, deadline=None)
@given(
    packets=st.lists(
        st.tuples(st.sampled_from([500, 4500]), st.binary(min_size=1, max_size=300)), min_size=1, max_size=5
    ),
    v6=st.booleans(),
    link=st.sampled_from([LinkType.ETHERNET, LinkType.RAW]),
    ng=st.booleans(),
)
def test_writer_reader_round_trip(packets, v6, link, ng):
    src, dst = ("2001:db8::1", "2001:db8::2") if v6 else ("192.0.2.1", "198.51.100.7")
    expected = [((src, port), (dst, port), payload) for port, payload in packets]
    records = [(float(i), frame(s, d, ike_payload(s, d, p), link)) for i, (s, d, p) in enumerate(expected)]
    data = write_pcapng(records, link) if ng else write_pcap(records, link)
    assert [(d.src, d.dst, d.data) for d in read_capture(data).datagrams] == expected
