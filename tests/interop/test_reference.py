"""The harness proves itself against a reference server (strongSwan + xl2tpd + pppd in a second guest).

When ikel2tp later fails one of these cases, these tests tell whether the harness or the server is at
fault. One reference server guest per topology (class scope, so only one runs at a time) keeps the guest
boots few: 2 servers and 6 clients in all.
"""

from __future__ import annotations

import re
import secrets

import pytest

from .conftest import reference_topology
from .harness import ClientSpec
from .pki import make_test_pki
from .profiles import ReferenceServer

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(420)]

PSK = secrets.token_urlsafe(18)
USER, PASSWORD = "alice", secrets.token_urlsafe(12)
USER2, PASSWORD2 = "bob", secrets.token_urlsafe(12)
DNS = ("10.77.0.53", "10.77.0.54")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def reference(pki):
    server_cert, _ = pki
    return ReferenceServer(psk=PSK, users={USER: PASSWORD, USER2: PASSWORD2}, dns=DNS, cert=server_cert)


def assert_connected(result) -> None:
    assert result.ok, result.summary()
    assert result.assigned_address and result.assigned_address.startswith("10.77.1."), result.summary()
    assert result.dns == list(DNS), result.summary()
    assert result.ping_ok, result.summary()


class TestDirect:
    @pytest.fixture(scope="class")
    def topo(self, guest_image, reference):
        with reference_topology(guest_image, "direct", 2, reference) as topo:
            yield topo

    def test_windows_profile_pings_through_and_runs_iperf3(self, topo):
        spec = ClientSpec("windows", psk=PSK, user=USER, password=PASSWORD, iperf_seconds=3)
        result = topo.run_client(spec)
        assert_connected(result)
        assert result.ike["ike_algorithms"] == "AES_CBC-256/HMAC_SHA1_96/PRF_HMAC_SHA1/ECP_384"
        assert result.ike["esp"] == "ESP:AES_CBC-256/HMAC_SHA1_96"
        assert result.ike["nat"] == "none" and result.ike["mode"] == "TRANSPORT"
        assert result.iperf_mbps and result.iperf_mbps > 0.5, result.summary()
        assert "CHAP authentication succeeded" in (result.log_dir / "pppd.log").read_text()

    def test_legacy_psk_and_modern_certificate_clients_connected_at_the_same_time(self, topo, pki):
        _, client_cert = pki
        legacy, modern = topo.run_clients([
            ClientSpec("legacy", psk=PSK, user=USER, password=PASSWORD),
            ClientSpec("modern", cert=client_cert, user=USER2, password=PASSWORD2),
        ])
        assert_connected(legacy)
        assert_connected(modern)
        assert legacy.ike["ike_algorithms"] == "3DES_CBC/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024"
        assert legacy.ike["esp"] == "ESP:3DES_CBC/HMAC_SHA1_96"
        assert modern.ike["ike_algorithms"] == "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
        assert re.search(r"authentication of 'server.interop.test' with RSA\S* successful",
                         (modern.log_dir / "swanctl.log").read_text()), modern.summary()
        assert legacy.assigned_address != modern.assigned_address
        # each waited at the barrier until both were connected, then pinged
        assert legacy.step("barrier").ok and modern.step("barrier").ok

    def test_wrong_psk_fails_at_ike_sa(self, topo):
        result = topo.run_client(ClientSpec("windows", psk=PSK + "x", user=USER, password=PASSWORD,
                                            ike_timeout=25))
        assert not result.ok
        assert (result.failed_step, result.reached) == ("ike_sa", "charon"), result.summary()
        assert "no ESTABLISHED IKE SA" in result.error and "PSK mismatch?" in result.error


class TestBehindNat:
    @pytest.fixture(scope="class")
    def topo(self, guest_image, reference):
        with reference_topology(guest_image, "nat", 1, reference) as topo:
            yield topo

    def test_windows_profile_uses_nat_t_and_pings_through(self, topo):
        result = topo.run_client(ClientSpec("windows", psk=PSK, user=USER, password=PASSWORD))
        assert_connected(result)
        assert result.ike["nat"] == "NAT-T" and result.ike["mode"] == "TRANSPORT-in-UDP", result.summary()

    def test_wrong_password_fails_at_ppp_auth(self, topo):
        result = topo.run_client(ClientSpec("windows", psk=PSK, user=USER, password=PASSWORD + "x"))
        assert not result.ok
        assert (result.failed_step, result.reached) == ("ppp_auth", "l2tp_tunnel"), result.summary()
        assert "authentication failed" in result.error and "E=691" in result.error
        assert result.assigned_address is None
