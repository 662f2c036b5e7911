"""Bounds-checked byte buffer with ``pull_*``/``push_*`` codecs (network byte order).

Every read checks the remaining length first and raises :class:`DecodeError` instead of
returning short data, so codecs built on it never trust a length field blindly.
"""

from __future__ import annotations

import struct

from ikel2tp.common.errors import DecodeError

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")


class Buffer:
    """A read cursor over immutable bytes, or a growable write buffer."""

    __slots__ = ("_data", "_pos", "_end", "_out")

    def __init__(self, data: bytes | bytearray | memoryview = b"") -> None:
        self._data = bytes(data)
        self._pos = 0
        self._end = len(self._data)
        self._out = bytearray()

    # -- reading ---------------------------------------------------------------------------
    @property
    def position(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return self._end - self._pos

    def eof(self) -> bool:
        return self._pos >= self._end

    def _need(self, n: int, field: str) -> int:
        if n < 0 or self._pos + n > self._end:
            raise DecodeError(
                f"needs {n} bytes, {self._end - self._pos} left", field=field
            )
        start = self._pos
        self._pos += n
        return start

    def pull_bytes(self, n: int, field: str = "bytes") -> bytes:
        start = self._need(n, field)
        return self._data[start : start + n]

    def pull_rest(self) -> bytes:
        start, self._pos = self._pos, self._end
        return self._data[start : self._end]

    def pull_uint8(self, field: str = "uint8") -> int:
        return self._data[self._need(1, field)]

    def pull_uint16(self, field: str = "uint16") -> int:
        return _U16.unpack_from(self._data, self._need(2, field))[0]

    def pull_uint32(self, field: str = "uint32") -> int:
        return _U32.unpack_from(self._data, self._need(4, field))[0]

    def pull_uint64(self, field: str = "uint64") -> int:
        return _U64.unpack_from(self._data, self._need(8, field))[0]

    def sub(self, n: int, field: str = "sub") -> Buffer:
        """A reader over the next ``n`` bytes; this buffer skips past them."""
        return Buffer(self.pull_bytes(n, field))

    # -- writing ---------------------------------------------------------------------------
    def push_bytes(self, value: bytes) -> None:
        self._out += value

    def push_uint8(self, value: int) -> None:
        self._out.append(value)

    def push_uint16(self, value: int) -> None:
        self._out += _U16.pack(value)

    def push_uint32(self, value: int) -> None:
        self._out += _U32.pack(value)

    def push_uint64(self, value: int) -> None:
        self._out += _U64.pack(value)

    def data(self) -> bytes:
        """What has been pushed so far."""
        return bytes(self._out)

    def __len__(self) -> int:
        return len(self._out)
