"""The control socket: a unix stream socket (mode 0600) speaking JSON lines.

Each request is one JSON object on one line with a ``"cmd"`` member; each answer is one JSON object
on one line with ``"ok"``:

    {"cmd": "status"}                  -> {"ok": true, "sessions": [{...}, ...]}
    {"cmd": "kick", "target": "alice"} -> {"ok": true, "kicked": 1}
    {"cmd": "reload"}                  -> {"ok": true, "message": "..."}
    {"cmd": "refusals", "peer": null}  -> {"ok": true, "refusals": [{"peer", "time", "text"}, ...]}
    anything else                      -> {"ok": false, "error": "..."}

A client may send several requests on one connection.  The server side dispatches to a plain
``handler(request) -> answer`` callable; :func:`request` is the blocking client the CLI uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
from collections.abc import Callable
from typing import Any

from ikel2tp.proposals.history import CONTROL_COMMAND

MAX_REQUEST = 64 * 1024
COMMANDS = ("status", "kick", "reload", CONTROL_COMMAND)

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlError(Exception):
    """The control socket could not be reached or answered with an error."""


def _answer(handler: Handler, line: bytes, log: logging.Logger) -> dict[str, Any]:
    try:
        req = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {"ok": False, "error": f"request is not JSON: {exc}"}
    if not isinstance(req, dict) or req.get("cmd") not in COMMANDS:
        return {"ok": False, "error": f"unknown request; commands are {', '.join(COMMANDS)}"}
    try:
        return handler(req)
    except Exception as exc:  # a bug in one command must not stop the control socket
        log.exception("control: %s failed", req.get("cmd"))
        return {"ok": False, "error": f"{req.get('cmd')} failed: {exc}"}


def _remove_stale(path: str) -> None:
    """Remove a socket file a dead server left; refuse to start next to a live server."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(f"control socket path {path} exists and is not a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # nobody listens: left by a server that died
            return
    raise OSError(f"another server is running with control socket {path}")


class ControlServer:
    """Serves the control socket at ``path`` until :meth:`close`."""

    def __init__(self, path: str, handler: Handler, log: logging.Logger) -> None:
        self.path = path
        self._handler = handler
        self._log = log
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        _remove_stale(self.path)
        old_umask = os.umask(0o177)  # the socket is created 0600, no window where others can connect
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=self.path, limit=MAX_REQUEST)
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        self._log.info("control socket %s", self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(b'{"ok": false, "error": "request too long"}\n')
                    break
                if not line:
                    break
                if not line.strip():
                    continue
                answer = _answer(self._handler, line, self._log)
                writer.write(json.dumps(answer, separators=(",", ":")).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def request(path: str, req: dict[str, Any], *, timeout: float = 5.0) -> dict[str, Any]:
    """Send one request to the server at ``path`` and return its answer (blocking)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except FileNotFoundError as exc:
            raise ControlError(f"no server: control socket {path} does not exist") from exc
        except OSError as exc:
            raise ControlError(f"cannot reach the server at {path}: {exc.strerror or exc}") from exc
        try:
            sock.sendall(json.dumps(req).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as exc:
            raise ControlError(f"control socket {path}: {exc}") from exc
    try:
        answer = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ControlError(f"control socket {path} answered something that is not JSON") from exc
    if not isinstance(answer, dict):
        raise ControlError(f"control socket {path} answered something that is not an object")
    return answer
