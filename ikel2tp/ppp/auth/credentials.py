"""What a PPP link hands to a user backend, and what the backend answers.

The link never decides whether a password is right: it emits ``AuthRequested(credentials)`` and
waits for ``auth_result`` so a local table and a RADIUS server (which may answer later) plug in the
same way.  Secrets never appear in ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address


class AuthMethod(StrEnum):
    """Authentication methods by their ``[ppp] auth`` configuration names."""

    MSCHAPV2 = "mschapv2"
    CHAP = "chap"
    PAP = "pap"


@dataclass(frozen=True)
class PapCredentials:
    """RFC 1334 §2.2.1 Authenticate-Request: the peer's name and its plaintext password."""

    user: str
    password: bytes

    def __repr__(self) -> str:
        return f"PapCredentials(user={self.user!r})"


@dataclass(frozen=True)
class ChapCredentials:
    """RFC 1994 §4.1 Response: MD5(identifier | secret | challenge)."""

    user: str
    ident: int
    challenge: bytes
    response: bytes

    def __repr__(self) -> str:
        return f"ChapCredentials(user={self.user!r}, ident={self.ident})"


@dataclass(frozen=True)
class MsChapV2Credentials:
    """RFC 2759 §4 Response: the peer challenge and NT-Response to our authenticator challenge."""

    user: str
    authenticator_challenge: bytes
    peer_challenge: bytes
    nt_response: bytes

    def __repr__(self) -> str:
        return f"MsChapV2Credentials(user={self.user!r})"


@dataclass(frozen=True)
class ClientLogin:
    """Client role: the name and password we authenticate with."""

    user: str
    password: str

    def __repr__(self) -> str:
        return f"ClientLogin(user={self.user!r})"


Credentials = PapCredentials | ChapCredentials | MsChapV2Credentials


class FailureCode:
    """MS-CHAP failure codes (RFC 2759 §6, Windows RAS error numbers) carried as ``E=<code>``."""

    RESTRICTED_LOGON_HOURS = 646
    ACCT_DISABLED = 647
    PASSWD_EXPIRED = 648
    NO_DIALIN_PERMISSION = 649
    AUTHENTICATION_FAILURE = 691
    CHANGING_PASSWORD = 709


@dataclass(frozen=True)
class AuthResult:
    """A user backend's verdict.

    ``authenticator_response`` is the MS-CHAPv2 ``"S=<40 hex>"`` string proving the server knows the
    password (RFC 2759 §8.7); ``failure_code`` is the MS-CHAP ``E=`` value for a failure;
    ``message`` is shown to the user (never a secret); ``reason`` is for our log only (it may say
    "unknown user", which the client should not learn); ``static_address`` is the user's fixed IPv4
    address when the backend has one.
    """

    success: bool
    user: str
    message: str = ""
    authenticator_response: str | None = None
    failure_code: int = FailureCode.AUTHENTICATION_FAILURE
    static_address: IPv4Address | None = None
    reason: str = ""
