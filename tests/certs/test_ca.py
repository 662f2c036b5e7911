"""The CA directory: profiles, permissions, PKCS#12, revocation, checked with cryptography and openssl."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ikel2tp.certs import store
from ikel2tp.certs.ca import CertificateAuthority, make_request, write_request
from ikel2tp.certs.errors import CaError
from ikel2tp.certs.profiles import IKE_INTERMEDIATE

from .conftest import FAST_KEY

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def ext(cert: x509.Certificate, kind: type) -> x509.Extension:
    return cert.extensions.get_extension_for_class(kind)


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *args], capture_output=True, text=True, timeout=30, check=False)


def test_ca_profile_and_permissions(session_ca):
    cert = session_ca.certificate
    basic = ext(cert, x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    ski = ext(cert, x509.SubjectKeyIdentifier).value
    assert ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == ski.digest
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days >= 3650
    assert mode(session_ca.directory) == 0o700
    assert mode(session_ca.key_path) == 0o600
    for sub in ("issued", "private", "p12"):
        assert mode(session_ca.directory / sub) == 0o700
    assert x509.load_der_x509_certificate(session_ca.der_path.read_bytes()) == cert
    assert json.loads(session_ca.index_path.read_text())["certificates"] == []


@pytest.mark.parametrize("key_type, curve", [("ecdsa-p256", ec.SECP256R1), ("ecdsa-p384", ec.SECP384R1)])
def test_ecdsa_ca_issues_rsa_leaves(tmp_path, key_type, curve):
    ca = CertificateAuthority.create(tmp_path / "ca", key_type=key_type, name="EC CA")
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey) and isinstance(ca.key.curve, curve)
    issued = ca.issue_server(["vpn.example.com"], key_type=FAST_KEY)
    issued.certificate.verify_directly_issued_by(ca.certificate)
    assert isinstance(issued.certificate.public_key(), rsa.RSAPublicKey)


def test_init_refuses_existing_ca(session_ca):
    with pytest.raises(CaError, match="already exists"):
        CertificateAuthority.create(session_ca.directory, key_type=FAST_KEY)


def test_server_profile(ca):
    issued = ca.issue_server(["VPN.example.com", "vpn2.example.com"], ["203.0.113.1"], key_type=FAST_KEY)
    cert = issued.certificate
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "vpn.example.com"
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH, IKE_INTERMEDIATE]
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.key_encipherment
    assert not usage.value.key_cert_sign
    assert not ext(cert, x509.BasicConstraints).value.ca
    san = ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["vpn.example.com", "vpn2.example.com"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["203.0.113.1"]
    assert ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == \
        ext(ca.certificate, x509.SubjectKeyIdentifier).value.digest
    assert mode(issued.files["key"]) == 0o600
    assert store.load_certificate(issued.files["certificate"]) == cert
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 825


def test_client_profile_and_p12(ca):
    issued = ca.issue_client("alice", password="pw-1234", key_type=FAST_KEY)
    cert = issued.certificate
    assert ExtendedKeyUsageOID.CLIENT_AUTH in ext(cert, x509.ExtendedKeyUsage).value
    assert ext(cert, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == ["alice"]
    assert issued.password is None  # given, not generated: nothing to show
    for name in ("key", "p12"):
        assert mode(issued.files[name]) == 0o600
    bundle = pkcs12.load_pkcs12(issued.files["p12"].read_bytes(), b"pw-1234")
    assert bundle.cert.certificate == cert
    assert bundle.cert.friendly_name == b"alice"
    assert [c.certificate for c in bundle.additional_certs] == [ca.certificate]
    assert bundle.key.public_key().public_numbers() == cert.public_key().public_numbers()


def test_client_email_name_gives_email_san(ca):
    cert = ca.issue_client("bob@example.com", password="pw-1234", key_type=FAST_KEY).certificate
    assert ext(cert, x509.SubjectAlternativeName).value.get_values_for_type(x509.RFC822Name) == \
        ["bob@example.com"]


def test_generated_password_and_password_file(ca):
    issued = ca.issue_client("carol", password_file=True, key_type=FAST_KEY)
    assert issued.password and issued.password not in repr(issued)
    assert issued.files["password"].read_text().strip() == issued.password
    assert mode(issued.files["password"]) == 0o600
    pkcs12.load_pkcs12(issued.files["p12"].read_bytes(), issued.password.encode())


@needs_openssl
def test_openssl_verifies_issued_certificates(ca):
    server = ca.issue_server(["vpn.example.com"], key_type=FAST_KEY)
    client = ca.issue_client("alice", password="pw-1234", key_type=FAST_KEY)
    for issued in (server, client):
        done = openssl("verify", "-CAfile", str(ca.cert_path), str(issued.files["certificate"]))
        assert done.returncode == 0 and done.stdout.strip().endswith(": OK"), done.stderr


@needs_openssl
@pytest.mark.parametrize("legacy", [True, False])
def test_openssl_reads_p12(ca, legacy):
    issued = ca.issue_client("dave", password="pw-1234", legacy=legacy, key_type=FAST_KEY)
    args = ["pkcs12", "-info", "-noout", "-in", str(issued.files["p12"]), "-passin", "pass:pw-1234"]
    done = openssl(*args)
    if legacy and done.returncode != 0 and "unsupported" in done.stderr.lower():
        done = openssl(*args, "-legacy")  # OpenSSL 3 without the legacy provider loaded by default
    assert done.returncode == 0, done.stderr
    expected = ("pbeWithSHA1And3-KeyTripleDES-CBC", "sha1") if legacy else ("AES-256-CBC", "sha256")
    assert expected[0] in done.stderr and f"MAC: {expected[1]}" in done.stderr
    wrong = openssl("pkcs12", "-info", "-noout", "-in", str(issued.files["p12"]), "-passin", "pass:nope")
    assert wrong.returncode != 0


def test_duplicate_name_refused_until_revoked(ca):
    first = ca.issue_client("erin", password="pw-1234", key_type=FAST_KEY)
    with pytest.raises(CaError, match="already issued"):
        ca.issue_client("erin", password="pw-1234", key_type=FAST_KEY)
    ca.revoke("erin")
    second = ca.issue_client("erin", password="pw-1234", key_type=FAST_KEY)
    assert second.entry.serial != first.entry.serial
    assert [e.status(second.entry.not_after) for e in ca.entries()] == ["revoked", "valid"]


@needs_openssl
def test_revoke_lists_serial_in_crl(ca):
    issued = ca.issue_client("frank", password="pw-1234", key_type=FAST_KEY)
    before = ca.load_crl()
    entry = ca.revoke(f"{issued.entry.serial:x}"[:10], "key-compromise")
    assert entry.name == "frank" and entry.reason == "key-compromise"
    crl = ca.load_crl()
    revoked = crl.get_revoked_certificate_by_serial_number(issued.entry.serial)
    assert revoked is not None
    assert revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason == \
        x509.ReasonFlags.key_compromise
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
    done = openssl("crl", "-in", str(ca.crl_path), "-noout", "-text")
    assert f"{issued.entry.serial:X}" in done.stdout.replace(":", "").upper()
    check = openssl("verify", "-crl_check", "-CAfile", str(ca.cert_path), "-CRLfile", str(ca.crl_path),
                    str(issued.files["certificate"]))
    assert check.returncode != 0 and "revoked" in check.stdout + check.stderr
    with pytest.raises(CaError, match="already revoked"):
        ca.revoke(f"{issued.entry.serial:x}")


def test_revoke_unknown_and_bad_reason(ca):
    with pytest.raises(CaError, match="no certificate"):
        ca.revoke("nobody")
    with pytest.raises(CaError, match="unknown reason"):
        ca.revoke("nobody", "because")


def test_write_crl_days(ca):
    ca.write_crl(days=7)
    crl = ca.load_crl()
    assert 6 <= (crl.next_update_utc - crl.last_update_utc).days <= 7


def test_csr_round_trip_and_sign(ca, tmp_path):
    key, request = make_request(["gw.example.com"], ["198.51.100.7"], key_type=FAST_KEY)
    key_path, csr_path = write_request(tmp_path / "gw", key, request)
    assert mode(key_path) == 0o600 and mode(tmp_path / "gw") == 0o700
    plan = ca.plan_csr(store.load_csr(csr_path), "server")
    assert any("serverAuth" in line for line in plan.describe())
    issued = ca.sign(plan)
    assert issued.certificate.public_key().public_numbers() == key.public_key().public_numbers()
    assert ext(issued.certificate, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == \
        ["gw.example.com"]
    with pytest.raises(CaError, match="already exists"):
        write_request(tmp_path / "gw", key, request)


def test_csr_with_bad_signature_refused(ca, tmp_path):
    _, request = make_request(["gw.example.com"], [], key_type=FAST_KEY)
    der = bytearray(request.public_bytes(store.serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature
    tampered = x509.load_der_x509_csr(bytes(der))
    with pytest.raises(CaError, match="signature does not verify"):
        ca.plan_csr(tampered, "server")


def test_csr_with_small_key_refused(ca):
    key = rsa.generate_private_key(65537, 1024)
    request = (x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "small.example.com")])).sign(key, hashes.SHA256()))
    with pytest.raises(CaError, match="RSA 1024 bits key: at least 2048"):
        ca.plan_csr(request, "server")


def test_write_files_is_all_or_nothing(tmp_path):
    good = tmp_path / "good.pem"
    with pytest.raises(CaError, match="cannot write"):
        store.write_files({good: (b"x", store.PUBLIC), tmp_path / "missing" / "f": (b"y", store.PUBLIC)})
    assert list(tmp_path.iterdir()) == []


def test_loaders_give_one_line_errors(tmp_path):
    junk = tmp_path / "junk.crt"
    junk.write_bytes(b"not a certificate")
    with pytest.raises(CaError, match="is not an X.509 certificate"):
        store.load_certificate(junk)
    with pytest.raises(CaError, match="cannot read certificate"):
        store.load_certificate(tmp_path / "absent.crt")
    with pytest.raises(CaError, match="not a private key"):
        store.load_private_key(junk)
    with pytest.raises(CaError, match="not a certificate signing request"):
        store.load_csr(junk)
    with pytest.raises(CaError, match="not a PKCS#12"):
        store.load_pkcs12(junk, b"pw")


def test_load_certificate_bundle(session_ca, tmp_path):
    other = CertificateAuthority.create(tmp_path / "other", key_type=FAST_KEY)
    bundle = tmp_path / "cas.pem"
    bundle.write_bytes(session_ca.cert_path.read_bytes() + other.cert_path.read_bytes())
    assert store.load_certificates(bundle) == [session_ca.certificate, other.certificate]
    assert store.load_certificates(session_ca.der_path) == [session_ca.certificate]
    (tmp_path / "bad.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(CaError, match="not a PEM certificate bundle"):
        store.load_certificates(tmp_path / "bad.pem")


def test_open_checks_key_matches(ca, session_ca, tmp_path):
    other = CertificateAuthority.create(tmp_path / "other", key_type=FAST_KEY)
    shutil.copyfile(other.key_path, ca.key_path)
    with pytest.raises(CaError, match="does not belong"):
        CertificateAuthority.open(ca.directory)
    with pytest.raises(CaError, match="no CA in"):
        CertificateAuthority.open(tmp_path / "nowhere")


def test_bad_names_and_days(ca):
    with pytest.raises(CaError, match="invalid name"):
        ca.issue_client("../etc/passwd", password="pw-1234", key_type=FAST_KEY)
    with pytest.raises(CaError, match="not a DNS name"):
        ca.issue_server(["bad_name!"], key_type=FAST_KEY)
    with pytest.raises(CaError, match="at least one"):
        ca.issue_server([], key_type=FAST_KEY)
    with pytest.raises(CaError, match="out of range"):
        ca.issue_server(["vpn.example.com"], days=0, key_type=FAST_KEY)
    assert ca.entries() == []
