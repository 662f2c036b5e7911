"""Helpers for data-plane tests: a ChildSaKeys and the peer's matching EspSa."""

from __future__ import annotations

import os

from ikel2tp.esp.sa import EspSa
from ikel2tp.esp.transforms import CIPHERS, INTEGRITY, make_transform
from ikel2tp.ike.events import Address, ChildSaKeys
from ikel2tp.ike.suites import parse_phase2


def child_keys(suite: str, spi_in: int, spi_out: int, local: Address, remote: Address, *,
               encap: bool = True, **extra) -> ChildSaKeys:
    p2 = parse_phase2(suite)
    key_len = p2.key_bits // 8 + CIPHERS[p2.cipher].salt
    auth_len = INTEGRITY[p2.integrity].key_bytes if p2.integrity else 0
    return ChildSaKeys(ike_sa_id=1, local=local, remote=remote, encap=encap, spi_in=spi_in, spi_out=spi_out,
                       cipher=p2.cipher, key_bits=p2.key_bits, integrity=p2.integrity,
                       enc_key_in=os.urandom(key_len), enc_key_out=os.urandom(key_len),
                       auth_key_in=os.urandom(auth_len), auth_key_out=os.urandom(auth_len), **extra)


def peer_sa(keys: ChildSaKeys) -> EspSa:
    """The client's side of ``keys``: it sends with our inbound SPI and keys."""
    return EspSa(spi_in=keys.spi_out, spi_out=keys.spi_in,
                 inbound=make_transform(keys.cipher, keys.enc_key_out, keys.integrity, keys.auth_key_out),
                 outbound=make_transform(keys.cipher, keys.enc_key_in, keys.integrity, keys.auth_key_in),
                 now=0.0)
