"""SA behaviour: bad input is dropped, counted and changes nothing; lifetimes; sequence numbers."""

from __future__ import annotations

import random
import struct

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from esp_support import HASH, SUITE_IDS, SUITES, Keys, make_pair
from hypothesis import given, settings
from hypothesis import strategies as st

from ikel2tp.esp.errors import DropReason, EspError
from ikel2tp.esp.packet import MAX_SEQUENCE, strip_trailer, trailer
from ikel2tp.esp.sa import EspSa, Lifetime, SaLifetimeExpired


def state(sa: EspSa) -> tuple:
    c = sa.counters
    return (sa.replay.top, sa.replay._run, sa.replay._bitmap, c.packets_in, c.bytes_in, sa.hard_expired)


def expect_drop(sa: EspSa, packet: bytes, reason: DropReason) -> None:
    before = sa.counters.drops[reason]
    with pytest.raises(EspError) as info:
        sa.unprotect(packet)
    assert info.value.drop == reason, info.value
    assert sa.counters.drops[reason] == before + 1


def test_icv_failure_changes_nothing(keys: Keys):
    a, b = make_pair(keys)
    b.unprotect(a.protect(b"first"))
    packet = a.protect(b"second")
    before = state(b)
    for position in (9, len(packet) // 2, len(packet) - 1):  # header-adjacent, body, ICV
        forged = bytearray(packet)
        forged[position] ^= 0x01
        expect_drop(b, bytes(forged), DropReason.ICV)
        assert state(b) == before
    assert b.unprotect(packet) == (17, b"second")  # the genuine packet still goes through
    assert b.unprotect(a.protect(b"third")) == (17, b"third")


def test_replay_dropped_and_counted(keys: Keys):
    a, b = make_pair(keys)
    packets = [a.protect(bytes([i])) for i in range(5)]
    for p in packets[::-1]:  # reordered arrival is fine
        b.unprotect(p)
    before = state(b)
    expect_drop(b, packets[2], DropReason.REPLAY)
    assert state(b) == before


def test_left_of_window_dropped(keys: Keys):
    a, b = make_pair(keys, window=32)
    old = a.protect(b"old")
    for _ in range(40):
        b.unprotect(a.protect(b"x"))
    expect_drop(b, old, DropReason.REPLAY)


@pytest.mark.parametrize("size", [0, 1, 7, 8, 15])
def test_short_packets(keys: Keys, size: int):
    _, b = make_pair(keys)
    header = struct.pack("!II", 0x2000, 1)
    packet = header[:size] if size <= 8 else header + bytes(size - 8)
    expect_drop(b, packet, DropReason.SHORT)
    assert state(b) == (0, 0, 0, 0, 0, False)


def _authentic(keys: Keys, sa_out: EspSa, plain: bytes) -> bytes:
    """A packet the peer authenticated around an arbitrary (possibly malformed) plaintext."""
    sa_out.sequence += 1
    header = struct.pack("!II", sa_out.spi_out, sa_out.sequence)
    return sa_out._out.seal(header, sa_out.sequence, plain)


def test_bad_padding_counted(keys: Keys):
    """Authentic packets with a malformed trailer: dropped as padding errors, window still moves."""
    a, b = make_pair(keys)
    block = a._out.block
    wrong_bytes = bytearray(b"payload!" + trailer(8, 17, block))
    wrong_bytes[-3] = 0x40  # the last pad byte should be the pad length
    if wrong_bytes[-2] == 0:
        wrong_bytes = bytearray(b"payload!" + bytes(block) + trailer(0, 17, block))
        wrong_bytes[-3] = 0x40
        wrong_bytes[-2] = 1
    too_long = bytes(block - 2) + bytes([200, 17])  # pad length beyond the payload
    for plain in (bytes(wrong_bytes), too_long):
        assert len(plain) % block == 0
        expect_drop(b, _authentic(keys, a, plain), DropReason.PADDING)
    assert b.counters.packets_in == 0 and b.replay.top == 2
    assert b.unprotect(a.protect(b"ok")) == (17, b"ok")


@pytest.mark.parametrize("suite", SUITES[:1] + SUITES[5:7], ids=[SUITE_IDS[0], *SUITE_IDS[5:7]])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_trailer_check_agrees_with_strip_trailer(suite, data):
    """unprotect's inline trailer test gives strip_trailer's verdict (and DUMMY for next header 59)
    on authentic packets around arbitrary block-aligned plaintexts, biased towards near-valid ones."""
    keys = Keys(*suite)
    a, b = make_pair(keys)
    block = a._out.block
    body = data.draw(st.binary(max_size=3 * block))
    pad = data.draw(st.integers(0, 255))
    tail = bytes(range(1, pad + 1)) + bytes([pad, data.draw(st.sampled_from([17, 59, 0, 255]))])
    plain = bytearray(body + bytes(-(len(body) + len(tail)) % block) + tail)  # aligned: it encrypts
    if data.draw(st.booleans()):
        plain[data.draw(st.integers(0, len(plain) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    plain = bytes(plain)
    try:
        expected = strip_trailer(plain)
    except EspError as error:
        expected = error.drop
    else:
        if expected[0] == 59:
            expected = DropReason.DUMMY
    try:
        got = b.unprotect(_authentic(keys, a, plain))
    except EspError as error:
        got = error.drop
        assert b.counters.drops[got] == 1
    assert got == expected


def test_dummy_packet_dropped(keys: Keys):
    a, b = make_pair(keys)
    expect_drop(b, a.protect(b"tfc", 59), DropReason.DUMMY)


@pytest.mark.parametrize("suite", [s for s in SUITES if s[0] != "aes-gcm"], ids=SUITE_IDS[:6])
def test_cbc_length_not_block_multiple(suite):
    """An authentic packet whose ciphertext is not whole blocks never reaches the decryptor."""
    keys = Keys(*suite)
    a, b = make_pair(keys)
    body = struct.pack("!II", 0x2000, 1) + bytes(a._out.block * 3 + 1)
    digest, icv = HASH[keys.integrity]
    mac = hmac.HMAC(keys.auth_ab, getattr(hashes, digest.upper())())
    mac.update(body)
    expect_drop(b, body + mac.finalize()[:icv], DropReason.LENGTH)
    assert b.unprotect(a.protect(b"still fine")) == (17, b"still fine")


def test_foreign_spi_is_a_programming_error(keys: Keys):
    a, _ = make_pair(keys)
    with pytest.raises(ValueError):
        a.unprotect(a.protect(b"to myself"))  # a's outbound SPI is not its inbound one


def test_sequence_never_wraps():
    a, b = make_pair(Keys("aes-gcm", 20, None, 0))
    a.sequence = MAX_SEQUENCE - 1
    packet = a.protect(b"last")
    assert struct.unpack("!I", packet[4:8])[0] == MAX_SEQUENCE
    assert b.unprotect(packet) == (17, b"last")
    with pytest.raises(EspError) as info:
        a.protect(b"one too many")
    assert info.value.drop == DropReason.SEQUENCE_EXHAUSTED
    assert a.next_event() == SaLifetimeExpired(0x1000, 0x2000, True, "sequence")
    assert a.sequence == MAX_SEQUENCE


def test_sequence_soft_event():
    a, _ = make_pair(Keys("aes-gcm", 20, None, 0))
    a.sequence = int(MAX_SEQUENCE * 0.9) - 1
    a.protect(b"x")
    assert a.next_event() == SaLifetimeExpired(0x1000, 0x2000, False, "sequence")


def test_byte_lifetime_soft_then_hard():
    a, b = make_pair(Keys("aes-cbc", 16, "sha1", 20), lifetime=Lifetime(bytes=1000))
    for _ in range(8):
        b.unprotect(a.protect(bytes(100)))
    assert a.next_event() is None and b.next_event() is None
    b.unprotect(a.protect(bytes(100)))  # 900 bytes: soft
    assert a.next_event() == SaLifetimeExpired(0x1000, 0x2000, False, "bytes")
    assert b.next_event() == SaLifetimeExpired(0x2000, 0x1000, False, "bytes")
    packet = a.protect(bytes(100))  # 1000: hard
    assert a.next_event().hard and a.hard_expired
    with pytest.raises(EspError):
        a.protect(b"more")
    b.unprotect(packet)
    assert b.next_event() == SaLifetimeExpired(0x2000, 0x1000, True, "bytes")
    expect_drop(b, packet, DropReason.SA_DELETED)


def test_packet_lifetime():
    a, _ = make_pair(Keys("aes-gcm", 20, None, 0), lifetime=Lifetime(packets=10))
    events = []
    for _ in range(10):
        a.protect(b"p")
        while (event := a.next_event()) is not None:
            events.append((event.hard, event.limit))
    assert events == [(False, "packets"), (True, "packets")]


def test_seconds_lifetime():
    a, _ = make_pair(Keys("aes-gcm", 20, None, 0), lifetime=Lifetime(seconds=100))
    assert a.get_timer() == 90
    a.handle_timer(89.9)
    assert a.next_event() is None
    a.handle_timer(95)
    assert a.next_event() == SaLifetimeExpired(0x1000, 0x2000, False, "seconds")
    assert a.get_timer() == 100
    a.handle_timer(100)
    assert a.next_event().hard and a.get_timer() is None


def test_no_lifetime_no_timer():
    a, _ = make_pair(Keys("aes-gcm", 20, None, 0))
    assert a.get_timer() is None


@pytest.mark.parametrize("suite", SUITES, ids=SUITE_IDS)
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_fuzz_only_esp_errors_escape(suite, seed):
    """Mutated real packets (bit flips, cuts, growth, sequence edits): only EspError, SA stays usable."""
    rng = random.Random(seed)
    a, b = make_pair(Keys(*suite))
    packet = bytearray(a.protect(rng.randbytes(rng.randrange(0, 200))))
    for _ in range(rng.randrange(1, 4)):
        kind = rng.randrange(4)
        if kind == 0 and packet:
            packet[rng.randrange(len(packet))] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del packet[rng.randrange(len(packet) + 1):]
        elif kind == 2:
            packet += rng.randbytes(rng.randrange(1, 40))
        else:
            packet[4:8] = struct.pack("!I", rng.randrange(2**32))
    packet[0:4] = struct.pack("!I", 0x2000)[: len(packet)]
    try:
        b.unprotect(bytes(packet))
    except EspError:
        pass
    except ValueError:  # a cut inside the SPI made it a different SPI: the caller's lookup catches that
        assert len(packet) < 4
    assert b.unprotect(a.protect(b"after")) == (17, b"after")
