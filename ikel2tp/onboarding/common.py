"""What every client generator shares: the resolved inputs, the generated files and how they are written.

:func:`resolve` turns the server configuration plus the command-line choices into :class:`ClientInputs`
(server name, user, IPsec authentication, the user's password when it is known); each generator turns
those into a :class:`Bundle` of files; :func:`write_bundle` writes them 0600 into a 0700 directory.
Secrets (PSK, user password, PKCS#12 and its password) live only in files and in
:attr:`Bundle.secrets`, which the command prints only when asked to; nothing secret is in a repr.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from ikel2tp.certs import store
from ikel2tp.certs.errors import CaError
from ikel2tp.common.errors import Ikel2tpError
from ikel2tp.common.files import write_private
from ikel2tp.config import Config

SECRET_FILE = 0o600
PRIVATE_DIR = 0o700
AUTH_MODES = ("auto", "psk", "cert")
P12_PASSWORD_SUFFIX = ".password"  # `ikel2tp certs issue client --password-file` writes p12/NAME.password


class OnboardingError(Ikel2tpError):
    """A client profile cannot be made; the message says what is missing and how to supply it."""


@dataclass(frozen=True)
class CertMaterial:
    """Certificate mode: the CA certificates clients must trust (DER) and the user's PKCS#12 bundle."""

    ca_der: tuple[bytes, ...]
    p12: bytes = field(repr=False)
    p12_name: str
    p12_password: str | None = field(default=None, repr=False)  # None: asked for on the device


@dataclass(frozen=True)
class ClientInputs:
    """Everything a generator needs.  ``psk`` is set in PSK mode, ``cert`` in certificate mode."""

    config: Config
    server: str
    user: str
    name: str  # the connection name the user sees
    password: str | None = field(default=None, repr=False)  # None: the client asks for it
    psk: str | None = field(default=None, repr=False)
    cert: CertMaterial | None = None

    @property
    def full_tunnel(self) -> bool:
        """Send all traffic through the VPN when the server NATs clients to the internet."""
        return bool(self.config.server.masquerade)

    @property
    def server_behind_nat(self) -> bool:
        """The configured public address is not one we listen on: a 1:1 NAT in front of the server."""
        public = self.config.server.public_address
        return public is not None and public not in self.config.server.listen


@dataclass(frozen=True)
class GeneratedFile:
    name: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Bundle:
    """A generator's result: files to write, notes for the terminal (never secret) and the secrets
    (label, value) shown only with ``--show-secrets``."""

    files: tuple[GeneratedFile, ...]
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    secrets: tuple[tuple[str, str], ...] = field(default=(), repr=False)


