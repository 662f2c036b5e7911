"""Errors of the certificate layer.

:class:`CaError` is an operator-side problem (a file that cannot be read, a wrong password, a CSR
whose signature fails); the CLI prints it as one line and exits 1.  :class:`CertError` is a peer's
certificate, ID or signature refused during IKE authentication; it is a :class:`ProtocolError`
carrying the ISAKMP notify type the IKE layer answers with.
"""

from __future__ import annotations

from enum import IntEnum

from ikel2tp.common.errors import Ikel2tpError, ProtocolError


class CertNotify(IntEnum):
    """The ISAKMP notify message types for certificate problems (RFC 2408 §3.14.1)."""

    INVALID_ID_INFORMATION = 18
    INVALID_CERT_ENCODING = 19
    INVALID_CERTIFICATE = 20
    CERT_TYPE_UNSUPPORTED = 21
    INVALID_CERT_AUTHORITY = 22
    AUTHENTICATION_FAILED = 24
    INVALID_SIGNATURE = 25


class CaError(Ikel2tpError):
    """A CA operation cannot be done; the message is one line in plain words."""


class CertError(ProtocolError):
    """A peer's certificate chain, ID or signature is refused; ``reason`` names the problem."""

    layer = "x509"

    def __init__(self, reason: str, *, code: int = CertNotify.INVALID_CERTIFICATE,
                 field: str | None = None) -> None:
        super().__init__(reason, field=field, code=int(code))
