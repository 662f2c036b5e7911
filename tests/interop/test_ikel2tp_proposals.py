"""Issue 9's mismatches as real negotiations: strongSwan 5.9 clients (qemu guests) that fail for proposal
reasons against ``ikel2tp serve``, and what our server says about each.

One topology, one server whose policy provokes every case at once (each client offers exactly one suite,
so each meets its own nearest miss), the clients booting concurrently.  For each case: the server's log
line, ``ikel2tp proposals last PEER`` over the control socket (run inside the server namespace), and
``ikel2tp proposals explain`` on tcpdump's capture of the server namespace with the decryption table
``ikel2tp serve --export-ike-keys`` wrote.  Then ``ikel2tp proposals probe`` from the client namespace.

| client | phase 1 offer | phase 2 offer | server allows | expected |
| --- | --- | --- | --- | --- |
| 1 hash | 3des-sha1-modp1024 | - | 3des-md5-modp1024 | hash: client sha1, server md5 |
| 2 group | aes256-sha1-modp1024 | - | aes256-sha1-modp1536 | DH group: client modp1024, server modp1536 |
| 3 ids | aes128-sha256-modp2048 to 203.0.113.77 (DNAT) | aes256-sha256-modp2048 | accepted | local proxy |
| 4 esp | aes128-sha256-modp2048 | aes128-sha1 | aes128-md5 | integrity: client sha1, server md5 |
| 6 pfs | aes128-sha256-modp2048 | aes256-sha256 (no PFS) | aes256-sha256-modp2048 | PFS group |
| 7 psk | aes128-sha256-modp2048, wrong PSK | - | - | pre-shared key does not match / PSK mismatch |
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import netns
from .conftest import unavailable
from .harness import ClientSpec, Topology
from .ikel2tp_server import ROOT, Ikel2tpServer, ServerOptions
from .profiles import PROFILES, Profile

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(420)]

PSK = secrets.token_urlsafe(18)
USERS = {"alice": secrets.token_urlsafe(12)}
PHASE1 = ("3des-md5-modp1024", "aes256-sha1-modp1536", "aes128-sha256-modp2048")
PHASE2 = ("aes128-md5", "aes256-sha256-modp2048")
UNSERVED = "203.0.113.77"  # case 3: the address the client names as the server's phase 2 ID
IKE_FILTER = "udp port 500 or (udp port 4500 and udp[8:4] = 0)"  # IKE only, not ESP-in-UDP
PROBE_SOURCE = "203.0.113.250"  # the probe's address on the client-side bridge

# case -> what its client offers (strongSwan in IKEv1: one suite per proposal, so one each here)
CASES = {
    "hash": Profile("p-hash", ("3des-sha1-modp1024",), ("3des-sha1",), "issue 9 case 1"),
    "group": Profile("p-group", ("aes256-sha1-modp1024",), ("aes256-sha1",), "issue 9 case 2"),
    "ids": Profile("p-ids", ("aes128-sha256-modp2048",), ("aes256-sha256-modp2048",), "issue 9 case 3"),
    "esp": Profile("p-esp", ("aes128-sha256-modp2048",), ("aes128-sha1",), "issue 9 case 4"),
    "pfs": Profile("p-pfs", ("aes128-sha256-modp2048",), ("aes256-sha256",), "issue 9 case 6"),
    "psk": Profile("p-psk", ("aes128-sha256-modp2048",), ("aes256-sha256-modp2048",), "issue 9 case 7"),
}


class KeyExportingServer(Ikel2tpServer):
    """``ikel2tp serve --export-ike-keys`` (the decryption table for ``proposals explain``)."""

    def __init__(self, options: ServerOptions, workdir: Path) -> None:
        super().__init__(options, workdir)
        self.keys = workdir / "state" / "ike-keys.table"

    def _argv(self, python: str, config: str) -> list[str]:
        return [*super()._argv(python, config), "--export-ike-keys", str(self.keys)]


def serve_through_dnat(topo: Topology, address: str) -> None:
    """Case 3: the server behind a destination NAT.  ``address`` is answered in the server namespace
    (ARP) and rewritten to the server's own address before routing, so the client dials ``address``
    and names it as the server's phase 2 ID while the server owns and serves only its own address."""
    topo.nets.addr(topo.server_ns, "brpub", f"{address}/32")
    rule = f"ip daddr {address} dnat to {topo.server_address}"
    topo.nets.nft(topo.server_ns, "table ip ikio_dnat {\n chain pre {\n"
                                  f"  type nat hook prerouting priority -100;\n  {rule}\n }}\n}}\n")


