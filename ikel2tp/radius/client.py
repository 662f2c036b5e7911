"""The RADIUS client core: sans-I/O authentication (RFC 2865) and accounting (RFC 2866).

Shape of every ikel2tp core: ``authenticate``/``start_session``/... queue requests;
``receive_datagram(data, remote, now)`` takes answers; ``datagrams_to_send()`` gives
``(bytes, (address, port))``; ``next_event()``; ``get_timer()``/``handle_timer(now)``.

Retransmission and failover (RFC 2865 §2.4, RFC 5080 §2.2.1): a request is resent unchanged
(same Identifier and authenticator) every ``timeout`` seconds, ``retries`` times, then it moves to
the next server in the configured order with a new Identifier.  A server that stayed silent is
tried last for ``dead_time`` seconds.  A login whose every server is silent fails with a reason;
an accounting request whose every server is silent goes back to the head of the bounded queue
and the queue pauses for ``retry_interval`` seconds (an outage), keeping its order, so a Stop
is not lost while the process lives.  Acct-Delay-Time is set at each new send (RFC 2866 §5.2),
which makes a new packet and so a new Identifier.

An answer is accepted only from the server and port the request went to, with a known
Identifier, an expected code, a right Response Authenticator and (by default, required) a right
Message-Authenticator (RFC 3579 §3.2); anything else is dropped with a logged reason and the
request keeps waiting for a good answer or its timeout.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address
from itertools import count

from ikel2tp.ppp.auth import mschapv2
from ikel2tp.ppp.auth.credentials import (
    AuthResult,
    ChapCredentials,
    Credentials,
    FailureCode,
    MsChapV2Credentials,
    PapCredentials,
)
from ikel2tp.radius.constants import (
    ANSWERS,
    AUTHENTICATOR_LENGTH,
    MAX_ATTRIBUTE_VALUE,
    VENDOR_MICROSOFT,
    AcctAuthentic,
    AcctStatusType,
    Attr,
    Code,
    FramedProtocol,
    MsAttr,
    NasPortType,
    ServiceType,
    TerminateCause,
)
from ikel2tp.radius.crypto import (
    MAX_PASSWORD_LENGTH,
    hide_password,
    sign_access_request,
    sign_computed_request,
    verify_response,
)
from ikel2tp.radius.errors import RadiusError
from ikel2tp.radius.packet import (
    Attribute,
    RadiusPacket,
    check_attributes,
    encode_value,
    pull_packet,
    vendor_attribute,
)
from ikel2tp.radius.settings import RadiusServer, RadiusSettings

Address = tuple[str, int]

_GENERIC_FAILURE = "Authentication failed"
_MAX_ACCT_IN_FLIGHT = 32  # accounting requests on the wire at once
_MIN_INTERIM = 60  # RFC 2869 §5.16: an Acct-Interim-Interval from the server is never below this
_GIGA = 1 << 32
_MAX_CLASSES = 8  # Class values kept for accounting: 8 x 253 octets leave room in a 4096-octet request
# RFC 2865 §5.8: these Framed-IP-Address values mean "no static address".
_NOT_STATIC = (IPv4Address("255.255.255.254"), IPv4Address("255.255.255.255"))


# --- what the shell passes in, and what comes out ---------------------------------------------


@dataclass(frozen=True)
class RadiusAuthResult(AuthResult):
    """An :class:`AuthResult` with what an Access-Accept carried besides the address
    (RFC 2865 §5.12, §5.25, §5.27-28, RFC 2869 §5.16, RFC 2869 Framed-Pool §5.18)."""

    framed_pool: str | None = None
    session_timeout: int | None = None
    idle_timeout: int | None = None
    framed_mtu: int | None = None
    interim_interval: int | None = None
    classes: tuple[bytes, ...] = ()  # echoed in accounting (RFC 2865 §5.25)
    server: str | None = None  # which server answered ("address:port")


@dataclass(frozen=True)
class SessionInfo:
    """What the server tells accounting when a session has its address (Acct-Status-Type Start)."""

    session_id: str  # Acct-Session-Id: unique per NAS and reboot (RFC 2866 §5.5)
    user: str
    framed_ip: IPv4Address | None = None
    calling_station_id: str | None = None  # the client's outer address
    nas_port: int | None = None
    classes: tuple[bytes, ...] = ()  # from RadiusAuthResult.classes
    authentic: AcctAuthentic = AcctAuthentic.RADIUS
    interim_interval: int | None = None  # from RadiusAuthResult.interim_interval; None: the setting


@dataclass(frozen=True)
class SessionCounters:
    """A session's totals so far.  Input is what the user sent to us, output what we sent to the
    user (RFC 2866 §5.3-5.4); any size: values past 2**32 go into the Gigawords (RFC 2869 §5.1-2)."""

    session_id: str
    session_time: int  # seconds since the session started (RFC 2866 §5.7)
    input_octets: int = 0
    output_octets: int = 0
    input_packets: int = 0
    output_packets: int = 0


@dataclass(frozen=True)
class AuthCompleted:
    """The verdict on ``authenticate`` call ``request``."""

    request: int
    result: RadiusAuthResult


@dataclass(frozen=True)
class InterimUpdateDue:
    """Call ``update_session`` with this session's counters (the interim interval elapsed)."""

    session_id: str


