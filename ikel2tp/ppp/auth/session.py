"""The authentication phase (RFC 1661 §3.5) of one link: the server side that challenges the peer
and waits for the user backend, and the client side that answers.

Server: for CHAP and MS-CHAPv2 we send a Challenge as soon as LCP is Opened and retransmit it on
the restart timer (RFC 1994 §4.1); PAP waits for the peer's Authenticate-Request (RFC 1334 §2.1).
A response becomes ``AuthRequested``; repeats of it while the backend thinks are ignored, and a
repeat after the verdict gets the same Success/Failure again (the first may have been lost).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import Enum
from typing import Protocol as TypingProtocol

from ikel2tp.common.errors import DecodeError
from ikel2tp.ppp.auth import mschapv2
from ikel2tp.ppp.auth.chap import (
    ChapCode,
    ChapMessagePacket,
    ChapValuePacket,
    chap_md5_response,
    pull_chap_packet,
    push_chap_packet,
)
from ikel2tp.ppp.auth.credentials import (
    AuthMethod,
    AuthResult,
    ChapCredentials,
    ClientLogin,
    Credentials,
    MsChapV2Credentials,
    PapCredentials,
)
from ikel2tp.ppp.auth.pap import PapCode, PapReply, PapRequest, pull_pap_packet, push_pap_packet
from ikel2tp.ppp.constants import Protocol
from ikel2tp.ppp.packet import PppError
from ikel2tp.ppp.settings import PppSettings

PROTOCOL_OF = {
    AuthMethod.PAP: Protocol.PAP,
    AuthMethod.CHAP: Protocol.CHAP,
    AuthMethod.MSCHAPV2: Protocol.CHAP,
}
CHALLENGE_LENGTH = mschapv2.CHALLENGE_LENGTH  # CHAP-MD5 challenges have the same length
MD5_LENGTH = 16


class AuthOwner(TypingProtocol):
    def send_frame(self, protocol: int, information: bytes) -> None: ...
    def auth_requested(self, credentials: Credentials) -> None: ...
    def auth_done(self, success: bool, user: str, reason: str, now: float) -> None: ...


class Phase(Enum):
    WAITING = "waiting for the peer"
    PENDING = "waiting for the user backend"
    DONE = "done"


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _pull(protocol: int, information: bytes) -> ChapValuePacket | ChapMessagePacket | PapRequest | PapReply:
    try:
        return pull_pap_packet(information) if protocol == Protocol.PAP else pull_chap_packet(information)
    except DecodeError as exc:
        raise PppError(f"auth: {exc.reason}", field=exc.field) from exc


class AuthServer:
    """We authenticate the peer with ``method``."""

    def __init__(self, method: AuthMethod, *, settings: PppSettings, random: Callable[[int], bytes],
                 log: logging.Logger, owner: AuthOwner) -> None:
        self.method = method
        self.protocol = PROTOCOL_OF[method]
        self.settings = settings
        self.log = log
        self.owner = owner
        self._random = random
        self.phase = Phase.WAITING
        self.deadline: float | None = None
        self._retries = settings.max_configure
        self._identifier = random(1)[0]
        self._challenge = random(CHALLENGE_LENGTH)
        self._verdict: tuple[bool, AuthResult] | None = None
        self.user = ""

    def start(self, now: float) -> None:
        if self.method is AuthMethod.PAP:
            self.deadline = now + self.settings.auth_timeout
        else:
            self._send_challenge(now)

    def _send_challenge(self, now: float) -> None:
        self._retries -= 1
        self.deadline = now + self.settings.restart_interval
        packet = ChapValuePacket(ChapCode.CHALLENGE, self._identifier, self._challenge,
                                 self.settings.host_name.encode())
        self.owner.send_frame(Protocol.CHAP, push_chap_packet(packet))

    def receive(self, protocol: int, information: bytes, now: float) -> None:
        if protocol != self.protocol:
            raise PppError(f"auth: {Protocol(protocol).name} packet while authenticating with "
                           f"{self.method.value}", field="protocol")
        packet = _pull(protocol, information)
        if isinstance(packet, PapRequest):
            self._identifier = packet.identifier
            credentials: Credentials = PapCredentials(_text(packet.peer_id), packet.password)
        elif isinstance(packet, ChapValuePacket) and packet.code is ChapCode.RESPONSE:
            if packet.identifier != self._identifier:
                raise PppError(f"auth: response id {packet.identifier}, challenge was {self._identifier}",
                               field="chap.identifier")
            credentials = self._chap_credentials(packet)
        else:
            raise PppError(f"auth: unexpected {packet!r} from the peer", field="code")
        if self.phase is Phase.DONE:
            if self._verdict is not None:  # our verdict was lost: repeat it (PAP: for the new id)
                self.owner.send_frame(self.protocol, self._verdict_packet(*self._verdict))
            return
        if self.phase is Phase.PENDING:
            return  # a retransmission while the backend decides
        self.phase = Phase.PENDING
        self.user = credentials.user
        self.deadline = now + self.settings.auth_timeout
        self.owner.auth_requested(credentials)

    def _chap_credentials(self, packet: ChapValuePacket) -> Credentials:
        user = _text(packet.name)
        if self.method is AuthMethod.CHAP:
            if len(packet.value) != MD5_LENGTH:
                raise PppError(f"auth: CHAP-MD5 response of {len(packet.value)} bytes", field="chap.value")
            return ChapCredentials(user, self._identifier, self._challenge, packet.value)
        if len(packet.value) != mschapv2.RESPONSE_VALUE_LENGTH:
            raise PppError(f"auth: MS-CHAPv2 response of {len(packet.value)} bytes", field="chap.value")
        # RFC 2759 §4: Peer-Challenge(16) | Reserved(8) | NT-Response(24) | Flags(1)
        return MsChapV2Credentials(user, self._challenge, packet.value[:16], packet.value[24:48])

    def result(self, result: AuthResult, now: float) -> None:
        if self.phase is not Phase.PENDING:
            self.log.warning("auth: a result for %r arrived in phase '%s', ignored",
                             result.user, self.phase.value)
            return
        success = result.success
        if success and self.method is AuthMethod.MSCHAPV2 and not result.authenticator_response:
            self.log.error("auth: backend accepted %r without an MS-CHAPv2 authenticator response",
                           result.user)
            success = False
        self._verdict = (success, result)
        self.phase = Phase.DONE
        self.deadline = None
        self.owner.send_frame(self.protocol, self._verdict_packet(success, result))
        reason = "" if success else (result.reason or result.message or "authentication failed")
        self.owner.auth_done(success, result.user or self.user, reason, now)

    def _verdict_packet(self, success: bool, result: AuthResult) -> bytes:
        message = result.message or ("Welcome" if success else self.settings.failure_message)
        if self.method is AuthMethod.PAP:
            code = PapCode.AUTHENTICATE_ACK if success else PapCode.AUTHENTICATE_NAK
            return push_pap_packet(PapReply(code, self._identifier, message.encode()))
        if self.method is AuthMethod.MSCHAPV2:
            if success:
                assert result.authenticator_response is not None
                text = mschapv2.success_message(result.authenticator_response, message)
            else:
                text = mschapv2.failure_message(result.failure_code, self._challenge, message)
        else:
            text = message.encode()
        code = ChapCode.SUCCESS if success else ChapCode.FAILURE
        return push_chap_packet(ChapMessagePacket(code, self._identifier, text))

    def handle_timer(self, now: float) -> None:
        if self.deadline is None or now < self.deadline:
            return
        self.deadline = None
        if self.phase is Phase.WAITING and self.method is not AuthMethod.PAP and self._retries > 0:
            self._send_challenge(now)
            return
        pending = self.phase is Phase.PENDING
        waited = "the user backend gave no answer" if pending else "the peer never answered"
        self.phase = Phase.DONE
        self.owner.auth_done(False, self.user, f"{self.method.value}: {waited}", now)


class AuthClient:
    """We authenticate ourselves to the peer with ``method`` (load generator, tests)."""

    def __init__(self, method: AuthMethod, login: ClientLogin, *, settings: PppSettings,
                 random: Callable[[int], bytes], log: logging.Logger, owner: AuthOwner) -> None:
        self.method = method
        self.protocol = PROTOCOL_OF[method]
        self.login = login
        self.settings = settings
        self.log = log
        self.owner = owner
        self._random = random
        self.phase = Phase.WAITING
        self.deadline: float | None = None
        self._retries = settings.max_configure
        self._last: bytes | None = None
        self._identifier = random(1)[0]
        self._expected_authenticator: str | None = None
        self._answered: tuple[int, bytes] | None = None  # (Identifier, Value) of the Challenge answered

    def start(self, now: float) -> None:
        if self.method is AuthMethod.PAP:
            self._last = push_pap_packet(PapRequest(self._identifier, self.login.user.encode(),
                                                    self.login.password.encode()))
            self._transmit(now)
        else:
            self.deadline = now + self.settings.auth_timeout

    def _transmit(self, now: float) -> None:
        assert self._last is not None
        self._retries -= 1
        self.deadline = now + self.settings.restart_interval
        self.owner.send_frame(self.protocol, self._last)

    def receive(self, protocol: int, information: bytes, now: float) -> None:
        if protocol != self.protocol or self.phase is Phase.DONE:
            raise PppError(f"auth client: unexpected {Protocol(protocol).name} packet", field="protocol")
        packet = _pull(protocol, information)
        if isinstance(packet, ChapValuePacket) and packet.code is ChapCode.CHALLENGE:
            self._answer_challenge(packet, now)
        elif isinstance(packet, PapReply):
            self._finish(packet.code is PapCode.AUTHENTICATE_ACK, _text(packet.message), now)
        elif isinstance(packet, ChapMessagePacket):
            success = packet.code is ChapCode.SUCCESS
            if success and self.method is AuthMethod.MSCHAPV2:
                got = mschapv2.parse_success_message(packet.message)
                if got != self._expected_authenticator:
                    self._finish(False, "server did not prove it knows the password (bad S=)", now)
                    return
            self._finish(success, _text(packet.message), now)
        else:
            raise PppError(f"auth client: unexpected {packet!r}", field="code")

    def _answer_challenge(self, packet: ChapValuePacket, now: float) -> None:
        """RFC 1994 §4.1 / RFC 2759 §4: a retransmitted Challenge (same Identifier and Value) means our
        Response was lost or is late; send the same Response again. A new Peer-Challenge would make the
        server's Success carry the authenticator of whichever Response it checked first."""
        if self._answered == (packet.identifier, packet.value) and self._last is not None:
            self.owner.send_frame(self.protocol, self._last)
            return
        user = self.login.user
        if self.method is AuthMethod.CHAP:
            value = chap_md5_response(packet.identifier, self.login.password.encode(), packet.value)
        else:
            if len(packet.value) != CHALLENGE_LENGTH:
                raise PppError(f"MS-CHAPv2 challenge of {len(packet.value)} bytes", field="chap.value")
            peer_challenge = self._random(CHALLENGE_LENGTH)
            password_hash = mschapv2.nt_password_hash(self.login.password)
            nt_response = mschapv2.generate_nt_response(packet.value, peer_challenge, user, password_hash)
            self._expected_authenticator = mschapv2.generate_authenticator_response(
                password_hash, nt_response, peer_challenge, packet.value, user)
            value = peer_challenge + bytes(8) + nt_response + b"\x00"
        response = ChapValuePacket(ChapCode.RESPONSE, packet.identifier, value, user.encode())
        self._answered = (packet.identifier, packet.value)
        self._last = push_chap_packet(response)
        self._retries = self.settings.max_configure
        self._transmit(now)

    def _finish(self, success: bool, message: str, now: float) -> None:
        self.phase = Phase.DONE
        self.deadline = None
        self.owner.auth_done(success, self.login.user, "" if success else message, now)

    def handle_timer(self, now: float) -> None:
        if self.deadline is None or now < self.deadline:
            return
        self.deadline = None
        if self._last is not None and self._retries > 0:
            self._transmit(now)  # our request or response, or the verdict on it, was lost
            return
        self._finish(False, f"{self.method.value}: the server never answered", now)
