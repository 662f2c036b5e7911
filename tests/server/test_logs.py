"""Log formats and the per-client timeline."""

from __future__ import annotations

import json
import logging

from ikel2tp.server.logs import JsonFormatter, Timeline, configure_logging


def test_timeline_steps_carry_the_client_id(caplog):
    caplog.set_level(logging.INFO, logger="ikel2tp.timeline")
    timeline = Timeline("c7", "203.0.113.7:4500")
    timeline.step(1.0, "IKE phase 1 established", "aes256-sha1-ecp384")
    timeline.step(2.0, "PPP authentication failed", "user 'bob': wrong password", level=logging.WARNING)
    assert timeline.last == "PPP authentication failed"
    first, second = caplog.records
    assert first.getMessage() == "[c7] 203.0.113.7:4500 IKE phase 1 established: aes256-sha1-ecp384"
    assert (first.client, first.step, second.levelno) == ("c7", "IKE phase 1 established", logging.WARNING)


def test_json_lines():
    record = logging.LogRecord("ikel2tp.timeline", logging.INFO, __file__, 1, "[c1] x %s", ("up",), None)
    record.client, record.step, record.peer = "c1", "LCP up", "198.51.100.2:4500"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "[c1] x up" and entry["client"] == "c1" and entry["step"] == "LCP up"
    assert entry["level"] == "info" and entry["time"].endswith("Z")


def test_configure_logging_replaces_handlers(capsys):
    configure_logging("warning", "json")
    configure_logging("info", "json")
    logging.getLogger("ikel2tp.server").info("hello")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["message"] == "hello"
    configure_logging("info", "text")
    logging.getLogger("ikel2tp").handlers.clear()
    logging.getLogger("ikel2tp").propagate = True
