"""Windows 10/11: a PowerShell script built on the VpnClient cmdlets that come with Windows.

``Add-VpnConnection -TunnelType L2tp`` makes the connection; ``Set-VpnConnectionIPsecConfiguration``
(which "applies only to IKEv2 and L2TP VPN connections") is added only when our policy accepts none of
the suites Windows offers by default, and then pins Windows to one suite our policy allows.  The
``AssumeUDPEncapsulationContextOnSendRule`` registry value (error 809) is written only when the server
sits behind NAT and does not hide it (``nat_d_workaround = false``).
"""

from __future__ import annotations

from ikel2tp.ike import suites
from ikel2tp.ike.suites import Phase1Suite, Phase2Suite
from ikel2tp.onboarding import offers
from ikel2tp.onboarding.common import (
    Bundle,
    ClientInputs,
    GeneratedFile,
    ca_file_names,
    cert_files,
    file_stem,
)

# [ppp] auth -> Add-VpnConnection -AuthenticationMethod values (PPP authentication)
AUTH_METHODS = {"mschapv2": "MSChapv2", "chap": "Chap", "pap": "Pap"}

# What Set-VpnConnectionIPsecConfiguration can express: our names -> its enumeration values.
IKE_CIPHERS = {("aes-cbc", 128): "AES128", ("aes-cbc", 192): "AES192", ("aes-cbc", 256): "AES256",
               ("3des-cbc", 192): "DES3", ("des-cbc", 64): "DES"}
IKE_HASHES = {"md5": "MD5", "sha1": "SHA1", "sha256": "SHA256", "sha384": "SHA384"}
DH_GROUPS = {1: "Group1", 2: "Group2", 14: "Group14", 19: "ECP256", 20: "ECP384"}
ESP_CIPHERS = {("aes-cbc", 128): "AES128", ("aes-cbc", 192): "AES192", ("aes-cbc", 256): "AES256",
               ("3des-cbc", 192): "DES3", ("des-cbc", 64): "DES", ("aes-gcm", 128): "GCMAES128",
               ("aes-gcm", 192): "GCMAES192", ("aes-gcm", 256): "GCMAES256"}
ESP_INTEGRITY = {"md5": "MD596", "sha1": "SHA196", "sha256": "SHA256128"}
PFS_GROUPS = {None: "None", 1: "PFS1", 2: "PFS2", 14: "PFS2048", 19: "ECP256", 20: "ECP384"}

POLICY_AGENT = r"HKLM:\SYSTEM\CurrentControlSet\Services\PolicyAgent"
NAT_VALUE = "AssumeUDPEncapsulationContextOnSendRule"


# PowerShell takes the typographic single quotes as quote characters too (language specification,
# "single-quote-character": U+0027, U+2018, U+2019, U+201A, U+201B).
PS_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"


def ps_quote(text: str) -> str:
    """A PowerShell single-quoted (verbatim) string: nothing inside is expanded; every quote character
    is doubled, so a PSK typed with curly quotes stays one string."""
    return "'" + "".join(c + c if c in PS_SINGLE_QUOTES else c for c in text) + "'"


def custom_phase1(policy: tuple[Phase1Suite, ...]) -> Phase1Suite | None:
    """The first configured phase 1 suite the cmdlet can express."""
    return next((s for s in policy if (s.cipher, s.key_bits) in IKE_CIPHERS and s.hash in IKE_HASHES
                 and s.group in DH_GROUPS), None)


def custom_phase2(policy: tuple[Phase2Suite, ...]) -> Phase2Suite | None:
    """The first configured ESP suite the cmdlet can express (GCM carries its own integrity)."""
    for s in policy:
        if (s.cipher, s.key_bits) not in ESP_CIPHERS or s.pfs_group not in PFS_GROUPS:
            continue
        if s.cipher in suites.AEAD or s.integrity in ESP_INTEGRITY:
            return s
    return None


def _ipsec_policy(inputs: ClientInputs) -> tuple[list[str], list[str]]:
    """(script lines, warnings) for Set-VpnConnectionIPsecConfiguration, empty when Windows' defaults
    already pass our policy."""
    ike = inputs.config.ike
    if not offers.check_offer(offers.WINDOWS, inputs.config):
        return [], []
    p1, p2 = custom_phase1(ike.phase1), custom_phase2(ike.phase2)
    if p1 is None or p2 is None:
        key = "phase1" if p1 is None else "phase2"
        return [], [f"Windows cannot connect: [ike] {key} has no suite Windows can use (neither its "
                    "defaults nor one that Set-VpnConnectionIPsecConfiguration can set)"]
    # AES-GCM is its own integrity: the cmdlet then takes the same GCMAES value for both.
    aead = p2.cipher in suites.AEAD
    auth = ESP_CIPHERS[(p2.cipher, p2.key_bits)] if aead else ESP_INTEGRITY[p2.integrity or ""]
    lines = [
        f"# Windows' default proposals are not in the server's policy: use {p1} (phase 1), {p2} (phase 2).",
        "Set-VpnConnectionIPsecConfiguration -ConnectionName $Name -AllUserConnection "
        f"-EncryptionMethod {IKE_CIPHERS[(p1.cipher, p1.key_bits)]} "
        f"-IntegrityCheckMethod {IKE_HASHES[p1.hash]} "
        f"-DHGroup {DH_GROUPS[p1.group]} -CipherTransformConstants {ESP_CIPHERS[(p2.cipher, p2.key_bits)]} "
        f"-AuthenticationTransformConstants {auth} -PfsGroup {PFS_GROUPS[p2.pfs_group]} -Force",
    ]
    return lines, []


