"""The eight fixtures of issue 9, each checked for its exact explanation.

Capture fixtures are made here: our initiator against our responder in memory (tests/proposals/
lab.py), written into a pcap with our writer, plus the decryption table from the server's keys.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ikel2tp.config import config_from_dict
from ikel2tp.ike.constants import NotifyType
from ikel2tp.proposals import diagnosis, profiles
from ikel2tp.proposals.certificate import certificate_findings, load_certificate
from ikel2tp.proposals.explain import explain_capture, parse_decryption_table
from ikel2tp.proposals.pcap import read_capture
from ikel2tp.proposals.policy import Policy
from tests.proposals.lab import Lab, settings

ID = "phase 2 (message ID 0xa85df663)"


def policy(p1, p2, **server) -> Policy:
    data = {"ike": {"psk": "x" * 24, "phase1": list(p1), "phase2": list(p2)}, "server": server}
    return Policy.from_config(config_from_dict(data, "test", log=None))


def explained(lab: Lab, pol: Policy | None, decrypt: bool = True) -> tuple[bool | None, list[str]]:
    lab.run()
    table = parse_decryption_table(lab.table()) if decrypt else None
    reports, notes = explain_capture(read_capture(lab.pcap()), pol, table)
    assert notes == [] and len(reports) == 1
    return reports[0].ok, reports[0].lines


# -- 1. phase 1 hash MD5 (server) vs SHA1 (client) -------------------------------------------------
HASH_LINE = 'phase 1 refused: hash: client sha1, server md5; fix: add "3des-sha1-modp1024" to [ike] phase1'
HASH_LOG = (
    "server log: phase 1: peer offers 3des-sha1-modp1024; we allow 3des-md5-modp1024; nearest miss: "
    "peer's 3des-sha1-modp1024 vs our 3des-md5-modp1024 differs in hash: peer sha1, we allow md5"
)


def test_1_phase1_hash_check():
    profile = profiles.custom(["3des-sha1-modp1024"], ["aes128-sha1"])
    v1, v2 = diagnosis.check(profile, policy(["3des-md5-modp1024"], ["aes128-sha1"]))
    assert not v1.ok and v1.lines == (HASH_LINE, HASH_LOG)
    assert v2.ok


def test_1_phase1_hash_capture(caplog):
    lab = Lab(settings("3des-md5-modp1024", "aes128-sha1"), settings("3des-sha1-modp1024", "aes128-sha1"))
    ok, lines = explained(lab, policy(["3des-md5-modp1024"], ["aes128-sha1"]))
    assert not ok
    assert lines == [
        "client kind: unknown; phase 1 offers 3des-sha1-modp1024",
        HASH_LINE,
        HASH_LOG,
        "phase 1 refused by the responder (NO-PROPOSAL-CHOSEN); the client offered 3des-sha1-modp1024",
    ]
    # the text the server logs is the text `proposals` prints
    assert HASH_LOG.removeprefix("server log: ") in caplog.text


def test_1_without_config_says_what_the_responder_answered():
    lab = Lab(settings("3des-md5-modp1024", "aes128-sha1"), settings("3des-sha1-modp1024", "aes128-sha1"))
    ok, lines = explained(lab, None, decrypt=False)
    assert not ok and lines[-1] == (
        "phase 1 refused by the responder (NO-PROPOSAL-CHOSEN); the client offered 3des-sha1-modp1024; "
        "run with --config to name the attribute that differs"
    )


# -- 2. DH group 5 (server) vs group 2 (client) -----------------------------------------------------
DH_LINE = (
    "phase 1 refused: DH group: client modp1024, server modp1536; "
    'fix: add "aes128-sha1-modp1024" to [ike] phase1'
)


def test_2_dh_group_check_and_capture():
    pol = policy(["aes128-sha1-modp1536"], ["aes128-sha1"])
    v1, _ = diagnosis.check(profiles.custom(["aes128-sha1-modp1024"], ["aes128-sha1"]), pol)
    assert v1.lines[0] == DH_LINE
    lab = Lab(
        settings("aes128-sha1-modp1536", "aes128-sha1"), settings("aes128-sha1-modp1024", "aes128-sha1")
    )
    ok, lines = explained(lab, pol)
    assert not ok and lines[1] == DH_LINE


# -- 3. the client's phase 2 IDs name an address the server does not serve --------------------------
IDS_LINE = (
    "phase 2 IDs: the client proposed local proxy 203.0.113.5 port 1701, we serve address 192.0.2.1: "
    "the client dials an address this server does not own (NAT or port forward in front of it). "
    "ikel2tp accepts it in transport mode; a strict responder (Cisco: 'invalid local address') "
    'refuses it; fix: set public_address = "203.0.113.5" in [server]'
)


@pytest.mark.parametrize("with_config", [True, False])
def test_3_ids_name_an_address_we_do_not_serve(with_config):
    lab = Lab(
        settings("aes128-sha1-modp2048", "aes128-sha1"),
        settings("aes128-sha1-modp2048", "aes128-sha1"),
        dialed="203.0.113.5",
    )
    pol = policy(["aes128-sha1-modp2048"], ["aes128-sha1"], listen=["192.0.2.1"]) if with_config else None
    ok, lines = explained(lab, pol)
    assert ok
    assert IDS_LINE in lines
    assert "phase 1: established (aes128-sha1-modp2048)" in lines  # NAT-D echoed: no float
    assert lines[-1] == f"{ID}: the responder chose aes128-sha1; established"


def test_3_public_address_configured_is_served():
    lab = Lab(
        settings("aes128-sha1-modp2048", "aes128-sha1"),
        settings("aes128-sha1-modp2048", "aes128-sha1"),
        dialed="203.0.113.5",
    )
    pol = policy(
        ["aes128-sha1-modp2048"], ["aes128-sha1"], listen=["192.0.2.1"], public_address="203.0.113.5"
    )
    ok, lines = explained(lab, pol)
    assert ok and not any("local proxy" in line for line in lines)


# -- 4. ESP integrity HMAC-MD5 (server) vs HMAC-SHA1 (client) ---------------------------------------
ESP_LINE = 'phase 2 refused: integrity: client sha1, server md5; fix: add "aes128-sha1" to [ike] phase2'


def test_4_esp_integrity_capture():
    lab = Lab(settings("aes128-sha1-modp2048", "aes128-md5"), settings("aes128-sha1-modp2048", "aes128-sha1"))
    ok, lines = explained(lab, policy(["aes128-sha1-modp2048"], ["aes128-md5"]))
    assert not ok
    assert lines[-4:] == [
        f"{ID}: client offers aes128-sha1",
        ESP_LINE,
        "server log: phase 2: peer offers aes128-sha1; we allow aes128-md5; nearest miss: peer's aes128-sha1 "
        "vs our aes128-md5 differs in integrity: peer sha1, we allow md5",
        f"{ID}: refused by the responder (NO-PROPOSAL-CHOSEN); the client offered aes128-sha1",
    ]


def test_4_cisco_answers_invalid_id_information_for_a_transform_mismatch():
    """Cisco reports the ESP mismatch as 'proxy identities not supported' (INVALID-ID-INFORMATION)."""
    lab = Lab(settings("aes128-sha1-modp2048", "aes128-md5"), settings("aes128-sha1-modp2048", "aes128-sha1"))
    real = lab.server.send_notify

    def like_cisco(sa, notify_type, protocol, spi, data=b""):
        if notify_type == NotifyType.NO_PROPOSAL_CHOSEN:
            notify_type = NotifyType.INVALID_ID_INFORMATION
        real(sa, notify_type, protocol, spi, data)

    lab.server.send_notify = like_cisco
    ok, lines = explained(lab, policy(["aes128-sha1-modp2048"], ["aes128-md5"]))
    assert not ok
    assert ESP_LINE in lines
    assert lines[-2:] == [
        f"{ID}: refused by the responder (INVALID-ID-INFORMATION); the client offered aes128-sha1",
        f"{ID}: INVALID-ID-INFORMATION does not always mean the IDs: Cisco answers a transform set mismatch "
        "the same way ('proxy identities not supported'); compare the proposals first",
    ]


def test_4_without_table_phase2_is_only_counted():
    lab = Lab(settings("aes128-sha1-modp2048", "aes128-md5"), settings("aes128-sha1-modp2048", "aes128-sha1"))
    ok, lines = explained(lab, None, decrypt=False)
    assert not ok and lines[-1].startswith(
        f"{ID}: the client sent Quick Mode 1 4 time(s); the responder "
        "answered only with an encrypted notification"
    )


# -- 5. Windows' ECP-first offer against a MODP-only policy -----------------------------------------
def test_5_windows_ecp_first_against_modp_only_policy():
    pol = policy(["aes256-sha1-modp2048", "aes128-sha1-modp1024"], ["aes256-sha1", "aes128-sha1"])
    v1, v2 = diagnosis.check(profiles.PROFILES["windows"], pol)
    assert v1.ok and v1.lines == (
        "phase 1: chosen aes256-sha1-modp2048 (the client's 3rd proposal; its earlier aes256-sha1-ecp384, "
        "aes128-sha1-ecp256 not allowed by [ike] phase1)",
    )
    assert v2.ok and v2.lines == ("phase 2: chosen aes256-sha1, transport mode (the client's 1st proposal)",)


def test_5_windows_offer_as_a_real_negotiation():
    windows = profiles.PROFILES["windows"]
    lab = Lab(settings(("aes256-sha1-modp2048",), "aes256-sha1"), settings(windows.phase1, windows.phase2))
    ok, lines = explained(lab, None)
    assert ok and "phase 1: the responder chose aes256-sha1-modp2048" in lines


# -- 6. PFS required by one side only ---------------------------------------------------------------
PFS_LINE = 'phase 2 refused: PFS group: client none, server modp2048; fix: add "aes128-sha1" to [ike] phase2'


def test_6_server_requires_pfs_client_has_none():
    lab = Lab(
        settings("aes128-sha1-modp2048", "aes128-sha1-modp2048"),
        settings("aes128-sha1-modp2048", "aes128-sha1"),
    )
    ok, lines = explained(lab, policy(["aes128-sha1-modp2048"], ["aes128-sha1-modp2048"]))
    assert not ok and PFS_LINE in lines


def test_6_client_wants_weak_pfs_server_has_none():
    v1, v2 = diagnosis.check(
        profiles.custom(["aes128-sha1-modp2048"], ["aes128-sha1-modp768"]),
        policy(["aes128-sha1-modp2048"], ["aes128-sha1"]),
    )
    assert v1.ok and not v2.ok
    assert v2.lines[0] == (
        'phase 2 refused: PFS group: client modp768, server none; fix: add "aes128-sha1-modp768" to '
        "[ike] phase2 (weak: modp768; better make the client offer a stronger suite)"
    )


def test_6_client_pfs_accepted_when_server_has_none():
    _, v2 = diagnosis.check(
        profiles.custom(["aes128-sha1-modp2048"], ["aes128-sha1-modp2048"]),
        policy(["aes128-sha1-modp2048"], ["aes128-sha1"]),
    )
    assert v2.ok and v2.lines == (
        "phase 2: chosen aes128-sha1-modp2048, transport mode (the client's 1st proposal)",
    )


# -- 7. wrong pre-shared key ------------------------------------------------------------------------
PSK_TAIL = (
    "the proposal was agreed (aes128-sha1-modp2048), the pre-shared keys differ; fix: type the same "
    "pre-shared key on the client as psk in [ike] (or the client's [[ike.peers]] entry)"
)


def test_7_wrong_psk_is_a_psk_mismatch_not_a_proposal():
    lab = Lab(
        settings("aes128-sha1-modp2048", "aes128-sha1"),
        settings("aes128-sha1-modp2048", "aes128-sha1", psk=b"not the server's key"),
    )
    ok, lines = explained(lab, None, decrypt=False)
    assert not ok
    assert lines[-1] == (
        "PSK mismatch: the client sent Main Mode 5 (its ID and HASH_I) 4 times and the "
        f"responder never answered with Main Mode 6; {PSK_TAIL}"
    )
    assert not any("proposal" in line and "refused" in line for line in lines)


def test_7_wrong_psk_with_the_servers_key_table():
    lab = Lab(
        settings("aes128-sha1-modp2048", "aes128-sha1"),
        settings("aes128-sha1-modp2048", "aes128-sha1", psk=b"not the server's key"),
    )
    ok, lines = explained(lab, None)
    assert not ok and lines[-1].startswith(
        "PSK mismatch: Main Mode 5 does not decrypt with the key in the table"
    )


# -- 8. a server certificate without the EKU Windows requires ---------------------------------------
def test_8_server_certificate_without_server_auth():
    cert = load_certificate("certs/fixtures/server-no-serverauth.crt")
    now = cert.not_valid_before_utc + timedelta(days=1)
    assert certificate_findings(cert, now, ["vpn.example.com"]) == [
        (
            True,
            "server certificate: no serverAuth extended key usage (1.3.6.1.5.5.7.3.1): Windows refuses a "
            "VPN server certificate without it; fix: issue the server certificate with `ikel2tp certs issue "
            "server --dns NAME` (serverAuth + IKE EKUs)",
        ),
    ]
    good = load_certificate("certs/fixtures/server.crt")
    assert [f for f in certificate_findings(good, now, ["vpn.example.com"]) if f[0]] == []


# -- the other outcomes of a capture ----------------------------------------------------------------
def test_policy_would_choose_differently_than_the_captured_responder():
    windows = profiles.PROFILES["windows"]
    lab = Lab(settings(("aes256-sha1-modp2048",), "aes256-sha1"), settings(windows.phase1, windows.phase2))
    ok, lines = explained(lab, policy(["aes256-sha1-ecp384"], ["aes256-sha1"]))
    assert ok
    assert lines[1:4] == [
        "phase 1: chosen aes256-sha1-ecp384 (the client's 1st proposal)",
        "phase 1: the responder chose aes256-sha1-modp2048",
        "phase 1: with this configuration ikel2tp would choose aes256-sha1-ecp384 instead",
    ]


def test_silent_responder():
    lab = Lab(
        settings("aes128-sha1-modp2048", "aes128-sha1"), settings("aes128-sha1-modp2048", "aes128-sha1")
    )
    lab.server.receive_datagram = lambda *args: None
    ok, lines = explained(lab, None, decrypt=False)
    assert not ok and lines[-1] == (
        "phase 1: no answer to the client's first message (sent 4 time(s)): UDP 500 blocked on the way, "
        "or the server drops it (see its log)"
    )
