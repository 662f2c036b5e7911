"""The RADIUS user backend: :class:`~ikel2tp.radius.client.RadiusClient` over asyncio UDP.

This is only an I/O adapter: sockets, the clock (``loop.time()``, monotonic) and one timer.  The
protocol (requests, retransmission, failover, accounting queue) lives in :mod:`ikel2tp.radius`.

Which logins go where (docs/radius.md): a method listed in ``[radius] methods`` goes to RADIUS;
with ``local_fallback = true`` the local ``[[users]]`` table answers the other methods, and also
any login when no RADIUS server answered at all.  An Access-Reject is final.

Accounting: the server calls :meth:`RadiusUserBackend.session_started` when a session has its
address, :meth:`~RadiusUserBackend.session_updated` with fresh counters, and
:meth:`~RadiusUserBackend.session_stopped` when it ends.  Interim-Updates are asked for through the
``counters`` callback given to the constructor (the server's view of a session's totals).

Disconnect-Request (RFC 5176): with ``[radius.das]`` configured, ``start`` also listens there and
hands each verified request to the ``on_disconnect`` callback, which ends the matching sessions
and returns how many it ended (0: the client gets a NAK, Session Context Not Found).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
from collections.abc import Callable

from ikel2tp.ppp.auth.credentials import (
    AuthMethod,
    AuthResult,
    ChapCredentials,
    Credentials,
    MsChapV2Credentials,
)
from ikel2tp.radius.client import (
    AuthCompleted,
    InterimUpdateDue,
    RadiusAuthResult,
    RadiusClient,
    SessionCounters,
    SessionInfo,
)
from ikel2tp.radius.constants import TerminateCause
from ikel2tp.radius.das import DisconnectRequested, DisconnectServer
from ikel2tp.radius.settings import RadiusSettings
from ikel2tp.users.base import UserBackend

__all__ = ["DisconnectRequested", "RadiusUserBackend", "SessionCounters", "SessionInfo", "TerminateCause"]


def _method(credentials: Credentials) -> AuthMethod:
    if isinstance(credentials, MsChapV2Credentials):
        return AuthMethod.MSCHAPV2
    if isinstance(credentials, ChapCredentials):
        return AuthMethod.CHAP
    return AuthMethod.PAP


def _address(addr: tuple) -> tuple[str, int]:  # type: ignore[type-arg]
    """An asyncio source address as ``(ip text, port)``: no IPv6 scope or flow, no v4-mapping."""
    host = ipaddress.ip_address(addr[0].split("%", 1)[0])
    if host.version == 6 and host.ipv4_mapped is not None:
        host = host.ipv4_mapped
    return (str(host), addr[1])


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, owner: RadiusUserBackend, das: bool = False) -> None:
        self.owner = owner
        self.das = das

    def datagram_received(self, data: bytes, addr: tuple) -> None:  # type: ignore[type-arg]
        if self.das:
            self.owner._das_received(data, _address(addr))
        else:
            self.owner._received(data, _address(addr))

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and the like
        self.owner.log.debug("radius: socket error %s", exc)


class RadiusUserBackend:
    """An :class:`~ikel2tp.users.base.AsyncUserBackend` asking RADIUS servers; ``start`` first."""

    def __init__(self, settings: RadiusSettings, *, log: logging.Logger,
                 fallback: UserBackend | None = None,
                 counters: Callable[[str], SessionCounters | None] | None = None,
                 on_disconnect: Callable[[DisconnectRequested], int] | None = None,
                 random: Callable[[int], bytes] = os.urandom) -> None:
        self.settings = settings
        self.log = log
        self.fallback = fallback if settings.local_fallback else None
        self.counters = counters
        self.core = RadiusClient(settings, log=log, random=random)
        self.on_disconnect = on_disconnect
        self.das = None if settings.das is None else DisconnectServer(
            settings.das, allowed=tuple(s.address for s in settings.servers),
            nas_identifier=settings.nas_identifier, nas_ip=settings.nas_ip, log=log)
        self._das_transport: asyncio.DatagramTransport | None = None
        self._transports: dict[int, asyncio.DatagramTransport] = {}
        self._pending: dict[int, tuple[asyncio.Future[RadiusAuthResult], str]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Open one unconnected UDP socket per address family the servers use."""
        self._loop = asyncio.get_running_loop()
        families = {socket.AF_INET6 if ipaddress.ip_address(s.address).version == 6 else socket.AF_INET
                    for s in self.settings.servers}
        for family in families:
            transport, _ = await self._loop.create_datagram_endpoint(
                lambda: _Endpoint(self), family=family,
                local_addr=("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
            self._transports[family] = transport
        if self.das is not None and self.settings.das is not None:
            das = self.settings.das
            self._das_transport, _ = await self._loop.create_datagram_endpoint(
                lambda: _Endpoint(self, das=True), local_addr=(das.listen, das.port))

    @property
    def das_address(self) -> tuple[str, int] | None:
        """Where the Disconnect-Request listener is bound (its port when 0 was configured)."""
        if self._das_transport is None:
            return None
        return _address(self._das_transport.get_extra_info("sockname"))

    def close(self) -> None:
        """Close the sockets; logins still waiting fail at once (with a reason, not cancelled)."""
        if self._timer is not None:
            self._timer.cancel()
        for transport in self._transports.values():
            transport.close()
        self._transports.clear()
        if self._das_transport is not None:
            self._das_transport.close()
            self._das_transport = None
        for future, user in self._pending.values():
            if not future.done():
                future.set_result(RadiusAuthResult(False, user, message="Authentication failed",
                                                   reason="the RADIUS backend was closed"))

    async def authenticate(self, credentials: Credentials, *, calling_station_id: str | None = None,
                           nas_port: int | None = None) -> AuthResult:
        method = _method(credentials)
        if method not in self.settings.methods:
            if self.fallback is not None:
                return self.fallback.authenticate(credentials)
            return AuthResult(False, credentials.user, message="Authentication failed",
                              reason=f"{method.value} is not sent to RADIUS and local_fallback is off")
        loop = self._running()
        token = self.core.authenticate(credentials, loop.time(), calling_station_id=calling_station_id,
                                       nas_port=nas_port)
        future: asyncio.Future[RadiusAuthResult] = loop.create_future()
        self._pending[token] = (future, credentials.user)
        self._service()
        try:
            result = await future
        finally:
            self._pending.pop(token, None)
        if result.server is None and self.fallback is not None:
            self.log.warning("radius: no server answered; %r checked against the local users",
                             credentials.user)
            return self.fallback.authenticate(credentials)
        return result

    # --- accounting (called by the server) ------------------------------------------------------
    def session_started(self, session: SessionInfo) -> None:
        self.core.start_session(session, self._running().time())
        self._service()

    def session_updated(self, counters: SessionCounters) -> None:
        self.core.update_session(counters, self._running().time())
        self._service()

    def session_stopped(self, counters: SessionCounters, cause: TerminateCause) -> None:
        self.core.stop_session(counters, cause, self._running().time())
        self._service()

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every accounting request to be acknowledged (shutdown:
        the Stops of the sessions just closed); False if some are still unacknowledged."""
        loop = self._running()
        deadline = loop.time() + timeout
        while self.core.accounting_backlog and loop.time() < deadline:
            await asyncio.sleep(0.02)
        return not self.core.accounting_backlog

    # --- the I/O loop -------------------------------------------------------------------------
    def _running(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("RadiusUserBackend.start() was not awaited")
        return self._loop

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.core.receive_datagram(data, addr, self._running().time())
        self._service()

    def _das_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.das is not None and self._das_transport is not None
        self.das.receive_datagram(data, addr, self._running().time())
        while (event := self.das.next_event()) is not None:
            found = 0
            if self.on_disconnect is not None:
                try:
                    found = self.on_disconnect(event)
                except Exception:  # the server's callback failed: NAK, and keep listening
                    self.log.exception("radius das: disconnect callback failed")
            self.das.answer(event.request, found)
        for answer, where in self.das.datagrams_to_send():
            self._das_transport.sendto(answer, where)

    def _on_timer(self) -> None:
        self._timer = None
        self.core.handle_timer(self._running().time())
        self._service()

    def _service(self) -> None:
        loop = self._running()
        while (event := self.core.next_event()) is not None:
            if isinstance(event, AuthCompleted):
                pending = self._pending.get(event.request)
                if pending is not None and not pending[0].done():
                    pending[0].set_result(event.result)
            elif isinstance(event, InterimUpdateDue) and self.counters is not None:
                counters = self.counters(event.session_id)
                if counters is not None:
                    self.core.update_session(counters, loop.time())
        for data, address in self.core.datagrams_to_send():
            family = socket.AF_INET6 if ipaddress.ip_address(address[0]).version == 6 else socket.AF_INET
            transport = self._transports.get(family)
            if transport is not None:
                transport.sendto(data, address)
        deadline = self.core.get_timer()
        if self._timer is not None and (deadline is None or self._timer.when() != deadline):
            self._timer.cancel()
            self._timer = None
        if deadline is not None and self._timer is None:
            self._timer = loop.call_at(deadline, self._on_timer)
