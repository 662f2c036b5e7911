"""The control socket: JSON-lines protocol, permissions, errors, the blocking client."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import threading

import pytest

from ikel2tp.server.control import ControlError, ControlServer, request

LOG = logging.getLogger("test.control")


def handler(req):
    if req["cmd"] == "status":
        return {"ok": True, "sessions": [{"user": "alice", "address": "10.8.0.2"}]}
    if req["cmd"] == "kick":
        if req.get("target") == "boom":
            raise RuntimeError("kick exploded")
        return {"ok": True, "kicked": 1 if req.get("target") == "alice" else 0}
    return {"ok": True, "message": "reloaded"}


class Running:
    """A control server on its own event loop thread, for the blocking client to talk to."""

    def __init__(self, path: str, answer=handler) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = ControlServer(path, answer, LOG)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(5)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def server(tmp_path):
    running = Running(str(tmp_path / "run" / "control.sock"))
    yield running
    running.stop()


@pytest.mark.timeout(20)
def test_status_kick_reload(server):
    path = server.server.path
    assert request(path, {"cmd": "status"})["sessions"][0]["user"] == "alice"
    assert request(path, {"cmd": "kick", "target": "alice"}) == {"ok": True, "kicked": 1}
    assert request(path, {"cmd": "kick", "target": "bob"}) == {"ok": True, "kicked": 0}
    assert request(path, {"cmd": "reload"})["ok"] is True


@pytest.mark.timeout(20)
def test_socket_is_0600_and_removed_on_close(tmp_path):
    path = str(tmp_path / "control.sock")
    running = Running(path)
    mode = os.stat(path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    running.stop()
    assert not os.path.exists(path)


@pytest.mark.timeout(20)
def test_stale_socket_is_replaced(tmp_path):
    path = str(tmp_path / "control.sock")
    first = Running(path)
    first.server._server.close()  # a server that died without cleaning up leaves its socket file
    assert os.path.exists(path)
    second = Running(path)
    assert request(path, {"cmd": "status"})["ok"] is True
    second.stop()
    first.stop()


@pytest.mark.timeout(20)
def test_refuses_to_start_next_to_a_live_server(server):
    second = ControlServer(server.server.path, handler, LOG)
    with pytest.raises(OSError, match="another server is running"):
        asyncio.run(second.start())
    assert request(server.server.path, {"cmd": "status"})["ok"] is True


@pytest.mark.timeout(20)
@pytest.mark.parametrize("line, error", [
    (b"not json\n", "not JSON"),
    (b"[1, 2]\n", "unknown request"),
    (b'{"cmd": "shutdown"}\n', "unknown request"),
    (b'{"cmd": "kick", "target": "boom"}\n', "kick failed"),
])
def test_bad_requests_get_an_error_and_the_connection_survives(server, line, error):
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(server.server.path)
        sock.sendall(line + b'{"cmd": "status"}\n')
        reader = sock.makefile("rb")
        first = json.loads(reader.readline())
        second = json.loads(reader.readline())
    assert first["ok"] is False and error in first["error"]
    assert second["ok"] is True


@pytest.mark.timeout(20)
def test_overlong_request_is_refused(server):
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(server.server.path)
        sock.sendall(b"x" * (70 * 1024))
        answer = json.loads(sock.makefile("rb").readline())
    assert answer == {"ok": False, "error": "request too long"}


def test_client_without_server(tmp_path):
    with pytest.raises(ControlError, match="does not exist"):
        request(str(tmp_path / "nothing.sock"), {"cmd": "status"})
