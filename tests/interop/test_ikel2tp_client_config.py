"""``ikel2tp client-config linux`` against ``ikel2tp serve`` with a real strongSwan client (issue 12).

The server's own configuration file goes through ``client-config linux``; the NetworkManager-l2tp keyfile it
writes gives the gateway, user, password, PSK and the ``ipsec-ike``/``ipsec-esp`` proposal lists.  Those
proposals (the same strings as ``linux_proposals(config)``, one suite each) become the strongSwan client's
swanctl ``proposals``/``esp_proposals`` as they are, and the client connects behind NAT and pings the LAN.
"""

from __future__ import annotations

import base64
import configparser
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest

from ikel2tp.config import load_config
from ikel2tp.onboarding.offers import linux_proposals

from .harness import ClientSpec, Topology
from .ikel2tp_server import DNS, ROOT, Ikel2tpServer, ServerOptions
from .profiles import PROFILES, Profile

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(300)]

PSK = secrets.token_urlsafe(18)
USERS = {"alice": secrets.token_urlsafe(12)}
PROFILE = "nm-l2tp"


@pytest.fixture(scope="module")
def served(guest_image) -> Iterator[tuple[Topology, Ikel2tpServer]]:
    with Topology(kind="nat", clients=1, image=guest_image) as topo:
        server = Ikel2tpServer(ServerOptions(psk=PSK, users=USERS), topo.workdir)
        server.start(topo)
        yield topo, server


def nm_keyfile(server: Ikel2tpServer, address: str, password: str) -> configparser.ConfigParser:
    """Run ``ikel2tp client-config linux alice`` on the server's configuration; the keyfile it wrote."""
    out = server.workdir / "client-config"
    argv = [sys.executable, "-m", "ikel2tp", "client-config", "linux", "alice", "--config",
            str(server.config_path), "--server", address, "--out", str(out), "--password-stdin"]
    done = subprocess.run(argv, input=password + "\n", capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert PSK not in done.stdout + done.stderr and password not in done.stdout + done.stderr
    (path,) = out.glob("*.nmconnection")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return parser


def unpack_nm_psk(value: str) -> str:
    assert value.startswith("0s"), "nm-l2tp's 0s+base64 form"
    return base64.b64decode(value[2:]).decode()


def test_linux_profile_proposals_connect_a_strongswan_client(served):
    topo, server = served
    keyfile = nm_keyfile(server, topo.server_address, USERS["alice"])
    vpn, vpn_secrets = keyfile["vpn"], keyfile["vpn-secrets"]
    ike, esp = linux_proposals(load_config(server.config_path))
    # strongSwan's trailing "!" makes the list strict; the rest is the server's suites in its order.
    assert vpn["ipsec-ike"] == ",".join(ike) + "!" and vpn["ipsec-esp"] == ",".join(esp) + "!"
    assert (vpn["gateway"], vpn["user"], vpn["machine-auth-type"]) == (topo.server_address, "alice", "psk")

    PROFILES[PROFILE] = Profile(PROFILE, tuple(vpn["ipsec-ike"].rstrip("!").split(",")),
                                tuple(vpn["ipsec-esp"].rstrip("!").split(",")),
                                "NetworkManager-l2tp profile written by ikel2tp client-config linux")
    try:
        result = topo.run_client(ClientSpec(PROFILE, psk=unpack_nm_psk(vpn_secrets["ipsec-psk"]),
                                            user=vpn["user"], password=vpn_secrets["password"]))
    finally:
        del PROFILES[PROFILE]
    assert result.ok, result.summary()
    # strongSwan parsed every proposal string of the profile (an unknown name would be dropped or refused).
    charon = (result.log_dir / "charon.log").read_text(errors="replace").splitlines()
    marker = "configured proposals: "
    configured = [line.split(marker, 1)[1] for line in charon if marker in line]
    assert configured[0].count("IKE:") == len(ike), configured[0]
    assert any(line.count("ESP:") == len(esp) for line in configured), configured
    assert result.assigned_address and result.assigned_address.startswith("10.77.1."), result.summary()
    assert result.dns == list(DNS) and result.ping_ok, result.summary()
    assert result.ike["nat"] == "NAT-T", result.summary()
    # The client's first proposal is the server's first suite, so that is what was negotiated.
    assert result.ike["ike_algorithms"] == "AES_CBC-256/HMAC_SHA1_96/PRF_HMAC_SHA1/ECP_384", result.summary()
    assert result.ike["esp"] == "ESP:AES_CBC-256/HMAC_SHA1_96", result.summary()
