"""Reading and writing the CA's files: all-or-nothing writes with their final mode from creation.

Secrets are created with ``os.open(..., 0o600)`` (never chmod-ed afterwards), every write goes to a
temporary file in the same directory first and is moved into place with :func:`os.replace`, so a
failure leaves the previous files untouched.  Loaders turn every failure into one plain
:class:`CaError` line naming the file.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from ikel2tp.certs.errors import CaError

SECRET = 0o600
PUBLIC = 0o644
PRIVATE_DIR = 0o700


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) as 0700; tighten an existing directory to 0700."""
    try:
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        if path.stat().st_mode & 0o777 != PRIVATE_DIR:
            os.chmod(path, PRIVATE_DIR)
    except OSError as exc:
        raise CaError(f"cannot create directory {path}: {exc.strerror}") from exc


def write_files(files: Mapping[Path, tuple[bytes, int]]) -> None:
    """Write every ``path: (data, mode)`` or none of them.

    All contents are staged in temporary files (created with their final mode) before the first
    :func:`os.replace`; a staging failure removes the temporaries and raises :class:`CaError`.
    """
    staged: list[tuple[Path, Path]] = []
    current = Path()
    try:
        for path, (data, mode) in files.items():
            current = path
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
    except OSError as exc:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise CaError(f"cannot write {current}: {exc.strerror}") from exc
    for tmp, path in staged:
        os.replace(tmp, path)


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on the CA directory (two ``certs issue`` at once stay consistent)."""
    try:
        fd = os.open(directory / ".lock", os.O_WRONLY | os.O_CREAT, SECRET)
    except OSError as exc:
        raise CaError(f"cannot lock {directory}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_bytes(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CaError(f"cannot read {what} {path}: {exc.strerror}") from exc


def _is_pem(data: bytes) -> bool:
    return data.lstrip().startswith(b"-----BEGIN")


def parse_certificate(data: bytes, source: str) -> x509.Certificate:
    """A PEM or DER certificate; :class:`CaError` if ``data`` is anything else."""
    try:
        if _is_pem(data):
            cert = x509.load_pem_x509_certificate(data)
        else:
            cert = x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise CaError(f"{source} is not an X.509 certificate (PEM or DER)") from exc
    try:
        list(cert.extensions)  # parsed lazily: fail here, not in the middle of a report
    except ValueError as exc:
        raise CaError(f"{source}: malformed certificate extensions ({exc})") from exc
    return cert


def load_certificate(path: Path) -> x509.Certificate:
    return parse_certificate(read_bytes(path, "certificate"), str(path))


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (or the one of a DER file): trust anchors for ``[ike] ca``."""
    data = read_bytes(path, "certificates")
    if not _is_pem(data):
        return [parse_certificate(data, str(path))]
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CaError(f"{path} is not a PEM certificate bundle") from exc
    return [parse_certificate(cert.public_bytes(serialization.Encoding.DER), str(path)) for cert in certs]


def load_csr(path: Path) -> x509.CertificateSigningRequest:
    data = read_bytes(path, "certificate request")
    try:
        if _is_pem(data):
            return x509.load_pem_x509_csr(data)
        return x509.load_der_x509_csr(data)
    except ValueError as exc:
        raise CaError(f"{path} is not a certificate signing request (PEM or DER PKCS#10)") from exc


def load_private_key(path: Path, password: bytes | None = None) -> PrivateKeyTypes:
    data = read_bytes(path, "private key")
    try:
        if _is_pem(data):
            return serialization.load_pem_private_key(data, password)
        return serialization.load_der_private_key(data, password)
    except TypeError as exc:  # encrypted without a password, or a password for a clear key
        problem = "a password is needed" if password is None else "the key has no password"
        raise CaError(f"{path}: {problem}") from exc
    except ValueError as exc:
        raise CaError(f"{path}: not a private key, or the password is wrong") from exc


def load_pkcs12(path: Path, password: bytes) -> pkcs12.PKCS12KeyAndCertificates:
    data = read_bytes(path, "PKCS#12 bundle")
    try:
        return pkcs12.load_pkcs12(data, password)
    except ValueError as exc:
        raise CaError(f"{path}: not a PKCS#12 bundle, or the password is wrong") from exc


def load_crl(path: Path) -> x509.CertificateRevocationList:
    data = read_bytes(path, "CRL")
    try:
        if _is_pem(data):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise CaError(f"{path} is not a certificate revocation list (PEM or DER)") from exc


def pem_key(key: PrivateKeyTypes) -> bytes:
    """The unencrypted PKCS#8 PEM form (files holding it are always 0600)."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def pem_certificate(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)
