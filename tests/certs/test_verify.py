"""Peer chain validation, IKE ID matching and IKEv1 RSA signatures (RFC 2409 §5.1, RFC 4945)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikel2tp.certs.ca import CertificateAuthority
from ikel2tp.certs.errors import CertError, CertNotify
from ikel2tp.certs.profiles import PROFILES, Profile, build_certificate, cn_name
from ikel2tp.certs.verify import (
    IdType,
    check_peer_id,
    id_matches_certificate,
    load_der_certificate,
    sign_hash,
    verify_peer_chain,
    verify_signature,
)

from .conftest import FAST_KEY

DER = serialization.Encoding.DER
NOW = datetime.now(UTC)
FIXTURE_OK = [HealthCheck.function_scoped_fixture]  # the module-scoped pki is read-only


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(DER)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """One CA with a good, an expired and a revoked client, a server, and an unrelated CA."""
    base = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority.create(base / "ca", key_type=FAST_KEY, now=NOW - timedelta(days=400),
                                     days=4000)
    good = ca.issue_client("alice", password="pw-1234", key_type=FAST_KEY)
    server = ca.issue_server(["vpn.example.com"], ["203.0.113.1"], key_type=FAST_KEY)
    expired = ca.issue_client("old", password="pw-1234", key_type=FAST_KEY, days=30,
                              now=NOW - timedelta(days=90))
    revoked = ca.issue_client("gone", password="pw-1234", key_type=FAST_KEY)
    ca.revoke("gone", "key-compromise")
    other = CertificateAuthority.create(base / "other", name="Other VPN CA", key_type=FAST_KEY)
    twin = CertificateAuthority.create(base / "twin", key_type=FAST_KEY)  # same name as `ca`
    return {"ca": ca, "good": good.certificate, "server": server.certificate,
            "server_key": server.files["key"],
            "expired": expired.certificate, "revoked": revoked.certificate, "crl": ca.load_crl(),
            "mallory": other.issue_client("mallory", password="pw-1234", key_type=FAST_KEY).certificate,
            "twin": twin.issue_client("alice", password="pw-1234", key_type=FAST_KEY).certificate}


def verify(pki, cert, *, intermediates=(), now=NOW):
    return verify_peer_chain(der(cert), [der(c) for c in intermediates], [pki["ca"].certificate], now,
                             [pki["crl"]])


def refused(pki, cert, **kwargs) -> CertError:
    with pytest.raises(CertError) as info:
        verify(pki, cert, **kwargs)
    return info.value


def test_good_chain(pki):
    peer = verify(pki, pki["good"])
    assert peer.certificate == pki["good"] and peer.trust_anchor == pki["ca"].certificate
    assert peer.subject == "CN=alice"


def test_expired(pki):
    error = refused(pki, pki["expired"])
    date = pki["expired"].not_valid_after_utc
    assert error.reason == f"the peer's certificate \"old\" expired on {date:%Y-%m-%d %H:%M} UTC"
    assert error.code == CertNotify.INVALID_CERTIFICATE


def test_not_yet_valid(pki):
    error = refused(pki, pki["good"], now=pki["good"].not_valid_before_utc - timedelta(days=1))
    assert "is not valid before" in error.reason


def test_revoked(pki):
    error = refused(pki, pki["revoked"])
    assert "certificate \"gone\"" in error.reason and "was revoked on" in error.reason
    assert error.reason.endswith("(keyCompromise)")


def test_revocation_needs_a_crl_signed_by_the_issuer(pki):
    """A CRL naming our CA but signed by another key is ignored (it cannot revoke anything)."""
    forged = (x509.CertificateRevocationListBuilder().issuer_name(pki["ca"].certificate.subject)
              .last_update(NOW - timedelta(hours=1)).next_update(NOW + timedelta(days=1))
              .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(
                  pki["good"].serial_number).revocation_date(NOW - timedelta(hours=1)).build())
              .sign(rsa.generate_private_key(65537, 2048), hashes.SHA256()))
    verify_peer_chain(der(pki["good"]), [], [pki["ca"].certificate], NOW, [forged])


def test_unknown_ca(pki):
    error = refused(pki, pki["mallory"])
    assert error.reason == "\"mallory\" was issued by an unknown CA \"CN=Other VPN CA\""
    assert error.code == CertNotify.INVALID_CERT_AUTHORITY


def test_ca_with_same_name_but_other_key(pki):
    error = refused(pki, pki["twin"])
    assert "whose key is not the configured one" in error.reason


def test_not_der(pki):
    with pytest.raises(CertError) as info:
        verify_peer_chain(b"\x30\x03\x02\x01\x00", [], [pki["ca"].certificate], NOW)
    assert info.value.code == CertNotify.INVALID_CERT_ENCODING
    assert str(info.value).startswith("x509: CERT payload is not a DER X.509 certificate")


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=FIXTURE_OK)
@given(data=st.data())
def test_fuzz_mutated_certificates_only_raise_cert_error(pki, data):
    """Mutated CERT payloads: the only exception that escapes is CertError."""
    original = bytearray(der(pki["good"]))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(original) - 1))
        original[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(original)))
    try:
        verify_peer_chain(bytes(original[:cut] if data.draw(st.booleans()) else original), [],
                          [pki["ca"].certificate], NOW, [pki["crl"]])
    except CertError:
        pass


# -- chains with intermediates -----------------------------------------------------------------

def _make(profile: Profile, cn: str, issuer=None, issuer_key=None, *, key=None):
    key = key or rsa.generate_private_key(65537, 2048)
    cert = build_certificate(profile, subject=cn_name(cn), public_key=key.public_key(), issuer=issuer,
                             issuer_key=issuer_key or key, serial=x509.random_serial_number(),
                             not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=30),
                             san=[x509.DNSName(cn)] if not profile.ca else None)
    return cert, key


def _root_without_pathlen():
    key = rsa.generate_private_key(65537, 2048)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(cn_name("Root")).issuer_name(cn_name("Root"))
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(ski, critical=False).sign(key, hashes.SHA256()))
    return cert, key


def test_chain_with_intermediate():
    root, root_key = _root_without_pathlen()
    inter, inter_key = _make(PROFILES["ca"], "Intermediate", root, root_key)
    leaf, _ = _make(PROFILES["client"], "leaf.example.com", inter, inter_key)
    peer = verify_peer_chain(der(leaf), [der(inter)], [root], NOW)
    assert peer.chain == (leaf, inter, root)
    with pytest.raises(CertError, match="unknown CA \"CN=Intermediate\""):
        verify_peer_chain(der(leaf), [], [root], NOW)


def test_path_length_zero_refuses_intermediate(pki):
    ca = pki["ca"]
    inter, inter_key = _make(PROFILES["ca"], "Intermediate", ca.certificate, ca.key)
    leaf, _ = _make(PROFILES["client"], "leaf.example.com", inter, inter_key)
    error = refused(pki, leaf, intermediates=[inter])
    assert error.reason == "CA \"ikel2tp VPN CA\" allows 0 intermediates below it, the chain has 1"


def test_end_entity_cannot_sign_certificates():
    root, root_key = _root_without_pathlen()
    middle, middle_key = _make(PROFILES["server"], "middle.example.com", root, root_key)
    leaf, _ = _make(PROFILES["client"], "leaf.example.com", middle, middle_key)
    with pytest.raises(CertError, match="is not a CA certificate"):
        verify_peer_chain(der(leaf), [der(middle)], [root], NOW)


@pytest.mark.parametrize("change, reason", [
    (Profile("client", 30, False, frozenset({"key_encipherment"}), ()), "does not allow digital signatures"),
])
def test_end_entity_key_usage(pki, change, reason):
    leaf, _ = _make(change, "leaf.example.com", pki["ca"].certificate, pki["ca"].key)
    assert reason in refused(pki, leaf).reason


def _leaf_with(pki, extension: x509.ExtensionType, critical: bool, key=None) -> x509.Certificate:
    key = key or rsa.generate_private_key(65537, 2048)
    ca = pki["ca"]
    return (x509.CertificateBuilder().subject_name(cn_name("leaf")).issuer_name(ca.certificate.subject)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=1))
            .add_extension(extension, critical=critical).sign(ca.key, hashes.SHA256()))


def test_unknown_critical_extension(pki):
    leaf = _leaf_with(pki, x509.InhibitAnyPolicy(0), True)
    assert "unsupported critical extension 2.5.29.54" in refused(pki, leaf).reason


def test_critical_eku_without_ike_use(pki):
    leaf = _leaf_with(pki, x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), True)
    assert "does not allow IKE" in refused(pki, leaf).reason
    ok = _leaf_with(pki, x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
    verify(pki, ok)  # RFC 4945 §5.1.3.12: a non-critical EKU does not restrict IKE


def test_small_rsa_key_refused(pki):
    leaf = _leaf_with(pki, x509.BasicConstraints(ca=False, path_length=None), True,
                      key=rsa.generate_private_key(65537, 1024))
    assert "RSA 1024 bits" in refused(pki, leaf).reason


# -- IKE identities -----------------------------------------------------------------------------

def test_dn_id_matches_subject(pki):
    cert = pki["good"]
    check_peer_id(IdType.ID_DER_ASN1_DN, cert.subject.public_bytes(), cert)
    # RFC 5280 §7.1: case and space folding
    shouted = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "  ALICE ")]).public_bytes()
    assert id_matches_certificate(IdType.ID_DER_ASN1_DN, shouted, cert)


def test_id_mismatch_reason(pki):
    with pytest.raises(CertError) as info:
        check_peer_id(IdType.ID_DER_ASN1_DN, cn_name("bob").public_bytes(), pki["good"])
    assert info.value.reason == ("ID DER_ASN1_DN \"CN=bob\" does not match certificate subject \"CN=alice\" "
                                 "or its subjectAltName")
    assert info.value.code == CertNotify.INVALID_ID_INFORMATION
    with pytest.raises(CertError, match="ID FQDN \"other.example.com\" does not match"):
        check_peer_id(IdType.ID_FQDN, b"other.example.com", pki["server"])


@pytest.mark.parametrize("id_type, data, expected", [
    (IdType.ID_FQDN, b"VPN.example.com", True),
    (IdType.ID_FQDN, b"example.com", False),
    (IdType.ID_IPV4_ADDR, bytes([203, 0, 113, 1]), True),
    (IdType.ID_IPV4_ADDR, bytes([203, 0, 113, 2]), False),
    (IdType.ID_USER_FQDN, b"vpn.example.com", False),
])
def test_server_ids(pki, id_type, data, expected):
    assert id_matches_certificate(id_type, data, pki["server"]) is expected


def test_user_fqdn(pki, tmp_path):
    ca = CertificateAuthority.open(shutil.copytree(pki["ca"].directory, tmp_path / "ca"))
    cert = ca.issue_client("Bob@Example.com", password="pw-1234", key_type=FAST_KEY).certificate
    assert id_matches_certificate(IdType.ID_USER_FQDN, b"bob@example.com", cert)
    assert not id_matches_certificate(IdType.ID_USER_FQDN, b"eve@example.com", cert)


@pytest.mark.parametrize("id_type, data, message", [
    (IdType.ID_DER_ASN1_DN, b"\x30\x05garbage", "not a DER distinguished name"),
    (IdType.ID_IPV4_ADDR, b"\x01\x02\x03", "ID address is 3 bytes, expected 4"),
    (11, b"key-id", "ID type 11 cannot be matched"),
])
def test_bad_ids(pki, id_type, data, message):
    with pytest.raises(CertError, match=message) as info:
        check_peer_id(id_type, data, pki["good"])
    assert info.value.code == CertNotify.INVALID_ID_INFORMATION


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=FIXTURE_OK)
@given(id_type=st.sampled_from(list(IdType)), data=st.binary(max_size=64))
def test_fuzz_ids_only_raise_cert_error(pki, id_type, data):
    try:
        check_peer_id(id_type, data, pki["good"])
    except CertError:
        pass


# -- IKEv1 RSA signatures -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def server_key(pki):
    key = serialization.load_pem_private_key(pki["server_key"].read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@pytest.mark.parametrize("size", [16, 20, 32, 48, 64])
def test_sign_verify_round_trip(pki, server_key, size):
    data = bytes(range(size))
    signature = sign_hash(server_key, data)
    assert len(signature) == 256
    verify_signature(pki["server"], data, signature)


def test_signature_is_raw_pkcs1_without_digest_info(pki, server_key):
    """Independent check: S^e mod n is 00 01 FF..FF 00 || HASH, with no DigestInfo."""
    data = bytes.fromhex("0123456789abcdef0123456789abcdef01234567")
    signature = sign_hash(server_key, data)
    public = server_key.public_key().public_numbers()
    block = pow(int.from_bytes(signature), public.e, public.n).to_bytes(256)
    assert block == b"\x00\x01" + b"\xff" * (256 - 3 - 20) + b"\x00" + data
    # Blinding does not change the (deterministic) PKCS#1 v1.5 result.
    assert sign_hash(server_key, data, random=lambda n: b"\x07" * n) == signature
    # An ordinary PKCS#1 signature (DigestInfo + hash) is a different thing and does not verify.
    with_digest_info = server_key.sign(data, padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))
    assert with_digest_info != signature
    with pytest.raises(CertError, match="does not verify"):
        verify_signature(pki["server"], data, with_digest_info)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_signature_matches_openssl_private_encrypt(pki, server_key, tmp_path):
    """OpenSSL's raw PKCS#1 signing (pkeyutl without a digest: RSA_private_encrypt) gives the same bytes."""
    data = bytes(range(32))
    (tmp_path / "hash").write_bytes(data)
    done = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", str(pki["server_key"]),
                           "-pkeyopt", "rsa_padding_mode:pkcs1", "-in", str(tmp_path / "hash")],
                          capture_output=True, timeout=30, check=True)
    assert done.stdout == sign_hash(server_key, data)


