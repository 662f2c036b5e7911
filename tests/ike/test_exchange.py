"""Responder against our own initiator, back to back in memory (tests/ike/peers.py)."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from ikel2tp.ike.constants import ExchangeType, NotifyType, PayloadType
from ikel2tp.ike.events import (
    ChildSaDeleted,
    ChildSaEstablished,
    InitialContact,
    PeerDead,
    Phase1Deleted,
    Phase1Established,
    Phase1Failed,
    QuickModeFailed,
)
from ikel2tp.ike.message import decode_plain, split
from ikel2tp.ike.proposal import Refusal
from ikel2tp.ike.settings import IkeSettings, PeerSettings
from tests.ike.peers import CLIENT, NAT_PUBLIC, SERVER, Pair

PSK = b"correct horse battery staple"


def settings(p1: str, p2: str, **kw) -> IkeSettings:
    return IkeSettings(psk=PSK, phase1=(p1,), phase2=(p2,), **kw)


def basic_pair(**server) -> Pair:
    return Pair(
        settings("aes128-sha1-modp1024", "aes128-sha1", **server),
        settings("aes128-sha1-modp1024", "aes128-sha1"),
    )


def established(pair: Pair) -> tuple:
    server = pair.events("server", ChildSaEstablished)
    client = pair.events("client", ChildSaEstablished)
    assert len(server) == 1 and len(client) == 1, (pair.server_events, pair.client_events)
    return server[0].child, client[0].child


def assert_crossed(s, c) -> None:
    assert s.spi_in == c.spi_out and s.spi_out == c.spi_in
    assert s.enc_key_in == c.enc_key_out and s.enc_key_out == c.enc_key_in
    assert s.auth_key_in == c.auth_key_out and s.auth_key_out == c.auth_key_in
    assert s.enc_key_in != s.enc_key_out
    assert (s.cipher, s.key_bits, s.integrity) == (c.cipher, c.key_bits, c.integrity)


MATRIX = [
    ("3des-sha1-modp1024", "3des-sha1"),
    ("aes128-sha1-modp1024", "aes128-sha1"),
    ("aes256-sha256-modp2048", "aes256-sha256"),
    ("aes128-sha1-ecp256", "aes128-sha1-ecp256"),
    ("aes256-sha1-ecp384", "aes256-sha1"),
    ("aes256-sha512-modp2048", "aes256gcm16"),
    ("3des-md5-modp1024", "aes128-md5-modp1024"),
    ("des-md5-modp768", "aes128-sha1"),  # weak, only because the configuration lists it
]


@pytest.mark.parametrize("nat", [False, True], ids=["direct", "nat"])
@pytest.mark.parametrize("p1,p2", MATRIX)
def test_main_and_quick_mode(p1, p2, nat):
    pair = Pair(settings(p1, p2), settings(p1, p2), nat=nat)
    pair.start()
    pair.pump()
    s, c = established(pair)
    assert_crossed(s, c)
    key_len = {"3des-cbc": 24, "aes-cbc": c.key_bits // 8, "aes-gcm": c.key_bits // 8 + 4}[c.cipher]
    assert len(s.enc_key_in) == key_len
    assert s.encap is nat and c.encap is nat
    p1_server = pair.events("server", Phase1Established)[0]
    assert p1_server.suite == p1 and p1_server.nat_detected is nat
    if nat:
        assert s.remote == (NAT_PUBLIC, 14500) and s.local == (SERVER[0], 4500)
        assert c.remote == (SERVER[0], 4500)
        # NAT-OA: the client's original address, and the server's address as the client saw it
        assert s.natoa_remote == CLIENT[0] and s.natoa_local == SERVER[0]
    else:
        assert s.remote == CLIENT and s.natoa_remote is None
    assert (s.local_port, s.remote_port, s.protocol) == (1701, 1701, 17)
    assert s.lifetime_seconds == 3600


def test_default_settings_negotiate_the_strongest_suite():
    pair = Pair(IkeSettings(psk=PSK), IkeSettings(psk=PSK))
    pair.start()
    pair.pump()
    s, c = established(pair)
    assert pair.events("server", Phase1Established)[0].suite == "aes256-sha1-ecp384"
    assert (s.cipher, s.key_bits, s.integrity) == ("aes-cbc", 256, "sha1")


def test_wrong_psk_fails_with_plain_reason(caplog):
    server = settings("aes128-sha1-modp1024", "aes128-sha1")
    client = dataclasses.replace(server, psk=b"wrong")
    pair = Pair(server, client)
    with caplog.at_level(logging.INFO):
        pair.start()
        pair.pump()
    failed = pair.events("server", Phase1Failed)
    assert len(failed) == 1
    assert "pre-shared key does not match" in failed[0].reason and "HASH_I did not verify" in failed[0].reason
    assert CLIENT[0] in failed[0].reason
    assert not pair.events("server", Phase1Established)
    assert not pair.server.ike_sas()
    assert "pre-shared key does not match" in caplog.text
    assert "wrong" not in caplog.text and PSK.decode() not in caplog.text


def test_per_peer_psk_by_source_address():
    server = IkeSettings(
        psk=b"global",
        peers=(PeerSettings(CLIENT[0], PSK),),
        phase1=("aes128-sha1-modp2048",),
        phase2=("aes128-sha1",),
    )
    client = settings("aes128-sha1-modp2048", "aes128-sha1")
    pair = Pair(server, client)
    pair.start()
    pair.pump()
    established(pair)


def test_no_proposal_chosen_explains_nearest_miss():
    server = settings("aes256-sha1-modp1024", "aes128-sha1")
    client = settings("3des-sha1-modp1024", "aes128-sha1")
    pair = Pair(server, client)
    pair.start()
    pair.pump()
    failed = pair.events("server", Phase1Failed)[0]
    refusal = failed.refusal
    assert isinstance(refusal, Refusal)
    assert refusal.offered == ("3des-sha1-modp1024",)
    assert refusal.allowed == ("aes256-sha1-modp1024",)
    assert [(d.attribute, d.peer, d.ours) for d in refusal.nearest.differences] == [
        ("cipher", "3des", "aes256")
    ]
    assert "nearest miss" in refusal.text and "cipher: peer 3des, we allow aes256" in refusal.text
    # the client got NO-PROPOSAL-CHOSEN in a plain informational
    notify = [d for direction, d in pair.wire if direction == "s2c"][-1]
    header, body = split(notify)
    assert header.exchange == ExchangeType.INFORMATIONAL
    assert decode_plain(header, body).payloads[0].payload.notify_type == NotifyType.NO_PROPOSAL_CHOSEN
    assert not pair.server.ike_sas()
    assert pair.events("client", Phase1Failed)[0].reason == "peer answered NO_PROPOSAL_CHOSEN"
    assert not pair.client.ike_sas()


def test_quick_mode_refusal_keeps_phase1():
    server = settings("aes128-sha1-modp1024", "aes256-sha256")
    client = settings("aes128-sha1-modp1024", "3des-sha1")
    pair = Pair(server, client)
    pair.start()
    pair.pump()
    assert pair.events("server", Phase1Established)
    failed = pair.events("server", QuickModeFailed)[0]
    assert failed.refusal.nearest is not None
    assert {d.attribute for d in failed.refusal.nearest.differences} == {"cipher", "integrity"}
    assert len(pair.server.ike_sas()) == 1


def test_retransmitted_request_answered_from_cache():
    pair = Pair(
        settings("aes128-sha1-modp1024", "aes128-sha1"), settings("aes128-sha1-modp1024", "aes128-sha1")
    )
    pair.start()
    pair.pump()
    established(pair)
    # replay every client message: the server answers from its cache and changes nothing
    sent = [d for direction, d in pair.wire if direction == "c2s"]
    answers = []
    for data in sent:
        src = (CLIENT[0], 500)
        pair.server.receive_datagram(data, SERVER, src, pair.now)
        answers.extend(pair.server.datagrams_to_send())
    assert len(answers) >= 2  # MM1 -> MM2, MM3 -> MM4 (port 500); later ones came from port 500 too
    assert not [e for e in iter(pair.server.next_event, None)]


def test_mm5_retransmit_after_float_gets_mm6():
    pair = Pair(
        settings("aes128-sha1-modp1024", "aes128-sha1"),
        settings("aes128-sha1-modp1024", "aes128-sha1"),
        nat=True,
    )
    pair.start()
    pair.pump()
    established(pair)
    mm5 = [d for direction, d in pair.wire if direction == "c2s"][2]
    pair.server.receive_datagram(mm5, (SERVER[0], 4500), (NAT_PUBLIC, 14500), pair.now)
    out = pair.server.datagrams_to_send()
    assert len(out) == 1 and out[0][2] == (NAT_PUBLIC, 14500)


def test_lost_messages_are_retransmitted_with_backoff():
    pair = Pair(settings("aes128-sha1-ecp256", "aes128-sha1"), settings("aes128-sha1-ecp256", "aes128-sha1"))
    pair.start()
    pair.drop_to_server = 1  # MM1 lost
    pair.pump()
    assert not pair.server_events
    first = pair.client.get_timer()
    assert first == pytest.approx(2.0)
    pair.now = first
    pair.client.handle_timer(pair.now)
    second = pair.client.get_timer()
    assert second == pytest.approx(first + 4.0)
    pair.pump()
    established(pair)


def test_half_open_times_out():
    pair = Pair(settings("aes128-sha1-ecp256", "aes128-sha1"), settings("aes128-sha1-ecp256", "aes128-sha1"))
    pair.start()
    for data, local, remote in pair.client.datagrams_to_send():
        pair.server.receive_datagram(data, remote, local, 0.0)
    pair.server.datagrams_to_send()
    assert len(pair.server.ike_sas()) == 1
    deadline = pair.server.get_timer()
    while deadline is not None and deadline <= 30.0:
        pair.server.handle_timer(deadline)
        deadline = pair.server.get_timer()
    assert not pair.server.ike_sas()
    assert "half-open" in pair.server.next_event().reason


def test_two_clients_same_nat_address_get_separate_sas():
    server_settings = settings("aes128-sha1-modp1024", "aes128-sha1")
    pair = Pair(server_settings, settings("aes128-sha1-modp1024", "aes128-sha1"), nat=True)
    pair.start()
    pair.pump()
    first, _ = established(pair)
    # second client: same NAT public address, another port, its own manager
    other = Pair(server_settings, settings("aes128-sha1-modp1024", "aes128-sha1"), nat=True, seed=77)
    other.server = pair.server
    other.client_outer = lambda port: (NAT_PUBLIC, port + 30000)
    other.start()
    for _ in range(10):
        for data, local, remote in other.client.datagrams_to_send():
            other.server.receive_datagram(data, remote, other.client_outer(local[1]), 0.0)
        for data, local, remote in other.server.datagrams_to_send():
            other.client.receive_datagram(data, (CLIENT[0], remote[1] - 30000), local, 0.0)
    second = [e for e in iter(pair.server.next_event, None) if isinstance(e, ChildSaEstablished)]
    assert len(second) == 1
    assert second[0].child.remote == (NAT_PUBLIC, 34500) and first.remote == (NAT_PUBLIC, 14500)
    assert second[0].child.ike_sa_id != first.ike_sa_id
    assert len(pair.server.ike_sas()) == 2


@pytest.mark.parametrize("draft", [False, True], ids=["rfc3947", "draft"])
def test_force_encap_and_nat_d_workaround(draft, monkeypatch):
    from ikel2tp.ike.tasks import vendor

    if draft:  # an initiator that only knows draft-02\n (as older Windows and macOS)
        monkeypatch.setattr(
            vendor,
            "initiator_vids",
            lambda: [
                vendor.VendorIdPayload(vendor.c.VID_NATT_DRAFT_02N),
                vendor.VendorIdPayload(vendor.c.VID_DPD),
            ],
        )
    pair = Pair(
        settings("aes128-sha1-modp1024", "aes128-sha1", force_encap=True),
        settings("aes128-sha1-modp1024", "aes128-sha1"),
    )
    pair.start()
    pair.pump()
    s, c = established(pair)
    assert s.encap and c.encap and c.remote[1] == 4500
    natd_types = {
        r.payload.type for direction, d in pair.wire if direction == "s2c" for r in _plain_payloads(d)
    }
    assert (PayloadType.NAT_D_DRAFT in natd_types) is draft


@pytest.mark.parametrize("workaround", [False, True])
def test_nat_d_workaround_hides_a_server_behind_1to1_nat(workaround):
    """The server listens on 10.0.0.5 behind a 1:1 NAT; clients dial SERVER[0]."""
    pair = Pair(
        settings("aes128-sha1-modp1024", "aes128-sha1", nat_d_workaround=workaround),
        settings("aes128-sha1-modp1024", "aes128-sha1"),
    )
    real_receive, real_send = pair.server.receive_datagram, pair.server.datagrams_to_send
    pair.server.receive_datagram = lambda data, local, remote, now: real_receive(
        data, ("10.0.0.5", local[1]), remote, now
    )
    pair.server.datagrams_to_send = lambda: [
        (d, (SERVER[0], local[1]), remote) for d, local, remote in real_send()
    ]
    pair.start()
    pair.pump()
    s, c = established(pair)
    assert s.encap is c.encap is (not workaround)


def _plain_payloads(data: bytes):
    header, body = split(data)
    if header.flags & 1:
        return []
    return decode_plain(header, body).payloads


def test_peer_delete_and_our_delete():
    pair = Pair(
        settings("aes128-sha1-modp1024", "aes128-sha1"), settings("aes128-sha1-modp1024", "aes128-sha1")
    )
    pair.start()
    pair.pump()
    s, c = established(pair)
    assert pair.client.delete_child(c.spi_in)
    pair.pump()
    deleted = pair.events("server", ChildSaDeleted)
    assert [(d.spi_in, d.spi_out) for d in deleted] == [(s.spi_in, s.spi_out)]
    assert pair.server.delete_ike_sa(s.ike_sa_id)
    pair.pump()
    assert pair.events("client", Phase1Deleted)
    assert not pair.client.ike_sas() and not pair.server.ike_sas()


def test_phase1_rekey_keeps_children_then_initial_contact_drops_old():
    server = settings("aes128-sha1-modp1024", "aes128-sha1")
    pair = Pair(server, settings("aes128-sha1-modp1024", "aes128-sha1"))
    pair.start()
    pair.pump()
    first, _ = established(pair)
    # a second phase 1 + quick mode from the same client (rekey); the old one is deleted by the peer
    pair.client.initiate(CLIENT, SERVER, pair.now)
    pair.pump()
    children = pair.events("server", ChildSaEstablished)
    assert len(children) == 2
    old_client_sa = [sa for sa in pair.client.ike_sas() if sa.sa_id == 1][0]
    pair.client.remove_ike_sa(old_client_sa, "rekeyed", send_delete=True, adopt=True)
    pair.pump()
    assert pair.events("server", Phase1Deleted)
    # the old ESP SA moved to the new IKE SA on both sides: nothing deleted on the server
    assert not pair.events("server", ChildSaDeleted)
    new_sa = pair.server.ike_sas()[0]
    assert {c.keys.spi_in for c in new_sa.children} == {first.spi_in, children[1].child.spi_in}


def test_initial_contact_drops_older_sas():
    server = settings("aes128-sha1-modp1024", "aes128-sha1")
    pair = Pair(server, settings("aes128-sha1-modp1024", "aes128-sha1"))
    pair.start()
    pair.pump()
    established(pair)
    second = pair.client.initiate(CLIENT, SERVER, pair.now)
    pair.pump()
    sa = [s for s in pair.client.ike_sas() if s.sa_id == second][0]
    pair.client.send_notify(sa, NotifyType.INITIAL_CONTACT, 1, sa.icookie + sa.rcookie)
    pair.pump()
    assert pair.events("server", InitialContact)
    assert len(pair.events("server", ChildSaDeleted)) == 1
    assert len(pair.server.ike_sas()) == 1


def test_dpd_probes_and_declares_dead():
    s = settings("aes128-sha1-modp1024", "aes128-sha1", dpd_delay=10, dpd_timeout=30)
    pair = Pair(s, settings("aes128-sha1-modp1024", "aes128-sha1"))
    pair.start()
    pair.pump()
    established(pair)
    # idle: the server probes, the client answers with R-U-THERE-ACK
    pair.now = pair.server.get_timer()
    assert pair.now == pytest.approx(10.0)
    pair.server.handle_timer(pair.now)
    pair.pump()
    sa = pair.server.ike_sas()[0]
    assert sa.dpd_sent is None and not pair.events("server", PeerDead)
    # the client goes away: no answers any more
    pair.now = pair.server.get_timer()
    pair.server.handle_timer(pair.now)
    pair.server.datagrams_to_send()
    pair.now = pair.server.get_timer()
    pair.server.handle_timer(pair.now)
    pair._collect()
    assert pair.events("server", PeerDead)
    assert not pair.server.ike_sas()


def test_child_lifetime_expiry_sends_delete():
    s = settings("aes128-sha1-modp1024", "aes128-sha1", phase2_lifetime=600, dpd_delay=0)
    pair = Pair(s, settings("aes128-sha1-modp1024", "aes128-sha1"))
    pair.start()
    pair.pump()
    child, client_child = established(pair)
    assert child.lifetime_seconds == 600  # the client asked for 3600; capped, RESPONDER-LIFETIME sent
    assert client_child.lifetime_seconds == 600  # our initiator applies RESPONDER-LIFETIME
    pair.now = pair.server.get_timer()
    assert pair.now == pytest.approx(600 + 60)  # lifetime + grace for the client's own rekey
    pair.server.handle_timer(pair.now)
    pair.pump()
    assert pair.events("server", ChildSaDeleted) and pair.events("client", ChildSaDeleted)


def test_phase2_rekey_adds_a_child():
    pair = Pair(
        settings("aes128-sha1-modp1024", "aes128-sha1"), settings("aes128-sha1-modp1024", "aes128-sha1")
    )
    pair.start()
    pair.pump()
    established(pair)
    pair.client.initiate_child(1, pair.now)
    pair.pump()
    assert len(pair.events("server", ChildSaEstablished)) == 2


def test_fragmented_messages_reassemble():
    s = settings("aes128-sha1-modp1024", "aes128-sha1", fragment_size=200)
    pair = Pair(s, s)
    pair.start()
    pair.pump()
    established(pair)
    assert any(split(d)[0].next_payload == PayloadType.FRAGMENT for _, d in pair.wire)


def test_mm1_flood_is_bounded():
    s = settings("aes128-sha1-modp1024", "aes128-sha1", max_half_open=50, max_half_open_per_source=3)
    pair = Pair(s, s)
    mm1 = None
    pair.client.initiate(CLIENT, SERVER, 0.0)
    mm1 = pair.client.datagrams_to_send()[0][0]
    for i in range(200):
        cookie = i.to_bytes(8, "big")
        data = cookie + mm1[8:]
        pair.server.receive_datagram(data, SERVER, (f"198.51.100.{i % 40 + 1}", 500), 0.0)
    assert len(pair.server.ike_sas()) == 50
    per_source = {}
    for sa in pair.server.ike_sas():
        per_source[sa.remote[0]] = per_source.get(sa.remote[0], 0) + 1
    assert max(per_source.values()) <= 3
    out = pair.server.datagrams_to_send()
    assert len(out) == 50


def test_unknown_cookies_and_aggressive_mode_are_dropped(caplog):
    pair = Pair(
        settings("aes128-sha1-modp1024", "aes128-sha1"), settings("aes128-sha1-modp1024", "aes128-sha1")
    )
    pair.client.initiate(CLIENT, SERVER, 0.0)
    mm1 = pair.client.datagrams_to_send()[0][0]
    with caplog.at_level(logging.INFO):
        pair.server.receive_datagram(mm1[:8] + b"\x01" * 8 + mm1[16:], SERVER, CLIENT, 0.0)
        aggressive = mm1[:18] + bytes([ExchangeType.AGGRESSIVE]) + mm1[19:]
        pair.server.receive_datagram(aggressive, SERVER, CLIENT, 0.0)
    assert "unknown cookies" in caplog.text and "Aggressive Mode" in caplog.text
    assert not pair.server.datagrams_to_send() and not pair.server.ike_sas()


@pytest.mark.parametrize("nat", [False, True], ids=["direct", "nat"])
def test_aggressive_mode_when_allowed(nat, caplog):
    server = settings("aes256-sha1-modp2048", "aes128-sha1", aggressive=True)
    client = settings("aes256-sha1-modp2048", "aes128-sha1")
    pair = Pair(server, client, nat=nat)
    with caplog.at_level(logging.WARNING):
        pair.client.initiate(CLIENT, SERVER, 0.0, aggressive=True)
        pair.pump()
    s, c = established(pair)
    assert_crossed(s, c)
    assert s.encap is nat
    assert "Aggressive Mode with" in caplog.text
    wrong = Pair(server, dataclasses.replace(client, psk=b"nope"))
    wrong.client.initiate(CLIENT, SERVER, 0.0, aggressive=True)
    wrong.pump()
    assert not wrong.events("server", Phase1Established)
    assert not wrong.events("client", Phase1Established)  # HASH_R did not verify on the client


def test_invalid_spi_notify_is_rate_limited(caplog):
    pair = Pair(
        settings("aes128-sha1-modp1024", "aes128-sha1"), settings("aes128-sha1-modp1024", "aes128-sha1")
    )
    pair.start()
    pair.pump()
    established(pair)
    with caplog.at_level(logging.WARNING):
        pair.server.invalid_spi(CLIENT, 0xDEAD, 1.0)
        pair.server.invalid_spi(CLIENT, 0xDEAD, 2.0)
        assert len(pair.server.datagrams_to_send()) == 1
        pair.server.invalid_spi(CLIENT, 0xDEAD, 1.0)
        pair.server.invalid_spi(CLIENT, 0xDEAD, 70.0)
        out = pair.server.datagrams_to_send()
        for data, local, remote in out:
            pair.client.receive_datagram(data, remote, local, 70.0)
    assert len(out) == 1 and "INVALID_SPI" in caplog.text


def test_commit_bit_gets_connected(monkeypatch, caplog):
    from ikel2tp.ike.constants import Flag
    from ikel2tp.ike.sa import IkeSa

    pair = basic_pair()
    real = IkeSa.encrypt

    def with_commit(self, exchange, message_id, payloads, flags=0):
        if self.initiator and exchange == ExchangeType.QUICK_MODE:
            flags |= Flag.COMMIT
        return real(self, exchange, message_id, payloads, flags)

    monkeypatch.setattr(IkeSa, "encrypt", with_commit)
    with caplog.at_level(logging.INFO):
        pair.start()
        pair.pump()
    established(pair)
    assert "sent status CONNECTED" in caplog.text


def test_initial_contact_after_nat_rebinding_drops_same_id_only():
    server = settings("aes128-sha1-modp1024", "aes128-sha1")
    pair = Pair(server, settings("aes128-sha1-modp1024", "aes128-sha1"), nat=True)
    pair.start()
    pair.pump()
    established(pair)
    # the same client reconnects through a new NAT mapping and announces INITIAL-CONTACT
    pair.client_outer = lambda port: (NAT_PUBLIC, port + 40000)
    real_send = pair.server.datagrams_to_send
    pair.server.datagrams_to_send = lambda: [(d, src, (r[0], r[1] - 30000)) for d, src, r in real_send()]
    second = pair.client.initiate(CLIENT, SERVER, pair.now)
    pair.pump()
    sa = [s for s in pair.client.ike_sas() if s.sa_id == second][0]
    pair.client.send_notify(sa, NotifyType.INITIAL_CONTACT, 1, sa.icookie + sa.rcookie)
    pair.pump()
    assert pair.events("server", InitialContact)
    assert [s.remote for s in pair.server.ike_sas()] == [(NAT_PUBLIC, 44500)]


def test_local_id_setting():
    pair = basic_pair(local_id="vpn.example.com")
    pair.start()
    pair.pump()
    established(pair)
    assert pair.events("client", Phase1Established)[0].peer_id == "vpn.example.com"


def test_unprotected_or_forged_informationals_are_dropped(caplog):
    from ikel2tp.ike.message import Header, encode
    from ikel2tp.ike.payloads import DeletePayload, HashPayload

    pair = basic_pair()
    pair.start()
    pair.pump()
    s, _ = established(pair)
    sa = pair.server.ike_sas()[0]
    delete = DeletePayload(1, (sa.icookie + sa.rcookie,))
    plain = encode(Header(sa.icookie, sa.rcookie, 0, ExchangeType.INFORMATIONAL, 0, 7), [delete])
    client_sa = pair.client.ike_sas()[0]
    forged = client_sa.encrypt(ExchangeType.INFORMATIONAL, 9, [HashPayload(bytes(20)), delete])
    with caplog.at_level(logging.INFO):
        for data in (plain, forged):
            pair.server.receive_datagram(data, SERVER, CLIENT, 1.0)
    assert "not allowed in informational_plain" in caplog.text
    assert "HASH(1) of an informational did not verify" in caplog.text
    assert pair.server.ike_sas() == [sa] and sa.children and not pair.server.next_event()


def test_no_key_for_the_peer_is_named():
    pair = Pair(
        IkeSettings(psk=None, phase1=("aes128-sha1-modp1024",)),
        settings("aes128-sha1-modp1024", "aes128-sha1"),
    )
    pair.start()
    pair.pump()
    failed = pair.events("server", Phase1Failed)[0]
    assert (
        failed.reason == f"no pre-shared key (or other credential) for {CLIENT[0]}" and failed.refusal is None
    )
    assert pair.events("client", Phase1Failed)[0].reason == "peer answered NO_PROPOSAL_CHOSEN"
