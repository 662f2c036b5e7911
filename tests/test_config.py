"""ikel2tp.config: defaults, validation errors naming their key, secrets out of repr, the embedded default."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import re
import stat
import tomllib
from pathlib import Path

import pytest

from ikel2tp.common.errors import ConfigError
from ikel2tp.config import (
    CONFIG_NAME,
    Config,
    IkeConfig,
    L2tpConfig,
    PeerConfig,
    PoolConfig,
    PppConfig,
    ServerConfig,
    UserConfig,
    ensure_default_config,
    load_config,
    parse_config,
    random_secret,
)
from ikel2tp.ike import suites
from ikel2tp.ppp.auth.mschapv2 import nt_password_hash

DOCS = Path(__file__).resolve().parent.parent / "docs"
PSK = 'psk = "Kq7wPz3mXr9TbV2nYc5hJd4s"\n'


def parse(text: str, *, source: str = "my.toml") -> Config:
    return parse_config(text, source, log=None)


def with_psk(text: str = "") -> str:
    """``text`` plus a global PSK: inserted into its [ike] section, or as a new one at the end."""
    if "[ike]\n" in text:
        return text.replace("[ike]\n", "[ike]\n" + PSK, 1)
    return text + "\n[ike]\n" + PSK


# --- defaults ------------------------------------------------------------------------------------

def test_defaults():
    config = parse(with_psk())
    assert config.server == ServerConfig()
    assert config.server.listen == ("0.0.0.0",)
    assert (config.server.ike_port, config.server.natt_port) == (500, 4500)
    assert config.server.dataplane == "auto"
    assert config.server.state_dir == "/var/lib/ikel2tp"
    assert config.server.control_socket == "/var/lib/ikel2tp/control.sock"
    assert (config.server.log_level, config.server.log_format) == ("info", "text")
    assert config.server.tun_name == "ikel2tp0"
    assert config.server.masquerade is False
    assert config.server.public_address is None

    ike = config.ike
    assert [str(s) for s in ike.phase1] == list(suites.DEFAULT_PHASE1)
    assert [str(s) for s in ike.phase2] == list(suites.DEFAULT_PHASE2)
    assert (ike.dpd_interval, ike.dpd_timeout) == (15, 45)
    assert ike.dpd_interval + ike.dpd_timeout <= 60  # a dead peer is found within a minute
    assert (ike.ike_lifetime, ike.ipsec_lifetime) == (28800, 3600)
    assert not ike.aggressive_mode and not ike.force_encapsulation
    assert ike.nat_d_workaround is True
    assert ike.peers == () and ike.cert is None

    assert config.l2tp == L2tpConfig()
    assert config.l2tp.require_ipsec and config.l2tp.hello_interval == 60 and config.l2tp.secret is None
    assert config.ppp == PppConfig()
    assert config.ppp.auth == ("mschapv2", "chap")
    assert (config.ppp.mtu, config.ppp.mru, config.ppp.mss_clamp) == (1400, 1400, True)
    assert (config.ppp.lcp_echo_interval, config.ppp.lcp_echo_failure) == (15, 3)  # dead within 60 s
    assert config.pool.network == ipaddress.IPv4Network("10.42.0.0/24")
    assert config.pool.gateway == ipaddress.IPv4Address("10.42.0.1")
    assert config.pool.size() == 253
    assert config.users == ()
    assert config.warnings == ()
    assert config.source == "my.toml"


def test_dataclass_defaults_match_a_loaded_empty_section():
    config = parse(with_psk("[server]\n[l2tp]\n[ppp]\n[pool]\n"))
    assert config.server == ServerConfig() and config.pool == PoolConfig()
    assert dataclasses.replace(config.ike, psk=None) == IkeConfig()


def test_values_are_converted():
    config = parse(with_psk(
        '[server]\nlisten = ["::", "127.0.0.1"]\nstate_dir = "/srv/vpn"\nmasquerade = "eth0"\n'
        'public_address = "2001:db8::0:1"\n'
        '[ppp]\ndns = ["192.0.2.53"]\nauth = ["pap"]\n'
        '[pool]\nnetwork = "10.9.0.0/16"\ngateway = "10.9.255.254"\n'
        'exclusions = ["10.9.1.0/24", "10.9.0.7"]\n'
        '[[users]]\nname = "carol"\nnt_hash = "8846F7EAEE8FB117AD06BDD830B7586C"\nstatic_ip = "10.9.0.8"\n'))
    assert config.server.listen == ("::", "127.0.0.1")
    assert config.server.control_socket == "/srv/vpn/control.sock"
    assert config.server.masquerade == "eth0"
    assert config.server.public_address == "2001:db8::1"
    assert config.ppp.dns == (ipaddress.IPv4Address("192.0.2.53"),)
    assert config.pool.exclusions == (ipaddress.IPv4Network("10.9.1.0/24"),
                                      ipaddress.IPv4Network("10.9.0.7/32"))
    assert config.pool.size() == 65536 - 3 - 256 - 1
    (carol,) = config.users
    assert carol.nt_hash == nt_password_hash("password") and carol.password is None
    assert carol.static_ip == ipaddress.IPv4Address("10.9.0.8")


def test_peers():
    config = parse('[ike]\n[[ike.peers]]\naddress = "198.51.100.0/24"\npsk = "k1-0123456789abcdef"\n'
                   '[[ike.peers]]\nid = "laptop.example.org"\npsk = "k2-0123456789abcdef"\n'
                   '[[ike.peers]]\naddress = "203.0.113.9"\nid = "203.0.113.9"\n'
                   'psk = "k3-0123456789abcdef"\n')
    first, second, third = config.ike.peers
    assert first.address == ipaddress.ip_network("198.51.100.0/24") and first.id is None
    assert second.address is None and second.id == "laptop.example.org"
    assert third.address == ipaddress.ip_network("203.0.113.9/32")
    assert config.ike.psk is None


# --- every validation error names the file, the key path and what is allowed -------------------

ERRORS = [
    # (config text, key path, words the message must contain)
    ('[server]\nlisen = ["0.0.0.0"]\n', "server.lisen", ["unknown key", "did you mean 'listen'", "ike_port"]),
    ("[serverr]\n", "serverr", ["unknown section", "did you mean 'server'", "pool"]),
    ('[server]\nike_port = "500"\n', "server.ike_port", ["expected an integer from 0 to 65535", "string"]),
    ("[server]\nike_port = true\n", "server.ike_port", ["expected an integer"]),
    ("[server]\nnatt_port = 70000\n", "server.natt_port", ["from 0 to 65535"]),
    ("[server]\nike_port = 4500\n", "server.natt_port", ["must differ"]),
    ('[server]\nlisten = "0.0.0.0"\n', "server.listen", ["expected a list"]),
    ("[server]\nlisten = []\n", "server.listen", ["must not be empty"]),
    ('[server]\nlisten = ["0.0.0.0", "10.1.2.300"]\n', "server.listen[1]", ["not an IPv4 or IPv6 address"]),
    ('[server]\nlisten = ["::1", "::1"]\n', "server.listen[1]", ["listed twice"]),
    ('[server]\ndataplane = "kernel"\n', "server.dataplane", ["'auto', 'xfrm', 'userspace', 'fake'"]),
    ('[server]\nlog_format = "xml"\n', "server.log_format", ["'text', 'json'"]),
    ('[server]\nlog_level = "INFO"\n', "server.log_level", ["'debug', 'info', 'warning', 'error'"]),
    ('[server]\ntun_name = "a-very-long-tun-name"\n', "server.tun_name", ["1-15 characters"]),
    ("[server]\nmasquerade = 1\n", "server.masquerade", ["true, false or an interface name"]),
    ('[server]\npublic_address = "vpn.example.org"\n', "server.public_address", ["not an IPv4 or IPv6"]),
    ('[server]\nstate_dir = ""\n', "server.state_dir", ["non-empty string"]),
    ("server = 3\n", "server", ["expected a table"]),
    ('[ike]\nphase1 = ["aes256-sha1-modp2048", "aes128-sha1-modp1024", "aes256-sha3-modp2048"]\n',
     "ike.phase1[2]", ["unknown hash 'sha3'", "allowed:", "sha256"]),
    ('[ike]\nphase1 = ["twofish-sha1-modp2048"]\n', "ike.phase1[0]", ["unknown cipher 'twofish'", "aes256"]),
    ('[ike]\nphase1 = ["aes256-sha1-modp9999"]\n', "ike.phase1[0]", ["unknown DH group", "modp2048"]),
    ('[ike]\nphase1 = ["aes256gcm16-sha1-modp2048"]\n', "ike.phase1[0]", ["AEAD"]),
    ('[ike]\nphase2 = ["aes128-sha1", "aes128-whirlpool"]\n', "ike.phase2[1]", ["unexpected 'whirlpool'"]),
    ("[ike]\nphase2 = []\n", "ike.phase2", ["must not be empty"]),
    ('[ike]\nphase2 = ["aes128-sha1", "AES128-SHA1"]\n', "ike.phase2[1]", ["listed twice"]),
    ('[ike]\nnat_d_workaround = "yes"\n', "ike.nat_d_workaround", ["true, false, 'auto'"]),
    ("[ike]\ndpd_interval = 30\ndpd_timeout = 20\n", "ike.dpd_timeout", ["at least ike.dpd_interval"]),
    ("[ike]\nike_lifetime = 10\n", "ike.ike_lifetime", ["from 60 to"]),
    ('[ike]\n[[ike.peers]]\naddress = "198.51.100.0/33"\npsk = "x"\n', "ike.peers[0].address",
     ["not an IP address or CIDR"]),
    ('[ike]\n[[ike.peers]]\naddress = "198.51.100.1/24"\npsk = "x"\n', "ike.peers[0].address",
     ["host bits set"]),
    ('[ike]\n[[ike.peers]]\npsk = "0123456789abcdefgh"\n', "ike.peers[0]", ["needs 'address'", "'id'"]),
    ('[ike]\n[[ike.peers]]\nid = "a.example.org"\n', "ike.peers[0].psk", ["missing"]),
    ('[ike]\n[[ike.peers]]\nid = "a.example.org"\npsk = "x"\nsecret = "y"\n', "ike.peers[0].secret",
     ["unknown key", "address, id, psk"]),
    ('[ike.peers]\nid = "a.example.org"\npsk = "x"\n', "ike.peers", ["[[ike.peers]]", "double brackets"]),
    ('[ike]\ncert = "/nonexistent/server.crt"\n', "ike.cert", ["file not found"]),
    ('[l2tp]\nhello_interval = -1\n', "l2tp.hello_interval", ["from 0 to 3600"]),
    ('[l2tp]\nrequire_ipsec = "yes"\n', "l2tp.require_ipsec", ["expected true or false"]),
    ('[l2tp]\nmax_tunnels = 0\n', "l2tp.max_tunnels", ["from 1 to"]),
    ('[ppp]\nauth = ["mschapv2", "eap"]\n', "ppp.auth[1]", ["'mschapv2', 'chap', 'pap'"]),
    ("[ppp]\nauth = []\n", "ppp.auth", ["must not be empty"]),
    ("[ppp]\nmtu = 9000\n", "ppp.mtu", ["from 576 to 1500"]),
    ('[ppp]\ndns = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]\n', "ppp.dns", ["at most 2"]),
    ('[ppp]\ndns = ["2001:db8::53"]\n', "ppp.dns[0]", ["not an IPv4 address"]),
    ('[pool]\nnetwork = "10.42.0.0/33"\n', "pool.network", ["not an IP address or CIDR"]),
    ('[pool]\nnetwork = "10.42.0.0/31"\n', "pool.network", ["too small"]),
    ('[pool]\nnetwork = "fd00::/64"\n', "pool.network", ["IPv4 network"]),
    ('[pool]\ngateway = "10.43.0.1"\n', "pool.gateway", ["inside pool.network 10.42.0.0/24"]),
    ('[pool]\ngateway = "10.42.0.255"\n', "pool.gateway", ["host address"]),
    ('[pool]\nexclusions = ["10.42.1.0/24"]\n', "pool.exclusions[0]", ["not inside pool.network"]),
    ('[pool]\nnetwork = "10.42.0.0/30"\nexclusions = ["10.42.0.2"]\n', "pool.exclusions", ["no address"]),
    ('[[users]]\nname = "a"\npassword = "p"\nstatic_ip = "10.43.0.5"\n', "users[0].static_ip",
     ["inside pool.network 10.42.0.0/24"]),
    ('[[users]]\nname = "a"\npassword = "p"\nstatic_ip = "10.42.0.1"\n', "users[0].static_ip", ["gateway"]),
    ('[[users]]\nname = "a"\npassword = "p"\nstatic_ip = "10.42.0.9"\n'
     '[[users]]\nname = "b"\npassword = "q"\nstatic_ip = "10.42.0.9"\n', "users[1].static_ip",
     ["already the static_ip of user 'a'"]),
    ('[[users]]\nname = "a"\npassword = "p"\n[[users]]\nname = "a"\npassword = "q"\n', "users[1].name",
     ["defined twice"]),
    ('[[users]]\nname = "a"\nnt_hash = "8846f7eaee8fb117ad06bdd830b7586"\n', "users[0].nt_hash",
     ["32 hexadecimal characters"]),
    ('[[users]]\nname = "a"\nnt_hash = "zz46f7eaee8fb117ad06bdd830b7586c"\n', "users[0].nt_hash",
     ["32 hexadecimal characters"]),
    ('[[users]]\nname = "a"\npassword = "p"\nnt_hash = "8846f7eaee8fb117ad06bdd830b7586c"\n', "users[0]",
     ["exactly one of 'password' or 'nt_hash'"]),
    ('[[users]]\nname = "a"\n', "users[0]", ["exactly one of"]),
    ('[[users]]\npassword = "p"\n', "users[0].name", ["missing"]),
    ('[[users]]\nname = "a"\npasswd = "p"\n', "users[0].passwd", ["did you mean 'password'"]),
    ('[users]\nname = "a"\n', "users", ["[[users]]"]),
    ('[pool]\nnetwork = "10.0.0.0/15"\n', "pool.network", ["too large", "/16 to /30"]),
    ('[pool]\nnetwork = "10.0.0.0/31"\n', "pool.network", ["too small", "/16 to /30"]),
    ('[ike]\nfragment_size = 500\n', "ike.fragment_size", ["from 576 to 9000"]),
    ('[ike]\nretransmit_timeout = "2"\n', "ike.retransmit_timeout", ["a number from 0.2 to 30"]),
    ('[ike]\nallowed_subjects = "CN=alice"\n', "ike.allowed_subjects", ["expected a list"]),
]


@pytest.mark.parametrize("text, path, words", ERRORS, ids=[e[1] + ":" + e[2][0] for e in ERRORS])
def test_error_names_file_key_and_what_is_allowed(text, path, words):
    with pytest.raises(ConfigError) as raised:
        parse(with_psk(text))
    message = str(raised.value)
    assert message.startswith(f"my.toml: {path}: "), message
    for word in words:
        assert word in message, (word, message)


def test_no_authentication_is_an_error():
    with pytest.raises(ConfigError, match=r"^my.toml: ike: no way to authenticate clients"):
        parse("[server]\n")


def test_invalid_toml_names_the_file():
    with pytest.raises(ConfigError, match=r"^my.toml: not valid TOML: .*line 2"):
        parse('[ike]\npsk = "unterminated\n')


def test_missing_file_names_the_file(tmp_path):
    missing = tmp_path / "none.toml"
    with pytest.raises(ConfigError, match=re.escape(str(missing)) + ": cannot read"):
        load_config(missing)


FIXTURES = Path(__file__).resolve().parent.parent / "certs" / "fixtures"


def test_cert_and_key_go_together(tmp_path):
    with pytest.raises(ConfigError, match="ike.cert: 'cert' and 'key' go together"):
        parse_config('[ike]\nkey = "server.key"\n', "c.toml", base_dir=FIXTURES, log=None)
    for key in ("ca", "crl"):
        with pytest.raises(ConfigError, match=f"ike.{key}: .*needs the server's 'cert'"):
            parse_config(with_psk(f'[ike]\n{key} = "ca.crt"\n'), "c.toml", base_dir=FIXTURES, log=None)
    with pytest.raises(ConfigError, match="ike.ca: missing: with 'cert', set 'ca'"):
        parse_config('[ike]\ncert = "server.crt"\nkey = "server.key"\n', "c.toml", base_dir=FIXTURES,
                     log=None)
    config = parse_config('[ike]\ncert = "server.crt"\nkey = "server.key"\nca = "ca.crt"\ncrl = "crl.pem"\n'
                          'allowed_subjects = ["CN=alice*"]\nlocal_id = "vpn.example.com"\n', "c.toml",
                          base_dir=FIXTURES, log=None)
    assert config.ike.cert == str(FIXTURES / "server.crt") and config.ike.psk is None
    assert config.ike.ca == str(FIXTURES / "ca.crt") and config.ike.crl == str(FIXTURES / "crl.pem")
    assert config.ike.allowed_subjects == ("CN=alice*",) and config.ike.local_id == "vpn.example.com"
    assert "certificate" in config.summary()


@pytest.mark.parametrize("files, key, words", [
    ({"cert": "alice.key"}, "ike.cert", "is not a PEM certificate bundle"),
    ({"key": "alice.key"}, "ike.key", "does not belong to the certificate"),
    ({"key": "server.crt"}, "ike.key", "not a private key"),
    ({"ca": "crl.pem"}, "ike.ca", "is not a PEM certificate bundle"),
    ({"crl": "ca.crt"}, "ike.crl", "is not a certificate revocation list"),
])
def test_bad_certificate_files_name_the_key(files, key, words):
    keys = {"cert": "server.crt", "key": "server.key", "ca": "ca.crt"} | files
    text = "[ike]\n" + "".join(f'{k} = "{v}"\n' for k, v in keys.items())
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "c.toml", base_dir=FIXTURES, log=None)
    assert str(raised.value).startswith(f"c.toml: {key}: ") and words in str(raised.value), raised.value


def test_relative_paths_are_relative_to_the_file(tmp_path):
    path = tmp_path / "etc" / "ikel2tp.toml"
    path.parent.mkdir()
    path.write_text(with_psk('[server]\nstate_dir = "state"\n'))
    config = load_config(path, log=None)
    assert config.server.state_dir == str(tmp_path / "etc" / "state")
    assert config.server.control_socket == str(tmp_path / "etc" / "state" / "control.sock")
    assert config.source == str(path)


# --- warnings ------------------------------------------------------------------------------------

def test_weak_algorithms_only_when_listed_and_warned(caplog):
    assert not any(suites.weak_parts(s) for s in parse(with_psk()).ike.phase1 + parse(with_psk()).ike.phase2)
    text = with_psk('[ike]\nphase1 = ["aes128-sha1-modp2048", "3des-md5-modp768"]\nphase2 = ["des-md5"]\n')
    with caplog.at_level(logging.WARNING, logger="ikel2tp.config"):
        config = parse_config(text, "weak.toml")
    assert [str(s) for s in config.ike.phase1] == ["aes128-sha1-modp2048", "3des-md5-modp768"]
    assert len(config.warnings) == 2
    assert "ike.phase1[1]" in config.warnings[0] and "md5, modp768" in config.warnings[0]
    assert "ike.phase2[0]" in config.warnings[1] and "des-cbc, md5" in config.warnings[1]
    logged = [r.getMessage() for r in caplog.records]
    assert logged == [f"weak.toml: {w}" for w in config.warnings]


def test_short_psk_and_plaintext_l2tp_warn():
    config = parse('[ike]\npsk = "short"\n[l2tp]\nrequire_ipsec = false\n')
    assert any("ike.psk" in w and "5 characters" in w for w in config.warnings)
    assert any("require_ipsec = false" in w and "1701" in w for w in config.warnings)


# --- NAT-D workaround resolution -----------------------------------------------------------------

@pytest.mark.parametrize("server, setting, expected", [
    ("", '"auto"', True),                                                   # unknown: harmless on
    ('public_address = "203.0.113.10"', '"auto"', True),                    # port forward / elastic IP
    ('listen = ["203.0.113.10"]\npublic_address = "203.0.113.10"', '"auto"', True),  # a no-op there
    ('listen = ["203.0.113.10"]\npublic_address = "203.0.113.10"', "true", True),
    ("", "false", False),
])
def test_nat_d_workaround(server, setting, expected):
    config = parse(f"[server]\n{server}\n[ike]\n{PSK}nat_d_workaround = {setting}\n")
    assert config.ike.nat_d_workaround is expected


# --- secrets ----------------------------------------------------------------------------------------

def test_secrets_absent_from_repr():
    secrets = ["GlobalPskSecret123456", "PeerPskSecret123456", "UserPassword99", "TunnelSecret77",
               "8846f7eaee8fb117ad06bdd830b7586c"]
    config = parse(f'[ike]\npsk = "{secrets[0]}"\n[[ike.peers]]\nid = "x"\npsk = "{secrets[1]}"\n'
                   f'[l2tp]\nsecret = "{secrets[3]}"\n'
                   f'[[users]]\nname = "a"\npassword = "{secrets[2]}"\n'
                   f'[[users]]\nname = "b"\nnt_hash = "{secrets[4]}"\n')
    text = repr(config) + str(config) + repr(config.users) + repr(config.ike.peers)
    for secret in secrets:
        assert secret not in text
    assert bytes.fromhex(secrets[4]).hex() not in text and repr(bytes.fromhex(secrets[4])) not in text
    assert "name='a'" in text and "id='x'" in text
    assert config.ike.psk == secrets[0] and config.users[0].password == secrets[2]  # still usable
    assert secrets[0] not in config.summary()


def test_config_is_frozen():
    config = parse(with_psk())
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.server.ike_port = 1  # type: ignore[misc]


# --- documentation: the example loads, every key is documented --------------------------------------

SECTIONS = {"server": ServerConfig, "ike": IkeConfig, "ike.peers": PeerConfig, "l2tp": L2tpConfig,
            "ppp": PppConfig, "pool": PoolConfig, "users": UserConfig}


def test_example_file_loads_without_warnings():
    config = load_config(DOCS / "ikel2tp.example.toml", log=None)
    assert config.warnings == ()
    assert config.ike.peers and len(config.users) == 2
    assert config.server.public_address == "203.0.113.10"


def test_every_key_is_documented_and_in_the_example():
    reference = (DOCS / "config.md").read_text()
    example = (DOCS / "ikel2tp.example.toml").read_text()
    # cert/key/ca/secret are commented out in the example: their files must exist to load
    example_keys = set(re.findall(r"^#? ?(\w+) = |^\[\[ike\.(\w+)\]\]", example, re.MULTILINE))
    example_keys = {key for pair in example_keys for key in pair if key}
    for section, cls in SECTIONS.items():
        for field in dataclasses.fields(cls):
            assert f"| `{field.name}` |" in reference, f"{section}.{field.name} missing from docs/config.md"
            assert field.name in example_keys, f"{section}.{field.name} missing from the example"


def test_documented_defaults_are_the_loaded_ones():
    text = (DOCS / "config.md").read_text()
    for section, cls in SECTIONS.items():
        if section in ("ike.peers", "users"):
            continue
        for field in dataclasses.fields(cls):
            row = re.search(rf"^\| `{field.name}` \| [^|]* \| ([^|]*) \|", text, re.MULTILINE)
            assert row, field.name
            default, documented = field.default, row.group(1).strip()
            if isinstance(default, bool | int):
                assert documented == f"`{str(default).lower()}`", field.name
            elif isinstance(default, str) and default:
                assert documented == f'`"{default}"`', field.name


# --- the embedded default ----------------------------------------------------------------------------

def test_ensure_default_config_first_and_second_run(tmp_path):
    state = tmp_path / "var" / "ikel2tp"
    config, message = ensure_default_config(state)
    path = state / CONFIG_NAME
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in state.iterdir()] == [CONFIG_NAME]  # no temporary file left

    assert config.source == str(path)
    assert config.server.state_dir == str(state)
    assert config.warnings == ()
    psk = config.ike.psk
    assert psk is not None and len(psk) == 24
    (user,) = config.users
    assert user.name == "vpnuser" and user.password is None

    assert message is not None
    password = re.search(r"Password:\s+(\S+)", message).group(1)
    assert len(password) == 16 and nt_password_hash(password) == user.nt_hash
    assert re.search(r"Pre-shared key:\s+" + psk, message)
    assert "User name:       vpnuser" in message and "L2TP/IPsec" in message
    assert "Server address:" in message
    on_disk = path.read_text()
    assert password not in on_disk and psk in on_disk
    assert tomllib.loads(on_disk)["users"][0]["nt_hash"] == user.nt_hash.hex()

    again, second_message = ensure_default_config(state)
    assert second_message is None
    assert again.ike.psk == psk and again.users == config.users


def test_ensure_default_config_secrets_differ_between_installs(tmp_path):
    first, _ = ensure_default_config(tmp_path / "a")
    second, _ = ensure_default_config(tmp_path / "b")
    assert first.ike.psk != second.ike.psk
    assert first.users[0].nt_hash != second.users[0].nt_hash


def test_ensure_default_config_keeps_an_edited_file(tmp_path):
    (tmp_path / CONFIG_NAME).write_text(with_psk('[server]\ndataplane = "fake"\n'))
    config, message = ensure_default_config(tmp_path)
    assert message is None and config.server.dataplane == "fake"


def test_ensure_default_config_reports_a_broken_file(tmp_path):
    (tmp_path / CONFIG_NAME).write_text("[ike]\npsk = 1\n")
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path / CONFIG_NAME)) + ": ike.psk: "):
        ensure_default_config(tmp_path)


def test_ensure_default_config_cannot_create_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot create the state directory"):
        ensure_default_config(blocker / "state")


def test_random_secret_alphabet():
    text = random_secret(2000)
    assert len(text) == 2000
    assert not set(text) & set("0O1lIo")
    assert set(text) <= set("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789")


def test_summary_mentions_the_essentials():
    summary = parse(with_psk('[[users]]\nname = "a"\npassword = "p"\n')).summary()
    for words in ("listen 0.0.0.0", "dataplane auto", "global PSK", "10 phase 1 / 7 phase 2",
                  "pool 10.42.0.0/24", "253 addresses", "1 user"):
        assert words in summary


def test_make_config_fixture(make_config):
    config = make_config(server={"dataplane": "fake", "ike_port": 0, "natt_port": 0},
                         users=[{"name": "u", "password": "p"}])
    assert config.server.dataplane == "fake" and config.ike.psk and config.users[0].name == "u"
    assert isinstance(config.ike.peers, tuple)
    assert PeerConfig().psk == ""