def test_bad_signatures(pki, server_key):
    data = bytes(20)
    signature = bytearray(sign_hash(server_key, data))
    signature[10] ^= 1
    with pytest.raises(CertError) as info:
        verify_signature(pki["server"], data, bytes(signature))
    assert info.value.code == CertNotify.INVALID_SIGNATURE
    assert info.value.reason == "the signature does not verify with the key of \"vpn.example.com\""
    with pytest.raises(CertError, match="signature is 255 bytes"):
        verify_signature(pki["server"], data, bytes(255))
    with pytest.raises(CertError, match="does not verify"):
        verify_signature(pki["server"], bytes(21), sign_hash(server_key, data))
    with pytest.raises(ValueError, match="do not fit"):
        sign_hash(server_key, bytes(250))


def test_ecdsa_certificate_cannot_verify_rsa_signature(pki):
    cert, _ = _make(PROFILES["client"], "ec.example.com", pki["ca"].certificate, pki["ca"].key,
                    key=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(CertError, match="RSA signature authentication needs an RSA key"):
        verify_signature(cert, bytes(20), bytes(64))


def test_load_der_certificate_field(pki):
    assert load_der_certificate(der(pki["good"])) == pki["good"]
    with pytest.raises(CertError) as info:
        load_der_certificate(b"", field="CERT")
    assert info.value.field == "CERT"
