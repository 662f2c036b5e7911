"""The authentication phase against retransmissions (RFC 1994 §4.1, RFC 2759 §4): a repeated Challenge
gets the same Response; a repeated Response gets the same verdict and is counted once."""

from __future__ import annotations

import itertools
import logging

from ikel2tp.ppp.auth import mschapv2
from ikel2tp.ppp.auth.chap import ChapCode, ChapValuePacket, pull_chap_packet
from ikel2tp.ppp.auth.credentials import AuthMethod, AuthResult, ClientLogin, Credentials, MsChapV2Credentials
from ikel2tp.ppp.auth.session import AuthClient, AuthServer
from ikel2tp.ppp.constants import Protocol
from ikel2tp.ppp.settings import PppSettings

LOG = logging.getLogger("test.auth")
USER, PASSWORD = "alice", "s3cret"
CHAP = Protocol.CHAP


class Owner:
    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.requested: list[Credentials] = []
        self.done: list[tuple[bool, str, str]] = []

    def send_frame(self, protocol: int, information: bytes) -> None:
        self.frames.append(information)

    def auth_requested(self, credentials: Credentials) -> None:
        self.requested.append(credentials)

    def auth_done(self, success: bool, user: str, reason: str, now: float) -> None:
        self.done.append((success, user, reason))


def counting_random() -> object:
    counter = itertools.count(1)
    return lambda n: bytes([next(counter) % 256]) * n


def pair(method: AuthMethod) -> tuple[AuthServer, Owner, AuthClient, Owner]:
    settings = PppSettings()
    server_owner, client_owner = Owner(), Owner()
    server = AuthServer(method, settings=settings, random=counting_random(), log=LOG, owner=server_owner)
    client = AuthClient(method, ClientLogin(USER, PASSWORD), settings=settings, random=counting_random(),
                        log=LOG, owner=client_owner)
    return server, server_owner, client, client_owner


def verdict_for(credentials: Credentials) -> AuthResult:
    assert isinstance(credentials, MsChapV2Credentials)
    password_hash = mschapv2.nt_password_hash(PASSWORD)
    ok = mschapv2.verify_nt_response(credentials.authenticator_challenge, credentials.peer_challenge,
                                     credentials.user, password_hash, credentials.nt_response)
    authenticator = mschapv2.generate_authenticator_response(
        password_hash, credentials.nt_response, credentials.peer_challenge,
        credentials.authenticator_challenge, credentials.user) if ok else None
    return AuthResult(ok, credentials.user, authenticator_response=authenticator)


def test_retransmitted_challenge_gets_the_same_response_and_success_verifies() -> None:
    server, server_owner, client, client_owner = pair(AuthMethod.MSCHAPV2)
    client.start(0.0)
    server.start(0.0)
    challenge = server_owner.frames[-1]
    client.receive(CHAP, challenge, 0.1)
    first = client_owner.frames[-1]
    server.handle_timer(server.settings.restart_interval)  # the server retransmits its Challenge
    assert server_owner.frames[-1] == challenge
    client.receive(CHAP, challenge, 3.1)
    assert client_owner.frames[-1] == first  # same Peer-Challenge, same NT-Response
    assert len(client_owner.frames) == 2
    # the server checks the first Response; the second is a repeat while the backend thinks
    server.receive(CHAP, first, 3.2)
    server.receive(CHAP, client_owner.frames[-1], 3.2)
    assert len(server_owner.requested) == 1
    server.result(verdict_for(server_owner.requested[0]), 3.3)
    client.receive(CHAP, server_owner.frames[-1], 3.4)
    assert client_owner.done == [(True, USER, "")]


def test_new_challenge_gets_a_new_response() -> None:
    server, server_owner, client, client_owner = pair(AuthMethod.MSCHAPV2)
    client.start(0.0)
    client.receive(CHAP, bytes.fromhex("0107001510") + b"\x11" * 16, 0.1)
    client.receive(CHAP, bytes.fromhex("0108001510") + b"\x22" * 16, 0.2)
    first, second = (pull_chap_packet(frame) for frame in client_owner.frames)
    assert isinstance(first, ChapValuePacket) and isinstance(second, ChapValuePacket)
    assert (first.code, first.identifier, second.identifier) == (ChapCode.RESPONSE, 7, 8)
    assert first.value != second.value


def test_repeated_response_after_failure_repeats_the_verdict_and_counts_once() -> None:
    server, server_owner, client, client_owner = pair(AuthMethod.MSCHAPV2)
    client.start(0.0)
    server.start(0.0)
    client.receive(CHAP, server_owner.frames[-1], 0.1)
    response = client_owner.frames[-1]
    server.receive(CHAP, response, 0.2)
    server.result(AuthResult(False, USER, reason="wrong password"), 0.3)
    failure = server_owner.frames[-1]
    server.receive(CHAP, response, 0.4)  # our Failure was lost: the client repeats its Response
    assert server_owner.frames[-1] == failure
    assert len(server_owner.requested) == 1
    assert server_owner.done == [(False, USER, "wrong password")]
