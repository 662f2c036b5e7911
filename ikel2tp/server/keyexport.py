"""Debug only: export each ISAKMP SA's encryption key for Wireshark and ``ikel2tp proposals explain``.

``ikel2tp serve --export-ike-keys FILE`` writes one line per established phase 1 in Wireshark's
``ikev1_decryption_table`` format (``"<initiator cookie hex>","<encryption key hex>"``, formatted by
:func:`ikel2tp.proposals.explain.format_decryption_table`), so the encrypted Quick Mode of a capture
can be read and explained.  Anyone holding the file can decrypt those exchanges: the file is created
empty with mode 0600 (:func:`ikel2tp.common.files.write_private`, replacing whatever was there, a
symlink included), every line is appended through ``O_APPEND | O_NOFOLLOW`` to a file that must
still be ours and private, and the server logs a warning at start.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from ikel2tp.common.files import write_private
from ikel2tp.proposals.explain import format_decryption_table


class IkeKeyExport:
    """Appends ``(initiator cookie, encryption key)`` entries to a private decryption-table file."""

    def __init__(self, path: Path, log: logging.Logger) -> None:
        self.path = Path(path)
        self._log = log
        self.count = 0
        write_private(self.path, b"")  # raises OSError: the server does not start without it
        log.warning("DEBUG: exporting every IKE SA's encryption key to %s (--export-ike-keys); anyone who "
                    "reads this file can decrypt phase 2 of the captured negotiations: delete it after use",
                    self.path)

    def __call__(self, icookie: bytes, enc_key: bytes) -> None:
        line = format_decryption_table([(icookie, enc_key)]).encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            self._log.error("IKE key export to %s failed: %s", self.path, exc.strerror or exc)
            return
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
                self._log.error("IKE key export: %s is no longer a private regular file of ours; "
                                "nothing written", self.path)
                return
            os.write(fd, line)
            self.count += 1
        except OSError as exc:
            self._log.error("IKE key export to %s failed: %s", self.path, exc.strerror or exc)
        finally:
            os.close(fd)
