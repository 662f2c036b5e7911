"""Real strongSwan clients authenticating with certificates made by ``ikel2tp certs`` against
``ikel2tp serve`` (issue 8): IKEv1 Main Mode with RSA signatures, directly (plain ESP) and behind NAT
(NAT-T), and the refusals of expired, revoked and wrong-CA client certificates with the reason in our
server's log.

One NAT topology and one server for the module.  The NAT router leaves one client slot (192.0.2.11) alone
(routed, not masqueraded), so that client reaches the server without NAT: ESP as IP protocol 50.  All five
clients boot at once; the refused ones give up after strongSwan's retransmits.

An ID-mismatch case is not here: strongSwan will not send an IKE identity its own certificate does not
contain.  Given erin's certificate and ``id = alice`` it stops before Main Mode message 5 with "no private key
found for 'alice'" / "configuration uses unsupported authentication" (tried 2026-11-23), so nothing reaches
the server.  tests/ike/test_certauth.py covers the mismatch against our own initiator.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from ikel2tp.certs.ca import CertificateAuthority, utcnow

from .harness import ClientSpec, Topology
from .ikel2tp_server import DNS, ROOT, Ikel2tpServer, ServerOptions
from .profiles import CertAuth

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(420)]

PSK = secrets.token_urlsafe(18)  # the server also serves PSK clients; no client here uses it
USERS = {name: secrets.token_urlsafe(12) for name in ("alice", "bob", "carol", "dave", "mallory")}
SERVER_NAME = "vpn.example.com"
OTHER_CA = "Other VPN CA"
POOL_PREFIX = "10.77.1."
DIRECT_SLOT_ADDRESS = "192.0.2.11"  # harness slot 1; the NAT router does not masquerade it


def certs_cli(*args: str) -> str:
    """``ikel2tp certs ...`` as an administrator runs it; its output, or the test fails with it."""
    done = subprocess.run([sys.executable, "-m", "ikel2tp", "certs", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 0, f"ikel2tp certs {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


class Pki:
    """Our CA (made with the CLI) and the client certificates of each case, as CertAuth for the harness."""

    def __init__(self, base: Path, server_address: str) -> None:
        self.ca_dir, self.other_dir = base / "ca", base / "other-ca"
        certs_cli("init", "--dir", str(self.ca_dir))
        certs_cli("issue", "server", "--dns", SERVER_NAME, "--ip", server_address, "--key-bits", "2048",
                  "--dir", str(self.ca_dir))
        for name in ("alice", "bob", "carol"):
            certs_cli("issue", "client", name, "--key-bits", "2048", "--p12-password", "interop",
                      "--dir", str(self.ca_dir))
        certs_cli("revoke", "carol", "--reason", "key-compromise", "--dir", str(self.ca_dir))
        # No CLI switch makes an already expired certificate: the API with a past "now".
        CertificateAuthority.open(self.ca_dir).issue_client(
            "dave", password="interop", days=30, key_type="rsa2048", now=utcnow() - timedelta(days=60))
        certs_cli("init", "--dir", str(self.other_dir), "--name", OTHER_CA)
        certs_cli("issue", "client", "mallory", "--key-bits", "2048", "--p12-password", "interop",
                  "--dir", str(self.other_dir))
        self.ca = self.ca_dir / "ca.crt"

    def server_keys(self) -> dict[str, object]:
        return {"cert": str(self.ca_dir / "issued" / f"{SERVER_NAME}.crt"),
                "key": str(self.ca_dir / "private" / f"{SERVER_NAME}.key"),
                "ca": str(self.ca), "crl": str(self.ca_dir / "crl.pem")}

    def client(self, name: str) -> CertAuth:
        """The client trusts our CA and insists on our server's identity (its subject DN)."""
        ca_dir = self.other_dir if name == "mallory" else self.ca_dir
        return CertAuth(cert=ca_dir / "issued" / f"{name}.crt", key=ca_dir / "private" / f"{name}.key",
                        ca=self.ca, peer_id=f"CN={SERVER_NAME}")