def in_ns(ns: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "ikel2tp", *argv],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


class Run:
    """What the module's one negotiation round left behind."""

    def __init__(self, topo: Topology, server: KeyExportingServer, results: dict, capture: Path) -> None:
        self.topo = topo
        self.server = server
        self.results = results
        self.capture = capture
        self.peers = {case: f"{topo.client_prefix}.{10 + i}" for i, case in enumerate(CASES)}

    def last(self, case: str) -> str:
        done = in_ns(self.topo.server_ns, "proposals", "last", self.peers[case],
                     "--socket", str(self.server.state_dir / "control.sock"))
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def log_lines(self, case: str, needle: str) -> list[str]:
        peer = self.peers[case]
        return [line for line in self.server.log_text().splitlines() if peer in line and needle in line]


@pytest.fixture(scope="module")
def run(guest_image) -> Iterator[Run]:
    """The six clients at once against one server, tcpdump capturing IKE on the server's public bridge."""
    if shutil.which("tcpdump") is None:
        unavailable("tcpdump is not installed (tools/debian-packages.txt)")
    with pytest.MonkeyPatch.context() as mp:
        for profile in CASES.values():
            mp.setitem(PROFILES, profile.name, profile)
        with Topology(kind="direct", clients=len(CASES), image=guest_image) as topo:
            server = KeyExportingServer(ServerOptions(psk=PSK, users=USERS, phase1=PHASE1, phase2=PHASE2),
                                        topo.workdir)
            capture = topo.workdir / "server.pcap"
            tcpdump = topo.nets.spawn(topo.server_ns, ["tcpdump", "-i", "brpub", "-U", "-s", "0", "-w",
                                                       str(capture), IKE_FILTER],
                                      topo.workdir / "tcpdump.log")
            server.start(topo)
            serve_through_dnat(topo, UNSERVED)
            specs = [ClientSpec(p.name, psk=PSK + "x" if case == "psk" else PSK, user="alice",
                                password=USERS["alice"], ping_target=None,
                                server=UNSERVED if case == "ids" else None, ike_timeout=20, l2tp_timeout=10,
                                ppp_timeout=10) for case, p in CASES.items()]
            results = dict(zip(CASES, topo.run_clients(specs, timeout=200), strict=True))
            time.sleep(1)
            netns.stop_process(tcpdump)
            yield Run(topo, server, results, capture)


def explain_blocks(text: str) -> dict[str, str]:
    """``proposals explain`` output split per negotiation, keyed by the initiator's address."""
    blocks: dict[str, str] = {}
    for block in re.split(r"^(?=negotiation \d+: )", text, flags=re.M):
        match = re.match(r"negotiation \d+: ([\d.]+):\d+ ->", block)
        if match:
            blocks[match.group(1)] = blocks.get(match.group(1), "") + block
    return blocks


def explain(run: Run) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-m", "ikel2tp", "proposals", "explain", str(run.capture),
                           "--decrypt", str(run.server.keys), "--config", str(run.server.config_path)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert done.returncode == 1, done.stdout + done.stderr  # 1: some negotiation failed
    return {case: explain_blocks(done.stdout).get(peer, "") for case, peer in run.peers.items()}


