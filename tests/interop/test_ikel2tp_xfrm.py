"""The XFRM data plane in a real kernel: ``ikel2tp serve`` with ``dataplane = "xfrm"`` runs inside a qemu
guest (this host's kernel has no ESP), and real strongSwan + xl2tpd + pppd clients in other guests connect
to it.  Two clients behind one NAT at once: their transport selectors are identical, so only the backend's
per-SA socket policies and marks keep their L2TP apart (what strongSwan + xl2tpd fail, hwdsl2/setup-ipsec-
vpn#987); ESP rides UDP 4500, which the kernel takes off the IKE socket (UDP_ENCAP_ESPINUDP).
"""

from __future__ import annotations

import secrets

import pytest

from .harness import ClientSpec, Topology
from .ikel2tp_server import DNS, POOL_PREFIX, Ikel2tpServer, ServerOptions

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(720)]

PSK = secrets.token_urlsafe(18)
USERS = {"alice": secrets.token_urlsafe(12), "bob": secrets.token_urlsafe(12)}


def test_two_clients_behind_one_nat_through_the_kernel_esp_data_plane(guest_image):
    with Topology(kind="nat", clients=2, image=guest_image) as topo:
        server = Ikel2tpServer(ServerOptions(psk=PSK, users=USERS, dataplane="xfrm"), topo.workdir)
        server.start_guest(topo)
        a, b = topo.run_clients([ClientSpec("windows", psk=PSK, user="alice", password=USERS["alice"],
                                            iperf_seconds=3),
                                 ClientSpec("windows", psk=PSK, user="bob", password=USERS["bob"])])
        log = server.log_text()
        for result in (a, b):
            assert result.ok, f"{result.summary()}\n--- server ---\n{log[-3000:]}"
            assert result.assigned_address.startswith(POOL_PREFIX), result.summary()
            assert result.dns == list(DNS) and result.ping_ok, result.summary()
            assert (result.ike["nat"], result.ike["mode"]) == ("NAT-T", "TRANSPORT-in-UDP"), result.summary()
        assert a.step("barrier").ok and b.step("barrier").ok  # connected at the same time, then pinged
        assert a.assigned_address != b.assigned_address
        assert a.iperf_mbps and a.iperf_mbps > 0.2, a.summary()
        assert "data plane: xfrm" in log
        assert log.count("xfrm: installed SA") == 2, log[-3000:]
        print(f"xfrm: iperf3 {a.iperf_mbps} Mbit/s through the kernel ESP of a TCG guest")
