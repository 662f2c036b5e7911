"""Real L2TP/IPsec clients (strongSwan 5.9 + xl2tpd 1.3 + pppd in qemu guests) against ``ikel2tp serve``
with the userspace ESP data plane, run as a host process in the topology's server namespace.

The same cases test_reference.py proves the harness with, plus what the reference server cannot do
(two clients behind one NAT) and what only our server reports (why a client was refused, status, cleanup).
One server per class (class-scoped topology): guest boots are the cost, so clients of one class run in
one topology and, where a case allows, several clients boot at once.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import time
from collections.abc import Iterator

import pytest

from .harness import ClientSpec, Topology
from .ikel2tp_server import DNS, POOL_PREFIX, Ikel2tpServer, ServerOptions, StatusWatch
from .profiles import PROFILES, Profile

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(480)]

PSK = secrets.token_urlsafe(18)
USERS = {name: secrets.token_urlsafe(12) for name in ("alice", "bob", "carol", "dave", "erin")}

# One ESP transform per profile (strongSwan in IKEv1 offers exactly these), beside the harness's windows
# (aes256-sha1), legacy (3des-sha1) and modern (aes256-sha256) profiles.
ESP_PROFILES = {
    "esp-aes128-sha1": Profile("esp-aes128-sha1", ("aes128-sha1-modp2048",), ("aes128-sha1",),
                               "ESP AES-128-CBC + HMAC-SHA1-96"),
    "esp-aes128gcm16": Profile("esp-aes128gcm16", ("aes256-sha256-modp2048",), ("aes128gcm16",),
                               "ESP AES-128-GCM-16 (RFC 4106)"),
    "esp-aes256gcm16": Profile("esp-aes256gcm16", ("aes256-sha256-modp2048",), ("aes256gcm16",),
                               "ESP AES-256-GCM-16 (RFC 4106)"),
    # not in the server's default phase 1 list: refused, nearest miss aes256-sha256-modp2048
    "refused-aes128-sha256": Profile("refused-aes128-sha256", ("aes128-sha256-modp2048",), ("aes128-sha256",),
                                     "a phase 1 suite the default configuration does not accept"),
}


@pytest.fixture(scope="module", autouse=True)
def esp_profiles() -> Iterator[None]:
    """The per-transform profiles exist while this module runs (the harness looks profiles up by name)."""
    added = [name for name in ESP_PROFILES if name not in PROFILES]
    PROFILES.update({name: ESP_PROFILES[name] for name in added})
    yield
    for name in added:
        del PROFILES[name]


@contextlib.contextmanager
def serving(image, kind: str, clients: int,
            options: ServerOptions) -> Iterator[tuple[Topology, Ikel2tpServer]]:
    with Topology(kind=kind, clients=clients, image=image) as topo:
        server = Ikel2tpServer(options, topo.workdir)
        server.start(topo)
        yield topo, server


def spec(profile: str = "windows", user: str = "alice", **kwargs) -> ClientSpec:
    return ClientSpec(profile, psk=kwargs.pop("psk", PSK), user=user,
                      password=kwargs.pop("password", USERS[user]), **kwargs)


def assert_connected(result) -> None:
    assert result.ok, result.summary()
    assert result.assigned_address and result.assigned_address.startswith(POOL_PREFIX), result.summary()
    assert result.dns == list(DNS), result.summary()
    assert result.ping_ok, result.summary()


def route_lines(topo: Topology) -> str:
    return subprocess.run(["ip", "-n", topo.server_ns, "-4", "route", "show"], capture_output=True,
                          text=True, timeout=10).stdout


def wait_no_sessions(server: Ikel2tpServer, timeout: float) -> tuple[list[dict], float]:
    started = time.monotonic()
    sessions = server.wait_sessions(0, timeout)
    return sessions, round(time.monotonic() - started, 1)


class TestDirect:
    """Clients on the server's own subnet: plain ESP (IP protocol 50), no NAT-T."""

    @pytest.fixture(scope="class")
    def served(self, guest_image):
        with serving(guest_image, "direct", 3, ServerOptions(psk=PSK, users=USERS)) as pair:
            yield pair

    def test_windows_profile_pings_the_lan_and_runs_iperf3(self, served):
        topo, server = served
        with StatusWatch(server) as watch:
            result = topo.run_client(spec("windows", iperf_seconds=3))
        assert_connected(result)
        assert result.ike["ike_algorithms"] == "AES_CBC-256/HMAC_SHA1_96/PRF_HMAC_SHA1/ECP_384"
        assert result.ike["esp"] == "ESP:AES_CBC-256/HMAC_SHA1_96"
        assert (result.ike["nat"], result.ike["mode"]) == ("none", "TRANSPORT"), result.summary()
        assert result.iperf_mbps and result.iperf_mbps > 0.5, result.summary()
        assert "MS-CHAP-v2" in (result.log_dir / "pppd.log").read_text() or \
            "CHAP authentication succeeded" in (result.log_dir / "pppd.log").read_text()
        row = watch.seen["alice"]
        assert (row["address"], row["nat"]) == (result.assigned_address, False), row
        assert (row["phase1"], row["phase2"]) == ("aes256-sha1-ecp384", "aes256-sha1"), row
        # a clean disconnect (xl2tpd hang-up, IKE Delete) leaves nothing behind
        sessions, _ = wait_no_sessions(server, 15)
        assert sessions == [] and server.cli_status() == []
        assert f"{result.assigned_address} " not in route_lines(topo)

    def test_legacy_modern_and_gcm_profiles_connect_at_the_same_time(self, served):
        topo, server = served
        profiles, users = ("legacy", "modern", "esp-aes128gcm16"), ("bob", "carol", "dave")
        with StatusWatch(server) as watch:
            results = topo.run_clients([spec(p, u) for p, u in zip(profiles, users, strict=True)])
        for result in results:
            assert_connected(result)
        legacy, modern, gcm = results
        assert legacy.ike["ike_algorithms"] == "3DES_CBC/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024"
        assert legacy.ike["esp"] == "ESP:3DES_CBC/HMAC_SHA1_96"
        assert modern.ike["ike_algorithms"] == "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
        assert modern.ike["esp"] == "ESP:AES_CBC-256/HMAC_SHA2_256_128"
        assert gcm.ike["esp"] == "ESP:AES_GCM_16-128", gcm.summary()
        assert len({r.assigned_address for r in results}) == 3
        assert watch.most == 3, (watch.most, watch.seen)
        assert {watch.seen[u]["phase2"] for u in users} == {"3des-sha1", "aes256-sha256", "aes128gcm16"}

    def test_wrong_psk_and_unacceptable_proposal_fail_at_ike_sa_and_the_log_says_why(self, served):
        """Two refused clients at once (one guest boot's time): a wrong PSK, and a phase 1 suite the
        default configuration does not accept."""
        topo, server = served
        wrong_psk, refused = topo.run_clients([spec("windows", "erin", psk=PSK + "x", ike_timeout=25),
                                               spec("refused-aes128-sha256", "alice", ike_timeout=25)])
        for result in (wrong_psk, refused):
            assert (result.failed_step, result.reached) == ("ike_sa", "charon"), result.summary()
        assert "NO_PROPOSAL_CHOSEN" in refused.error, refused.summary()
        log = server.log_text().splitlines()
        wrong_peer, refused_peer = f"{topo.client_prefix}.10", f"{topo.client_prefix}.11"
        mismatch = [line for line in log if "pre-shared key does not match" in line]
        assert mismatch and all(wrong_peer in line for line in mismatch), "\n".join(log[-40:])
        misses = [line for line in log if "nearest miss" in line]
        assert misses and all(refused_peer in line for line in misses), "\n".join(log[-40:])
        assert "aes128-sha256-modp2048" in misses[0], misses[0]
        last = server.cli("proposals", "last")  # the administrator's view of the same refusal
        assert last.returncode == 0 and refused_peer in last.stdout, last.stdout + last.stderr


