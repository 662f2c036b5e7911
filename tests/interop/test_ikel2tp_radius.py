"""A real L2TP/IPsec client (strongSwan 5.9 + xl2tpd 1.3 + pppd in a qemu guest, windows profile) logs in to
``ikel2tp serve`` through a real FreeRADIUS with MS-CHAPv2 (issue 10).

FreeRADIUS runs inside the topology's server namespace on its loopback (started by the harness's
``spawn``, killed by PID when the topology closes), with the configuration of tests/radius/freeradius.py
and users of its own: alice has a Framed-IP-Address inside the pool and a Class.  ikel2tp has no local
users at all, so every login is RADIUS's.  Its detail file must show alice's Start and, after the clean
disconnect, her Stop with the traffic of the pings and Acct-Terminate-Cause User-Request.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.radius import freeradius

from .harness import ClientSpec, Topology
from .ikel2tp_server import Ikel2tpServer, ServerOptions

pytestmark = [
    pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(480),
    pytest.mark.skipif(freeradius.FREERADIUS is None, reason="freeradius is not installed"),
]

PSK = secrets.token_urlsafe(18)
PASSWORDS = {"alice": secrets.token_urlsafe(12), "bob": secrets.token_urlsafe(12)}
ALICE_ADDRESS = "10.77.1.77"  # inside the topology's pool, outside what the pool hands out first
ALICE_CLASS = "interop-class"
AUTH_PORT, ACCT_PORT = 1812, 1813  # the namespace is ours alone

USERS_FILE = f"""\
alice	Cleartext-Password := "{PASSWORDS['alice']}"
	Framed-IP-Address = {ALICE_ADDRESS},
	Class = "{ALICE_CLASS}",
	Reply-Message = "Hello alice"

bob	Cleartext-Password := "{PASSWORDS['bob']}"
"""

RADIUS_TOML = f"""
[radius]
nas_identifier = "ikel2tp-interop"
methods = ["mschapv2"]

[[radius.servers]]
address = "127.0.0.1"
secret = "{freeradius.SECRET}"
auth_port = {AUTH_PORT}
acct_port = {ACCT_PORT}
timeout = 2.0
retries = 1
# FreeRADIUS 3.2.1 (Debian 12) sends no Message-Authenticator in its answers (docs/radius.md)
require_message_authenticator = false

[radius.accounting]
retry_interval = 2
"""


@dataclass(frozen=True)
class RadiusOptions(ServerOptions):
    """The harness's server configuration with a ``[radius]`` section after it."""

    radius: str = ""

    def render(self, listen: str, state_dir: Path) -> str:
        return super().render(listen, state_dir) + self.radius


def start_freeradius(topo: Topology) -> freeradius.FreeRadius:
    """FreeRADIUS in ``topo.server_ns`` on 127.0.0.1; ready when its log says so."""
    directory = topo.workdir / "freeradius"
    directory.mkdir(mode=0o700)
    (directory / "users").write_text(USERS_FILE)
    (directory / "dictionary").write_text("# the installed dictionary is loaded first\n")
    (directory / "radiusd.conf").write_text(freeradius._RADIUSD.format(
        dir=directory, secret=freeradius.SECRET, auth_port=AUTH_PORT, acct_port=ACCT_PORT))
    assert freeradius.FREERADIUS is not None
    process = topo.nets.spawn(topo.server_ns, [freeradius.FREERADIUS, "-f", "-d", str(directory), "-n",
                                               "radiusd", "-xx", "-l", str(directory / "radius.log")],
                              directory / "stdout.log")
    server = freeradius.FreeRadius(directory, AUTH_PORT, ACCT_PORT, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            if "Ready to process requests" in server.log:
                return server
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError("freeradius did not start: "
                         + (directory / "stdout.log").read_text(errors="replace")[-3000:])


@pytest.fixture(scope="module")
def served(guest_image) -> Iterator[tuple[Topology, Ikel2tpServer, freeradius.FreeRadius]]:
    with Topology(kind="direct", clients=2, image=guest_image) as topo:
        radius = start_freeradius(topo)
        server = Ikel2tpServer(RadiusOptions(psk=PSK, users={}, radius=RADIUS_TOML), topo.workdir)
        server.start(topo)
        yield topo, server, radius


def wait_for(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False


def test_mschapv2_through_freeradius_pings_and_is_accounted(served) -> None:  # type: ignore[no-untyped-def]
    """alice (right password) and bob (wrong one) at once: alice gets her Framed-IP-Address and pings the
    LAN; bob fails at ppp_auth with E=691; the detail file has alice's Start and Stop."""
    topo, server, radius = served
    alice, bob = topo.run_clients([
        ClientSpec("windows", psk=PSK, user="alice", password=PASSWORDS["alice"]),
        ClientSpec("windows", psk=PSK, user="bob", password=PASSWORDS["bob"] + "x"),
    ])
    assert alice.ok and alice.ping_ok, alice.summary()
    assert alice.assigned_address == ALICE_ADDRESS, alice.summary()
    assert (bob.failed_step, bob.reached) == ("ppp_auth", "l2tp_tunnel"), bob.summary()
    assert "E=691" in bob.error, bob.summary()

    def alice_records(status: str) -> list[dict[str, str]]:
        return [r for r in radius.detail_records()
                if r.get("Acct-Status-Type") == status and r.get("User-Name") == "alice"]

    assert wait_for(lambda: alice_records("Stop"), 15), radius.detail[-3000:] + server.log_text()[-3000:]
    (start,), (stop,) = alice_records("Start"), alice_records("Stop")
    assert start["Acct-Session-Id"] == stop["Acct-Session-Id"]
    assert start["Framed-IP-Address"] == ALICE_ADDRESS == stop["Framed-IP-Address"]
    assert start["Calling-Station-Id"] == f"{topo.client_prefix}.10", start
    assert start["NAS-Identifier"] == "ikel2tp-interop"
    assert start["Class"].endswith(ALICE_CLASS.encode().hex()), start
    # three pings of 84 octets each way at least (plus whatever else the guest sent)
    assert int(stop["Acct-Input-Octets"]) >= 3 * 84 and int(stop["Acct-Output-Octets"]) >= 3 * 84, stop
    assert int(stop["Acct-Input-Packets"]) >= 3 and int(stop["Acct-Output-Packets"]) >= 3, stop
    assert stop["Acct-Terminate-Cause"] == "User-Request", stop
    assert not [r for r in radius.detail_records() if r.get("User-Name") == "bob"]
    log = server.log_text()
    assert "rejected by RADIUS 127.0.0.1" in log and PASSWORDS["bob"] not in log, log[-3000:]
    print(f"alice: {alice.summary()}\nStop: {stop}")
