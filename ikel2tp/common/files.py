"""Files that hold secrets: written whole or not at all, and never readable by others."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically with exactly ``mode`` (0600 by default).

    The bytes go to a temporary file created with ``mode`` in the same directory (so no other user
    can read a secret even for a moment, whatever the umask), are flushed to disk, and the file is
    moved into place with :func:`os.replace`.  On failure the temporary is removed and the
    ``OSError`` propagates; ``path`` is then unchanged.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
