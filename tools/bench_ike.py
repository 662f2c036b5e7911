#!/usr/bin/env python3
"""Main Mode + Quick Mode responder completions per second on one core, beside the cost of the
DH operations alone, for MODP1024, MODP2048 and ECP256 (PSK, AES-128/SHA1).

Only the responder's CPU time is counted (its ``receive_datagram`` calls, ``time.process_time``);
our own initiator supplies the traffic.  The DH columns time one responder DH step (key pair +
shared secret) as ikel2tp.crypto.dh does it, with Python's ``pow``, and through
``DHPublicNumbers(...).public_key()``, which re-checks primes OpenSSL does not know (the MODP1024
trap).

    python tools/bench_ike.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric import dh as crypto_dh  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402

from ikel2tp.crypto.dh import ECP_GROUPS, MODP_GROUPS, DhExchange  # noqa: E402
from ikel2tp.ike.events import ChildSaEstablished  # noqa: E402
from ikel2tp.ike.manager import IkeManager  # noqa: E402
from ikel2tp.ike.settings import IkeSettings  # noqa: E402

SERVER = ("192.0.2.1", 500)
GROUPS = (("modp1024", 2), ("modp2048", 14), ("ecp256", 19))


def handshakes(group_name: str, seconds: float) -> tuple[int, float]:
    """Run full handshakes for ``seconds`` of responder time; returns (count, responder seconds)."""
    settings = IkeSettings(
        psk=b"bench-psk",
        phase1=(f"aes128-sha1-{group_name}",),
        phase2=("aes128-sha1",),
        max_half_open_per_source=1 << 20,
        max_half_open=1 << 20,
    )
    quiet = logging.getLogger("bench")
    quiet.disabled = True
    spis = itertools.count(0x1000)
    server = IkeManager(settings, spi_allocator=lambda: next(spis), log=quiet)
    client = IkeManager(settings, spi_allocator=lambda: next(spis), log=quiet)
    busy = 0.0
    done = 0
    n = 0
    while busy < seconds:
        n += 1
        peer = (f"198.51.{n // 250 % 250}.{n % 250 + 1}", 500)
        client.initiate(peer, SERVER, 0.0)
        for _ in range(6):
            for data, local, remote in client.datagrams_to_send():
                start = time.process_time()
                server.receive_datagram(data, remote, local, 0.0)
                busy += time.process_time() - start
            for data, local, remote in server.datagrams_to_send():
                client.receive_datagram(data, remote, local, 0.0)
        while (event := server.next_event()) is not None:
            done += isinstance(event, ChildSaEstablished)
        while client.next_event() is not None:
            pass
        server.delete_all()
        client.delete_all()
        server.datagrams_to_send()
        client.datagrams_to_send()
    return done, busy


def dh_ours(group: int, rounds: int) -> float:
    peer = DhExchange(group, os.urandom).public
    start = time.process_time()
    for _ in range(rounds):
        DhExchange(group, os.urandom).shared_secret(peer)
    return (time.process_time() - start) / rounds


def dh_numbers(group: int, rounds: int) -> float:
    """The same step loading keys the obvious way: ``DHPublicNumbers(...).public_key()`` (OpenSSL
    re-checks the prime each time) or, for ECP, ``from_encoded_point``."""
    if group in ECP_GROUPS:
        curve = ECP_GROUPS[group].curve()
        encoded = ec.generate_private_key(curve).public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        start = time.process_time()
        for _ in range(rounds):
            key = ec.generate_private_key(curve)
            key.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(curve, encoded))
        return (time.process_time() - start) / rounds
    numbers = crypto_dh.DHParameterNumbers(MODP_GROUPS[group].prime, 2)
    params = numbers.parameters()
    y = params.generate_private_key().public_key().public_numbers().y
    start = time.process_time()
    for _ in range(rounds):
        key = params.generate_private_key()
        key.exchange(crypto_dh.DHPublicNumbers(y, numbers).public_key())
    return (time.process_time() - start) / rounds


def dh_pow(group: int, rounds: int) -> float | None:
    """The same MODP step with Python's three-argument pow and an RFC 3526 §8 exponent."""
    if group not in MODP_GROUPS:
        return None
    modp = MODP_GROUPS[group]
    y = pow(2, int.from_bytes(os.urandom(32), "big"), modp.prime)
    start = time.process_time()
    for _ in range(rounds):
        x = int.from_bytes(os.urandom(modp.exponent_bits // 8), "big")
        pow(2, x, modp.prime)
        pow(y, x, modp.prime)
    return (time.process_time() - start) / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="responder time per group")
    args = parser.parse_args()
    print(f"{'group':<10} {'MM+QM/s':>8} {'ms each':>8} {'DH ms':>7} {'pow ms':>7} {'numbers-API ms':>15}")
    for name, number in GROUPS:
        count, busy = handshakes(name, args.seconds)
        ours = dh_ours(number, 50)
        by_pow = dh_pow(number, 20)
        naive = dh_numbers(number, 3 if number in (1, 2) else 20)
        pow_text = f"{by_pow * 1e3:.2f}" if by_pow is not None else "-"
        print(f"{name:<10} {count / busy:>8.0f} {busy / count * 1e3:>8.2f} {ours * 1e3:>7.2f} {pow_text:>7} "
              f"{naive * 1e3:>15.2f}")
    print("MM+QM: responder CPU time for Main Mode + Quick Mode (PSK, aes128-sha1); DH: one responder\n"
          "DH step (key pair + shared secret) as ikel2tp does it; pow / numbers-API: the alternatives.")

if __name__ == "__main__":
    main()
