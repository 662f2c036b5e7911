"""The namespace plumbing without guests: addresses, NAT, the LAN host, and cleanup by PID."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from . import guest, netns
from .harness import HarnessError, Topology

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def no_image(tmp_path):
    if os.geteuid() != 0 or not Path("/dev/net/tun").exists():
        pytest.skip("needs root and /dev/net/tun")
    for tool in ("ip", "nft", "iperf3"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    return guest.GuestImage("none", tmp_path / "vmlinuz", tmp_path / "initrd", tmp_path / "modules")


def in_ns(ns: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=20)


def ping(ns: str, address: str) -> bool:
    return any(in_ns(ns, sys.executable, "-c", PING, address).returncode == 0 for _ in range(3))


# A TCP connect to the LAN host's iperf3 port (5201) or to a closed port that answers RST: either proves
# the path without needing a ping binary on the host.
PING = """
import socket, sys
s = socket.socket(); s.settimeout(2)
try:
    s.connect((sys.argv[1], 5201))
except ConnectionRefusedError:
    pass
"""


def test_host_server_namespace_reaches_the_lan_and_is_cleaned_up(no_image, tmp_path):
    with Topology(kind="direct", clients=2, image=no_image, workdir=tmp_path) as topo:
        proc = topo.start_server([sys.executable, "-c", "import time; time.sleep(60)"])
        addrs = subprocess.run(["ip", "-n", topo.server_ns, "-4", "-o", "addr"], capture_output=True,
                               text=True).stdout
        assert "203.0.113.1/24" in addrs and "10.77.0.1/24" in addrs
        assert ping(topo.server_ns, topo.lan_host)  # iperf3 -s answers on the LAN host
        taps = subprocess.run(["ip", "-n", topo.client_ns, "-o", "link"], capture_output=True,
                              text=True).stdout
        assert "tc0" in taps and "tc1" in taps
        with pytest.raises(HarnessError, match="already has a server"):
            topo.start_server(["true"])
        names = list(topo.nets.names)
    assert proc.poll() is not None  # killed by PID
    existing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(name in existing for name in names)


def test_nat_router_masquerades_towards_the_server(no_image, tmp_path):
    with Topology(kind="nat", clients=1, image=no_image, workdir=tmp_path) as topo:
        topo.start_server([sys.executable, "-c", "import time; time.sleep(60)"])
        nat = topo.nets.ns("nat")
        assert ping(nat, topo.server_address)
        ruleset = in_ns(nat, "nft", "list", "ruleset").stdout
        assert 'oifname "out0" masquerade' in ruleset
        # a host on the client side (a veth into the client bridge) reaches the server through the NAT
        probe = topo.nets.add("probe")
        topo.nets.veth(topo.client_ns, "probe0", probe, "probe1")
        topo.nets.ip(topo.client_ns, "link", "set", "probe0", "master", "brc")
        topo.nets.addr(probe, "probe1", "192.0.2.200/24")
        topo.nets.ip(probe, "route", "add", "default", "via", "192.0.2.1")
        assert ping(probe, topo.server_address)


def test_stop_process_kills_by_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                             "signal.SIG_IGN); time.sleep(60)"])
    netns.stop_process(proc, grace=0.5)
    assert proc.returncode is not None
