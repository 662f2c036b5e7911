"""Two clients behind one NAT, connected at the same time, both reach the server's side of the TUN.

This is what strongSwan/Libreswan + xl2tpd fail (CLIENT-FACTS: hwdsl2/setup-ipsec-vpn#987): both
clients have the same public address and the same transport-mode selectors.  Topology, in network
namespaces this test makes and deletes (processes are stopped by PID):

    c1 192.168.7.11 ─┐                              ┌─ srv 198.51.100.1: ikel2tp serve
                     ├─ br0 192.168.7.1 [nat] 198.51.100.2 (MASQUERADE) ─┘
    c2 192.168.7.12 ─┘

Each client is our own stack (tests/server/e2e.py ``client``): IKEv1 initiator (NAT-D sees the NAT,
so ESP rides UDP 4500), userspace ESP, the test LAC and a PPP client; once its address is up it
pings the gateway address every 0.1 s for a few seconds while the other does the same.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PREFIX = f"ikt{os.getpid() % 100000}"
SERVER_IP, NAT_IP = "198.51.100.1", "198.51.100.2"
CLI = "from ikel2tp.cli.main import app; app()"
USERS = {"alice": ("192.168.7.11", "alice-behind-nat"), "bob": ("192.168.7.12", "bob-behind-nat")}

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not (shutil.which("ip") and shutil.which("nft") and os.path.exists("/dev/net/tun")),
    reason="needs root, ip, nft and /dev/net/tun",
)


def sh(*args: str, ns: str | None = None, stdin: str | None = None) -> str:
    command = ["ip", "netns", "exec", ns, *args] if ns else list(args)
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=20)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")
    return done.stdout


def build(names: dict[str, str]) -> None:
    for name in names.values():
        sh("ip", "netns", "add", name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
    srv, nat = names["srv"], names["nat"]
    sh("ip", "-n", nat, "link", "add", "pub", "type", "veth", "peer", "name", "up0", "netns", srv)
    sh("ip", "-n", srv, "addr", "add", f"{SERVER_IP}/24", "dev", "up0")
    sh("ip", "-n", srv, "link", "set", "up0", "up")
    sh("ip", "-n", nat, "addr", "add", f"{NAT_IP}/24", "dev", "pub")
    sh("ip", "-n", nat, "link", "set", "pub", "up")
    sh("ip", "-n", nat, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", nat, "addr", "add", "192.168.7.1/24", "dev", "br0")
    sh("ip", "-n", nat, "link", "set", "br0", "up")
    for user, (address, _) in USERS.items():
        client = names[user]
        sh("ip", "-n", nat, "link", "add", f"to-{user}", "type", "veth", "peer", "name", "lan0",
           "netns", client)
        sh("ip", "-n", nat, "link", "set", f"to-{user}", "master", "br0", "up")
        sh("ip", "-n", client, "addr", "add", f"{address}/24", "dev", "lan0")
        sh("ip", "-n", client, "link", "set", "lan0", "up")
        sh("ip", "-n", client, "route", "add", "default", "via", "192.168.7.1")
    sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=nat)
    sh("nft", "-f", "-", ns=nat, stdin=(
        "table ip nat {\n chain post {\n  type nat hook postrouting priority srcnat;\n"
        '  oifname "pub" masquerade\n }\n}\n'))


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.mark.timeout(120)
def test_two_clients_behind_one_nat_both_work(tmp_path):
    names = {"srv": f"{PREFIX}s", "nat": f"{PREFIX}n", "alice": f"{PREFIX}a", "bob": f"{PREFIX}b"}
    procs: list[subprocess.Popen] = []
    server_log = tmp_path / "server.log"
    try:
        build(names)
        config = tmp_path / "server.toml"
        config.write_text(
            f'[server]\nlisten = ["{SERVER_IP}"]\ndataplane = "userspace"\n'
            f'state_dir = "{tmp_path / "state"}"\nlog_level = "debug"\ntun_name = "ikel2tp-nat"\n'
            '[ike]\npsk = "e2e-pre-shared-key-0123456789"\n[pool]\nnetwork = "10.77.0.0/24"\n'
            + "".join(f'[[users]]\nname = "{u}"\npassword = "{pw}"\n' for u, (_, pw) in USERS.items()))
        with server_log.open("w") as out:
            server = subprocess.Popen(["ip", "netns", "exec", names["srv"], sys.executable, "-c", CLI,
                                       "serve", "--config", str(config)], cwd=ROOT, stdout=out, stderr=out)
        procs.append(server)
        control = tmp_path / "state" / "control.sock"
        deadline = time.monotonic() + 20
        while not control.exists() and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert control.exists(), server_log.read_text()[-3000:]
        clients = {}
        for user, (address, password) in USERS.items():
            clients[user] = subprocess.Popen(
                ["ip", "netns", "exec", names[user], sys.executable, "-m", "tests.server.e2e", "client",
                 SERVER_IP, address, user, password, "4"],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            procs.append(clients[user])
        results = {}
        for user, proc in clients.items():
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0 and out.strip(), err[-3000:]
            results[user] = json.loads(out.strip().splitlines()[-1])
        stop(server)
        assert server.returncode == 0
    finally:
        for proc in procs:
            stop(proc, signal.SIGKILL if proc is not procs[0] else signal.SIGTERM)
        for name in names.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
    log = server_log.read_text()
    for user, result in results.items():
        assert "error" not in result, (user, result, log[-3000:])
        assert result["sent"] >= 30 and result["replies"] >= result["sent"] - 2, (user, result)
    assert {r["address"] for r in results.values()} == {"10.77.0.2", "10.77.0.3"}
    # Both came from the NAT's one address, on different NAT-T ports, and each got its own session.
    ipcp = re.findall(r"\[(c\d+)\] (198\.51\.100\.2):(\d+) IPCP up: address (10\.77\.0\.\d+)", log)
    assert len(ipcp) == 2 and ipcp[0][2] != ipcp[1][2] and ipcp[0][0] != ipcp[1][0], ipcp
    authenticated = re.findall(r"PPP authentication succeeded: user '(\w+)'", log)
    assert sorted(authenticated) == ["alice", "bob"]
