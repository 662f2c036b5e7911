"""The IKE core's index of SAs by remote address (what ``peer_alive`` and ``invalid_spi`` look up per
ESP packet) stays equal to a scan of every SA across NAT float, changed NAT mappings, rekey, Delete,
DPD death and lifetime expiry."""

from __future__ import annotations

import pytest

from ikel2tp.common.buffer import Buffer
from ikel2tp.ike.constants import ExchangeType, Flag, PayloadType
from ikel2tp.ike.events import ChildSaEstablished, PeerDead, Phase1Deleted
from ikel2tp.ike.manager import IkeManager
from ikel2tp.ike.message import Header, push_header
from ikel2tp.ike.settings import IkeSettings
from tests.ike.peers import CLIENT, NAT_PUBLIC, SERVER, Pair

PSK = b"correct horse battery staple"


def settings(**kw) -> IkeSettings:
    return IkeSettings(psk=PSK, phase1=("aes128-sha1-modp1024",), phase2=("aes128-sha1",), **kw)


def scanned(manager: IkeManager) -> dict:
    by_remote: dict = {}
    for sa in manager.ike_sas():
        by_remote.setdefault(sa.remote, set()).add(sa.sa_id)
    return by_remote


def assert_index_right(pair: Pair) -> None:
    for manager in (pair.server, pair.client):
        assert {r: set(b) for r, b in manager._by_remote.items()} == scanned(manager)


def test_nat_float_moves_the_sa_and_peer_alive_finds_it_there() -> None:
    pair = Pair(settings(dpd_delay=10), settings(), nat=True)
    pair.start()
    assert_index_right(pair)
    pair.pump()
    assert pair.events("server", ChildSaEstablished)
    (sa,) = pair.server.ike_sas()
    assert sa.remote == (NAT_PUBLIC, 14500)  # floated from 10500
    assert_index_right(pair)
    pair.server.peer_alive((NAT_PUBLIC, 10500), 5.0)  # the address before the float: nobody
    assert sa.last_seen == 0.0
    pair.server.peer_alive((NAT_PUBLIC, 14500), 5.0)
    assert sa.last_seen == 5.0
    assert pair.server.get_timer() == pytest.approx(15.0)  # DPD pushed back by the traffic


def test_changed_nat_mapping_moves_the_index_and_a_forged_move_does_not() -> None:
    pair = Pair(settings(), settings(), nat=True)
    pair.start()
    pair.pump()
    (sa,) = pair.server.ike_sas()
    # a message that does not authenticate from another port: the SA stays where it was
    buf = Buffer()
    push_header(buf, Header(sa.icookie, sa.rcookie, PayloadType.HASH, ExchangeType.INFORMATIONAL,
                            Flag.ENCRYPTION, 7, 28 + 32))
    buf.push_bytes(bytes(32))
    forged = buf.data()
    pair.server.receive_datagram(forged, SERVER, (NAT_PUBLIC, 23456), pair.now)
    assert sa.remote == (NAT_PUBLIC, 14500)
    assert_index_right(pair)
    # the NAT maps the client to a new port: a phase 2 rekey arrives from there and moves the SA
    pair.client_outer = lambda port: (NAT_PUBLIC, port + 20000)
    real_send = pair.server.datagrams_to_send
    pair.server.datagrams_to_send = lambda: [(d, src, (r[0], r[1] - 10000)) for d, src, r in real_send()]
    pair.client.initiate_child(1, pair.now)
    pair.pump()
    assert len(pair.events("server", ChildSaEstablished)) == 2
    assert sa.remote == (NAT_PUBLIC, 24500)
    assert_index_right(pair)


def test_rekey_and_delete_keep_the_index() -> None:
    pair = Pair(settings(), settings())
    pair.start()
    pair.pump()
    pair.client.initiate(CLIENT, SERVER, pair.now)  # phase 1 rekey: two SAs for one remote
    pair.pump()
    assert len(scanned(pair.server)[CLIENT]) == 2
    assert_index_right(pair)
    old = [sa for sa in pair.client.ike_sas() if sa.sa_id == 1][0]
    pair.client.remove_ike_sa(old, "rekeyed", send_delete=True, adopt=True)
    pair.pump()
    assert pair.events("server", Phase1Deleted)
    assert_index_right(pair)
    (heir,) = pair.server.ike_sas()
    assert len(heir.children) == 2  # found through the index
    pair.server.delete_ike_sa(heir.sa_id)
    pair.pump()
    assert pair.server._by_remote == {} and pair.client._by_remote == {}


def test_dpd_death_and_lifetime_expiry_empty_the_index() -> None:
    pair = Pair(settings(dpd_delay=10, dpd_timeout=30), settings())
    pair.start()
    pair.pump()
    while not pair.events("server", PeerDead):  # the client stops answering
        pair.now = pair.server.get_timer()
        pair.server.handle_timer(pair.now)
        pair.server.datagrams_to_send()
        pair._collect()
    assert pair.server._by_remote == {}
    expiring = Pair(settings(phase1_lifetime=600, dpd_delay=0), settings())
    expiring.start()
    expiring.pump()
    while expiring.server.ike_sas():
        expiring.now = expiring.server.get_timer()
        expiring.server.handle_timer(expiring.now)
        expiring.pump()
    assert expiring.server._by_remote == {}
    assert_index_right(expiring)


def test_half_open_sa_is_indexed_and_forgotten_on_timeout() -> None:
    pair = Pair(settings(), settings())
    pair.start()
    for data, _local, remote in pair.client.datagrams_to_send():
        pair.server.receive_datagram(data, remote, CLIENT, 0.0)
    assert scanned(pair.server) == {CLIENT: {1}}
    assert_index_right(pair)
    while pair.server.ike_sas():
        pair.now = pair.server.get_timer()
        pair.server.handle_timer(pair.now)
    assert pair.server._by_remote == {}
