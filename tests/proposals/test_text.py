"""Selector, encapsulation-mode, PPP and refusal wording; the refusal history; the profiles."""

from __future__ import annotations

import pytest

from ikel2tp.config import Config
from ikel2tp.ike import proposal
from ikel2tp.ike.constants import AuthMethod, EncapsulationMode
from ikel2tp.ike.payloads import IdPayload
from ikel2tp.ike.proposal import Difference, NearestMiss, Refusal
from ikel2tp.proposals import diagnosis, history, ppp, profiles, selectors
from ikel2tp.proposals.policy import Policy, group_text, show_lines

SERVER, CLIENT = "192.0.2.1", "198.51.100.7"


def ids(client_port=1701, server_port=1701, server=SERVER, protocol=17):
    return [
        IdPayload.from_address(CLIENT, protocol, client_port),
        IdPayload.from_address(server, protocol, server_port),
    ]


def test_ids_that_fit_say_nothing():
    assert selectors.explain_ids(ids(), [SERVER]) == []
    assert selectors.explain_ids([], [SERVER]) == []


def test_port_zero_and_protocol_zero():
    assert selectors.explain_ids(ids(client_port=0), [SERVER]) == [
        "phase 2 IDs: the client's selector allows any UDP port (0) instead of 1701: accepted "
        "(a client behind NAT uses a source port other than 1701)"
    ]
    assert selectors.explain_ids(ids(client_port=0, server_port=0, protocol=0), [SERVER]) == [
        "phase 2 IDs: the client's selector covers every protocol (0), not UDP/1701: accepted",
        "phase 2 IDs: the server's selector covers every protocol (0), not UDP/1701: accepted",
    ]
    assert selectors.explain_ids(ids(server_port=500), [SERVER]) == [
        "phase 2 IDs: the server's selector names UDP port 500, not 1701"
    ]


def test_subnet_selector_and_odd_protocol():
    subnet = IdPayload(4, bytes([10, 0, 0, 0, 255, 255, 255, 0]), 17, 1701)
    assert selectors.explain_ids([subnet, ids()[1]], [SERVER]) == [
        "phase 2 IDs: the client's selector is a subnet or range (type 4 (8 bytes)[17/1701]), a tunnel-mode "
        "selector; L2TP/IPsec needs host selectors"
    ]
    assert selectors.explain_ids(ids(protocol=6), [SERVER])[0] == (
        "phase 2 IDs: the client's selector is for protocol 6; L2TP/IPsec protects UDP (17) port 1701"
    )
    assert selectors.explain_ids(ids()[:1], [SERVER]) == [
        "phase 2 IDs: 1 ID payloads; Quick Mode carries IDci and IDcr or none"
    ]


def test_encapsulation_modes():
    assert selectors.explain_mode(EncapsulationMode.TRANSPORT, None, False) == []
    assert selectors.explain_mode(EncapsulationMode.UDP_TRANSPORT_RFC, "rfc", True) == []
    assert selectors.explain_mode(EncapsulationMode.TUNNEL, None, None) == [
        "encapsulation mode: the client asks for tunnel (1); L2TP/IPsec uses transport mode; fix: set the "
        "client to transport mode"
    ]
    assert selectors.explain_mode(EncapsulationMode.UDP_TRANSPORT_RFC, "draft", True) == [
        "encapsulation mode: UDP-encapsulated transport, RFC 3947 (4) is the RFC 3947 value, but the client "
        "announced only a NAT-T draft vendor ID (which uses 61443/61444)"
    ]
    assert selectors.explain_mode(EncapsulationMode.UDP_TRANSPORT_DRAFT, "rfc", True) == [
        "encapsulation mode: UDP-encapsulated transport, NAT-T draft (61444) is a NAT-T draft value, but the "
        "client announced RFC 3947 (which uses 3/4)"
    ]
    assert selectors.explain_mode(EncapsulationMode.UDP_TRANSPORT_RFC, "rfc", False)[0].endswith(
        "although NAT-D found no NAT (forced encapsulation); ikel2tp follows the client"
    )
    assert selectors.explain_mode(EncapsulationMode.TRANSPORT, "rfc", True)[0].endswith(
        "although NAT was detected: plain ESP will not pass the NAT"
    )
    assert selectors.explain_mode(7, None, None) == [
        "encapsulation mode: 7 is no RFC 2407 / RFC 3947 / NAT-T draft value"
    ]


def test_tunnel_mode_refusal_names_the_client_fix():
    profile = profiles.ClientProfile(
        "t",
        "tunnel client",
        ("aes128-sha1-modp2048",),
        ("aes128-sha1",),
        ("test",),
        mode=EncapsulationMode.TUNNEL,
    )
    pol = Policy.from_config(Config())
    _, v2 = diagnosis.check(profile, pol)
    assert v2.lines[0] == (
        "phase 2 refused: encapsulation mode: client tunnel, server transport; fix: set the client "
        "to transport mode (it asks for tunnel; L2TP/IPsec runs ESP in transport mode)"
    )


