"""The NetworkManager-l2tp keyfile and nmcli script: parseable, 0600, proposals inside the server's policy."""

from __future__ import annotations

import base64
import configparser
import os
import shlex
import shutil
import stat
import subprocess

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
from ikel2tp.onboarding import linux, linux_proposals, write_bundle

from .conftest import P12_PASSWORD, PASSWORD, PSK, SERVER, USER

NARROW = {"psk": PSK, "phase1": ["aes256-sha256-modp2048", "aes128-sha1-modp1024"],
          "phase2": ["aes128gcm16", "aes256-sha256"]}


def _parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # NetworkManager keys are case-sensitive
    parser.read_string(text)
    return parser


def _proposals(value: str) -> list[str]:
    return value.rstrip("!").split(",")


@pytest.fixture
def written(inputs, tmp_path):
    def run(daemon: str = "strongswan", **options):
        bundle = linux.generate(inputs(**options), daemon)
        paths = {p.name: p for p in write_bundle(bundle, tmp_path / "out")}
        return bundle, paths
    return run


@pytest.mark.parametrize("ike", [{}, NARROW], ids=["default-policy", "narrow-policy"])
def test_keyfile_parses_and_its_proposals_pass_the_policy(written, inputs, ike):
    bundle, paths = written(ike=ike)
    keyfile = paths[f"{USER}.nmconnection"]
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    assert stat.S_IMODE(keyfile.parent.stat().st_mode) == 0o700
    ini = _parse(keyfile.read_text())
    assert ini["connection"]["type"] == "vpn"
    vpn = ini["vpn"]
    assert vpn["service-type"] == "org.freedesktop.NetworkManager.l2tp"
    assert (vpn["gateway"], vpn["user"], vpn["ipsec-enabled"]) == (SERVER, USER, "yes")
    assert (vpn["mru"], vpn["mtu"]) == ("1400", "1400")
    assert ini["ipv4"]["method"] == "auto"
    config = inputs(ike=ike).config
    phase1 = [suites.parse_phase1(p) for p in _proposals(vpn["ipsec-ike"])]
    phase2 = [suites.parse_phase2(p) for p in _proposals(vpn["ipsec-esp"])]
    assert phase1 == list(config.ike.phase1) and phase2 == list(config.ike.phase2)
    assert vpn["ipsec-ike"].endswith("!") and vpn["ipsec-esp"].endswith("!")  # strongSwan: strict
    # The proposal engine of the server picks each one when a client offers it alone.
    for suite in phase1:
        sa = phase1_sa([suite], AuthMethod.PRE_SHARED_KEY, 28800)
        choice = select_phase1(sa, config.ike.phase1, [AuthMethod.PRE_SHARED_KEY])
        assert isinstance(choice, Phase1Choice) and choice.offer.suite == suite
    for suite in phase2:
        sa = phase2_sa([suite], 0x1234, EncapsulationMode.TRANSPORT, Lifetime(3600))
        choice = select_phase2(sa, config.ike.phase2, Lifetime(3600))
        assert isinstance(choice, Phase2Choice) and choice.offer.suite == suite


def test_psk_is_in_the_secrets_in_0s_form(written):
    _, paths = written()
    ini = _parse(paths[f"{USER}.nmconnection"].read_text())
    value = ini["vpn-secrets"]["ipsec-psk"]
    assert value.startswith("0s") and base64.b64decode(value[2:]).decode() == PSK
    assert PSK not in paths[f"{USER}.nmconnection"].read_text()
    assert ini["vpn"]["machine-auth-type"] == "psk"
    # Unknown password: NetworkManager asks on every connect.
    assert ini["vpn"]["password-flags"] == "2" and "password" not in ini["vpn-secrets"]


def test_known_password_is_saved(written):
    _, paths = written(password=PASSWORD)
    ini = _parse(paths[f"{USER}.nmconnection"].read_text())
    assert ini["vpn-secrets"]["password"] == PASSWORD and ini["vpn"]["password-flags"] == "0"


@pytest.mark.parametrize(("auth", "refused"), [
    (["mschapv2", "chap"], {"refuse-eap", "refuse-mschap", "refuse-pap"}),
    (["mschapv2"], {"refuse-eap", "refuse-mschap", "refuse-pap", "refuse-chap"}),
    (["pap"], {"refuse-eap", "refuse-mschap", "refuse-chap", "refuse-mschapv2"}),
])
def test_refuses_what_the_server_does_not_allow(written, auth, refused):
    _, paths = written(ppp={"auth": auth})
    vpn = _parse(paths[f"{USER}.nmconnection"].read_text())["vpn"]
    assert {key for key in vpn if key.startswith("refuse-") and vpn[key] == "yes"} == refused


def test_libreswan_drops_what_it_cannot_propose(written, inputs):
    bundle, paths = written("libreswan")
    vpn = _parse(paths[f"{USER}.nmconnection"].read_text())["vpn"]
    assert not vpn["ipsec-ike"].endswith("!")
    phase1 = [suites.parse_phase1(p) for p in _proposals(vpn["ipsec-ike"])]
    phase2 = [suites.parse_phase2(p) for p in _proposals(vpn["ipsec-esp"])]
    config = inputs().config
    assert phase1 and set(phase1) <= set(config.ike.phase1) and set(phase2) <= set(config.ike.phase2)
    assert all(s.group != suites.DH_GROUPS["modp1024"] for s in phase1)
    assert all(s.cipher not in suites.AEAD for s in phase2)
    assert "sha2_256" in vpn["ipsec-ike"] and vpn["ipsec-pfs"] == "no"
    assert any("libreswan cannot propose" in n for n in bundle.notes)