@dataclass(frozen=True)
class AccountingDropped:
    """An accounting request was given up (the queue overflowed); the reason is logged too."""

    session_id: str
    status: AcctStatusType
    reason: str


RadiusEvent = AuthCompleted | InterimUpdateDue | AccountingDropped


# --- internals ----------------------------------------------------------------------------------


@dataclass
class _Accounting:
    """One accounting record, kept in the queue until a server acknowledges it."""

    status: AcctStatusType
    session_id: str
    attributes: tuple[Attribute, ...]
    created: float
    sequence: int  # the queue's order, kept when a record comes back after an outage


@dataclass
class _Request:
    token: int
    code: Code
    user: str  # for log lines
    plan: list[int]  # server indexes still to try, in order
    payload: Credentials | _Accounting
    extra: tuple[Attribute, ...] = ()  # Access-Request: Calling-Station-Id, NAS-Port
    server: int = -1
    identifier: int = -1
    authenticator: bytes = b""
    data: bytes = b""
    tries_left: int = 0
    deadline: float = 0.0
    bad_answers: int = 0


@dataclass
class _Session:
    info: SessionInfo
    interval: int
    next_interim: float | None


@dataclass
class _Server:
    settings: RadiusServer
    dead_until: float = float("-inf")

    @property
    def secret(self) -> bytes:
        return self.settings.secret.encode()

    def address(self, code: Code) -> Address:
        port = self.settings.acct_port if code is Code.ACCOUNTING_REQUEST else self.settings.auth_port
        return (self.settings.address, port)


class _Identifiers:
    """Identifiers in use towards one server port (RFC 2865 §3: 256 outstanding at most)."""

    def __init__(self, start: int) -> None:
        self.used: set[int] = set()
        self.next = start

    def take(self) -> int | None:
        for step in range(256):
            candidate = (self.next + step) % 256
            if candidate not in self.used:
                self.used.add(candidate)
                self.next = (candidate + 1) % 256
                return candidate
        return None