def generate(inputs: ClientInputs) -> Bundle:
    """The .ps1 script (and, in certificate mode, the CA and PKCS#12 files it imports)."""
    config = inputs.config
    methods = [AUTH_METHODS[a] for a in config.ppp.auth]
    # "Require encryption" makes Windows insist on IPsec.  Windows is reported to refuse it when only PAP
    # or CHAP is allowed ("The current encryption selection requires EAP or MS-CHAPv2 logon security
    # methods"; seen for PPTP, unverified for L2TP), so those profiles ask for optional encryption.
    required = config.l2tp.require_ipsec and "MSChapv2" in methods
    policy, warnings = _ipsec_policy(inputs)
    lines = [
        "#Requires -RunAsAdministrator",
        f"# {inputs.name}: L2TP/IPsec VPN to {inputs.server} for {inputs.user},",
        "# written by `ikel2tp client-config`.",
        "# Run in an elevated PowerShell (Run as Administrator):",
        "#   powershell -ExecutionPolicy Bypass -File <this file>",
        "# This file holds secrets: delete it once the connection works.",
        '$ErrorActionPreference = "Stop"',
        f"$Name = {ps_quote(inputs.name)}",
        f"$User = {ps_quote(inputs.user)}",
        "",
    ]
    files: list[GeneratedFile] = []
    secrets = []
    if inputs.cert is not None:
        cert = inputs.cert
        lines.append("# Certificate authentication: the CA into the computer's Trusted Root store, the")
        lines.append("# user's PKCS#12 into the computer's Personal store (L2TP/IPsec uses the computer")
        lines.append("# store).")
        for ca_name in ca_file_names(cert):
            lines.append(f"Import-Certificate -FilePath (Join-Path $PSScriptRoot {ps_quote(ca_name)}) "
                         r"-CertStoreLocation Cert:\LocalMachine\Root | Out-Null")
        if cert.p12_password is not None:
            lines.append(f"$P12Password = ConvertTo-SecureString {ps_quote(cert.p12_password)} "
                         "-AsPlainText -Force")
            secrets.append(("PKCS#12 password", cert.p12_password))
        else:
            prompt = ps_quote(f"Password of {cert.p12_name}")
            lines.append(f"$P12Password = Read-Host -AsSecureString -Prompt {prompt}")
        lines.append(f"Import-PfxCertificate -FilePath (Join-Path $PSScriptRoot {ps_quote(cert.p12_name)}) "
                     r"-CertStoreLocation Cert:\LocalMachine\My -Password $P12Password | Out-Null")
        lines.append("")
        files.extend(cert_files(cert))
    add = (f"Add-VpnConnection -Name $Name -ServerAddress {ps_quote(inputs.server)} -TunnelType L2tp "
           f"-AuthenticationMethod {','.join(methods)} "
           f"-EncryptionLevel {'Required' if required else 'Optional'} ")
    if inputs.psk is not None:
        add += f"-L2tpPsk {ps_quote(inputs.psk)} "
        secrets.append(("IPsec pre-shared key", inputs.psk))
    else:
        lines.append("# No -L2tpPsk: Windows authenticates IPsec with the computer certificate imported")
        lines.append("# above.")
    if not inputs.full_tunnel:
        add += "-SplitTunneling "
    lines.append(add + "-AllUserConnection -RememberCredential -Force")
    lines.extend(policy)
    reboot = inputs.server_behind_nat and not config.ike.nat_d_workaround
    if reboot:
        lines += [
            "",
            "# The server is behind NAT and does not hide it (nat_d_workaround = false), so Windows needs",
            f"# {NAT_VALUE} = 2 (server and client may be behind NAT), else error 809.",
            "# REBOOT WINDOWS after this change: the IPsec policy agent reads it only at startup.",
            f"New-ItemProperty -Path {ps_quote(POLICY_AGENT)} -Name {NAT_VALUE} -PropertyType DWord "
            "-Value 2 -Force | Out-Null",
            'Write-Warning "Registry changed: restart Windows before connecting (else error 809)."',
        ]
    # Literal values, so the line also works copied into a new PowerShell after a restart.
    connect = f"rasdial {ps_quote(inputs.name)} {ps_quote(inputs.user)} "
    if inputs.password is not None:
        connect += ps_quote(inputs.password)
        secrets.append(("password", inputs.password))
    else:
        connect += "*"  # rasdial asks for the password
    lines += ["", "# Connect (or: Settings > Network & internet > VPN > Connect; Windows remembers the "
                  "password):"]
    # Before the restart the registry value has no effect, so connecting now would end in error 809.
    lines.append(f"# after the restart: {connect}" if reboot else connect)
    script = "\r\n".join(lines) + "\r\n"
    files.insert(0, GeneratedFile(f"{file_stem(inputs.user)}-windows.ps1", script.encode("utf-8-sig")))
    notes = ["run the .ps1 in an elevated PowerShell (Run as Administrator)"]
    if reboot:
        notes.append(f"the script sets {NAT_VALUE}=2: Windows must be restarted once afterwards")
    return Bundle(tuple(files), tuple(notes), tuple(warnings), tuple(secrets))
