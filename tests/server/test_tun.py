"""The TUN device, in a network namespace this test makes (``unshare -n``, gone with its process).

Checks: the gateway /32 on the device, a /32 route per client address that really carries packets
both ways (the kernel answers a ping sent into the TUN from a client address), route changes done in
order when the call returns (our own rtnetlink socket), removal of routes and of the device.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not os.path.exists("/dev/net/tun"),
    reason="needs root, unshare and /dev/net/tun",
)

SCRIPT = textwrap.dedent(r"""
    import logging, select, struct, subprocess, sys
    from ikel2tp.server.tun import Tun

    def checksum(data):
        if len(data) % 2:
            data += b"\0"
        total = sum(struct.unpack(f"!{len(data) // 2}H", data))
        while total >> 16:
            total = (total & 0xFFFF) + (total >> 16)
        return ~total & 0xFFFF

    def echo_request(src, dst):
        icmp = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1) + b"ikel2tp"
        icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0,
                             bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
        header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
        return header + icmp

    def ip(*args):
        return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout

    tun = Tun("ikel2tp-t0", "10.99.0.1", mtu=1400, log=logging.getLogger("t"))
    assert "10.99.0.1/32" in ip("addr", "show", "ikel2tp-t0"), ip("addr")
    assert "mtu 1400" in ip("link", "show", "ikel2tp-t0")
    tun.add_route("10.99.0.5")
    assert "10.99.0.5 dev ikel2tp-t0" in ip("route"), ip("route")

    # A client (10.99.0.5) pings the gateway through the TUN: the kernel answers through the route.
    tun.write(echo_request("10.99.0.5", "10.99.0.1"))
    reply = None
    for _ in range(20):
        select.select([tun.fd], [], [], 0.5)
        packet = tun.read()
        if packet and packet[9] == 1 and packet[20] == 0:
            reply = packet
            break
    assert reply is not None, "no echo reply from the kernel"
    assert reply[12:16] == bytes([10, 99, 0, 1]) and reply[16:20] == bytes([10, 99, 0, 5])

    tun.write(b"not an ip packet")  # refused by the kernel, logged, not raised
    tun.remove_route("10.99.0.5")
    assert "10.99.0.5" not in ip("route")
    # route changes are done when the call returns, in order: the last one wins
    for _ in range(20):
        tun.add_route("10.99.0.7")
        tun.remove_route("10.99.0.7")
    tun.add_route("10.99.0.7")
    tun.remove_route("10.99.0.404")  # never added: nothing sent
    assert "10.99.0.7 dev ikel2tp-t0 proto static scope link src 10.99.0.1" in ip("route"), ip("route")
    tun.add_route("10.99.0.8")
    ip("route", "del", "10.99.0.8")  # removed by an administrator: our removal is logged, not raised
    tun.remove_route("10.99.0.8")
    tun.gateway = "10.99.0.200"  # not an address of this host: the kernel refuses it as source
    try:
        tun.add_route("10.99.0.9")
    except OSError as exc:
        assert exc.errno == 22, exc  # EINVAL, from the kernel's acknowledgement
    else:
        raise AssertionError("the kernel's refusal was not raised")
    tun.gateway = "10.99.0.1"
    assert "10.99.0.9" not in ip("route") and "10.99.0.9" not in tun.routes
    tun.add_route("10.99.0.6")
    tun.close()
    assert "ikel2tp-t0" not in ip("link")
    print("ok")
""")


@pytest.mark.timeout(30)
def test_tun_in_a_namespace():
    proc = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", SCRIPT],
        capture_output=True, text=True, timeout=25,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


@pytest.mark.timeout(30)
def test_bad_name_is_refused():
    import logging

    from ikel2tp.server.tun import Tun, TunError

    with pytest.raises(TunError, match="1..15 bytes"):
        Tun("x" * 16, "10.99.0.1", mtu=1400, log=logging.getLogger("t"))
