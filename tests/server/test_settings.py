"""From the configuration file to the cores' settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from ikel2tp.config import parse_config
from ikel2tp.ike.constants import AuthMethod as IkeAuthMethod
from ikel2tp.ppp.auth.credentials import AuthMethod
from ikel2tp.server import settings

PSK = 'psk = "0123456789abcdefghij"'


def config(text: str):
    return parse_config(text, "test.toml", log=None)


def test_ike_settings_from_config():
    ike = settings.ike_settings(config(f"""
[ike]
{PSK}
phase1 = ["aes128-sha1-modp2048", "3des-sha1-modp1024"]
phase2 = ["aes128gcm16", "aes256-sha256-modp2048"]
dpd_interval = 10
dpd_timeout = 40
force_encapsulation = true
[[ike.peers]]
address = "198.51.100.7"
psk = "peer-specific-key-0123"
"""))
    assert ike.psk == b"0123456789abcdefghij"
    assert ike.phase1 == ("aes128-sha1-modp2048", "3des-sha1-modp1024")
    assert ike.phase2 == ("aes128gcm16", "aes256-sha256-modp2048")
    assert (ike.dpd_delay, ike.dpd_timeout, ike.force_encap) == (10.0, 40.0, True)
    assert ike.psk_for("198.51.100.7") == b"peer-specific-key-0123"
    assert "0123456789" not in repr(ike)


def test_every_ike_key_reaches_the_core():
    ike = settings.ike_settings(config(f"""
[ike]
{PSK}
local_id = "vpn.example.com"
ipsec_lifetime_kb = 500000
aggressive_mode = true
half_open_timeout = 20
retransmit_timeout = 1.5
retransmit_tries = 3
fragment_size = 1200
nat_d_workaround = false
"""))
    assert (ike.local_id, ike.phase2_lifetime_kb, ike.aggressive) == ("vpn.example.com", 500000, True)
    assert (ike.half_open_timeout, ike.retransmit_timeout, ike.retransmit_tries) == (20.0, 1.5, 3)
    assert (ike.fragment_size, ike.nat_d_workaround) == (1200, False)
    assert settings.ike_settings(config(f"[ike]\n{PSK}")).nat_d_workaround is True


def test_peer_keys_by_longest_prefix_and_by_id():
    ike = settings.ike_settings(config(f"""
[ike]
{PSK}
[[ike.peers]]
address = "198.51.0.0/16"
psk = "wide-network-key-0123"
[[ike.peers]]
address = "198.51.100.0/24"
psk = "narrow-network-key-01"
[[ike.peers]]
address = "198.51.100.7"
psk = "single-host-key-01234"
[[ike.peers]]
id = "laptop.example.org"
psk = "laptop-only-key-012345"
"""))
    assert ike.psk_for("198.51.100.7") == b"single-host-key-01234"
    assert ike.psk_for("198.51.100.8") == b"narrow-network-key-01"
    assert ike.psk_for("198.51.7.1") == b"wide-network-key-0123"
    assert ike.psk_for("203.0.113.5") == b"0123456789abcdefghij"
    # The ID is known before the key only in Aggressive Mode; it wins over any address.
    assert ike.psk_for("198.51.100.7", "Laptop.Example.org") == b"laptop-only-key-012345"


FIXTURES = Path(__file__).resolve().parents[2] / "certs" / "fixtures"


def cert_config(extra: str = ""):
    return parse_config(f'[ike]\ncert = "server.crt"\nkey = "server.key"\nca = "ca.crt"\n{extra}',
                        "c.toml", base_dir=FIXTURES, log=None)


def test_certificate_settings_from_config():
    cfg = cert_config('crl = "crl.pem"\nallowed_subjects = ["CN=alice"]\n')
    settings.check(cfg)
    certs = settings.cert_settings(cfg)
    (credential,) = certs.credentials
    assert credential.certificate.subject.rfc4514_string() == "CN=vpn.example.com"
    assert [a.subject.rfc4514_string() for a in certs.trust_anchors] == ["CN=ikel2tp Test CA"]
    assert len(certs.crls) == 1 and certs.allowed_subjects == ("CN=alice",)
    assert certs.wallclock().tzinfo is not None
    (factory,) = settings.ike_authenticators(cfg).values()
    auth = factory(("198.51.100.7", 500), None)
    assert auth.method == IkeAuthMethod.RSA_SIGNATURES
    assert settings.ike_authenticators(config(f"[ike]\n{PSK}")) == {}


def test_a_certificate_file_broken_after_loading_is_named(tmp_path):
    for name in ("server.crt", "server.key", "ca.crt"):
        (tmp_path / name).write_bytes((FIXTURES / name).read_bytes())
    cfg = parse_config('[ike]\ncert = "server.crt"\nkey = "server.key"\nca = "ca.crt"\n', "c.toml",
                       base_dir=tmp_path, log=None)
    (tmp_path / "ca.crt").write_text("gone")
    with pytest.raises(ValueError, match="c.toml: ike.ca: .*ca.crt"):
        settings.check(cfg)


def test_l2tp_and_ppp_settings():
    cfg = config(f"""
[ike]
{PSK}
[l2tp]
hello_interval = 30
secret = "tunnel-secret"
[ppp]
auth = ["pap", "mschapv2"]
mtu = 1300
mru = 1280
lcp_echo_interval = 10
lcp_echo_failure = 5
""")
    l2tp = settings.l2tp_settings(cfg)
    assert (l2tp.hello_interval, l2tp.secret, l2tp.require_ipsec) == (30.0, b"tunnel-secret", True)
    ppp = settings.ppp_settings(cfg)
    assert ppp.auth == (AuthMethod.PAP, AuthMethod.MSCHAPV2)
    assert (ppp.mtu, ppp.mru, ppp.echo_interval, ppp.echo_failures) == (1300, 1280, 10.0, 5)


def test_reload_swaps_users_and_keys_only():
    import logging
    from types import SimpleNamespace

    from ikel2tp.ike.settings import IkeSettings
    from ikel2tp.ppp.auth.credentials import PapCredentials
    from ikel2tp.users.local import LocalUserBackend

    old = config(f'[ike]\n{PSK}\n[[users]]\nname = "alice"\npassword = "alice-pw"\n')
    running_ike = IkeSettings(psk=b"0123456789abcdefghij", phase1=("aes128-sha1-modp2048",))
    gateway = SimpleNamespace(users=LocalUserBackend(old.users, log=logging.getLogger("t")),
                              ike=SimpleNamespace(settings=running_ike, set_authenticators=lambda a: None))
    new = config('[ike]\npsk = "a-brand-new-key-0123"\n[[users]]\nname = "bob"\npassword = "bob-pw"\n')
    settings.reload(gateway, new)
    assert gateway.ike.settings.psk == b"a-brand-new-key-0123"
    assert gateway.ike.settings.phase1 == ("aes128-sha1-modp2048",)  # proposals need a restart
    assert gateway.users.authenticate(PapCredentials("bob", b"bob-pw")).success
    assert not gateway.users.authenticate(PapCredentials("alice", b"alice-pw")).success
