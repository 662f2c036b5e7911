#!/usr/bin/env python3
"""Regenerate ``certs/fixtures/``: test-only certificates for the tests and the interop harness.

    python tools/make_cert_fixtures.py [--out certs/fixtures]

Every key written here is a TEST key, published in the repository: never use them for a real VPN.
The files are made with the same CA code as ``ikel2tp certs`` (RSA 2048 keys to keep them small):

    ca.crt ca.cer ca.key crl.pem        the test CA, its DER form, its key, its CRL (lists revoked)
    server.crt server.key               vpn.example.com / 203.0.113.1: serverAuth + IKE intermediate
    alice.crt alice.key                 client "alice" (clientAuth)
    alice.p12 alice-modern.p12          alice's PKCS#12 (legacy 3DES/SHA1, modern AES-256/SHA256)
    alice.password                      the test password of both bundles
    expired.crt expired.key             client "expired": expired 60 days before generation
    revoked.crt revoked.key             client "revoked": revoked (key-compromise), listed in crl.pem
    other-ca.crt                        a second, unrelated CA ("Other VPN CA")
    mallory.crt mallory.key             client "mallory" issued by the other CA
    server-no-serverauth.crt/.key       vpn.example.com without serverAuth (certs show must flag it)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ikel2tp.certs.ca import CertificateAuthority, utcnow  # noqa: E402
from ikel2tp.certs.profiles import IKE_INTERMEDIATE, PROFILES, Profile  # noqa: E402

TEST_PASSWORD = "ikel2tp-test"
KEY = "rsa2048"


def make(out: Path) -> list[str]:
    now = utcnow()
    written: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # Backdate the CA so the expired certificate lies within its validity.
        ca = CertificateAuthority.create(Path(tmp) / "ca", name="ikel2tp Test CA", key_type=KEY,
                                         days=3650 + 365, now=now - timedelta(days=365))
        # server-no-serverauth has the names of server.crt (only the EKU differs): a copy of the
        # fresh CA issues it, so the two do not collide in one index.
        bad_ca = CertificateAuthority.open(shutil.copytree(ca.directory, Path(tmp) / "ca-copy"))
        other = CertificateAuthority.create(Path(tmp) / "other", name="Other VPN CA", key_type=KEY)
        written.update({"ca.crt": ca.cert_path, "ca.cer": ca.der_path, "ca.key": ca.key_path,
                        "other-ca.crt": other.cert_path})
        server = ca.issue_server(["vpn.example.com"], ["203.0.113.1"], key_type=KEY)
        written.update({"server.crt": server.files["certificate"], "server.key": server.files["key"]})
        alice = ca.issue_client("alice", password=TEST_PASSWORD, key_type=KEY)
        written.update({"alice.crt": alice.files["certificate"], "alice.key": alice.files["key"],
                        "alice.p12": alice.files["p12"]})
        modern = ca.issue_client("alice-modern", password=TEST_PASSWORD, legacy=False, key_type=KEY)
        written["alice-modern.p12"] = modern.files["p12"]
        expired = ca.issue_client("expired", password=TEST_PASSWORD, key_type=KEY, days=30,
                                  now=now - timedelta(days=90))
        written.update({"expired.crt": expired.files["certificate"], "expired.key": expired.files["key"]})
        revoked = ca.issue_client("revoked", password=TEST_PASSWORD, key_type=KEY)
        ca.revoke("revoked", "key-compromise")
        written.update({"revoked.crt": revoked.files["certificate"], "revoked.key": revoked.files["key"],
                        "crl.pem": ca.crl_path})
        mallory = other.issue_client("mallory", password=TEST_PASSWORD, key_type=KEY)
        written.update({"mallory.crt": mallory.files["certificate"], "mallory.key": mallory.files["key"]})
        no_server_auth = Profile("server", PROFILES["server"].default_days, False,
                                 PROFILES["server"].key_usage, (IKE_INTERMEDIATE,))
        bad = bad_ca.issue_server(["vpn.example.com"], ["203.0.113.1"], key_type=KEY, profile=no_server_auth)
        written.update({"server-no-serverauth.crt": bad.files["certificate"],
                        "server-no-serverauth.key": bad.files["key"]})
        out.mkdir(parents=True, exist_ok=True)
        for name, source in written.items():
            shutil.copyfile(source, out / name)
        (out / "alice.password").write_text(TEST_PASSWORD + "\n")
    return sorted([*written, "alice.password"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parent.parent / "certs" / "fixtures"
    parser.add_argument("--out", type=Path, default=default)
    args = parser.parse_args()
    names = make(args.out)
    print(f"wrote {len(names)} files to {args.out}: {' '.join(names)}")


if __name__ == "__main__":
    main()
