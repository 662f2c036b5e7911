"""``ikel2tp certs``: a CA for the VPN, server and client certificates, requests, revocation.

Every failure (unreadable file, wrong password, bad request signature, not a certificate) is one
``error:`` line on stderr and exit status 1, with nothing written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from ikel2tp.certs import store
from ikel2tp.certs.ca import (
    REVOCATION_REASONS,
    CertificateAuthority,
    default_ca_dir,
    make_request,
    utcnow,
    write_request,
)
from ikel2tp.certs.errors import CaError
from ikel2tp.certs.report import describe, infer_kind, warnings

app = typer.Typer(help="A certificate authority for the VPN: server and client certificates, PKCS#12 "
                       "bundles for Windows/macOS/iOS, requests, revocation.", no_args_is_help=True)
issue_app = typer.Typer(help="Issue a server or a client certificate.", no_args_is_help=True)
app.add_typer(issue_app, name="issue")

DirOption = Annotated[Path | None, typer.Option("--dir", help="CA directory [default: /var/lib/ikel2tp/ca].")]
DaysOption = Annotated[int | None, typer.Option("--days", help="Validity in days [default: per kind].")]
KeyBits = Annotated[int, typer.Option("--key-bits", help="RSA key size of the new key (2048, 3072, 4096).")]
DnsOption = Annotated[list[str], typer.Option("--dns", help="DNS name clients dial (repeatable).")]
IpOption = Annotated[list[str], typer.Option("--ip", help="IP address clients dial (repeatable).")]

_WINDOWS_CA = "Windows: import into Local Computer > Trusted Root Certification Authorities"


@contextmanager
def _plain_errors() -> Iterator[None]:
    try:
        yield
    except CaError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _ca(directory: Path | None) -> CertificateAuthority:
    return CertificateAuthority.open(directory or default_ca_dir())


def _rsa(bits: int) -> str:
    if bits not in (2048, 3072, 4096):
        raise CaError(f"--key-bits {bits}: use 2048, 3072 or 4096")
    return f"rsa{bits}"


@app.command()
def init(directory: DirOption = None,
         ecdsa: Annotated[bool, typer.Option("--ecdsa", help="ECDSA CA key instead of RSA 3072.")] = False,
         curve: Annotated[str, typer.Option("--curve", help="Curve for --ecdsa: p256 or p384.")] = "p256",
         name: Annotated[str, typer.Option("--name", help="The CA's common name.")] = "ikel2tp VPN CA",
         days: Annotated[int, typer.Option("--days", help="CA validity in days.")] = 3650) -> None:
    """Create a CA: key (0600), certificate (PEM and DER), empty index and CRL, in a 0700 directory."""
    with _plain_errors():
        if curve not in ("p256", "p384"):
            raise CaError(f"--curve {curve}: use p256 or p384")
        target = directory or default_ca_dir()
        ca = CertificateAuthority.create(target, name=name, key_type=f"ecdsa-{curve}" if ecdsa else "rsa3072",
                                         days=days)
    cert = ca.certificate
    typer.echo(f"Created CA \"{name}\" in {target}, valid until {cert.not_valid_after_utc:%Y-%m-%d}")
    typer.echo(f"  certificate: {ca.cert_path}  (DER for Windows: {ca.der_path})")
    typer.echo(f"  private key: {ca.key_path}  (0600: keep it secret, back it up)")


@issue_app.command("server")
def issue_server(dns: DnsOption = [], ip: IpOption = [],  # noqa: B006 - typer reads list defaults
                 days: DaysOption = None, key_bits: KeyBits = 3072, directory: DirOption = None) -> None:
    """A server certificate: serverAuth + IKE intermediate EKUs, SAN = the names clients dial."""
    with _plain_errors():
        ca = _ca(directory)
        issued = ca.issue_server(dns, ip, days=days, key_type=_rsa(key_bits))
    entry = issued.entry
    typer.echo(f"Issued server certificate {entry.name} (serial {entry.serial:x}), "
               f"valid until {entry.not_after:%Y-%m-%d}")
    typer.echo("For the server configuration:\n[ike]")
    typer.echo(f'cert = "{issued.files["certificate"]}"\nkey = "{issued.files["key"]}"')
    typer.echo(f'ca = "{ca.cert_path}"')


@issue_app.command("client")
def issue_client(
    name: Annotated[str, typer.Argument(
        help="Client name: CN and SAN (an e-mail address gives an e-mail SAN).")],
    p12_password: Annotated[str | None, typer.Option(
        "--p12-password", envvar="IKEL2TP_P12_PASSWORD",
        help="Password of the PKCS#12 bundle [default: generated and printed once].")] = None,
    password_file: Annotated[bool, typer.Option(
        "--password-file", help="Write the generated password to p12/NAME.password (0600) "
                                "instead of printing it.")] = False,
    legacy: Annotated[bool, typer.Option(
        "--legacy/--modern", help="PKCS#12 encryption: legacy 3DES/SHA1 (every Windows, macOS, iOS) or "
                                  "modern AES-256/SHA256 (Windows 10 1709+, OpenSSL 3).")] = True,
    days: DaysOption = None, key_bits: KeyBits = 3072, directory: DirOption = None,
) -> None:
    """A client certificate (clientAuth), its key and a password-protected PKCS#12 with the CA."""
    with _plain_errors():
        ca = _ca(directory)
        issued = ca.issue_client(name, password=p12_password, legacy=legacy,
                                 password_file=password_file and p12_password is None, days=days,
                                 key_type=_rsa(key_bits))
    entry, files = issued.entry, issued.files
    typer.echo(f"Issued client certificate {entry.name} (serial {entry.serial:x}), "
               f"valid until {entry.not_after:%Y-%m-%d}")
    typer.echo(f"  certificate: {files['certificate']}\n  key:         {files['key']}")
    encryption = "legacy 3DES/SHA1" if legacy else "modern AES-256/SHA256"
    typer.echo(f"  PKCS#12:     {files['p12']}  ({encryption})")
    typer.echo(f"  CA (DER):    {ca.der_path}  ({_WINDOWS_CA})")
    if "password" in files:
        typer.echo(f"PKCS#12 password written to {files['password']} (0600)")
    elif issued.password is not None:
        typer.echo(f"PKCS#12 password (shown only this once): {issued.password}")


