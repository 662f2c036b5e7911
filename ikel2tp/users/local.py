"""Users from the configuration file (``[[users]]``): name, ``password`` or ``nt_hash``, ``static_ip``.

What each method needs (RFC 1334, RFC 1994, RFC 2759):

| method    | plaintext password | NT hash only |
|-----------|--------------------|--------------|
| PAP       | compared           | NT hash of the given password compared |
| CHAP-MD5  | MD5(id, secret, challenge) | impossible: fails with a reason saying so |
| MS-CHAPv2 | via its NT hash    | yes |

Every comparison is constant time; an unknown user costs the same work as a known one.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable
from ipaddress import IPv4Address
from typing import Protocol

from ikel2tp.common.errors import ConfigError
from ikel2tp.ppp.auth import mschapv2
from ikel2tp.ppp.auth.chap import chap_md5_response
from ikel2tp.ppp.auth.credentials import (
    AuthResult,
    ChapCredentials,
    Credentials,
    MsChapV2Credentials,
    PapCredentials,
)

_GENERIC_FAILURE = "Authentication failed"
# An unknown user is checked against this so that timing does not tell names apart.
_DUMMY_HASH = mschapv2.nt_password_hash("ikel2tp unknown user")


class UserEntry(Protocol):
    """One ``[[users]]`` entry as :class:`ikel2tp.config.UserConfig` holds it (validated there:
    exactly one of ``password`` and ``nt_hash``, the hash 16 bytes)."""

    @property
    def name(self) -> str: ...
    @property
    def password(self) -> str | None: ...
    @property
    def nt_hash(self) -> bytes | None: ...
    @property
    def static_ip(self) -> IPv4Address | None: ...


def _password_hash(user: UserEntry) -> bytes:
    if user.nt_hash is not None:
        return user.nt_hash
    return mschapv2.nt_password_hash(user.password or "")


class LocalUserBackend:
    """A :class:`~ikel2tp.users.base.UserBackend` over ``[[users]]``; ``reload`` swaps the table
    (SIGHUP) without touching sessions that are already authenticated."""

    def __init__(self, users: Iterable[UserEntry], *, log: logging.Logger) -> None:
        self.log = log
        self._users: dict[str, UserEntry] = {}
        self._hashes: dict[str, bytes] = {}
        self.reload(users)

    def reload(self, users: Iterable[UserEntry]) -> None:
        table: dict[str, UserEntry] = {}
        for user in users:
            if user.name in table:
                raise ConfigError(f"[[users]] {user.name!r} is listed twice")
            table[user.name] = user
        self._users = table
        self._hashes = {name: _password_hash(user) for name, user in table.items()}

    def __len__(self) -> int:
        return len(self._users)

    def authenticate(self, credentials: Credentials) -> AuthResult:
        if isinstance(credentials, MsChapV2Credentials):
            return self._mschapv2(credentials)
        if isinstance(credentials, ChapCredentials):
            return self._chap(credentials)
        return self._pap(credentials)

    def _fail(self, name: str, reason: str) -> AuthResult:
        return AuthResult(False, name, message=_GENERIC_FAILURE, reason=reason)

    def _ok(self, user: UserEntry, authenticator_response: str | None = None) -> AuthResult:
        return AuthResult(True, user.name, message="Welcome", authenticator_response=authenticator_response,
                          static_address=user.static_ip)

    def _pap(self, credentials: PapCredentials) -> AuthResult:
        user = self._users.get(credentials.user)
        if user is not None and user.password is not None:
            ok = hmac.compare_digest(user.password.encode("utf-8"), credentials.password)
        else:
            given = mschapv2.nt_password_hash(credentials.password.decode("utf-8", "replace"))
            stored = self._hashes.get(credentials.user, _DUMMY_HASH)
            ok = hmac.compare_digest(given, stored) and user is not None
        if user is None:
            return self._fail(credentials.user, "unknown user")
        return self._ok(user) if ok else self._fail(user.name, "wrong password (PAP)")

    def _chap(self, credentials: ChapCredentials) -> AuthResult:
        user = self._users.get(credentials.user)
        secret = user.password if user is not None and user.password is not None else "ikel2tp unknown user"
        expected = chap_md5_response(credentials.ident, secret.encode("utf-8"), credentials.challenge)
        ok = hmac.compare_digest(expected, credentials.response)
        if user is None:
            return self._fail(credentials.user, "unknown user")
        if user.password is None:
            return self._fail(user.name, "CHAP-MD5 needs the plaintext password but only nt_hash is "
                                         "configured (use MS-CHAPv2, or set password for this user)")
        return self._ok(user) if ok else self._fail(user.name, "wrong password (CHAP-MD5)")

    def _mschapv2(self, credentials: MsChapV2Credentials) -> AuthResult:
        # RFC 2759 §8.2: the name in the hash is the one the peer sent, without a DOMAIN\ prefix.
        name = mschapv2.hash_user_name(credentials.user).decode("utf-8", "replace")
        user = self._users.get(name)
        password_hash = self._hashes.get(name, _DUMMY_HASH)
        ok = mschapv2.verify_nt_response(credentials.authenticator_challenge, credentials.peer_challenge,
                                         credentials.user, password_hash, credentials.nt_response)
        if user is None:
            return self._fail(name, "unknown user")
        if not ok:
            return self._fail(user.name, "wrong password (MS-CHAPv2)")
        response = mschapv2.generate_authenticator_response(
            password_hash, credentials.nt_response, credentials.peer_challenge,
            credentials.authenticator_challenge, credentials.user)
        return self._ok(user, response)
