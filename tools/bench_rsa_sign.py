#!/usr/bin/env python3
"""IKEv1 RSA signature cost (RFC 2409 §5.1: PKCS#1 type 1 padding, no DigestInfo) per key size:
the pure-Python CRT path, libcrypto's EVP_PKEY_sign through ctypes (what ikel2tp uses), and
cryptography's ordinary PKCS#1 v1.5 signature (with DigestInfo, not usable for IKEv1) as the
reference for what OpenSSL costs.  Also Main Mode + Quick Mode responder completions per second
with certificates (certs/fixtures, RSA 2048, MODP2048), responder CPU time only.

    python tools/bench_rsa_sign.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402

from ikel2tp.certs import verify  # noqa: E402
from ikel2tp.certs.store import load_certificate, load_certificates, load_private_key  # noqa: E402
from ikel2tp.crypto.rsa_raw import load_native  # noqa: E402
from ikel2tp.ike.certauth import CertAuthenticator, CertSettings, Credential  # noqa: E402
from ikel2tp.ike.constants import AuthMethod  # noqa: E402
from ikel2tp.ike.events import ChildSaEstablished  # noqa: E402
from ikel2tp.ike.manager import IkeManager  # noqa: E402
from ikel2tp.ike.settings import IkeSettings  # noqa: E402

FIXTURES = ROOT / "certs" / "fixtures"


def per_call(fn, seconds: float) -> float:
    """Mean seconds per call of ``fn`` over about ``seconds`` of CPU time."""
    count, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        fn()
        count += 1
    return (time.process_time() - start) / count


def sign_table(seconds: float) -> None:
    print(f"{'key':>9} | {'python':>10} | {'libcrypto':>10} | {'speedup':>7} | {'PKCS1v15+SHA256':>15}")
    print("-" * 64)
    digest = b"\x5a" * 32
    for bits in (2048, 3072, 4096):
        key = rsa.generate_private_key(65537, bits)
        native = load_native(key)
        assert native is not None and native.sign(digest) == verify.sign_hash_python(key, digest)
        python = per_call(lambda k=key: verify.sign_hash_python(k, digest), seconds)
        fast = per_call(lambda n=native: n.sign(digest), seconds)
        reference = per_call(lambda k=key: k.sign(digest, padding.PKCS1v15(), hashes.SHA256()), seconds)
        print(f"{bits:>5} bit | {python * 1e3:>7.2f} ms | {fast * 1e3:>7.3f} ms | {python / fast:>6.1f}x "
              f"| {reference * 1e3:>12.3f} ms")


def handshakes(seconds: float) -> None:
    def creds(name: str) -> CertSettings:
        cert = load_certificate(FIXTURES / f"{name}.crt")
        when = cert.not_valid_before_utc + timedelta(hours=1)
        return CertSettings((Credential(cert, load_private_key(FIXTURES / f"{name}.key")),),
                            tuple(load_certificates(FIXTURES / "ca.crt")), lambda: when)

    server_creds, client_creds = creds("server"), creds("alice")
    settings = IkeSettings(phase1=("aes128-sha1-modp2048",), phase2=("aes128-sha1",))
    log = logging.getLogger("bench")
    log.setLevel(logging.ERROR)
    spis = itertools.count(1)
    done, spent, n = 0, 0.0, 0
    while spent < seconds:
        server = IkeManager(settings, spi_allocator=lambda: next(spis), log=log, authenticators={
            AuthMethod.RSA_SIGNATURES: lambda r, i: CertAuthenticator(server_creds)})
        client = IkeManager(settings, spi_allocator=lambda: next(spis), log=log, authenticators={
            AuthMethod.RSA_SIGNATURES: lambda r, i: CertAuthenticator(client_creds)})
        n += 1
        client.initiate(("198.51.100.7", 500), ("192.0.2.1", 500), 0.0)
        for _ in range(10):
            for data, local, remote in client.datagrams_to_send():
                start = time.process_time()
                server.receive_datagram(data, remote, local, 0.0)
                spent += time.process_time() - start
            for data, local, remote in server.datagrams_to_send():
                client.receive_datagram(data, remote, local, 0.0)
        while (event := server.next_event()) is not None:
            done += isinstance(event, ChildSaEstablished)
    print(f"\ncertificate MM+QM responder (RSA 2048, MODP2048): {done / spent:.0f} per second per core "
          f"({spent / done * 1e3:.2f} ms each; {n} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    sign_table(args.seconds)
    handshakes(args.seconds * 2)


if __name__ == "__main__":
    main()
