"""Diffie-Hellman groups: published vectors, the RFC primes, and the peer value checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ikel2tp.crypto.dh import ECP_GROUPS, MODP_GROUPS, DhError, DhExchange, public_length

VECTORS = json.loads((Path(__file__).parent / "vectors" / "dh.json").read_text())
GROUPS = {"ecp256": 19, "ecp384": 20, "modp1024": 2, "modp2048": 14}


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_published_vectors(name):
    v = VECTORS[name]
    i = DhExchange(GROUPS[name], os.urandom, bytes.fromhex(v["priv_i"]))
    r = DhExchange(GROUPS[name], os.urandom, bytes.fromhex(v["priv_r"]))
    assert i.public.hex() == v["pub_i"] and r.public.hex() == v["pub_r"]
    assert i.shared_secret(r.public).hex() == v["shared"] == r.shared_secret(i.public).hex()


def _probably_prime(n: int) -> bool:
    """Miller-Rabin with a few fixed bases: enough to catch a mistyped digit."""
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in (2, 3, 5):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


@pytest.mark.parametrize("group", sorted(MODP_GROUPS))
def test_modp_primes_are_the_rfc_safe_primes(group):
    p = MODP_GROUPS[group].prime
    assert p.bit_length() in (768, 1024, 1536, 2048, 3072, 4096)
    assert p >> (p.bit_length() - 64) == 2**64 - 1 and p & (2**64 - 1) == 2**64 - 1  # RFC 3526 form
    if p.bit_length() <= 2048:
        assert _probably_prime(p) and _probably_prime((p - 1) // 2)


@pytest.mark.parametrize("group", sorted(MODP_GROUPS) + sorted(ECP_GROUPS))
def test_every_group_agrees(group):
    a, b = DhExchange(group, os.urandom), DhExchange(group, os.urandom)
    assert len(a.public) == public_length(group)
    assert a.shared_secret(b.public) == b.shared_secret(a.public)


@pytest.mark.parametrize("value", [0, 1, -1])
def test_modp_range_check(value):
    dh = DhExchange(2, os.urandom)
    p = MODP_GROUPS[2].prime
    y = {0: 0, 1: 1, -1: p - 1}[value]
    with pytest.raises(DhError, match="1 < y < p-1"):
        dh.shared_secret(y.to_bytes(128, "big"))
    with pytest.raises(DhError):
        dh.shared_secret(p.to_bytes(128, "big"))


def test_wrong_lengths_and_off_curve_points():
    with pytest.raises(DhError, match="needs 128"):
        DhExchange(2, os.urandom).shared_secret(bytes(126) + b"\x05")
    ecp = DhExchange(19, os.urandom)
    with pytest.raises(DhError, match="needs 64"):
        ecp.shared_secret(ecp.public + b"\x00")
    with pytest.raises(DhError, match="not a point"):
        ecp.shared_secret(ecp.public[:32] + bytes(31) + b"\x01")
