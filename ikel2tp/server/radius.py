"""RADIUS in the running server (docs/radius.md): logins, the Access-Accept's limits, accounting and
Disconnect-Request, around :class:`~ikel2tp.users.radius.RadiusUserBackend`.

The :class:`~ikel2tp.server.wiring.Gateway` calls three hooks when ``gateway.radius`` is set:

=====================================  ====================================================
PPP ``AuthRequested``                  :meth:`RadiusSessions.authenticate`: the backend, with
                                       Calling-Station-Id (the client's outer address) and NAS-Port
PPP ``NetworkUp``                      :meth:`RadiusSessions.network_up`: Framed-MTU, Framed-Pool,
                                       Session-/Idle-Timeout timers, accounting Start
LNS ``SessionDown``                    :meth:`RadiusSessions.session_down`: accounting Stop with
                                       the counters and the Acct-Terminate-Cause
=====================================  ====================================================

Interim-Updates read the session's counters when the backend asks (``counters``).  A session this
module ends itself (Session-Timeout, Idle-Timeout, a Disconnect-Request) goes through
:meth:`~ikel2tp.server.wiring.Gateway.disconnect` like an administrator's kick, with its cause noted
first; any other end is told apart by the session's down reason (:data:`CAUSES`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any

from ikel2tp.ppp.auth.credentials import AuthResult, Credentials
from ikel2tp.radius.client import RadiusAuthResult
from ikel2tp.radius.constants import AcctAuthentic
from ikel2tp.radius.settings import RadiusSettings
from ikel2tp.users.radius import (
    DisconnectRequested,
    RadiusUserBackend,
    SessionCounters,
    SessionInfo,
    TerminateCause,
)

DRAIN_TIMEOUT = 5.0  # seconds the shutdown waits for the accounting Stops to be acknowledged
IDLE_CHECK_MIN = 1.0  # seconds: the shortest step between two looks at an idle session's counters

# Acct-Terminate-Cause (RFC 2866 §5.10) of a session this module did not end itself, by the first
# phrase its down reason contains; the phrases are those of ppp/link.py, l2tp/tunnel.py and
# server/wiring.py.  Anything else (IPsec SA deleted or expired, DPD, LCP echoes or L2TP control
# messages unanswered) is Lost-Carrier.
CAUSES: tuple[tuple[str, TerminateCause], ...] = (
    ("server shutting down", TerminateCause.NAS_REBOOT),
    ("disconnected by the administrator", TerminateCause.ADMIN_RESET),
    ("peer sent LCP Terminate-Request", TerminateCause.USER_REQUEST),
    ("peer disconnected the call", TerminateCause.USER_REQUEST),
    ("peer closed the tunnel", TerminateCause.USER_REQUEST),
)


def terminate_cause(reason: str) -> TerminateCause:
    """The Acct-Terminate-Cause for a session that ended with ``reason`` (see :data:`CAUSES`)."""
    return next((cause for phrase, cause in CAUSES if phrase in reason), TerminateCause.LOST_CARRIER)


def nas_port(key: Hashable) -> int | None:
    """NAS-Port (RFC 2865 §5.5) of an L2TP session: our Tunnel ID and Session ID, 16 bits each."""
    tunnel_id, session_id = getattr(key, "tunnel_id", None), getattr(key, "session_id", None)
    if not isinstance(tunnel_id, int) or not isinstance(session_id, int):
        return None
    return (tunnel_id & 0xFFFF) << 16 | (session_id & 0xFFFF)


@dataclass
class _Tracked:
    """A session with an address: its Acct-Session-Id and the limits of its Access-Accept."""

    session: Any  # ikel2tp.server.sessions.Session
    session_id: str
    started: float
    session_timeout: int | None
    idle_timeout: int | None
    last_packets: int = 0
    last_active: float = 0.0
    timer: asyncio.TimerHandle | None = None
    cause: TerminateCause | None = None  # set when this module ends the session


class RadiusSessions:
    """The server's RADIUS side: ``gateway.radius``.  :meth:`start` before the first login."""

    def __init__(self, settings: RadiusSettings, gateway: Any, *, clock: Callable[[], float],
                 log: logging.Logger, boot: int | None = None) -> None:
        """``[radius]`` ``settings`` for ``gateway``; its local users answer only with ``local_fallback``."""
        self.gateway = gateway
        self.clock = clock
        self.log = log
        self.backend = RadiusUserBackend(settings, log=log, fallback=gateway.users,
                                         counters=self.counters, on_disconnect=self.disconnect)
        self._tracked: dict[Hashable, _Tracked] = {}
        self._by_id: dict[str, _Tracked] = {}
        # Acct-Session-Id: unique per NAS and restart (RFC 2866 §5.5): the start time, then a counter.
        self._id_prefix = f"{(int(time.time()) if boot is None else boot) & 0xFFFFFFFF:08X}"
        self._next_id = 0

    async def start(self) -> None:
        await self.backend.start()
        das = self.backend.das_address
        if das is not None:
            self.log.info("radius: listening for Disconnect-Requests on UDP %s:%d", das[0], das[1])

    async def stop(self) -> None:
        """After the gateway's shutdown: wait for the Stops (at most :data:`DRAIN_TIMEOUT`), then close."""
        for tracked in self._tracked.values():
            if tracked.timer is not None:
                tracked.timer.cancel()
        if not await self.backend.drain(DRAIN_TIMEOUT):
            self.log.error("radius: %d accounting request(s) not acknowledged after %g s; they are lost",
                           self.backend.core.accounting_backlog, DRAIN_TIMEOUT)
        self.backend.close()

    def close(self) -> None:
        """Close the sockets at once (start-up failed or the daemon is torn down)."""
        self.backend.close()

    # -- hooks the gateway calls ---------------------------------------------------------------
    def authenticate(self, session: Any, credentials: Credentials) -> Any:
        """An awaitable :class:`AuthResult` from RADIUS (or the local users, as configured)."""
        return self.backend.authenticate(credentials, calling_station_id=session.peer_ip or None,
                                         nas_port=nas_port(session.key))

    def network_up(self, session: Any, now: float) -> None:
        """The session has its address: apply the Access-Accept's limits; accounting Start."""
        if session.key in self._tracked:
            return  # IPCP renegotiated: the same session, already started
        result: AuthResult | None = session.auth
        accept = result if isinstance(result, RadiusAuthResult) else None
        self._next_id += 1
        tracked = _Tracked(session, f"{self._id_prefix}{self._next_id:08X}", now,
                           accept.session_timeout if accept else None,
                           accept.idle_timeout if accept else None, session.packets_in, now)
        if accept is not None:
            self._apply(session, accept)
        self._tracked[session.key] = tracked
        self._by_id[tracked.session_id] = tracked
        self._schedule(tracked, now)
        self.backend.session_started(SessionInfo(
            tracked.session_id, session.user or (result.user if result else ""),
            framed_ip=ipaddress.IPv4Address(session.address) if session.address else None,
            calling_station_id=session.peer_ip or None, nas_port=nas_port(session.key),
            classes=accept.classes if accept else (),
            authentic=AcctAuthentic.RADIUS if accept else AcctAuthentic.LOCAL,
            interim_interval=accept.interim_interval if accept else None))

    def session_down(self, session: Any, reason: str, now: float) -> None:
        """Accounting Stop with the final counters and why the session ended."""
        tracked = self._tracked.pop(session.key, None)
        if tracked is None:
            return  # it never had an address: no Start was sent
        del self._by_id[tracked.session_id]
        if tracked.timer is not None:
            tracked.timer.cancel()
        cause = tracked.cause or terminate_cause(reason)
        self.backend.session_stopped(self._counters(tracked, now), cause)

    # -- callbacks of the backend --------------------------------------------------------------
    def counters(self, session_id: str) -> SessionCounters | None:
        """The counters so far, for an Interim-Update."""
        tracked = self._by_id.get(session_id)
        return None if tracked is None else self._counters(tracked, self.clock())

    def disconnect(self, request: DisconnectRequested) -> int:
        """RFC 5176 Disconnect-Request: end every session matching all the given keys; how many."""
        framed_ip = str(request.framed_ip) if request.framed_ip is not None else None
        matches = [t for t in self._tracked.values()
                   if (request.user_name is None or t.session.user == request.user_name)
                   and (framed_ip is None or t.session.address == framed_ip)
                   and (request.session_id is None or t.session_id == request.session_id)]
        self.log.info("radius: Disconnect-Request from %s for %s: %d session(s)", request.client[0],
                      ", ".join(f"{name} {value}" for name, value in (
                          ("user", request.user_name), ("address", framed_ip),
                          ("Acct-Session-Id", request.session_id)) if value is not None), len(matches))
        self._end(matches, TerminateCause.ADMIN_RESET, "disconnected by RADIUS (Disconnect-Request)")
        return len(matches)

    # -- internals -----------------------------------------------------------------------------
    def _counters(self, tracked: _Tracked, now: float) -> SessionCounters:
        s = tracked.session
        return SessionCounters(tracked.session_id, max(0, int(now - tracked.started)),
                               input_octets=s.bytes_in, output_octets=s.bytes_out,
                               input_packets=s.packets_in, output_packets=s.packets_out)

    def _apply(self, session: Any, accept: RadiusAuthResult) -> None:
        if accept.framed_mtu is not None:
            # LCP settled the MRU before authentication; what is left to honour is the TCP MSS clamp.
            settings = session.link.settings
            if settings.mss_clamp:
                mtu = min(settings.mtu, accept.framed_mtu)
                session.link.settings = replace(settings, mtu=mtu)
                session.timeline.step(self.clock(), "RADIUS Framed-MTU",
                                      f"{accept.framed_mtu}: TCP MSS clamped for MTU {mtu}")
            else:
                self.log.info("radius: Framed-MTU %d for %r not applied: [ppp] mss_clamp is off",
                              accept.framed_mtu, session.user)
        if accept.framed_pool is not None:
            self.log.info("radius: Framed-Pool %r for %r: ikel2tp has one address pool ([pool] network), "
                          "used for every user", accept.framed_pool, session.user)

    def _schedule(self, tracked: _Tracked, now: float) -> None:
        """One timer per session at its next Session-Timeout or Idle-Timeout check."""
        if tracked.timer is not None:
            tracked.timer.cancel()
            tracked.timer = None
        deadlines = []
        if tracked.session_timeout:
            deadlines.append(tracked.started + tracked.session_timeout)
        if tracked.idle_timeout:
            # Activity is seen at the checks: looking every tenth of the limit ends an idle session
            # between 1 and 1.1 times Idle-Timeout after its last packet.
            deadlines.append(min(tracked.last_active + tracked.idle_timeout,
                                 now + max(IDLE_CHECK_MIN, tracked.idle_timeout / 10)))
        if deadlines:
            delay = max(0.0, min(deadlines) - now)
            tracked.timer = asyncio.get_running_loop().call_later(delay, self._check, tracked)

    def _check(self, tracked: _Tracked) -> None:
        tracked.timer = None
        if self._tracked.get(tracked.session.key) is not tracked:
            return
        now = self.clock()
        session = tracked.session
        if session.packets_in != tracked.last_packets:  # the user sent something: not idle
            tracked.last_packets = session.packets_in
            tracked.last_active = now
        if tracked.session_timeout and now >= tracked.started + tracked.session_timeout:
            self._end([tracked], TerminateCause.SESSION_TIMEOUT,
                      f"Session-Timeout: {tracked.session_timeout} s are over")
        elif tracked.idle_timeout and now >= tracked.last_active + tracked.idle_timeout:
            self._end([tracked], TerminateCause.IDLE_TIMEOUT,
                      f"Idle-Timeout: the user sent nothing for {tracked.idle_timeout} s")
        else:
            self._schedule(tracked, now)

    def _end(self, matches: list[_Tracked], cause: TerminateCause, why: str) -> None:
        if not matches:
            return
        for tracked in matches:
            tracked.cause = cause
        now = self.clock()
        self.gateway.disconnect([t.session for t in matches], now, step=why, reason=why)
        self.gateway.on_async_output()


async def start_radius(config: Any, gateway: Any, *, clock: Callable[[], float],
                       log: logging.Logger) -> RadiusSessions | None:
    """With ``[radius]`` in ``config``: its sockets open and ``gateway.radius`` set; else None."""
    if config.radius is None:
        return None
    sessions = RadiusSessions(config.radius, gateway, clock=clock, log=log)
    try:
        await sessions.start()
    except OSError as exc:
        sessions.close()
        das = config.radius.das
        where = f" (Disconnect-Requests on UDP {das.listen}:{das.port})" if das is not None else ""
        raise OSError(f"cannot open the RADIUS sockets{where}: {exc.strerror or exc}") from exc
    gateway.radius = sessions
    servers = ", ".join(f"{s.address}:{s.auth_port}" for s in config.radius.servers)
    log.info("radius: logins (%s) go to %s%s", "/".join(m.value for m in config.radius.methods), servers,
             "; local users when none answers" if config.radius.local_fallback else "")
    return sessions
