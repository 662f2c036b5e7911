"""The local user backend over [[users]], and the failed-login limiter."""

from __future__ import annotations

import logging
from ipaddress import IPv4Address

import pytest

from ikel2tp.common.errors import ConfigError
from ikel2tp.config import UserConfig
from ikel2tp.ppp.auth import mschapv2
from ikel2tp.ppp.auth.chap import chap_md5_response
from ikel2tp.ppp.auth.credentials import ChapCredentials, MsChapV2Credentials, PapCredentials
from ikel2tp.users.base import authenticate
from ikel2tp.users.limiter import FailureLimiter
from ikel2tp.users.local import LocalUserBackend

LOG = logging.getLogger("tests.users")
AUTH_CHALLENGE = bytes.fromhex("5B5D7C7D7B3F2F3E3C2C602132262628")
PEER_CHALLENGE = bytes.fromhex("21402324255E262A28295F2B3A337C7E")
NT_RESPONSE = bytes.fromhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")


def backend() -> LocalUserBackend:
    return LocalUserBackend([
        UserConfig("User", password="clientPass", static_ip=IPv4Address("10.42.0.9")),
        UserConfig("hashed", nt_hash=mschapv2.nt_password_hash("clientPass")),
    ], log=LOG)


@pytest.mark.parametrize("name", ["User", "CORP\\User"])
def test_mschapv2_rfc2759_sample(name: str) -> None:
    result = backend().authenticate(MsChapV2Credentials(name, AUTH_CHALLENGE, PEER_CHALLENGE, NT_RESPONSE))
    assert result.success and result.user == "User"
    assert result.authenticator_response == "S=407A5589115FD0D6209F510FE9C04566932CDA56"
    assert result.static_address == IPv4Address("10.42.0.9")


def test_mschapv2_with_nt_hash_only() -> None:
    password_hash = mschapv2.nt_password_hash("clientPass")
    nt = mschapv2.generate_nt_response(AUTH_CHALLENGE, PEER_CHALLENGE, "hashed", password_hash)
    assert backend().authenticate(MsChapV2Credentials("hashed", AUTH_CHALLENGE, PEER_CHALLENGE, nt)).success


def test_mschapv2_wrong_and_unknown() -> None:
    bad = backend().authenticate(MsChapV2Credentials("User", AUTH_CHALLENGE, PEER_CHALLENGE, bytes(24)))
    assert not bad.success and bad.failure_code == 691 and bad.reason == "wrong password (MS-CHAPv2)"
    credentials = MsChapV2Credentials("nobody", AUTH_CHALLENGE, PEER_CHALLENGE, NT_RESPONSE)
    unknown = backend().authenticate(credentials)
    assert not unknown.success and unknown.reason == "unknown user" and "unknown" not in unknown.message


def test_pap_plaintext_and_hash() -> None:
    b = backend()
    assert b.authenticate(PapCredentials("User", b"clientPass")).success
    assert b.authenticate(PapCredentials("hashed", b"clientPass")).success
    assert not b.authenticate(PapCredentials("hashed", b"clientpass")).success
    assert b.authenticate(PapCredentials("ghost", b"clientPass")).reason == "unknown user"


def test_chap_needs_plaintext() -> None:
    b = backend()
    challenge = bytes(range(16))
    good = chap_md5_response(3, b"clientPass", challenge)
    assert b.authenticate(ChapCredentials("User", 3, challenge, good)).success
    assert not b.authenticate(ChapCredentials("User", 4, challenge, good)).success
    refused = b.authenticate(ChapCredentials("hashed", 3, challenge, good))
    assert not refused.success and "only nt_hash is configured" in refused.reason


def test_reload_and_duplicates() -> None:
    b = backend()
    b.reload([UserConfig("new", password="pw")])
    assert len(b) == 1 and not b.authenticate(PapCredentials("User", b"clientPass")).success
    with pytest.raises(ConfigError):
        b.reload([UserConfig("a", password="1"), UserConfig("a", password="2")])
    assert len(b) == 1  # a failed reload keeps the old table


def test_async_helper_accepts_a_sync_backend() -> None:
    import asyncio

    result = asyncio.run(authenticate(backend(), PapCredentials("User", b"clientPass")))
    assert result.success


def test_limiter_locks_user_and_peer() -> None:
    limiter = FailureLimiter(max_failures=3, max_peer_failures=3, window=60.0, lockout=120.0)
    for t in range(3):
        assert limiter.blocked("ann", "nat-1", float(t)) is None
        limiter.failed("ann", "nat-1", float(t))
    assert "user" in limiter.blocked("ann", "nat-2", 3.0)
    assert "peer" in limiter.blocked("bob", "nat-1", 3.0)
    assert limiter.blocked("bob", "nat-2", 3.0) is None
    assert limiter.blocked("ann", "nat-2", 123.0) is None  # lockout over


def test_peer_limit_is_higher_than_the_user_limit() -> None:
    limiter = FailureLimiter(max_failures=2, max_peer_failures=4)
    for t, user in enumerate(["a", "b", "c"]):
        limiter.failed(user, "office-nat", float(t))
    assert limiter.blocked("d", "office-nat", 3.0) is None
    limiter.failed("d", "office-nat", 3.0)
    assert "peer" in limiter.blocked("e", "office-nat", 4.0)


def test_limiter_window_and_success() -> None:
    limiter = FailureLimiter(max_failures=3, window=10.0, lockout=100.0)
    limiter.failed("ann", "p", 0.0)
    limiter.failed("ann", "p", 1.0)
    limiter.failed("ann", "p", 20.0)  # the first two fell out of the window
    assert limiter.blocked("ann", "p", 21.0) is None
    limiter.failed("ann", "q", 21.0)
    limiter.succeeded("ann", "q")
    limiter.failed("ann", "q", 22.0)
    assert limiter.blocked("ann", "r", 22.5) is None


def test_limiter_is_bounded() -> None:
    limiter = FailureLimiter(max_entries=100)
    for i in range(1000):
        limiter.failed(f"user{i}", f"peer{i}", float(i))
    assert len(limiter._entries) <= 100
