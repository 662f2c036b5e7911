"""The PowerShell script: the expected cmdlets and parameters, the registry value only when needed."""

from __future__ import annotations

import re

import pytest

from ikel2tp.ike import suites
from ikel2tp.ike.constants import AuthMethod, EncapsulationMode
from ikel2tp.ike.proposal import (
    Lifetime,
    Phase1Choice,
    Phase2Choice,
    phase1_sa,
    phase2_sa,
    select_phase1,
    select_phase2,
)
from ikel2tp.onboarding import windows

from .conftest import P12_PASSWORD, PASSWORD, PSK, SERVER, USER

NAT_VALUE = "AssumeUDPEncapsulationContextOnSendRule"
BEHIND_NAT = {"masquerade": True, "listen": ["10.0.0.5"], "public_address": "203.0.113.9"}


def _script(inputs) -> str:
    bundle = windows.generate(inputs)
    assert bundle.files[0].name == f"{USER}-windows.ps1"
    return bundle.files[0].data.decode("utf-8-sig")


def _add_line(script: str) -> str:
    (line,) = [line for line in script.splitlines() if line.startswith("Add-VpnConnection ")]
    return line


def test_psk_script_uses_the_builtin_cmdlets(inputs):
    script = _script(inputs())
    assert script.startswith("#Requires -RunAsAdministrator")
    add = _add_line(script)
    for part in ("-Name $Name", f"-ServerAddress '{SERVER}'", "-TunnelType L2tp", f"-L2tpPsk '{PSK}'",
                 "-AuthenticationMethod MSChapv2,Chap", "-EncryptionLevel Required", "-Force",
                 "-RememberCredential"):
        assert part in add
    assert "-SplitTunneling" not in add
    assert f"\nrasdial 'ikel2tp VPN ({SERVER})' '{USER}' *\r\n" in script
    # Windows' defaults pass the default policy: no custom IPsec policy, and no registry edit.
    assert "Set-VpnConnectionIPsecConfiguration" not in script
    assert NAT_VALUE not in script and "HKLM" not in script


def test_quotes_are_powershell_safe(inputs):
    script = _script(inputs(ike={"psk": "it's-a-long-enough-psk"}, password=PASSWORD))
    assert "-L2tpPsk 'it''s-a-long-enough-psk'" in script
    assert f"'{USER}' 'correct horse ''battery'' staple'" in script


@pytest.mark.parametrize(("auth", "methods", "level"), [
    (["chap", "mschapv2"], "Chap,MSChapv2", "Required"),
    (["pap"], "Pap", "Optional"),  # Windows requires MS-CHAPv2/EAP for "Require encryption"
])
def test_auth_methods_follow_ppp_auth(inputs, auth, methods, level):
    add = _add_line(_script(inputs(ppp={"auth": auth})))
    assert f"-AuthenticationMethod {methods} " in add and f"-EncryptionLevel {level} " in add


def test_registry_value_only_behind_nat_without_workaround(inputs):
    behind = _script(inputs(server=BEHIND_NAT, ike={"psk": PSK, "nat_d_workaround": False}))
    assert re.search(rf"New-ItemProperty -Path 'HKLM:\\SYSTEM\\CurrentControlSet\\Services\\PolicyAgent' "
                     rf"-Name {NAT_VALUE} -PropertyType DWord -Value 2", behind)
    assert "REBOOT" in behind and "809" in behind
    assert "\n# after the restart: rasdial " in behind  # connecting before the restart would fail
    # The workaround ("auto" turns it on behind NAT) makes the edit unnecessary.
    assert NAT_VALUE not in _script(inputs(server=BEHIND_NAT))
    # Not behind NAT: the public address is one we listen on.
    direct = {"listen": ["203.0.113.9"], "public_address": "203.0.113.9"}
    assert NAT_VALUE not in _script(inputs(server=direct, ike={"psk": PSK, "nat_d_workaround": False}))


def test_custom_ipsec_policy_when_windows_defaults_are_refused(inputs):
    strict = {"psk": PSK, "phase1": ["aes256-sha256-modp2048"], "phase2": ["aes256gcm16"]}
    script = _script(inputs(ike=strict))
    (line,) = [line for line in script.splitlines() if line.startswith("Set-VpnConnectionIPsecConfiguration")]
    for part in ("-EncryptionMethod AES256", "-IntegrityCheckMethod SHA256", "-DHGroup Group14",
                 "-CipherTransformConstants GCMAES256", "-AuthenticationTransformConstants GCMAES256",
                 "-PfsGroup None", "-Force"):
        assert part in line
    # What Windows is pinned to passes the server's proposal engine.
    config = inputs(ike=strict).config
    p1, p2 = windows.custom_phase1(config.ike.phase1), windows.custom_phase2(config.ike.phase2)
    assert p1 is not None and p2 is not None
    choice1 = select_phase1(phase1_sa([p1], AuthMethod.PRE_SHARED_KEY, 28800), config.ike.phase1,
                            [AuthMethod.PRE_SHARED_KEY])
    offer2 = phase2_sa([p2], 1, EncapsulationMode.TRANSPORT, Lifetime(3600))
    choice2 = select_phase2(offer2, config.ike.phase2, Lifetime(3600))
    assert isinstance(choice1, Phase1Choice) and isinstance(choice2, Phase2Choice)


def test_inexpressible_policy_warns(inputs):
    bundle = windows.generate(inputs(ike={"psk": PSK, "phase1": ["aes256-sha512-modp2048"]}))
    assert any("Windows cannot connect" in w for w in bundle.warnings)


def test_custom_policy_choices_are_in_policy():
    policy = tuple(map(suites.parse_phase2, ["aes128-sha384", "aes128-sha256-modp2048"]))
    assert str(windows.custom_phase2(policy)) == "aes128-sha256-modp2048"


def test_certificate_mode_imports_into_machine_stores(inputs, cert_ike):
    bundle = windows.generate(inputs(ike=cert_ike))
    script = bundle.files[0].data.decode("utf-8-sig")
    assert r"-CertStoreLocation Cert:\LocalMachine\Root" in script
    assert "Import-PfxCertificate" in script and r"-CertStoreLocation Cert:\LocalMachine\My" in script
    assert "-L2tpPsk" not in _add_line(script)
    assert f"'{P12_PASSWORD}'" in script
    assert {f.name for f in bundle.files} == {f"{USER}-windows.ps1", "ca.cer", f"{USER}.p12"}
