"""The user backend interface: credentials in, :class:`AuthResult` out.

The local table answers at once (:class:`UserBackend`); a RADIUS backend answers later
(:class:`AsyncUserBackend`).  The shell calls :func:`authenticate`, which takes either, and hands
the result to ``PppLink.auth_result``.
"""

from __future__ import annotations

import inspect
from typing import Protocol

from ikel2tp.ppp.auth.credentials import AuthResult, Credentials


class UserBackend(Protocol):
    def authenticate(self, credentials: Credentials) -> AuthResult: ...


class AsyncUserBackend(Protocol):
    async def authenticate(self, credentials: Credentials) -> AuthResult: ...


async def authenticate(backend: UserBackend | AsyncUserBackend, credentials: Credentials) -> AuthResult:
    """Ask either kind of backend."""
    result = backend.authenticate(credentials)
    if inspect.isawaitable(result):
        return await result
    return result
