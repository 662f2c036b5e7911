"""``ikel2tp client-config`` end to end: files 0600 in a 0700 directory, secrets never on the terminal
unless --show-secrets, plain one-line errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ikel2tp.cli.client_config import client_config

from .conftest import P12_PASSWORD, PASSWORD, USER

PSK = "Kq7wPz3mXr9TbV2nYc5hJd4s"
CONFIG = f"""[server]
public_address = "203.0.113.7"
[ike]
psk = "{PSK}"
[[users]]
name = "{USER}"
nt_hash = "8846f7eaee8fb117ad06bdd830b7586c"
"""
OUTPUTS = {"windows": [f"{USER}-windows.ps1"], "macos": [f"{USER}.mobileconfig"],
           "ios": [f"{USER}.mobileconfig"], "linux": [f"{USER}.nmconnection", f"{USER}-nmcli.sh"],
           "android": [f"{USER}-android.txt"]}

app = typer.Typer()
app.command("client-config")(client_config)


@app.callback()
def _root() -> None:
    """Stand-in for the ikel2tp app (the lead registers the command in cli/main.py)."""


runner = CliRunner()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "ikel2tp.toml"
    path.write_text(CONFIG)
    return path


def _run(*args: str, stdin: str | None = None):
    return runner.invoke(app, ["client-config", *args], input=stdin)


@pytest.mark.parametrize("os_name", list(OUTPUTS))
def test_writes_private_files_and_prints_no_secret(config_file, tmp_path, os_name):
    out = tmp_path / "out"
    result = _run(os_name, "--config", str(config_file), "--out", str(out), "--password-stdin",
                  stdin=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS[os_name])
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert PSK not in result.output and PASSWORD not in result.output
    assert "--show-secrets" in result.output
    written = b"".join(p.read_bytes() for p in out.iterdir())
    assert PASSWORD.encode() in written or PASSWORD.replace("'", "''").encode() in written


def test_show_secrets_prints_them(config_file, tmp_path):
    result = _run("windows", "--config", str(config_file), "--out", str(tmp_path / "o"), "--show-secrets")
    assert result.exit_code == 0 and f"IPsec pre-shared key: {PSK}" in result.output


def test_certificate_secrets_stay_in_files(tmp_path, cert_ike, pki):
    path = tmp_path / "cert.toml"
    path.write_text(CONFIG.replace(f'psk = "{PSK}"', "\n".join(f'{k} = "{v}"' for k, v in cert_ike.items())))
    result = _run("macos", "--config", str(path), "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert P12_PASSWORD not in result.output


def test_server_from_option_overrides_public_address(config_file, tmp_path):
    result = _run("android", "--config", str(config_file), "--out", str(tmp_path / "o"),
                  "--server", "vpn.example.org")
    assert result.exit_code == 0
    assert "vpn.example.org" in (tmp_path / "o" / f"{USER}-android.txt").read_text()


@pytest.mark.parametrize(("change", "args", "message"), [
    (('public_address = "203.0.113.7"', ""), [], "--server"),
    (("", ""), ["bob"], "no user 'bob'"),
    (("", ""), ["--auth", "cert"], "no [ike] cert"),
])
def test_errors_are_one_line_and_write_nothing(config_file, tmp_path, change, args, message):
    config_file.write_text(CONFIG.replace(*change) if change[0] else CONFIG)
    out = tmp_path / "o"
    result = _run("linux", *args, "--config", str(config_file), "--out", str(out))
    assert result.exit_code == 1 and result.output.startswith("error: ") and message in result.output
    assert not out.exists()


def test_missing_server_names_both_ways(config_file, tmp_path):
    config_file.write_text(CONFIG.replace('public_address = "203.0.113.7"', ""))
    result = _run("linux", "--config", str(config_file), "--out", str(tmp_path / "o"))
    assert "--server" in result.output and "public_address" in result.output


def test_unknown_os(config_file):
    result = _run("beos", "--config", str(config_file))
    assert result.exit_code == 1 and "unknown OS" in result.output


def test_no_configuration_in_state_dir(tmp_path):
    result = _run("linux", "--state-dir", str(tmp_path))
    assert result.exit_code == 1 and "ikel2tp serve" in result.output
    assert not (tmp_path / "ikel2tp.toml").exists()  # a read-only command: no config is created