def test_refusal_wording_without_nearest_miss_or_auth():
    nothing = Refusal(1, ("<encryption algorithm 2>",), ("aes128-sha1-modp2048",), None)
    assert diagnosis.explain_refusal(nothing) == (
        "phase 1 refused: no proposal the server can use; fix: the client offers only "
        "<encryption algorithm 2>, which ikel2tp does not support; configure the client for one of: "
        "aes128-sha1-modp2048"
    )
    no_auth = Refusal(1, ("aes128-sha1-modp2048",), (), None)
    assert diagnosis.explain_refusal(no_auth) == (
        "phase 1 refused: no authentication method configured; fix: set psk (or cert and key) in [ike]: no "
        "authentication method is configured"
    )
    rsasig = Refusal(
        1,
        ("aes128-sha1-modp2048/rsasig",),
        ("aes128-sha1-modp2048",),
        NearestMiss(
            "aes128-sha1-modp2048/rsasig",
            "aes128-sha1-modp2048",
            (Difference("authentication", "rsasig", "psk"),),
        ),
    )
    assert diagnosis.explain_refusal(rsasig) == (
        "phase 1 refused: authentication: client rsasig, server psk; fix: set cert and key in [ike] (the "
        "client authenticates with a certificate)"
    )


def test_certificate_client_against_psk_policy_through_the_engine():
    profile = profiles.ClientProfile(
        "c",
        "cert client",
        ("aes128-sha1-modp2048",),
        ("aes128-sha1",),
        ("test",),
        auth_method=AuthMethod.RSA_SIGNATURES,
    )
    pol = Policy(
        (proposal.suites.parse_phase1("aes128-sha1-modp2048"),),
        (),
        (AuthMethod.PRE_SHARED_KEY,),
        28800,
        3600,
        (),
        ("mschapv2",),
        None,
        "test",
    )
    v1, _ = diagnosis.check(profile, pol)
    assert v1.lines[0].startswith("phase 1 refused: authentication: client rsasig, server psk; fix: set cert")


def test_ppp_texts():
    assert ppp.explain_auth_methods(["mschapv2"], ["mschapv2", "chap"]) is None
    assert ppp.explain_auth_methods(["mschapv2"], ["pap"]) == (
        "PPP authentication refused: the client accepts PAP, we require MS-CHAP v2 (Windows error 628, "
        'sometimes 691); fix: add "pap" to [ppp] auth'
    )
    assert ppp.explain_ccp(False) is None
    assert "Windows error 742" in ppp.explain_ccp(True)
    assert ppp.explain_auth_failure("alice", "mschapv2") == (
        "PPP authentication failed for 'alice' with MS-CHAP v2: wrong user name or password (Windows error "
        "691); this is not a protocol mismatch"
    )
    assert ppp.windows_error(628).startswith("Windows error 628: the connection was closed")
    assert ppp.windows_error(1) == "Windows error 1: no explanation known"


def test_history_is_bounded_per_peer_and_in_peers():
    h = history.RefusalHistory(per_peer=2, max_peers=2)
    for i in range(3):
        h.record("a", f"a{i}", float(i))
    h.record("b", "b0", 10.0)
    assert [r.text for r in h.last("a")] == ["a1", "a2"]
    h.record("a", "a3", 11.0)  # a is now the most recent peer
    h.record("c", "c0", 12.0)  # evicts b
    assert h.last("b") == [] and len(h) == 3
    assert h.as_json() == [
        {"peer": "a", "time": 2.0, "text": "a2"},
        {"peer": "a", "time": 11.0, "text": "a3"},
        {"peer": "c", "time": 12.0, "text": "c0"},
    ]
    with pytest.raises(ValueError):
        history.RefusalHistory(per_peer=0)


def test_profiles_parse_and_cite_sources():
    for profile in profiles.PROFILES.values():
        assert profile.phase1_suites and profile.phase2_suites and profile.sources
    assert all(s.pfs_group is None for s in profiles.PROFILES["windows"].phase2_suites)
    assert {s.group for s in profiles.PROFILES["android"].phase1_suites} == {2}
    with pytest.raises(ValueError, match="unknown hash"):
        profiles.custom(["aes128-sha7-modp2048"], ["aes128-sha1"])
    with pytest.raises(KeyError, match="built in: windows"):
        profiles.profile("nokia")


def test_show_lines_and_group_text():
    pol = Policy.from_config(Config())
    lines = show_lines(pol)
    assert '  "aes256-sha1-ecp384"' in lines
    assert any(line.startswith("1   AES-CBC     256         SHA1      20 (ECP 384)") for line in lines)
    assert any("ESP 3DES-CBC" in line and "HMAC-SHA1-96" in line for line in lines)
    assert (group_text(14), group_text(None), group_text(99)) == ("14 (MODP 2048)", "none", "99")
