"""Dynamic Authorization Server, Disconnect-Request only (RFC 5176), sans-I/O.

A Disconnect-Request from an allowed client that verifies (RFC 5176 §2.3 Request Authenticator,
RFC 3579 Message-Authenticator) becomes a :class:`DisconnectRequested` event naming the sessions
to end by User-Name, Framed-IP-Address and/or Acct-Session-Id (all given must match, RFC 5176
§3); the shell ends them and calls :meth:`DisconnectServer.answer` with how many it found, and
the client gets a Disconnect-ACK, or a Disconnect-NAK with Error-Cause 503 (Session Context Not
Found).  Requests we cannot honour are answered at once: a malformed value (404 Invalid
Request), no identification (402), another NAS's NAS-Identifier/NAS-IP-Address (403), CoA-Request
(CoA-NAK 405).  A retransmission (same client, Identifier and authenticator) within
:data:`DUPLICATE_WINDOW` gets the same answer again (RFC 5176 §2.3); anything that does not
verify is dropped with a logged reason.  Memory is bounded (:data:`MAX_REMEMBERED` answers).
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address
from itertools import count

from ikel2tp.radius.constants import Attr, Code, ErrorCause
from ikel2tp.radius.crypto import sign_response, verify_computed_request
from ikel2tp.radius.errors import RadiusError
from ikel2tp.radius.packet import Attribute, RadiusPacket, check_attributes, encode_value, pull_packet
from ikel2tp.radius.settings import DasSettings

Address = tuple[str, int]
DUPLICATE_WINDOW = 30.0  # seconds an answer is kept for retransmissions
MAX_REMEMBERED = 1024


@dataclass(frozen=True)
class DisconnectRequested:
    """End every session matching all the given keys, then call ``answer(request, found)``."""

    request: int
    client: Address
    user_name: str | None
    framed_ip: IPv4Address | None
    session_id: str | None


@dataclass
class _Seen:
    expires: float
    answer: bytes | None  # None while the shell decides
    request: RadiusPacket
    client: Address


class DisconnectServer:
    def __init__(self, settings: DasSettings, *, allowed: tuple[str, ...], nas_identifier: str,
                 nas_ip: IPv4Address | None, log: logging.Logger) -> None:
        """``allowed``: client addresses when ``settings.clients`` is empty (the RADIUS servers)."""
        self.settings = settings
        self.allowed = frozenset(str(ip_address(a)) for a in (settings.clients or allowed))
        self.nas_identifier = nas_identifier
        self.nas_ip = nas_ip
        self.log = log
        self._secret = settings.secret.encode()
        self._tokens = count(1)
        self._seen: OrderedDict[tuple[Address, int, bytes], _Seen] = OrderedDict()
        self._pending: dict[int, tuple[Address, int, bytes]] = {}
        self._out: list[tuple[bytes, Address]] = []
        self._events: deque[DisconnectRequested] = deque()

    def receive_datagram(self, data: bytes, remote: Address, now: float) -> None:
        if remote[0] not in self.allowed:
            self.log.warning("radius das: datagram from %s:%d, not an allowed client, dropped", *remote)
            return
        try:
            request = pull_packet(data)
            if request.code not in (Code.DISCONNECT_REQUEST, Code.COA_REQUEST):
                raise RadiusError(f"code {request.code} is not a Disconnect-Request", field="radius.code")
            verify_computed_request(data, self._secret, require_message_authenticator=self.settings
                                    .require_message_authenticator)
        except RadiusError as exc:
            self.log.warning("radius das: request from %s:%d dropped: %s", remote[0], remote[1], exc)
            return
        key = (remote, request.identifier, request.authenticator)
        seen = self._seen.get(key)
        if seen is not None:
            if seen.answer is not None:
                self._out.append((seen.answer, remote))
            return
        self._expire(now)
        self._seen[key] = _Seen(now + DUPLICATE_WINDOW, None, request, remote)
        try:
            event = self._check(request, remote)
        except RadiusError as exc:
            self.log.warning("radius das: %s:%d refused: %s", remote[0], remote[1], exc)
            nak = Code.COA_NAK if request.code == Code.COA_REQUEST else Code.DISCONNECT_NAK
            self._finish(key, nak, exc.code or ErrorCause.INVALID_REQUEST)  # no code: a malformed value
            return
        self._pending[event.request] = key
        self.log.info("radius das: Disconnect-Request from %s:%d for user=%s address=%s session=%s",
                      remote[0], remote[1], event.user_name, event.framed_ip, event.session_id)
        self._events.append(event)

    def _check(self, request: RadiusPacket, remote: Address) -> DisconnectRequested:
        """RFC 5176 §3: what the request asks, or a RadiusError carrying the Error-Cause."""
        if request.code == Code.COA_REQUEST:
            raise RadiusError("CoA-Request is not supported", code=ErrorCause.UNSUPPORTED_SERVICE)
        check_attributes(request)
        nas_id = request.text(Attr.NAS_IDENTIFIER)
        if nas_id is not None and nas_id != self.nas_identifier:
            raise RadiusError(f"NAS-Identifier {nas_id!r} is not ours",
                              code=ErrorCause.NAS_IDENTIFICATION_MISMATCH)
        nas_ip = request.address(Attr.NAS_IP_ADDRESS)
        if nas_ip is not None and nas_ip != self.nas_ip:
            raise RadiusError(f"NAS-IP-Address {nas_ip} is not ours",
                              code=ErrorCause.NAS_IDENTIFICATION_MISMATCH)
        user, framed_ip, session = (request.text(Attr.USER_NAME), request.address(Attr.FRAMED_IP_ADDRESS),
                                    request.text(Attr.ACCT_SESSION_ID))
        if user is None and framed_ip is None and session is None:
            raise RadiusError("no User-Name, Framed-IP-Address or Acct-Session-Id",
                              code=ErrorCause.MISSING_ATTRIBUTE)
        return DisconnectRequested(next(self._tokens), remote, user, framed_ip, session)

    def answer(self, request: int, found: int) -> None:
        """The shell ended ``found`` sessions for ``DisconnectRequested.request``."""
        key = self._pending.pop(request, None)
        if key is None:
            self.log.warning("radius das: answer for unknown request %d ignored", request)
            return
        if found:
            self._finish(key, Code.DISCONNECT_ACK, None)
        else:
            self._finish(key, Code.DISCONNECT_NAK, ErrorCause.SESSION_CONTEXT_NOT_FOUND)

    def _finish(self, key: tuple[Address, int, bytes], code: Code, cause: int | None) -> None:
        seen = self._seen.get(key)
        if seen is None:  # expired while the shell decided
            return
        attributes: list[Attribute] = [(Attr.PROXY_STATE, v) for v in seen.request.get_all(Attr.PROXY_STATE)]
        if cause is not None:
            attributes.append(encode_value(Attr.ERROR_CAUSE, cause))
        packet = RadiusPacket(code, seen.request.identifier, bytes(16), tuple(attributes))
        seen.answer = sign_response(packet, seen.request.authenticator, self._secret)
        self._out.append((seen.answer, seen.client))

    def _expire(self, now: float) -> None:
        while self._seen:
            key, seen = next(iter(self._seen.items()))
            if seen.expires > now and len(self._seen) < MAX_REMEMBERED:
                break
            del self._seen[key]

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> DisconnectRequested | None:
        return self._events.popleft() if self._events else None
