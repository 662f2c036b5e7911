import os

import pytest

from ikel2tp.common.files import write_private


def test_written_whole_with_mode(tmp_path):
    old = os.umask(0)
    try:
        target = tmp_path / "secret.toml"
        write_private(target, b"psk = 'x'\n")
        assert target.read_bytes() == b"psk = 'x'\n"
        assert target.stat().st_mode & 0o777 == 0o600
        write_private(target, b"new", 0o640)
        assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
    assert [p.name for p in tmp_path.iterdir()] == ["secret.toml"]


def test_failure_leaves_nothing(tmp_path):
    target = tmp_path / "missing-dir" / "secret"
    with pytest.raises(OSError):
        write_private(target, b"data")
    assert not target.exists()
