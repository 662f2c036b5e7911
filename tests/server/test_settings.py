"""From the configuration file to the cores' settings."""

from __future__ import annotations

import pytest

from ikel2tp.config import parse_config
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


@pytest.mark.parametrize("extra, error", [
    ('[[ike.peers]]\nid = "office"\npsk = "0123456789abcdefghijk"\n', "'id' and networks"),
    ('[[ike.peers]]\naddress = "198.51.100.0/24"\npsk = "0123456789abcdefghijk"\n', "'id' and networks"),
])
def test_what_the_ike_core_cannot_take_is_refused_before_start(extra, error):
    with pytest.raises(ValueError, match=error):
        settings.check(config(f"[ike]\n{PSK}\n{extra}"))


def test_l2tp_and_ppp_settings():
    cfg = config(f"""
[ike]
{PSK}
[l2tp]
hello_interval = 30
secret = "tunnel-secret"
[ppp]
auth = ["pap", "mschapv2"]
mru = 1280
lcp_echo_interval = 10
lcp_echo_failure = 5
""")
    l2tp = settings.l2tp_settings(cfg)
    assert (l2tp.hello_interval, l2tp.secret, l2tp.require_ipsec) == (30.0, b"tunnel-secret", True)
    ppp = settings.ppp_settings(cfg)
    assert ppp.auth == (AuthMethod.PAP, AuthMethod.MSCHAPV2)
    assert (ppp.mru, ppp.echo_interval, ppp.echo_failures) == (1280, 10.0, 5)


def test_reload_swaps_users_and_keys_only():
    import logging
    from types import SimpleNamespace

    from ikel2tp.ike.settings import IkeSettings
    from ikel2tp.ppp.auth.credentials import PapCredentials
    from ikel2tp.users.local import LocalUserBackend

    old = config(f'[ike]\n{PSK}\n[[users]]\nname = "alice"\npassword = "alice-pw"\n')
    running_ike = IkeSettings(psk=b"0123456789abcdefghij", phase1=("aes128-sha1-modp2048",))
    gateway = SimpleNamespace(users=LocalUserBackend(old.users, log=logging.getLogger("t")),
                              ike=SimpleNamespace(settings=running_ike))
    new = config('[ike]\npsk = "a-brand-new-key-0123"\n[[users]]\nname = "bob"\npassword = "bob-pw"\n')
    settings.reload(gateway, new)
    assert gateway.ike.settings.psk == b"a-brand-new-key-0123"
    assert gateway.ike.settings.phase1 == ("aes128-sha1-modp2048",)  # proposals need a restart
    assert gateway.users.authenticate(PapCredentials("bob", b"bob-pw")).success
    assert not gateway.users.authenticate(PapCredentials("alice", b"alice-pw")).success