def file_stem(text: str) -> str:
    """A file-name-safe form of a user or connection name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "client"


def resolve(config: Config, user: str | None, *, server: str | None = None, name: str | None = None,
            password: str | None = None, auth: str = "auto", p12: Path | None = None,
            p12_password: str | None = None) -> ClientInputs:
    """Check and gather the inputs; every problem is an :class:`OnboardingError` saying how to fix it."""
    address = server or config.server.public_address
    if not address:
        raise OnboardingError("no server address for clients to dial: pass --server NAME (a DNS name or IP) "
                              "or set [server] public_address in the configuration")
    who = _user(config, user)
    if password is None:
        entry = next((u for u in config.users if u.name == who), None)
        password = entry.password if entry is not None else None  # a plaintext password in the file
    if auth not in AUTH_MODES:
        raise OnboardingError(f"--auth {auth}: use one of {', '.join(AUTH_MODES)}")
    mode = auth if auth != "auto" else ("cert" if config.ike.cert else "psk")
    inputs = ClientInputs(config, address, who, name or f"ikel2tp VPN ({address})", password)
    if mode == "psk":
        if not config.ike.psk:
            raise OnboardingError(
                "no [ike] psk in the configuration: clients need the one global pre-shared key "
                "([[ike.peers]] keys depend on the client's address or identity, which a profile cannot "
                "know)" + ("; or use certificates with --auth cert" if config.ike.cert else ""))
        return replace(inputs, psk=config.ike.psk)
    return replace(inputs, cert=_cert_material(config, who, p12, p12_password))


def _user(config: Config, user: str | None) -> str:
    names = [u.name for u in config.users]
    if user is None:
        if len(names) == 1:
            return names[0]
        listed = ", ".join(names) if names else "none configured"
        raise OnboardingError(f"name the user (USER argument); users in the configuration: {listed}")
    if user not in names:
        listed = ", ".join(names) if names else "none"
        raise OnboardingError(f"no user {user!r} in the configuration (users: {listed}); add one with "
                              "'ikel2tp users add'")
    return user


def _cert_material(config: Config, user: str, p12: Path | None, p12_password: str | None) -> CertMaterial:
    if not config.ike.cert:
        raise OnboardingError("--auth cert: the configuration has no [ike] cert and key")
    if not config.ike.ca:
        raise OnboardingError("certificate mode needs [ike] ca (the CA that issued the client certificates)")
    ca_path = Path(config.ike.ca)
    try:
        ca_der = tuple(c.public_bytes(serialization.Encoding.DER) for c in store.load_certificates(ca_path))
    except CaError as exc:
        raise OnboardingError(str(exc)) from None
    bundle_path = p12 or ca_path.parent / "p12" / f"{user}.p12"
    if not bundle_path.is_file():
        raise OnboardingError(f"no PKCS#12 bundle for {user!r} at {bundle_path}: issue one with "
                              f"'ikel2tp certs issue client {user}' or pass --p12 FILE")
    try:
        data = bundle_path.read_bytes()
    except OSError as exc:
        raise OnboardingError(f"{bundle_path}: cannot read: {exc.strerror}") from None
    if p12_password is None:
        saved = bundle_path.with_suffix(P12_PASSWORD_SUFFIX)
        if saved.is_file():
            p12_password = saved.read_text(encoding="utf-8").strip()
    if p12_password is not None:
        try:
            store.load_pkcs12(bundle_path, p12_password.encode())
        except CaError as exc:
            raise OnboardingError(str(exc)) from None
    return CertMaterial(ca_der, data, bundle_path.name, p12_password)


def ca_file_names(cert: CertMaterial) -> list[str]:
    """``ca.cer``, or ``ca-1.cer`` ... when ``[ike] ca`` is a bundle of several trust anchors."""
    if len(cert.ca_der) == 1:
        return ["ca.cer"]
    return [f"ca-{index}.cer" for index in range(1, len(cert.ca_der) + 1)]


def cert_files(cert: CertMaterial) -> list[GeneratedFile]:
    """The CA certificate(s) (DER) and the user's PKCS#12, to travel with the profile."""
    files = [GeneratedFile(n, der) for n, der in zip(ca_file_names(cert), cert.ca_der, strict=True)]
    return [*files, GeneratedFile(cert.p12_name, cert.p12)]


def write_bundle(bundle: Bundle, directory: Path) -> list[Path]:
    """Write every file with mode 0600 into ``directory`` (created or tightened to 0700).

    Each file is staged under a temporary name created 0600 and moved into place, so a secret is
    never readable by others, not even for a moment, and a failure leaves no half-written file.
    """
    try:
        directory.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        if directory.stat().st_mode & 0o777 != PRIVATE_DIR:
            directory.chmod(PRIVATE_DIR)
    except OSError as exc:
        raise OnboardingError(f"{directory}: cannot create the output directory: {exc.strerror}") from None
    written = []
    for item in bundle.files:
        path = directory / item.name
        try:
            write_private(path, item.data, SECRET_FILE)
        except OSError as exc:
            raise OnboardingError(f"{path}: cannot write: {exc.strerror}") from None
        written.append(path)
    return written
