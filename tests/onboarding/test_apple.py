"""The .mobileconfig: a valid plist with the fields Apple documents for an L2TP VPN payload."""

from __future__ import annotations

import plistlib

from ikel2tp.onboarding import apple

from .conftest import P12_PASSWORD, PASSWORD, PSK, SERVER, USER

# Keys per payload as Apple's Device Management reference documents them (apple/device-management,
# mdm/profiles/TopLevel.yaml, com.apple.vpn.managed.yaml, com.apple.security.{root,pkcs12}.yaml).
COMMON = {"PayloadType", "PayloadVersion", "PayloadIdentifier", "PayloadUUID", "PayloadDisplayName",
          "PayloadDescription", "PayloadContent", "PayloadCertificateFileName"}
VPN_KEYS = COMMON | {"UserDefinedName", "VPNType", "PPP", "IPSec", "IPv4"}
PPP_KEYS = {"AuthName", "AuthPassword", "TokenCard", "CommRemoteAddress"}
IPSEC_KEYS = {"AuthenticationMethod", "LocalIdentifierType", "SharedSecret", "PayloadCertificateUUID"}
PKCS12_KEYS = COMMON | {"Password"}


def _load(inputs) -> dict:
    bundle = apple.generate(inputs)
    assert [f.name for f in bundle.files] == [f"{USER}.mobileconfig"]
    return plistlib.loads(bundle.files[0].data)


def _vpn(profile: dict) -> dict:
    (vpn,) = [p for p in profile["PayloadContent"] if p["PayloadType"] == "com.apple.vpn.managed"]
    return vpn


def test_psk_profile_has_apples_l2tp_fields(inputs):
    profile = _load(inputs())
    assert profile["PayloadType"] == "Configuration" and profile["PayloadVersion"] == 1
    assert profile["PayloadIdentifier"] and profile["PayloadUUID"] and profile["PayloadDisplayName"]
    vpn = _vpn(profile)
    assert set(vpn) <= VPN_KEYS
    assert vpn["VPNType"] == "L2TP" and vpn["UserDefinedName"] == vpn["PayloadDisplayName"]
    assert vpn["PPP"] == {"CommRemoteAddress": SERVER, "AuthName": USER, "TokenCard": 0}
    assert vpn["IPSec"] == {"AuthenticationMethod": "SharedSecret", "LocalIdentifierType": "KeyID",
                            "SharedSecret": PSK.encode()}
    assert isinstance(vpn["IPSec"]["SharedSecret"], bytes)  # <data>, as documented
    assert vpn["IPv4"] == {"OverridePrimary": 1}  # masquerade on: send all traffic


def test_known_password_and_split_tunnel(inputs):
    vpn = _vpn(_load(inputs(server={"masquerade": False}, password=PASSWORD)))
    assert vpn["PPP"]["AuthPassword"] == PASSWORD
    assert set(vpn["PPP"]) <= PPP_KEYS
    assert vpn["IPv4"] == {"OverridePrimary": 0}


def test_certificate_profile_references_its_identity_payload(inputs, cert_ike, pki):
    profile = _load(inputs(ike=cert_ike))
    by_type = {}
    for payload in profile["PayloadContent"]:
        by_type.setdefault(payload["PayloadType"], []).append(payload)
    (identity,) = by_type["com.apple.security.pkcs12"]
    (root,) = by_type["com.apple.security.root"]
    vpn = _vpn(profile)
    assert vpn["IPSec"] == {"AuthenticationMethod": "Certificate",
                            "PayloadCertificateUUID": identity["PayloadUUID"]}
    assert set(vpn["IPSec"]) <= IPSEC_KEYS and set(identity) <= PKCS12_KEYS and set(root) <= COMMON
    assert identity["PayloadContent"] == pki["p12"].read_bytes()
    assert identity["Password"] == P12_PASSWORD  # read from p12/alice.password
    assert root["PayloadContent"][:1] == b"\x30"  # DER
    uuids = [p["PayloadUUID"] for p in profile["PayloadContent"]] + [profile["PayloadUUID"]]
    assert len(set(uuids)) == len(uuids)


def test_same_inputs_give_the_same_profile(inputs):
    """Stable identifiers and UUIDs: a regenerated profile replaces the installed one."""
    assert apple.generate(inputs()).files == apple.generate(inputs()).files


def test_policy_without_apples_suites_warns(inputs):
    bundle = apple.generate(inputs(ike={"psk": PSK, "phase1": ["aes128-sha1-ecp256"]}))
    assert any("macOS/iOS" in w and "phase 1" in w for w in bundle.warnings)
    assert not apple.generate(inputs()).warnings
