"""``ikel2tp certs`` end to end through the typer app: outputs, files, permissions, errors."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from typer.testing import CliRunner

from ikel2tp.certs.ca import CertificateAuthority
from ikel2tp.cli.certs import app

from .conftest import FIXTURES

runner = CliRunner()
FAST = ["--key-bits", "2048"]


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def snapshot(directory: Path) -> dict[str, bytes]:
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    return {str(p.relative_to(directory)): p.read_bytes() for p in files}


def test_init_default_rsa3072(tmp_path):
    result = run("init", "--dir", str(tmp_path / "ca"), "--name", "Example VPN CA")
    assert result.exit_code == 0, result.output
    assert 'Created CA "Example VPN CA"' in result.stdout
    ca = CertificateAuthority.open(tmp_path / "ca")
    assert ca.key.key_size == 3072
    assert mode(ca.key_path) == 0o600 and mode(ca.directory) == 0o700
    again = run("init", "--dir", str(tmp_path / "ca"))
    assert again.exit_code == 1 and again.stderr == f"error: a CA already exists in {tmp_path / 'ca'}\n"


def test_init_ecdsa(tmp_path):
    assert run("init", "--dir", str(tmp_path / "ca"), "--ecdsa", "--curve", "p384").exit_code == 0
    assert CertificateAuthority.open(tmp_path / "ca").key.curve.name == "secp384r1"
    bad = run("init", "--dir", str(tmp_path / "ca2"), "--ecdsa", "--curve", "p521")
    assert bad.exit_code == 1 and "use p256 or p384" in bad.stderr and not (tmp_path / "ca2").exists()


def test_issue_server_prints_configuration(ca):
    result = run("issue", "server", "--dns", "vpn.example.com", "--ip", "203.0.113.1", *FAST,
                 "--dir", str(ca.directory))
    assert result.exit_code == 0, result.output
    assert f'cert = "{ca.issued_path("vpn.example.com")}"' in result.stdout
    assert f'key = "{ca.private_path("vpn.example.com")}"' in result.stdout
    assert mode(ca.private_path("vpn.example.com")) == 0o600
    none = run("issue", "server", *FAST, "--dir", str(ca.directory))
    assert none.exit_code == 1 and "at least one --dns name or --ip address" in none.stderr


def test_issue_client_generated_password_shown_once(ca):
    result = run("issue", "client", "alice", *FAST, "--dir", str(ca.directory))
    assert result.exit_code == 0, result.output
    password = re.search(r"PKCS#12 password \(shown only this once\): (\S+)", result.stdout).group(1)
    bundle = pkcs12.load_pkcs12(ca.p12_path("alice").read_bytes(), password.encode())
    assert bundle.cert.certificate.subject.rfc4514_string() == "CN=alice"
    assert "legacy 3DES/SHA1" in result.stdout and str(ca.der_path) in result.stdout
    assert all(password.encode() not in data for data in snapshot(ca.directory).values())
    assert mode(ca.p12_path("alice")) == 0o600 and mode(ca.private_path("alice")) == 0o600


def test_issue_client_password_file_and_modern(ca):
    result = run("issue", "client", "bob", "--password-file", "--modern", *FAST, "--dir", str(ca.directory))
    assert result.exit_code == 0, result.output
    password_file = ca.p12_path("bob").with_suffix(".password")
    password = password_file.read_text().strip()
    assert password not in result.stdout and mode(password_file) == 0o600
    pkcs12.load_pkcs12(ca.p12_path("bob").read_bytes(), password.encode())
    given = run("issue", "client", "carol", "--p12-password", "s3cret-pw", *FAST, "--dir", str(ca.directory))
    assert given.exit_code == 0 and "s3cret-pw" not in given.stdout
    pkcs12.load_pkcs12(ca.p12_path("carol").read_bytes(), b"s3cret-pw")


def test_csr_and_sign(ca, tmp_path):
    out = tmp_path / "gw"
    made = run("csr", "--dns", "gw.example.com", "--ip", "198.51.100.7", "--out", str(out), *FAST)
    assert made.exit_code == 0, made.output
    assert mode(out / "gw.example.com.key") == 0o600
    request = out / "gw.example.com.csr"

    declined = run("sign", str(request), "--dir", str(ca.directory), input="n\n")
    assert declined.exit_code == 1 and "Nothing signed" in declined.stderr
    for expected in ("Subject:   CN=gw.example.com", "DNS:gw.example.com, IP:198.51.100.7",
                     "serverAuth (1.3.6.1.5.5.7.3.1)", "Validity:"):
        assert expected in declined.stdout
    assert not ca.issued_path("gw.example.com").exists()

    signed = run("sign", str(request), "--yes", "--dir", str(ca.directory))
    assert signed.exit_code == 0, signed.output
    cert = x509.load_pem_x509_certificate(ca.issued_path("gw.example.com").read_bytes())
    cert.verify_directly_issued_by(ca.certificate)

    client = run("csr", "--dns", "client.example.com", "--out", str(out), *FAST)
    assert client.exit_code == 0
    as_client = run("sign", str(out / "client.example.com.csr"), "--client", "--yes",
                    "--dir", str(ca.directory))
    assert as_client.exit_code == 0 and "clientAuth" in as_client.stdout


def test_sign_refuses_bad_signature_and_writes_nothing(ca, tmp_path):
    run("csr", "--dns", "gw.example.com", "--out", str(tmp_path), *FAST)
    request = x509.load_pem_x509_csr((tmp_path / "gw.example.com.csr").read_bytes())
    tampered = bytearray(request.public_bytes(Encoding.DER))
    tampered[-3] ^= 0x40
    bad = tmp_path / "bad.csr"
    bad.write_bytes(bytes(tampered))
    before = snapshot(ca.directory)
    result = run("sign", str(bad), "--yes", "--dir", str(ca.directory))
    assert result.exit_code == 1
    assert result.stderr == "error: the request's signature does not verify: it was altered or is not " \
                            "self-consistent\n"
    assert snapshot(ca.directory) == before
    junk = run("sign", str(FIXTURES / "ca.crt"), "--yes", "--dir", str(ca.directory))
    assert junk.exit_code == 1 and "is not a certificate signing request" in junk.stderr


def test_list_revoke_crl(ca):
    run("issue", "client", "dave", "--p12-password", "pw-1234", *FAST, "--dir", str(ca.directory))
    run("issue", "server", "--dns", "vpn.example.com", *FAST, "--dir", str(ca.directory))
    listed = run("list", "--dir", str(ca.directory))
    assert listed.exit_code == 0
    assert listed.stdout.splitlines()[0].split() == ["SERIAL", "NAME", "KIND", "EXPIRES", "STATUS"]
    assert re.search(r"\bdave\s+client\s+\S+\s+valid$", listed.stdout, re.M)
    revoked = run("revoke", "dave", "--reason", "superseded", "--dir", str(ca.directory))
    assert revoked.exit_code == 0 and "Revoked dave" in revoked.stdout
    serial = next(e.serial for e in ca.entries() if e.name == "dave")
    assert ca.load_crl().get_revoked_certificate_by_serial_number(serial) is not None
    listed = run("list", "--dir", str(ca.directory))
    assert re.search(r"\bdave\s+client\s+\S+\s+revoked$", listed.stdout, re.M)
    again = run("revoke", "dave", "--dir", str(ca.directory))
    assert again.exit_code == 1 and "no certificate named dave" in again.stderr
    crl = run("crl", "--days", "30", "--dir", str(ca.directory))
    assert crl.exit_code == 0 and "(1 revoked, next update in 30 days)" in crl.stdout


def test_show_good_server(ca):
    run("issue", "server", "--dns", "vpn.example.com", "--ip", "203.0.113.1", *FAST,
        "--dir", str(ca.directory))
    result = run("show", str(ca.issued_path("vpn.example.com")), "--name", "vpn.example.com",
                 "--name", "203.0.113.1")
    assert result.exit_code == 0, result.output
    assert "Subject alt names:   DNS:vpn.example.com, IP:203.0.113.1" in result.stdout
    assert "Key:                 RSA 2048 bits" in result.stdout
    assert "Checked as a server certificate" in result.stdout and "no problems found" in result.stdout
    other = run("show", str(ca.issued_path("vpn.example.com")), "--name", "vpn.example.org")
    assert "WARNING: the SAN does not contain vpn.example.org" in other.stdout


def test_show_flags_server_without_server_auth():
    result = run("show", str(FIXTURES / "server-no-serverauth.crt"))
    assert result.exit_code == 0
    assert "WARNING: no serverAuth extended key usage (1.3.6.1.5.5.7.3.1): Windows refuses a VPN server " \
           "certificate without it" in result.stdout


def test_show_expired_and_client_checks():
    expired = run("show", str(FIXTURES / "expired.crt"))
    assert "Checked as a client certificate" in expired.stdout
    assert re.search(r"WARNING: expired on \d{4}-\d\d-\d\d", expired.stdout)
    as_server = run("show", str(FIXTURES / "alice.crt"), "--kind", "server")
    assert "WARNING: no serverAuth" in as_server.stdout


def test_show_p12_and_errors(tmp_path):
    password = (FIXTURES / "alice.password").read_text().strip()
    good = run("show", str(FIXTURES / "alice.p12"), "--password", password)
    assert good.exit_code == 0 and "Subject:             CN=alice" in good.stdout
    wrong = run("show", str(FIXTURES / "alice.p12"), "--password", "wrong")
    assert wrong.exit_code == 1
    assert wrong.stderr == \
        f"error: {FIXTURES / 'alice.p12'}: not a PKCS#12 bundle, or the password is wrong\n"
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    not_cert = run("show", str(junk))
    assert not_cert.exit_code == 1
    assert not_cert.stderr == f"error: {junk} is not an X.509 certificate (PEM or DER)\n"
    missing = run("show", str(tmp_path / "absent.crt"))
    assert missing.exit_code == 1 and "cannot read certificate" in missing.stderr


@pytest.mark.parametrize("args", [["list"], ["revoke", "x"], ["crl"], ["issue", "client", "x"]])
def test_commands_without_a_ca(tmp_path, args):
    result = run(*args, "--dir", str(tmp_path / "none"))
    assert result.exit_code == 1 and result.stderr.startswith(f"error: no CA in {tmp_path / 'none'}")
