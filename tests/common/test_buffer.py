import pytest
from hypothesis import given
from hypothesis import strategies as st

from ikel2tp.common.buffer import Buffer
from ikel2tp.common.errors import DecodeError


@given(st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF),
       st.integers(0, 2**64 - 1), st.binary(max_size=64))
def test_round_trip(u8, u16, u32, u64, blob):
    out = Buffer()
    out.push_uint8(u8)
    out.push_uint16(u16)
    out.push_uint32(u32)
    out.push_uint64(u64)
    out.push_bytes(blob)
    buf = Buffer(out.data())
    assert (buf.pull_uint8(), buf.pull_uint16(), buf.pull_uint32(), buf.pull_uint64()) == (u8, u16, u32, u64)
    assert buf.pull_rest() == blob
    assert buf.eof()


def test_short_read_names_field():
    buf = Buffer(b"\x00")
    with pytest.raises(DecodeError) as err:
        buf.pull_uint16("length")
    assert err.value.field == "length"
    assert buf.pull_uint8() == 0


def test_sub_is_bounded():
    buf = Buffer(b"abcdef")
    inner = buf.sub(2)
    assert inner.pull_rest() == b"ab"
    with pytest.raises(DecodeError):
        buf.sub(5)
    with pytest.raises(DecodeError):
        buf.pull_bytes(-1)
