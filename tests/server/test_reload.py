"""SIGHUP: users, pre-shared keys and static addresses are re-read; a bad file changes nothing."""

from __future__ import annotations

from ipaddress import IPv4Address
from types import SimpleNamespace

from ikel2tp.config import load_config
from ikel2tp.server.daemon import Daemon
from tests.server.test_wiring import connect, make_gateway

CONFIG = """
[server]
state_dir = "{state}"
[ike]
psk = "reload-test-pre-shared-key-0123"
[pool]
network = "10.42.0.0/24"
[[users]]
name = "alice"
password = "alice-secret"
[[users]]
name = "bob"
password = "bob-secret"
static_ip = "{bob}"
"""


def daemon_for(tmp_path, bob: str):
    path = tmp_path / "ikel2tp.toml"
    path.write_text(CONFIG.format(state=tmp_path, bob=bob))
    daemon = Daemon(load_config(path), config_path=str(path))
    gateway, ike, io = make_gateway()
    daemon.gateway, daemon.loop = gateway, SimpleNamespace(time=lambda: 100.0)
    return daemon, path, gateway, ike


def test_a_newly_static_address_is_reserved_at_once(tmp_path):
    daemon, path, gateway, ike = daemon_for(tmp_path, "10.42.0.3")
    assert daemon.reload()["ok"]
    assert gateway.pool.static == {"bob": IPv4Address("10.42.0.3")}  # carol's is gone with her
    assert gateway.ike.settings.psk == b"reload-test-pre-shared-key-0123"
    alice = connect(gateway, ike, ike_sa_id=1, spi=0x1000, port=4500, user="alice", password="alice-secret")
    again = connect(gateway, ike, ike_sa_id=2, spi=0x2000, port=4501, user="alice", password="alice-secret",
                    tunnel_id=101)
    assert [alice.address, again.address] == ["10.42.0.2", "10.42.0.4"]  # .3 skipped: bob's
    bob = connect(gateway, ike, ike_sa_id=3, spi=0x3000, port=4502, user="bob", password="bob-secret",
                  tunnel_id=102)
    assert bob.address == "10.42.0.3"


def test_a_static_address_conflict_refuses_the_reload(tmp_path):
    daemon, path, gateway, ike = daemon_for(tmp_path, "10.42.0.3")
    path.write_text(CONFIG.format(state=tmp_path, bob="10.42.0.1"))  # the gateway address
    before = dict(gateway.pool.static)
    answer = daemon.reload()
    assert answer["ok"] is False and "reload refused" in answer["error"] and "static_ip" in answer["error"]
    assert gateway.pool.static == before and daemon.config.users[1].static_ip == IPv4Address("10.42.0.3")
