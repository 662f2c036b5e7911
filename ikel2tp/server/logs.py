"""Logging set-up for the daemon: text or JSON lines on stderr, and per-client timelines.

A :class:`Timeline` is one client's story in the log: every step (IKE phase 1 and 2, L2TP tunnel
and session, LCP, authentication, IPCP address, teardown) is one line carrying the same client id,
so ``grep c12`` shows where a client stopped.  Lines carry only names, addresses and algorithm
names: never keys, PSKs or passwords.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field

TIMELINE_LOGGER = "ikel2tp.timeline"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and any timeline fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("client", "step", "peer"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"))


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    """Send the ``ikel2tp`` loggers to stderr as ``fmt`` (``"text"`` or ``"json"``)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger("ikel2tp")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False


@dataclass
class Timeline:
    """The steps of one client, logged as they happen and kept for ``status``."""

    client: str
    peer: str
    steps: list[tuple[float, str]] = field(default_factory=list)

    def step(self, now: float, step: str, detail: str = "", *, level: int = logging.INFO,
             progress: bool = True) -> None:
        """Log one step; ``progress=False`` for housekeeping (a rekey) that is not where a client is."""
        if progress:
            self.steps.append((now, step))
        text = f"[{self.client}] {self.peer} {step}" + (f": {detail}" if detail else "")
        logging.getLogger(TIMELINE_LOGGER).log(
            level, text, extra={"client": self.client, "step": step, "peer": self.peer})

    @property
    def last(self) -> str:
        return self.steps[-1][1] if self.steps else ""
