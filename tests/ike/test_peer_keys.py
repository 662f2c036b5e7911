"""Choosing a pre-shared key per peer (ikel2tp.ike.settings): by the longest address prefix, and by
the phase 1 ID where the ID comes before the key (Aggressive Mode)."""

from __future__ import annotations

import pytest

from ikel2tp.ike.events import Phase1Established
from ikel2tp.ike.settings import IkeSettings, PeerSettings
from tests.ike.peers import CLIENT, SERVER, Pair

SUITES = {"phase1": ("aes128-sha256-modp2048",), "phase2": ("aes128-sha1",)}
PEERS = (
    PeerSettings("198.51.0.0/16", b"wide"),
    PeerSettings("198.51.100.0/24", b"narrow"),
    PeerSettings("198.51.100.7", b"host"),
    PeerSettings(None, b"laptop", id="laptop.example.org"),
    PeerSettings("203.0.113.0/24", b"both", id="branch.example.org"),
)


@pytest.mark.parametrize(
    "address,peer_id,key",
    [
        ("198.51.100.7", None, b"host"),
        ("198.51.100.8", None, b"narrow"),
        ("198.51.7.7", None, b"wide"),
        ("192.0.2.9", None, b"global"),
        ("192.0.2.9", "LAPTOP.example.org", b"laptop"),
        ("198.51.100.7", "laptop.example.org", b"laptop"),  # an ID match beats any prefix
        ("203.0.113.5", "branch.example.org", b"both"),
        ("203.0.113.5", None, b"global"),  # address and ID both needed
        ("192.0.2.9", "branch.example.org", b"global"),
        ("2001:db8::1", None, b"global"),  # another address family never matches
    ],
)
def test_best_fitting_entry(address, peer_id, key):
    assert IkeSettings(psk=b"global", peers=PEERS).psk_for(address, peer_id) == key


def test_entry_needs_address_or_id():
    with pytest.raises(ValueError, match="address"):
        PeerSettings(None, b"x")
    with pytest.raises(ValueError):
        PeerSettings("198.51.100.300", b"x")


@pytest.mark.parametrize("main_mode", [False, True], ids=["aggressive", "main"])
def test_key_by_id_in_aggressive_mode_only(main_mode):
    """The client's ID ``laptop.example.org`` picks its key in Aggressive Mode; Main Mode hides the
    ID, so there the key of the client's address applies (and the laptop's key fails)."""
    server = IkeSettings(psk=b"global", peers=PEERS, aggressive=True, **SUITES)
    client = IkeSettings(psk=b"laptop", local_id="laptop.example.org", **SUITES)
    pair = Pair(server, client)
    pair.client.initiate(CLIENT, SERVER, 0.0, aggressive=not main_mode)
    pair.pump()
    established = pair.events("server", Phase1Established)
    assert [e.peer_id for e in established] == ([] if main_mode else ["laptop.example.org"])


def test_initiating_without_credentials_leaves_nothing():
    pair = Pair(IkeSettings(psk=b"x", **SUITES), IkeSettings(**SUITES))
    with pytest.raises(ValueError, match="no credentials"):
        pair.start()
    assert not pair.client.ike_sas() and pair.client.get_timer() is None
