"""The [radius] section parser: every key, and errors that name the key and what is allowed."""

from __future__ import annotations

import tomllib
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from ikel2tp.common.errors import ConfigError
from ikel2tp.ppp.auth.credentials import AuthMethod
from ikel2tp.radius.settings import (
    AccountingSettings,
    DasSettings,
    RadiusServer,
    RadiusSettings,
    parse_radius_section,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "radius.md"
GOOD = {"servers": [{"address": "192.0.2.10", "secret": "s3cret-enough"}]}


def test_minimal_section_gets_the_documented_defaults() -> None:
    settings = parse_radius_section(GOOD, "f.toml")
    assert settings == RadiusSettings(servers=(RadiusServer("192.0.2.10", "s3cret-enough"),))
    assert settings.methods == (AuthMethod.MSCHAPV2, AuthMethod.CHAP, AuthMethod.PAP)
    assert settings.accounting == AccountingSettings()
    assert settings.das is None and not settings.local_fallback


def test_the_documented_example_parses() -> None:
    text = DOC.read_text()
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    settings = parse_radius_section(tomllib.loads(example)["radius"], "docs/radius.md")
    assert [s.address for s in settings.servers] == ["192.0.2.10", "192.0.2.11"]
    assert settings.servers[1].timeout == 2.0 and settings.servers[1].retries == 1
    assert settings.nas_ip == IPv4Address("192.0.2.1")
    assert settings.methods == (AuthMethod.MSCHAPV2, AuthMethod.PAP)
    assert settings.local_fallback
    assert settings.accounting.interim_interval == 300
    assert settings.das == DasSettings("another-long-secret", listen="0.0.0.0", port=3799,
                                       clients=("192.0.2.10",))


def test_every_key_is_documented() -> None:
    text = DOC.read_text()
    for cls in (RadiusSettings, RadiusServer, AccountingSettings, DasSettings):
        for name in cls.__dataclass_fields__:
            assert f"`{name}`" in text, name


@pytest.mark.parametrize(("raw", "message"), [
    ({}, "f.toml: radius.servers: is required"),
    ({"servers": []}, "radius.servers: expected at least one"),
    ({"servers": [{"address": "192.0.2.1"}]}, "radius.servers[0].secret: is required"),
    ({"servers": [{"address": "192.0.2.1", "secret": "short"}]},
     "radius.servers[0].secret: expected a string of at least 8 characters"),
    ({"servers": [{"address": "radius.example", "secret": "long-enough"}]},
     "radius.servers[0].address: expected an IP address (no host names)"),
    ({"servers": [{"address": "192.0.2.1", "secret": "long-enough", "port": 1}]},
     "radius.servers[0].port: unknown key; allowed: address, secret, auth_port"),
    ({"servers": [{"address": "192.0.2.1", "secret": "long-enough", "retries": 11}]},
     "radius.servers[0].retries: expected an integer from 0 to 10, got 11"),
    ({"servers": [{"address": "192.0.2.1", "secret": "long-enough", "timeout": True}]},
     "radius.servers[0].timeout: expected a number of seconds"),
    ({**GOOD, "servers": GOOD["servers"] * 2},
     "radius.servers[1].address: 192.0.2.10 port 1812 is listed twice"),
    ({**GOOD, "methods": ["eap"]}, "radius.methods: expected a list of mschapv2, chap, pap"),
    ({**GOOD, "methods": []}, "radius.methods: expected at least one method"),
    ({**GOOD, "nas_ip": "::1"}, "radius.nas_ip: expected an IPv4 address"),
    ({**GOOD, "nas_identifier": ""}, "radius.nas_identifier: expected a string of 1 to 253 octets"),
    ({**GOOD, "local_fallback": "yes"}, "radius.local_fallback: expected true or false"),
    ({**GOOD, "accounting": {"interim_interval": -1}}, "radius.accounting.interim_interval"),
    ({**GOOD, "accounting": []}, "radius.accounting: expected a table"),
    ({**GOOD, "das": {"port": 3799}}, "radius.das.secret: is required"),
    ({**GOOD, "das": {"secret": "long-enough", "clients": ["x"]}}, "radius.das.clients[0]: expected an IP"),
])
def test_errors_name_the_key(raw: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as caught:
        parse_radius_section(raw, "f.toml")
    assert message in str(caught.value)


def test_secrets_are_not_shown() -> None:
    settings = parse_radius_section({**GOOD, "das": {"secret": "das-secret-value"}}, "f.toml")
    assert "s3cret-enough" not in repr(settings) and "das-secret-value" not in repr(settings)
    with pytest.raises(ConfigError) as caught:
        parse_radius_section({"servers": [{"address": "192.0.2.1", "secret": "short"}]}, "f.toml")
    assert "'short'" not in str(caught.value)