class TestBehindNat:
    """Clients behind one masquerading router: NAT-T (ESP in UDP 4500).  Short DPD / LCP echo / HELLO
    timers so that a client killed without goodbye is found dead well inside the test's time."""

    OPTIONS = ServerOptions(psk=PSK, users=USERS, dpd_interval=5, dpd_timeout=15, lcp_echo_interval=5,
                            lcp_echo_failure=3, hello_interval=10)

    @pytest.fixture(scope="class")
    def served(self, guest_image):
        with serving(guest_image, "nat", 2, self.OPTIONS) as pair:
            yield pair

    def test_windows_profile_uses_nat_t_pings_and_runs_iperf3(self, served):
        topo, server = served
        with StatusWatch(server) as watch:
            result = topo.run_client(spec("windows", iperf_seconds=3))
        assert_connected(result)
        assert (result.ike["nat"], result.ike["mode"]) == ("NAT-T", "TRANSPORT-in-UDP"), result.summary()
        assert result.iperf_mbps and result.iperf_mbps > 0.5, result.summary()
        row = watch.seen["alice"]
        assert row["nat"] is True and row["peer"].startswith(topo.nat_address), row
        assert wait_no_sessions(server, 15)[0] == []

    def test_two_clients_behind_the_same_nat_both_ping(self, served):
        """The headline: strongSwan/Libreswan + xl2tpd fail this (hwdsl2/setup-ipsec-vpn#987)."""
        topo, server = served
        with StatusWatch(server) as watch:
            a, b = topo.run_clients([spec("windows", "alice"), spec("windows", "bob")])
        assert_connected(a)
        assert_connected(b)
        assert a.step("barrier").ok and b.step("barrier").ok  # both connected, then both pinged
        assert a.assigned_address != b.assigned_address
        assert watch.most == 2, (watch.most, watch.seen)
        rows = [watch.seen["alice"], watch.seen["bob"]]
        assert all(r["nat"] and r["peer"].startswith(topo.nat_address) for r in rows), rows
        assert rows[0]["peer"] != rows[1]["peer"]  # same public address, different NAT ports

    def test_wrong_password_fails_and_a_killed_client_is_cleaned_up_within_60_seconds(self, served):
        """At once, behind the NAT: carol's wrong password fails at ppp_auth (E=691 on the client, user
        and reason in our log); dave connects and is then powered off without goodbye, found dead by
        DPD / LCP echo / HELLO, and his session, route and address are released."""
        topo, server = served
        with StatusWatch(server) as watch:
            wrong, killed = topo.run_clients([spec("esp-aes128-sha1", "carol", password=USERS["carol"] + "x"),
                                              spec("esp-aes256gcm16", "dave", disconnect="kill")])
        assert (wrong.failed_step, wrong.reached) == ("ppp_auth", "l2tp_tunnel"), wrong.summary()
        # (the two ESP transforms the other tests do not use, here through NAT-T)
        assert wrong.ike["esp"] == "ESP:AES_CBC-128/HMAC_SHA1_96", wrong.summary()
        assert killed.ike["esp"] == "ESP:AES_GCM_16-256", killed.summary()
        assert "E=691" in wrong.error and wrong.assigned_address is None, wrong.summary()
        failures = [line for line in server.log_text().splitlines() if "PPP authentication failed" in line]
        assert failures and "user 'carol': wrong password" in failures[0], server.log_text()[-3000:]

        assert_connected(killed)
        address = killed.assigned_address
        assert watch.seen["dave"]["address"] == address
        sessions, waited = wait_no_sessions(server, 60)
        assert sessions == [], (waited, sessions)
        assert server.cli_status() == []
        assert f"{address} " not in route_lines(topo)
        down = [line for line in server.log_text().splitlines() if "L2TP session down" in line]
        print(f"killed client cleaned up {waited} s after its guest powered off: {down[-1]}")