def test_phase1_hash_md5_server_sha1_client(run):
    result = run.results["hash"]
    assert result.failed_step == "ike_sa", result.summary()
    assert run.log_lines("hash", "hash: client sha1, server md5"), run.server.log_text()[-3000:]
    assert "phase 1 refused: hash: client sha1, server md5" in run.last("hash")


def test_phase1_dh_group5_server_group2_client(run):
    result = run.results["group"]
    assert result.failed_step == "ike_sa", result.summary()
    expected = "phase 1 refused: DH group: client modp1024, server modp1536"
    assert run.log_lines("group", expected), run.server.log_text()[-3000:]
    assert expected in run.last("group")


def test_phase2_esp_integrity_md5_server_sha1_client(run):
    result = run.results["esp"]
    assert result.failed_step in ("ike_sa", "child_sa"), result.summary()
    expected = "phase 2 refused: integrity: client sha1, server md5"
    assert run.log_lines("esp", expected), run.server.log_text()[-3000:]
    assert expected in run.last("esp")


def test_pfs_required_by_the_server_only(run):
    result = run.results["pfs"]
    assert result.failed_step in ("ike_sa", "child_sa"), result.summary()
    expected = "phase 2 refused: PFS group: client none, server modp2048"
    assert run.log_lines("pfs", expected), run.server.log_text()[-3000:]
    assert expected in run.last("pfs")


def test_wrong_psk_is_a_psk_mismatch(run):
    result = run.results["psk"]
    assert result.failed_step == "ike_sa", result.summary()
    assert run.log_lines("psk", "pre-shared key does not match"), run.server.log_text()[-3000:]
    assert "pre-shared key does not match" in run.last("psk")


def test_ids_naming_an_address_the_server_does_not_own_are_accepted(run):
    """strongSwan names in IDcr the address it dials (here a DNAT in front of the server), never another
    one: in transport mode it narrows its remote selector to that address ("remote traffic selector
    missing in configuration" otherwise).  ikel2tp accepts such IDs in transport mode (a server behind NAT
    is common); it refuses nothing, so nothing is recorded, and ``explain`` names the difference."""
    result = run.results["ids"]
    assert result.step("child_sa") and result.step("child_sa").ok, result.summary()
    assert "no refusals recorded" in run.last("ids")


def test_explain_on_the_capture(run):
    blocks = explain(run)
    assert "phase 1 refused: hash: client sha1, server md5" in blocks["hash"], blocks["hash"]
    assert "phase 1 refused: DH group: client modp1024, server modp1536" in blocks["group"], blocks["group"]
    assert "phase 2 refused: integrity: client sha1, server md5" in blocks["esp"], blocks["esp"]
    assert "phase 2 refused: PFS group: client none, server modp2048" in blocks["pfs"], blocks["pfs"]
    assert "PSK mismatch" in blocks["psk"] and "refused" not in blocks["psk"], blocks["psk"]
    served = run.topo.server_address
    note = f"the client proposed local proxy {UNSERVED} port 1701, we serve address {served}"
    assert note in blocks["ids"], blocks["ids"]


def test_probe_from_the_client_side(run):
    run.topo.nets.addr(run.topo.client_ns, "brc", f"{PROBE_SOURCE}/24")
    tries = [*PHASE1, "3des-sha1-modp1024", "aes256-sha1-modp2048"]
    done = in_ns(run.topo.client_ns, "proposals", "probe", run.topo.server_address, "--transforms",
                 ",".join(tries), "--timeout", "2", "--tries", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    accepted = re.search(r"^accepted: (.*)$", done.stdout, re.M)
    assert accepted and accepted.group(1).split(", ") == list(PHASE1), done.stdout
    for refused in tries[len(PHASE1):]:
        assert re.search(rf"^{refused} +refused: NO-PROPOSAL-CHOSEN", done.stdout, re.M), done.stdout
