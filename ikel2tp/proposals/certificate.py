"""The server certificate as a Windows client judges it (its EKU, names and key), for
``ikel2tp proposals check`` when ``[ike] cert`` is set.  The rules live in
:mod:`ikel2tp.certs.report`; this module only words them as proposal-style findings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509

from ikel2tp.certs import report

FIX = "fix: issue the server certificate with `ikel2tp certs issue server --dns NAME` (serverAuth + IKE EKUs)"


def certificate_findings(
    cert: x509.Certificate, now: datetime, names: Sequence[str] = ()
) -> list[tuple[bool, str]]:
    """(fatal, line) per warning: fatal unless the rule words itself as a recommendation."""
    out = []
    for text in report.warnings(cert, now, kind="server", names=names):
        fatal = not text.split(": ", 1)[-1].startswith("recommended")
        reissue = fatal and ("extended key usage" in text or "SAN" in text or "subjectAltName" in text)
        out.append((fatal, f"server certificate: {text}" + (f"; {FIX}" if reissue else "")))
    return out


def load_certificate(path: str) -> x509.Certificate:
    """A PEM or DER certificate file; ValueError when it is neither."""
    with open(path, "rb") as f:
        data = f.read()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)