@app.command()
def csr(dns: DnsOption = [], ip: IpOption = [],  # noqa: B006 - typer reads list defaults
        out: Annotated[Path, typer.Option(
            "--out", help="Directory for NAME.key (0600) and NAME.csr.")] = Path("."),
        key_bits: KeyBits = 3072) -> None:
    """A gateway key and certificate request, for a CA elsewhere (or `ikel2tp certs sign`)."""
    with _plain_errors():
        key, request = make_request(dns, ip, key_type=_rsa(key_bits))
        key_path, csr_path = write_request(out, key, request)
    typer.echo(f"Key: {key_path} (0600)\nRequest: {csr_path}  (sign with: ikel2tp certs sign {csr_path})")


@app.command()
def sign(request: Annotated[Path, typer.Argument(help="The PKCS#10 request (PEM or DER).")],
         server: Annotated[bool, typer.Option("--server/--client", help="Profile to sign with.")] = True,
         yes: Annotated[bool, typer.Option("--yes", "-y", help="Sign without asking.")] = False,
         days: DaysOption = None, directory: DirOption = None) -> None:
    """Sign an external request after showing what will be signed (subject, SAN, EKU, validity)."""
    with _plain_errors():
        ca = _ca(directory)
        plan = ca.plan_csr(store.load_csr(request), "server" if server else "client", days=days)
    typer.echo("The CA will sign:")
    for line in plan.describe():
        typer.echo(f"  {line}")
    if not yes and not typer.confirm("Sign it?", default=False):
        typer.echo("Nothing signed.", err=True)
        raise typer.Exit(1)
    with _plain_errors():
        issued = ca.sign(plan)
    typer.echo(f"Signed {plan.name} (serial {issued.entry.serial:x}): {issued.files['certificate']}")
    typer.echo(f"Install it with the CA certificate {ca.cert_path}")


@app.command("list")
def list_(directory: DirOption = None) -> None:
    """Every certificate the CA issued: serial, name, kind, expiry, status."""
    with _plain_errors():
        entries = _ca(directory).entries()
    if not entries:
        typer.echo("No certificates issued yet.")
        return
    now = utcnow()
    rows = [(f"{e.serial:x}", e.name, e.kind, f"{e.not_after:%Y-%m-%d}", e.status(now)) for e in entries]
    header = ("SERIAL", "NAME", "KIND", "EXPIRES", "STATUS")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@app.command()
def show(file: Annotated[Path, typer.Argument(help="Certificate (PEM or DER) or PKCS#12 (.p12/.pfx).")],
         name: Annotated[list[str], typer.Option(
             "--name", help="A name clients dial: warn if the SAN lacks it (repeatable).")] = [],  # noqa: B006
         kind: Annotated[str | None, typer.Option(
             "--kind", help="Check as server, client or ca [default: guessed from the EKU].")] = None,
         password: Annotated[str | None, typer.Option(
             "--password", envvar="IKEL2TP_P12_PASSWORD",
             help="Password of a PKCS#12 file.")] = None) -> None:
    """A certificate in plain words, and warnings for what Windows (and other clients) will refuse."""
    with _plain_errors():
        if kind not in (None, "server", "client", "ca"):
            raise CaError(f"--kind {kind}: use server, client or ca")
        if file.suffix.lower() in (".p12", ".pfx"):
            secret = password if password is not None else typer.prompt("PKCS#12 password", hide_input=True)
            bundle = store.load_pkcs12(file, secret.encode())
            if bundle.cert is None:
                raise CaError(f"{file} holds no certificate")
            cert = bundle.cert.certificate
        else:
            cert = store.load_certificate(file)
    now = utcnow()
    for line in describe(cert, now):
        typer.echo(line)
    checked = kind or infer_kind(cert)
    found = warnings(cert, now, kind=checked, names=name)
    label = "CA" if checked == "ca" else checked
    typer.echo(f"Checked as a {label} certificate" + ("" if kind else " (choose with --kind)") + ":")
    for text in found:
        typer.echo(f"  WARNING: {text}")
    if not found:
        typer.echo("  no problems found")


@app.command()
def revoke(which: Annotated[str, typer.Argument(help="Name or serial (hex, a unique prefix is enough).")],
           reason: Annotated[str, typer.Option(
               "--reason", help=f"One of: {', '.join(REVOCATION_REASONS)}.")] = "unspecified",
           directory: DirOption = None) -> None:
    """Revoke a certificate and rewrite the CRL."""
    with _plain_errors():
        ca = _ca(directory)
        entry = ca.revoke(which, reason)
    typer.echo(f"Revoked {entry.name} (serial {entry.serial:x}, reason {reason}); CRL: {ca.crl_path}")


@app.command()
def crl(days: Annotated[int, typer.Option("--days", help="Days until the CRL's next update.")] = 365,
        directory: DirOption = None) -> None:
    """Regenerate the CRL (crl.pem) from the index."""
    with _plain_errors():
        ca = _ca(directory)
        path = ca.write_crl(days=days)
        revoked = len(ca.load_crl())
    typer.echo(f"Wrote {path} ({revoked} revoked, next update in {days} days)")