def _split(value: int) -> tuple[int, int]:
    """RFC 2869 §5.1: the low 32 bits, and how many times the counter wrapped (Gigawords)."""
    return value % _GIGA, (value // _GIGA) % _GIGA


class RadiusClient:
    """A RADIUS client for one NAS: see the module docstring."""

    def __init__(self, settings: RadiusSettings, *, log: logging.Logger,
                 random: Callable[[int], bytes] = os.urandom) -> None:
        if not settings.servers:
            raise ValueError("a RADIUS client needs at least one server")
        self.settings = settings
        self.log = log
        self._random = random
        self._servers = [_Server(server) for server in settings.servers]
        self._ids: dict[Address, _Identifiers] = {}
        self._tokens = count(1)
        self._in_flight: dict[tuple[Address, int], _Request] = {}
        self._waiting: deque[_Request] = deque()  # no free Identifier at the moment
        self._retry_waiting = False
        self._out: list[tuple[bytes, Address]] = []
        self._events: deque[RadiusEvent] = deque()
        self._sessions: dict[str, _Session] = {}
        self._acct_queue: deque[_Accounting] = deque()
        self._acct_busy: set[str] = set()  # sessions with a record on the wire: one each, in order
        self._acct_paused_until = float("-inf")

    # --- authentication ---------------------------------------------------------------------
    def authenticate(self, credentials: Credentials, now: float, *,
                     calling_station_id: str | None = None, nas_port: int | None = None) -> int:
        """Send an Access-Request; an :class:`AuthCompleted` with the returned number follows."""
        token = next(self._tokens)
        refusal = _unsendable(credentials)
        if refusal:
            self.log.warning("radius: login of %r not sent: %s", credentials.user[:64], refusal)
            self._events.append(AuthCompleted(token, RadiusAuthResult(
                False, credentials.user, message=_GENERIC_FAILURE, reason=refusal)))
            return token
        extra: list[Attribute] = []
        if calling_station_id is not None:
            extra.append(_clipped(Attr.CALLING_STATION_ID, calling_station_id))
        if nas_port is not None:
            extra.append(encode_value(Attr.NAS_PORT, nas_port))
        request = _Request(token, Code.ACCESS_REQUEST, credentials.user, self._plan(now), credentials,
                           tuple(extra))
        self._try_next_server(request, now)
        return request.token

    def _nas_attributes(self) -> list[Attribute]:
        attributes = [encode_value(Attr.NAS_IDENTIFIER, self.settings.nas_identifier)]
        if self.settings.nas_ip is not None:
            attributes.append(encode_value(Attr.NAS_IP_ADDRESS, self.settings.nas_ip))
        return attributes

    def _access_request(self, request: _Request, server: _Server) -> bytes:
        """RFC 2865 §4.1 Access-Request for one server (the hiding depends on its secret)."""
        credentials = request.payload
        assert not isinstance(credentials, _Accounting)
        attributes: list[Attribute] = [encode_value(Attr.USER_NAME, credentials.user)]
        if isinstance(credentials, PapCredentials):
            # RFC 2865 §5.2
            attributes.append((Attr.USER_PASSWORD,
                               hide_password(credentials.password, server.secret, request.authenticator)))
        elif isinstance(credentials, ChapCredentials):
            # RFC 2865 §5.3, §5.40: CHAP-Password = CHAP ident | response; the challenge apart.
            attributes.append((Attr.CHAP_PASSWORD, bytes([credentials.ident]) + credentials.response))
            attributes.append((Attr.CHAP_CHALLENGE, credentials.challenge))
        else:
            # RFC 2548 MS-CHAP2-Response (§2.3) = Ident(1) Flags(1) Peer-Challenge(16) Reserved(8)
            # NT-Response(24).  The PPP Identifier is not in the credentials; servers only echo it.
            value = bytes(2) + credentials.peer_challenge + bytes(8) + credentials.nt_response
            attributes.append(vendor_attribute(VENDOR_MICROSOFT, MsAttr.MS_CHAP_CHALLENGE,
                                               credentials.authenticator_challenge))
            attributes.append(vendor_attribute(VENDOR_MICROSOFT, MsAttr.MS_CHAP2_RESPONSE, value))
        attributes += self._nas_attributes()
        attributes += [encode_value(Attr.SERVICE_TYPE, ServiceType.FRAMED),
                       encode_value(Attr.FRAMED_PROTOCOL, FramedProtocol.PPP),
                       encode_value(Attr.NAS_PORT_TYPE, NasPortType.VIRTUAL)]
        attributes += request.extra
        packet = RadiusPacket(Code.ACCESS_REQUEST, request.identifier, request.authenticator,
                              tuple(attributes))
        return sign_access_request(packet, server.secret)

    def _auth_answer(self, request: _Request, answer: RadiusPacket, server: _Server) -> None:
        credentials = request.payload
        assert not isinstance(credentials, _Accounting)
        name = f"{server.settings.address}:{server.settings.auth_port}"
        messages = [m.decode("utf-8", "replace") for m in answer.get_all(Attr.REPLY_MESSAGE)]
        message = " ".join(messages)
        try:
            check_attributes(answer)
            if answer.code == Code.ACCESS_ACCEPT:
                result = self._accept(credentials, answer, name, message)
            else:
                result = self._refusal(credentials, answer, name, message)
        except RadiusError as exc:  # authentic but malformed: a server bug, never a crash here
            result = RadiusAuthResult(False, credentials.user, message=_GENERIC_FAILURE,
                                      reason=f"RADIUS {name} answered with a malformed attribute: {exc}",
                                      server=name)
        if result.success:
            self.log.info("radius: %s accepted %r%s", name, credentials.user,
                          f", Reply-Message {message!r}" if message else "")
        else:
            self.log.warning("radius: login of %r failed: %s", credentials.user, result.reason)
        self._events.append(AuthCompleted(request.token, result))

    def _refusal(self, credentials: Credentials, answer: RadiusPacket, name: str,
                 message: str) -> RadiusAuthResult:
        """Access-Reject (or the unsupported Access-Challenge): MS-CHAP-Error's ``E=`` is the code
        the client sees (RFC 2548 MS-CHAP-Error)."""
        reason = (f"RADIUS {name} answered Access-Challenge, which ikel2tp does not support"
                  if answer.code == Code.ACCESS_CHALLENGE else f"rejected by RADIUS {name}")
        code = FailureCode.AUTHENTICATION_FAILURE
        error = answer.vendor(VENDOR_MICROSOFT, MsAttr.MS_CHAP_ERROR)
        if error is not None:
            code = _mschap_error_code(error[1:]) or code
            reason += f" ({error[1:].decode('ascii', 'replace')})"
        if message:
            reason += f", Reply-Message {message!r}"
        return RadiusAuthResult(False, credentials.user, message=message or _GENERIC_FAILURE,
                                failure_code=code, reason=reason, server=name)

    def _accept(self, credentials: Credentials, answer: RadiusPacket, name: str,
                message: str) -> RadiusAuthResult:
        authenticator_response = None
        if isinstance(credentials, MsChapV2Credentials):
            # RFC 2548 MS-CHAP2-Success (§2.3): Ident(1) then "S=" and 40 hex digits.
            success = answer.vendor(VENDOR_MICROSOFT, MsAttr.MS_CHAP2_SUCCESS)
            authenticator_response = mschapv2.parse_success_message(success[1:]) if success else None
            if authenticator_response is None:
                return RadiusAuthResult(False, credentials.user, message=_GENERIC_FAILURE,
                                        reason=f"RADIUS {name} accepted MS-CHAPv2 without a valid "
                                               "MS-CHAP2-Success: the client could not trust us",
                                        server=name)
        address = answer.address(Attr.FRAMED_IP_ADDRESS)
        interim = answer.integer(Attr.ACCT_INTERIM_INTERVAL)
        return RadiusAuthResult(
            True, credentials.user, message=message or "Welcome",
            authenticator_response=authenticator_response,
            static_address=None if address in _NOT_STATIC else address,
            framed_pool=answer.text(Attr.FRAMED_POOL),
            session_timeout=answer.integer(Attr.SESSION_TIMEOUT),
            idle_timeout=answer.integer(Attr.IDLE_TIMEOUT),
            framed_mtu=answer.integer(Attr.FRAMED_MTU),
            interim_interval=None if interim is None else max(interim, _MIN_INTERIM),
            classes=tuple(answer.get_all(Attr.CLASS)[:_MAX_CLASSES]),
            server=name)

    # --- accounting -------------------------------------------------------------------------
    def start_session(self, info: SessionInfo, now: float) -> None:
        """Acct-Status-Type Start (RFC 2866 §5.1), and Interim-Updates from now on."""
        if not self.settings.accounting.enabled:
            return
        interval = info.interim_interval or self.settings.accounting.interim_interval
        self._sessions[info.session_id] = _Session(info, interval, now + interval if interval else None)
        self._account(AcctStatusType.START, info, None, (), now)

    def update_session(self, counters: SessionCounters, now: float) -> None:
        """Acct-Status-Type Interim-Update with the counters so far (RFC 2869 §2.1)."""
        if not self.settings.accounting.enabled:
            return
        session = self._sessions.get(counters.session_id)
        if session is None:
            self.log.warning("radius: Interim-Update for unknown session %s ignored", counters.session_id)
            return
        if session.interval:
            session.next_interim = now + session.interval
        self._account(AcctStatusType.INTERIM_UPDATE, session.info, counters, (), now)

    def stop_session(self, counters: SessionCounters, cause: TerminateCause, now: float) -> None:
        """Acct-Status-Type Stop with the final counters and Acct-Terminate-Cause (RFC 2866 §5.10)."""
        if not self.settings.accounting.enabled:
            return
        session = self._sessions.pop(counters.session_id, None)
        if session is None:
            self.log.warning("radius: Stop for unknown session %s ignored", counters.session_id)
            return
        cause_attribute = (encode_value(Attr.ACCT_TERMINATE_CAUSE, cause),)
        self._account(AcctStatusType.STOP, session.info, counters, cause_attribute, now)

    @property
    def accounting_backlog(self) -> int:
        """Accounting requests not yet acknowledged (queued or on the wire)."""
        return len(self._acct_queue) + len(self._acct_busy)

    def _account(self, status: AcctStatusType, info: SessionInfo, counters: SessionCounters | None,
                 extra: tuple[Attribute, ...], now: float) -> None:
        attributes = [encode_value(Attr.ACCT_STATUS_TYPE, status),
                      _clipped(Attr.ACCT_SESSION_ID, info.session_id),
                      _clipped(Attr.USER_NAME, info.user),
                      encode_value(Attr.ACCT_AUTHENTIC, info.authentic),
                      encode_value(Attr.SERVICE_TYPE, ServiceType.FRAMED),
                      encode_value(Attr.FRAMED_PROTOCOL, FramedProtocol.PPP),
                      encode_value(Attr.NAS_PORT_TYPE, NasPortType.VIRTUAL),
                      *self._nas_attributes()]
        if info.framed_ip is not None:
            attributes.append(encode_value(Attr.FRAMED_IP_ADDRESS, info.framed_ip))
        if info.calling_station_id is not None:
            attributes.append(_clipped(Attr.CALLING_STATION_ID, info.calling_station_id))
        if info.nas_port is not None:
            attributes.append(encode_value(Attr.NAS_PORT, info.nas_port))
        attributes += [(Attr.CLASS, value) for value in info.classes]
        if counters is not None:
            in_octets, in_giga = _split(counters.input_octets)
            out_octets, out_giga = _split(counters.output_octets)
            session_time = min(max(counters.session_time, 0), _GIGA - 1)
            attributes += [encode_value(Attr.ACCT_SESSION_TIME, session_time),
                           encode_value(Attr.ACCT_INPUT_OCTETS, in_octets),
                           encode_value(Attr.ACCT_OUTPUT_OCTETS, out_octets),
                           encode_value(Attr.ACCT_INPUT_GIGAWORDS, in_giga),
                           encode_value(Attr.ACCT_OUTPUT_GIGAWORDS, out_giga),
                           encode_value(Attr.ACCT_INPUT_PACKETS, counters.input_packets % _GIGA),
                           encode_value(Attr.ACCT_OUTPUT_PACKETS, counters.output_packets % _GIGA)]
        attributes += extra
        record = _Accounting(status, info.session_id, tuple(attributes), now, next(self._tokens))
        if status is AcctStatusType.INTERIM_UPDATE:  # a newer update supersedes a queued one
            for queued in self._acct_queue:
                if queued.session_id == info.session_id and queued.status is status:
                    self._acct_queue.remove(queued)
                    break
        if len(self._acct_queue) >= self.settings.accounting.queue_limit:
            self._drop_one()
        self._acct_queue.append(record)
        self._pump_accounting(now)

    def _drop_one(self) -> None:
        """The queue is full: give up the oldest Interim-Update, else the oldest Start, else the
        oldest record, so that Stops (which carry the totals) are the last to go."""
        for status in (AcctStatusType.INTERIM_UPDATE, AcctStatusType.START, AcctStatusType.STOP):
            victim = next((r for r in self._acct_queue if r.status is status), None)
            if victim is not None:
                break
        assert victim is not None
        self._acct_queue.remove(victim)
        reason = (f"accounting queue full ({self.settings.accounting.queue_limit}): "
                  f"{victim.status.name} of session {victim.session_id} dropped")
        self.log.error("radius: %s", reason)
        self._events.append(AccountingDropped(victim.session_id, victim.status, reason))

    def _pump_accounting(self, now: float) -> None:
        """Send queued records in order, at most one per session at a time (a Stop never overtakes
        its Start) and at most ``_MAX_ACCT_IN_FLIGHT`` in all."""
        if now < self._acct_paused_until:
            return
        for record in list(self._acct_queue):
            if len(self._acct_busy) >= _MAX_ACCT_IN_FLIGHT:
                break
            if record.session_id in self._acct_busy:
                continue
            self._acct_queue.remove(record)
            self._acct_busy.add(record.session_id)
            label = f"{record.status.name} of session {record.session_id}"
            request = _Request(next(self._tokens), Code.ACCOUNTING_REQUEST, label, self._plan(now), record)
            self._try_next_server(request, now)

    def _accounting_request(self, request: _Request, server: _Server, now: float) -> bytes:
        record = request.payload
        assert isinstance(record, _Accounting)
        delay = (encode_value(Attr.ACCT_DELAY_TIME, int(now - record.created)),)
        packet = RadiusPacket(Code.ACCOUNTING_REQUEST, request.identifier, bytes(AUTHENTICATOR_LENGTH),
                              record.attributes + delay)
        return sign_computed_request(packet, server.secret)

    # --- the shared request machinery ---------------------------------------------------------
    def _plan(self, now: float) -> list[int]:
        """Servers in configured order, those that recently stayed silent last."""
        alive = [i for i, s in enumerate(self._servers) if s.dead_until <= now]
        return alive + [i for i, s in enumerate(self._servers) if s.dead_until > now]

    def _try_next_server(self, request: _Request, now: float) -> None:
        if not request.plan:
            self._give_up(request, now)
            return
        index = request.plan[0]
        server = self._servers[index]
        address = server.address(request.code)
        ids = self._ids.setdefault(address, _Identifiers(self._random(1)[0]))
        identifier = ids.take()
        if identifier is None:
            self.log.warning("radius: 256 requests outstanding at %s:%d, %r waits", *address, request.user)
            self._waiting.append(request)
            return
        request.plan.pop(0)
        request.server = index
        request.identifier = identifier
        request.tries_left = server.settings.retries
        request.bad_answers = 0
        if request.code is Code.ACCESS_REQUEST:
            request.authenticator = self._random(AUTHENTICATOR_LENGTH)  # RFC 2865 §3: unpredictable
            request.data = self._access_request(request, server)
        else:
            request.data = self._accounting_request(request, server, now)
            request.authenticator = request.data[4:20]
        self._in_flight[(address, identifier)] = request
        self._transmit(request, now)

    def _transmit(self, request: _Request, now: float) -> None:
        server = self._servers[request.server]
        request.deadline = now + server.settings.timeout
        self._out.append((request.data, server.address(request.code)))

    def _release(self, request: _Request) -> None:
        address = self._servers[request.server].address(request.code)
        del self._in_flight[(address, request.identifier)]
        self._ids[address].used.discard(request.identifier)
        if self._waiting:
            self._retry_waiting = True

    def _give_up(self, request: _Request, now: float) -> None:
        if request.code is Code.ACCESS_REQUEST:
            reason = "no RADIUS server answered"
            self.log.error("radius: login of %r failed: %s", request.user, reason)
            self._events.append(AuthCompleted(request.token, RadiusAuthResult(
                False, request.user, message=_GENERIC_FAILURE, reason=reason)))
            return
        record = request.payload
        assert isinstance(record, _Accounting)
        self._acct_busy.discard(record.session_id)
        position = next((i for i, r in enumerate(self._acct_queue) if r.sequence > record.sequence),
                        len(self._acct_queue))
        self._acct_queue.insert(position, record)
        self._acct_paused_until = now + self.settings.accounting.retry_interval
        self.log.error("radius: no server took the accounting %s; %d kept, retrying in %g s",
                       request.user, len(self._acct_queue),
                       self.settings.accounting.retry_interval)

    def receive_datagram(self, data: bytes, remote: Address, now: float) -> None:
        """An answer from ``remote``; a bad one is logged and dropped."""
        if len(data) < 2:
            self.log.warning("radius: %d-octet datagram from %s:%d dropped", len(data), *remote)
            return
        request = self._in_flight.get((remote, data[1]))
        if request is None:
            self.log.warning("radius: answer from %s:%d with identifier %d matches no request, dropped",
                             remote[0], remote[1], data[1])
            return
        server = self._servers[request.server]
        try:
            answer = pull_packet(data)
            if answer.code not in ANSWERS[request.code]:
                raise RadiusError(f"code {answer.code} does not answer code {request.code}",
                                  field="radius.code")
            verify_response(data, request.authenticator, server.secret,
                            require_message_authenticator=server.settings.require_message_authenticator)
        except RadiusError as exc:
            request.bad_answers += 1
            self.log.warning("radius: answer from %s:%d for %r dropped: %s", remote[0], remote[1],
                             request.user, exc)
            return
        self._release(request)
        server.dead_until = float("-inf")  # it answers: first in line again
        if request.code is Code.ACCESS_REQUEST:
            self._auth_answer(request, answer, server)
        else:
            record = request.payload
            assert isinstance(record, _Accounting)
            self._acct_busy.discard(record.session_id)
            self.log.debug("radius: accounting %s acknowledged by %s:%d", request.user, *remote)
        self._after(now)

    def _after(self, now: float) -> None:
        if self._retry_waiting:
            self._retry_waiting = False
            waiting, self._waiting = self._waiting, deque()
            for request in waiting:
                self._try_next_server(request, now)
        self._pump_accounting(now)

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> RadiusEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        deadlines = [r.deadline for r in self._in_flight.values()]
        deadlines += [s.next_interim for s in self._sessions.values() if s.next_interim is not None]
        if self._acct_queue and self._acct_paused_until > float("-inf"):
            deadlines.append(self._acct_paused_until)
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> None:
        for request in [r for r in self._in_flight.values() if r.deadline <= now]:
            if request.tries_left > 0:
                request.tries_left -= 1
                self._transmit(request, now)  # RFC 5080 §2.2.1: same Identifier, same bytes
                continue
            server = self._servers[request.server]
            server.dead_until = now + self.settings.dead_time
            address = server.address(request.code)
            hint = (f"; {request.bad_answers} answers with bad authenticators were dropped: the shared "
                    "secret is likely wrong" if request.bad_answers else
                    " (a wrong shared secret looks the same: servers drop requests whose "
                    "Message-Authenticator does not verify)")
            tries = server.settings.retries + 1
            self.log.warning("radius: %s:%d did not answer %s after %d %s%s", *address, repr(request.user)
                             if request.code is Code.ACCESS_REQUEST else f"accounting {request.user}",
                             tries, "try" if tries == 1 else "tries", hint)
            self._release(request)
            self._try_next_server(request, now)
        for session_id, session in self._sessions.items():
            if session.next_interim is not None and session.next_interim <= now:
                session.next_interim = now + session.interval
                self._events.append(InterimUpdateDue(session_id))
        if self._acct_paused_until <= now:
            self._acct_paused_until = float("-inf")
        self._after(now)


def _clipped(attr: Attr, text: str) -> Attribute:
    """A text attribute cut to what fits (RFC 2865 §5): accounting must not fail on a long name."""
    return (attr, text.encode()[:MAX_ATTRIBUTE_VALUE])


def _unsendable(credentials: Credentials) -> str | None:
    """Why these credentials do not fit an Access-Request (a peer may send longer ones), or None."""
    name = credentials.user.encode()
    if not 0 < len(name) <= MAX_ATTRIBUTE_VALUE:
        return f"a user name of {len(name)} octets does not fit RADIUS (1 to {MAX_ATTRIBUTE_VALUE})"
    if isinstance(credentials, PapCredentials) and len(credentials.password) > MAX_PASSWORD_LENGTH:
        return f"a PAP password longer than {MAX_PASSWORD_LENGTH} octets does not fit RADIUS (RFC 2865 §5.2)"
    return None


def _mschap_error_code(text: bytes) -> int | None:
    """The ``E=`` number of an MS-CHAP-Error (RFC 2548, RFC 2759 §6)."""
    for word in text.decode("ascii", "replace").split():
        if word.startswith("E=") and word[2:].isdigit():
            return int(word[2:])
    return None
