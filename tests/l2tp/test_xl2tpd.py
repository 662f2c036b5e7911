"""A real LAC: Debian's xl2tpd in a network namespace establishes a tunnel and a session with our
LNS core in another namespace (plaintext L2TP: the test-only ``require_ipsec = false`` mode).

This host has no kernel L2TP/PPP, so xl2tpd uses its userspace L2TP and the pppd it starts
fails — after SCCRQ/SCCRP/SCCCN and ICRQ/ICRP/ICCN have completed, which is what we check.
The small UDP loop below is test code; the server's asyncio shell is elsewhere.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ikel2tp.l2tp.events import SessionDown, SessionUp, TunnelDown, TunnelUp
from ikel2tp.l2tp.lns import Lns
from ikel2tp.l2tp.settings import L2tpSettings

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("xl2tpd") is None,
                       reason="xl2tpd is not installed (apt-get install xl2tpd)"),
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                       reason="needs root and iproute2 to create network namespaces"),
]

LNS_ADDR = "192.0.2.1"
LAC_ADDR = "192.0.2.2"
CLONE_NEWNET = 0x40000000


def run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=10)


@pytest.fixture
def netns():
    """Two namespaces joined by a veth pair: (LNS namespace, LAC namespace)."""
    tag = f"{os.getpid() % 100000}"
    lns_ns, lac_ns = f"ikl2-lns-{tag}", f"ikl2-lac-{tag}"
    veth_a, veth_b = f"ikl2a{tag}", f"ikl2b{tag}"
    run("ip", "netns", "add", lns_ns)
    try:
        run("ip", "netns", "add", lac_ns)
        run("ip", "link", "add", veth_a, "netns", lns_ns, "type", "veth", "peer", "name", veth_b,
            "netns", lac_ns)
        for ns, dev, addr in ((lns_ns, veth_a, LNS_ADDR), (lac_ns, veth_b, LAC_ADDR)):
            run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
        yield lns_ns, lac_ns
    finally:
        for ns in (lac_ns, lns_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def socket_in_netns(ns: str, address: tuple[str, int]) -> socket.socket:
    """A UDP socket bound inside namespace ``ns``: setns(2) in a throwaway thread (it only moves
    that thread); the socket stays in the namespace it was created in."""
    result: dict[str, object] = {}

    def make() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/var/run/netns/{ns}") as fd:
                if libc.setns(fd.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(address)
            result["sock"] = sock
        except OSError as exc:
            result["error"] = exc

    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["sock"]  # type: ignore[return-value]


def start_xl2tpd(ns: str, tmp: Path, secret: str | None, challenge: bool = False) -> subprocess.Popen:
    options = tmp / "options.l2tp"
    options.write_text("noauth\nnodefaultroute\nnodetach\n")
    auth = tmp / "l2tp-secrets"
    auth.write_text(f"* * {secret}\n" if secret else "")
    conf = tmp / "xl2tpd.conf"
    conf.write_text(
        "[global]\n"
        f"listen-addr = {LAC_ADDR}\nport = 1701\naccess control = no\nauth file = {auth}\n"
        "debug tunnel = yes\ndebug state = yes\n\n"
        "[lac ikel2tp]\n"
        f"lns = {LNS_ADDR}\nautodial = yes\nredial = no\nlength bit = yes\n"
        f"hostname = xl2tpd-lac\npppoptfile = {options}\n"
        + ("challenge = yes\n" if challenge else ""))
    log = open(tmp / "xl2tpd.log", "wb")
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, "xl2tpd", "-D", "-c", str(conf), "-p", str(tmp / "xl2tpd.pid"),
         "-C", str(tmp / "l2tp-control")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


def drive(lns: Lns, sock: socket.socket, until, limit: float, sent: list | None = None) -> list:
    """Run the core over ``sock`` until ``until(events)`` or ``limit`` seconds; returns the events
    (and appends what the core sent to ``sent``)."""
    seen: list = []
    end = time.monotonic() + limit
    while time.monotonic() < end and not until(seen):
        now = time.monotonic()
        timer = lns.get_timer()
        wait = 0.2 if timer is None else min(0.2, max(0.0, timer - now))
        if select.select([sock], [], [], wait)[0]:
            data, addr = sock.recvfrom(65535)
            lns.receive_datagram(data, addr, time.monotonic())
        now = time.monotonic()
        if (timer := lns.get_timer()) is not None and now >= timer:
            lns.handle_timer(now)
        for data, peer in lns.datagrams_to_send():
            sock.sendto(data, peer)
            if sent is not None:
                sent.append(data)
        while (event := lns.next_event()) is not None:
            seen.append(event)
    return seen


def run_lac(netns, tmp_path, our_secret: bytes | None, lac_secret: str | None, challenge: bool, until):
    lns_ns, lac_ns = netns
    sock = socket_in_netns(lns_ns, (LNS_ADDR, 1701))
    lns = Lns(L2tpSettings(host_name="ikel2tp-test", secret=our_secret, require_ipsec=False),
              log=logging.getLogger("test.xl2tpd"))
    proc = start_xl2tpd(lac_ns, tmp_path, lac_secret, challenge)
    try:
        seen = drive(lns, sock, until, 30)
    finally:
        stop(proc)
        sock.close()
    return seen, (tmp_path / "xl2tpd.log").read_text(errors="replace")


def session_up(events) -> bool:
    return any(isinstance(e, SessionUp) for e in events)


def session_down(events) -> bool:
    return any(isinstance(e, SessionDown) for e in events)


def tunnel_down(events) -> bool:
    return any(isinstance(e, TunnelDown) for e in events)


@pytest.mark.parametrize("secret, challenge", [(None, False), ("shared-secret", True)],
                         ids=["no-auth", "tunnel-auth-both-ways"])
def test_xl2tpd_establishes_tunnel_and_session(netns, tmp_path, secret, challenge):
    # pppd cannot start on this host, so xl2tpd then disconnects the call with a CDN
    seen, log = run_lac(netns, tmp_path, secret.encode() if secret else None, secret, challenge, session_down)
    kinds = [type(e) for e in seen]
    assert TunnelUp in kinds, f"no tunnel; events {seen}; xl2tpd said:\n{log[-3000:]}"
    assert SessionUp in kinds, f"no session; events {seen}; xl2tpd said:\n{log[-3000:]}"
    up = next(e for e in seen if isinstance(e, TunnelUp))
    assert up.peer == (LAC_ADDR, 1701) and up.host_name == "xl2tpd-lac"
    session = next(e for e in seen if isinstance(e, SessionUp))
    assert session.session_key.tunnel_id == up.tunnel_id
    down = next(e for e in seen if isinstance(e, SessionDown))
    assert down.session_key == session.session_key and down.reason.startswith("peer disconnected the call")


def test_xl2tpd_with_wrong_tunnel_secret_is_refused_by_us(netns, tmp_path, caplog):
    with caplog.at_level(logging.INFO, "test.xl2tpd"):
        seen, log = run_lac(netns, tmp_path, b"the-right-secret", "a-wrong-secret", False, tunnel_down)
    assert not any(isinstance(e, TunnelUp) for e in seen), seen
    down = [e for e in seen if isinstance(e, TunnelDown)]
    assert down, f"no teardown; xl2tpd said:\n{log[-3000:]}"
    assert down[0].result_code == 4 and "tunnel secrets differ" in down[0].reason
    assert "tunnel authentication failed: wrong Challenge Response" in caplog.text
    assert "the-right-secret" not in caplog.text and "a-wrong-secret" not in caplog.text


def test_xl2tpd_refuses_our_wrong_challenge_response(netns, tmp_path, caplog):
    with caplog.at_level(logging.INFO, "test.xl2tpd"):
        seen, log = run_lac(netns, tmp_path, b"the-right-secret", "a-wrong-secret", True, tunnel_down)
    down = [e for e in seen if isinstance(e, TunnelDown)]
    assert down and down[0].reason.startswith("peer closed the tunnel"), f"{seen}\n{log[-3000:]}"
    assert "peer closed the tunnel" in caplog.text



def test_after_a_server_restart_the_stale_tunnel_is_answered_once_not_flooded(netns, tmp_path, caplog):
    """The LNS forgets the tunnel (a restart); xl2tpd keeps talking on it (its CDN, retransmitted).
    Observed: xl2tpd looks tunnels up by the header's Tunnel ID only, so our StopCCN with Tunnel
    ID 0 (RFC 2661 §5.3) does not clear its stale tunnel; its own retransmit limit does."""
    lns_ns, lac_ns = netns
    sock = socket_in_netns(lns_ns, (LNS_ADDR, 1701))
    settings = L2tpSettings(require_ipsec=False)
    proc = start_xl2tpd(lac_ns, tmp_path, None)
    sent: list[bytes] = []
    try:
        drive(Lns(settings, log=logging.getLogger("test.xl2tpd")), sock, session_up, 30)
        fresh = Lns(settings, log=logging.getLogger("test.xl2tpd"))
        with caplog.at_level(logging.INFO, "test.xl2tpd"):
            seen = drive(fresh, sock, lambda ev: fresh.dropped >= 2, 15, sent)  # xl2tpd retransmits after 1 s
    finally:
        stop(proc)
        sock.close()
    assert fresh.dropped >= 2, (tmp_path / "xl2tpd.log").read_text(errors="replace")[-2000:]
    assert seen == [] and len(sent) == 1 and fresh.tunnels() == []
    assert caplog.text.count("for unknown tunnel") == 1