def test_libreswan_with_only_modp1024_cannot_connect(inputs):
    bundle = linux.generate(inputs(ike={"psk": PSK, "phase1": ["3des-sha1-modp1024"]}), "libreswan")
    assert any("cannot connect" in w for w in bundle.warnings)


def test_nmcli_script_matches_the_keyfile(written):
    _, paths = written(password=PASSWORD)
    ini = _parse(paths[f"{USER}.nmconnection"].read_text())
    script = paths[f"{USER}-nmcli.sh"].read_text()
    assert stat.S_IMODE(paths[f"{USER}-nmcli.sh"].stat().st_mode) == 0o600
    lines = script.replace("\\\n", " ").splitlines()
    (add,) = [line for line in lines if line.startswith("nmcli connection add")]
    words = shlex.split(add)
    settings = dict(zip(words[9::2], words[10::2], strict=True))
    assert words[:9] == ["nmcli", "connection", "add", "type", "vpn", "vpn-type", "l2tp", "con-name",
                         ini["connection"]["id"]]
    assert settings["connection.uuid"] == ini["connection"]["uuid"]

    def unescape(value: str) -> dict[str, str]:
        items, current, escaped = [], "", False
        for char in value:
            if escaped:
                current, escaped = current + char, False
            elif char == "\\":
                escaped = True
            elif char == ",":
                items.append(current)
                current = ""
            else:
                current += char
        items.append(current)
        return dict(item.strip().split("=", 1) for item in items)

    assert unescape(settings["vpn.data"]) == {k: v for k, v in ini["vpn"].items() if k != "service-type"}
    assert unescape(settings["vpn.secrets"]) == dict(ini["vpn-secrets"])


def test_certificate_mode(written, cert_ike):
    bundle, paths = written(ike=cert_ike)
    vpn = _parse(paths[f"{USER}.nmconnection"].read_text())["vpn"]
    assert vpn["machine-auth-type"] == "tls" and "ipsec-psk" not in vpn
    assert vpn["machine-cert"].endswith(f"{USER}.p12") and vpn["machine-ca"].endswith("ca.cer")
    assert {"ca.cer", f"{USER}.p12"} <= set(paths)
    secrets = _parse(paths[f"{USER}.nmconnection"].read_text())["vpn-secrets"]
    assert secrets["machine-certpass"] == P12_PASSWORD
    assert "install -m 0600" in paths[f"{USER}-nmcli.sh"].read_text()


def test_linux_proposals_are_swanctl_proposals(inputs):
    """The hook for the interop harness: strongSwan spelling, the server's suites in its order."""
    config = inputs(ike=NARROW).config
    ike, esp = linux_proposals(config)
    assert ike == ["aes256-sha256-modp2048", "aes128-sha1-modp1024"]
    assert esp == ["aes128gcm16", "aes256-sha256"]


def _nmcli() -> str | None:
    """An nmcli that can build keyfiles without the daemon (``--offline``, NetworkManager >= 1.42);
    IKEL2TP_NMCLI names one outside PATH."""
    path = os.environ.get("IKEL2TP_NMCLI") or shutil.which("nmcli")
    if path is None:
        return None
    probe = subprocess.run([path, "--offline", "connection", "add", "type", "vpn", "vpn-type", "l2tp",
                            "con-name", "probe"], capture_output=True, text=True, timeout=20, check=False)
    return path if probe.returncode == 0 else None


@pytest.mark.skipif(_nmcli() is None, reason="needs nmcli with --offline (NetworkManager >= 1.42)")
def test_real_nmcli_reads_the_keyfile_and_builds_it_from_the_script(written):
    """NetworkManager's own keyfile code: it reads our keyfile unchanged, and our nmcli command gives the
    same settings (escaped commas in vpn.data included)."""
    nmcli = _nmcli()
    assert nmcli is not None
    _, paths = written(password="pa,ss\\w'rd")
    ours = _parse(paths[f"{USER}.nmconnection"].read_text())
    reread = subprocess.run([nmcli, "--offline", "connection", "modify", "connection.autoconnect", "no"],
                            input=paths[f"{USER}.nmconnection"].read_text(), capture_output=True, text=True,
                            timeout=20, check=True)
    script = paths[f"{USER}-nmcli.sh"].read_text().replace("\\\n", " ")
    (add,) = [line for line in script.splitlines() if line.startswith("nmcli connection add")]
    built = subprocess.run([nmcli, "--offline", *shlex.split(add)[1:]], capture_output=True, text=True,
                           timeout=20, check=True)
    for output in (reread.stdout, built.stdout):
        theirs = _parse(output)
        for section in ("vpn", "vpn-secrets"):
            assert dict(theirs[section]) == dict(ours[section])
        assert theirs["connection"]["uuid"] == ours["connection"]["uuid"]
        assert theirs["connection"]["id"] == ours["connection"]["id"]
        assert theirs["ipv4"]["method"] == "auto" and theirs["ipv6"]["method"] == "ignore"