@pytest.fixture(scope="module")
def served(guest_image, tmp_path_factory):
    with Topology(kind="nat", clients=5, image=guest_image) as topo:
        pki = Pki(tmp_path_factory.mktemp("pki"), topo.server_address)
        server = Ikel2tpServer(ServerOptions(psk=PSK, users=USERS, extra={"ike": pki.server_keys()}),
                               topo.workdir)
        server.start(topo)
        # One client routed without NAT: the router accepts it before masquerading, the server routes the
        # client subnet back through the router.
        topo.nets.nft(topo.nets.ns("nat"),
                      f"insert rule ip ikio_nat post ip saddr {DIRECT_SLOT_ADDRESS} accept\n")
        topo.nets.ip(topo.server_ns, "route", "add", f"{topo.client_prefix}.0/24", "via", topo.nat_address)
        yield topo, server, pki


def cert_spec(pki: Pki, name: str, **kwargs) -> ClientSpec:
    return ClientSpec("windows", cert=pki.client(name), user=name, password=USERS[name], **kwargs)


def charon_log(result) -> str:
    return (result.log_dir / "charon.log").read_text(errors="replace")


def test_cli_certificates_connect_direct_and_behind_nat_and_bad_ones_are_refused(served):
    topo, server, pki = served
    specs = [cert_spec(pki, "alice"), cert_spec(pki, "bob")]  # slot 0 behind NAT, slot 1 routed directly
    specs += [cert_spec(pki, name, ike_timeout=20) for name in ("carol", "dave", "mallory")]
    nat, direct, revoked, expired, wrong_ca = topo.run_clients(specs, timeout=300)

    for result, mode in ((nat, ("NAT-T", "TRANSPORT-in-UDP")), (direct, ("none", "TRANSPORT"))):
        assert result.ok, result.summary()
        assert result.assigned_address and result.assigned_address.startswith(POOL_PREFIX), result.summary()
        assert result.dns == list(DNS) and result.ping_ok, result.summary()
        assert (result.ike["nat"], result.ike["mode"]) == mode, result.summary()
        log = charon_log(result)
        # strongSwan checked our certificate up to the CA it trusts and our RSA signature with it.
        assert f'received end entity cert "CN={SERVER_NAME}"' in log, result.summary()
        assert 'using trusted ca certificate "CN=ikel2tp VPN CA"' in log, result.summary()
        signed = f"authentication of 'CN={SERVER_NAME}' with RSA_EMSA_PKCS1_NULL successful"
        assert signed in log, result.summary()
    assert nat.assigned_address != direct.assigned_address

    log = server.log_text()
    # Our server took each client's identity from its certificate (ID_DER_ASN1_DN = the subject).
    established = [line for line in log.splitlines() if "IKE phase 1 established" in line]
    assert any(f"{DIRECT_SLOT_ADDRESS}:500 " in line and line.endswith("peer id CN=bob")
               for line in established), established
    assert any(f"{topo.nat_address}:" in line and "peer id CN=alice, behind NAT" in line  # NAT picks the port
               for line in established), established
    for name, result, reason, notify in (
        ("carol", revoked, 'certificate "carol" (serial ', "INVALID_CERTIFICATE"),
        ("dave", expired, 'the peer\'s certificate "dave" expired on ', "INVALID_CERTIFICATE"),
        ("mallory", wrong_ca, f'"mallory" was issued by an unknown CA "CN={OTHER_CA}"',
         "INVALID_CERT_AUTHORITY"),
    ):
        assert (result.failed_step, result.reached) == ("ike_sa", "charon"), result.summary()
        assert f"received {notify} error notify" in charon_log(result), result.summary()
        lines = [line for line in log.splitlines() if reason in line and "phase 1 failed" in line]
        assert lines, f"{name}: no refusal naming {reason!r} in the server log:\n{log[-4000:]}"
        if name == "carol":
            assert "was revoked on" in lines[0] and "keyCompromise" in lines[0], lines[0]
        assert all(row.get("user") != name for row in server.status())
