"""RadiusUserBackend routing (methods, local fallback) and clean failure, over loopback UDP."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator

import pytest

from ikel2tp.ppp.auth.credentials import AuthMethod, AuthResult, ChapCredentials, Credentials, PapCredentials
from ikel2tp.radius.settings import RadiusServer, RadiusSettings
from ikel2tp.users.base import authenticate
from ikel2tp.users.radius import RadiusUserBackend

LOG = "ikel2tp.test.radius.backend"


class _Local:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def authenticate(self, credentials: Credentials) -> AuthResult:
        self.asked.append(credentials.user)
        return AuthResult(True, credentials.user, message="local")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A bound UDP socket that never answers (a RADIUS server that is down but not unreachable)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def _settings(port: int, *, methods: tuple[AuthMethod, ...] = (AuthMethod.PAP,),
              fallback: bool) -> RadiusSettings:
    return RadiusSettings(servers=(RadiusServer("127.0.0.1", "a-secret-here", auth_port=port, acct_port=port,
                                                timeout=0.1, retries=1),),
                          methods=methods, local_fallback=fallback)


def _run(settings: RadiusSettings, credentials: Credentials, local: _Local) -> tuple[AuthResult, float]:
    async def go() -> tuple[AuthResult, float]:
        backend = RadiusUserBackend(settings, log=logging.getLogger(LOG), fallback=local)
        await backend.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            return await authenticate(backend, credentials), loop.time() - started
        finally:
            backend.close()
    return asyncio.run(go())


def test_every_server_silent_fails_cleanly_in_bounded_time(silent_port: int) -> None:
    local = _Local()
    result, took = _run(_settings(silent_port, fallback=False), PapCredentials("u", b"p"), local)
    assert not result.success and result.reason == "no RADIUS server answered"
    assert 0.2 <= took < 1.0  # (retries + 1) x timeout
    assert local.asked == []


def test_local_fallback_when_no_server_answers(silent_port: int, caplog: pytest.LogCaptureFixture) -> None:
    local = _Local()
    with caplog.at_level(logging.WARNING, LOG):
        result, _ = _run(_settings(silent_port, fallback=True), PapCredentials("u", b"p"), local)
    assert result.success and result.message == "local" and local.asked == ["u"]
    assert "checked against the local users" in caplog.text


def test_methods_not_sent_to_radius(silent_port: int) -> None:
    chap = ChapCredentials("u", 1, bytes(16), bytes(16))
    local = _Local()
    result, took = _run(_settings(silent_port, fallback=True), chap, local)
    assert result.success and local.asked == ["u"] and took < 0.1
    result, _ = _run(_settings(silent_port, fallback=False), chap, _Local())
    assert not result.success and "chap is not sent to RADIUS and local_fallback is off" in result.reason


def test_accounting_before_start_is_a_programming_error() -> None:
    backend = RadiusUserBackend(_settings(1812, fallback=False), log=logging.getLogger(LOG))
    with pytest.raises(RuntimeError, match="start"):
        backend.session_started(None)  # type: ignore[arg-type]


def test_close_fails_waiting_logins_with_a_reason(silent_port: int) -> None:
    async def go() -> AuthResult:
        settings = RadiusSettings(servers=(RadiusServer("127.0.0.1", "a-secret-here", auth_port=silent_port,
                                                        timeout=30),))
        backend = RadiusUserBackend(settings, log=logging.getLogger(LOG))
        await backend.start()
        login = asyncio.ensure_future(backend.authenticate(PapCredentials("u", b"p")))
        await asyncio.sleep(0.05)
        backend.close()
        return await asyncio.wait_for(login, 1)

    result = asyncio.run(go())
    assert not result.success and result.reason == "the RADIUS backend was closed"
