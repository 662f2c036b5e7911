"""The proposal engine: wire mapping, selection in the initiator's order, lifetimes, explanations."""

from __future__ import annotations

from ikel2tp.ike import proposal
from ikel2tp.ike.constants import AuthMethod, EncapsulationMode, Phase1Attribute, ProtocolId
from ikel2tp.ike.payloads import Attribute, Proposal, SaPayload, Transform
from ikel2tp.ike.proposal import Lifetime, Phase2Choice, Refusal
from ikel2tp.ike.suites import DEFAULT_PHASE1, DEFAULT_PHASE2, parse_phase1, parse_phase2

PSK = AuthMethod.PRE_SHARED_KEY


def p1(*names, auth=PSK):
    return proposal.phase1_sa([parse_phase1(n) for n in names], auth, 28800)


def test_phase1_encoding_round_trips_every_default_suite():
    for name in DEFAULT_PHASE1:
        suite = parse_phase1(name)
        offer = proposal.decode_phase1(proposal.encode_phase1(suite, PSK, 3600))
        assert offer.suite == suite and offer.auth_method == PSK and offer.lifetime == Lifetime(3600)
        assert offer.label() == name


def test_phase2_encoding_round_trips_every_default_suite():
    for name in DEFAULT_PHASE2 + ("aes128-sha256-modp2048", "aes256-sha512-ecp384"):
        suite = parse_phase2(name)
        sa = proposal.phase2_sa(
            [suite], 0x01020304, EncapsulationMode.UDP_TRANSPORT_DRAFT, Lifetime(3600, 1000)
        )
        offer = proposal.decode_phase2(sa.proposals[0], sa.proposals[0].transforms[0])
        assert offer.suite == suite and offer.udp_encap and offer.lifetime == Lifetime(3600, 1000)


def test_selection_follows_the_initiators_order():
    ours = [parse_phase1(n) for n in ("aes256-sha1-ecp384", "3des-sha1-modp1024", "aes128-sha1-modp1024")]
    choice = proposal.select_phase1(p1("aes128-sha1-modp1024", "3des-sha1-modp1024"), ours, [PSK])
    assert not isinstance(choice, Refusal)
    assert str(choice.offer.suite) == "aes128-sha1-modp1024"
    echoed = choice.sa_payload()
    assert echoed.proposals[0].transforms == (choice.offer.transform,)


def test_auth_method_must_be_available():
    ours = [parse_phase1("aes128-sha1-modp1024")]
    refusal = proposal.select_phase1(p1("aes128-sha1-modp1024", auth=AuthMethod.RSA_SIGNATURES), ours, [PSK])
    assert isinstance(refusal, Refusal)
    assert refusal.offered == ("aes128-sha1-modp1024/rsasig",)
    assert [(d.attribute, d.peer, d.ours) for d in refusal.nearest.differences] == [
        ("authentication", "rsasig", "psk")
    ]


def test_refusal_names_the_nearest_miss():
    ours = [parse_phase1(n) for n in ("aes256-sha256-modp2048", "aes256-sha1-modp1024")]
    refusal = proposal.select_phase1(p1("3des-md5-modp768", "3des-sha1-modp1024"), ours, [PSK])
    assert isinstance(refusal, Refusal)
    assert refusal.offered == ("3des-md5-modp768", "3des-sha1-modp1024")
    assert (
        refusal.nearest.offered == "3des-sha1-modp1024" and refusal.nearest.allowed == "aes256-sha1-modp1024"
    )
    assert refusal.text.endswith("differs in cipher: peer 3des, we allow aes256")
    assert refusal.text.startswith("phase 1: peer offers 3des-md5-modp768, 3des-sha1-modp1024; we allow ")


def test_unknown_attributes_and_algorithms_are_described():
    t = Transform(1, 1, (Attribute(Phase1Attribute.ENCRYPTION_ALGORITHM, 3),))
    refusal = proposal.select_phase1(
        SaPayload((Proposal(1, ProtocolId.ISAKMP, b"", (t,)),)), [parse_phase1("aes128-sha1-modp1024")], [PSK]
    )
    assert refusal.offered == ("<encryption algorithm 3>",) and refusal.nearest is None


HOUR = Lifetime(3600)


def esp(*names, mode=EncapsulationMode.TRANSPORT, life=HOUR):
    return proposal.phase2_sa([parse_phase2(n) for n in names], 0xABCD, mode, life)


def test_phase2_lifetime_capped_with_responder_lifetime():
    ours = [parse_phase2("aes128-sha1")]
    choice = proposal.select_phase2(esp("aes128-sha1", life=Lifetime(28800, 0)), ours, Lifetime(3600, 500000))
    assert isinstance(choice, Phase2Choice)
    assert choice.lifetime == Lifetime(3600, 500000) and choice.capped
    assert choice.peer_spi == 0xABCD
    assert choice.sa_payload(0x99).proposals[0].spi == (0x99).to_bytes(4, "big")
    relaxed = proposal.select_phase2(esp("aes128-sha1", life=Lifetime(600)), ours, Lifetime(3600))
    assert relaxed.lifetime == Lifetime(600) and not relaxed.capped
    default = proposal.select_phase2(esp("aes128-sha1", life=Lifetime()), ours, Lifetime(0))
    assert default.lifetime == Lifetime(28800)  # RFC 2407 §4.5 default


def test_phase2_modes_and_pfs():
    ours = [parse_phase2("aes128-sha1")]
    for mode in (
        EncapsulationMode.TRANSPORT,
        EncapsulationMode.UDP_TRANSPORT_RFC,
        EncapsulationMode.UDP_TRANSPORT_DRAFT,
    ):
        assert isinstance(
            proposal.select_phase2(esp("aes128-sha1", mode=mode), ours, Lifetime(3600)), Phase2Choice
        )
    tunnel = proposal.select_phase2(esp("aes128-sha1", mode=EncapsulationMode.TUNNEL), ours, Lifetime(3600))
    assert isinstance(tunnel, Refusal)
    assert [(d.attribute, d.peer) for d in tunnel.nearest.differences] == [("encapsulation mode", "tunnel")]
    # a suite without a PFS group accepts the peer's strong PFS group, not a weak one
    assert isinstance(proposal.select_phase2(esp("aes128-sha1-modp2048"), ours, Lifetime(3600)), Phase2Choice)
    assert isinstance(proposal.select_phase2(esp("aes128-sha1-modp768"), ours, Lifetime(3600)), Refusal)
    strict = [parse_phase2("aes128-sha1-ecp256")]
    refusal = proposal.select_phase2(esp("aes128-sha1"), strict, Lifetime(3600))
    assert [(d.attribute, d.peer, d.ours) for d in refusal.nearest.differences] == [
        ("PFS group", "none", "ecp256")
    ]


def test_ah_esp_bundle_refused():
    sa = esp("aes128-sha1")
    bundle = SaPayload(
        sa.proposals + (Proposal(1, ProtocolId.IPSEC_AH, b"\0\0\0\1", sa.proposals[0].transforms),)
    )
    assert isinstance(proposal.select_phase2(bundle, [parse_phase2("aes128-sha1")], Lifetime(3600)), Refusal)
