"""The ``ikel2tp`` command line: help, --version, ``config check``, and the placeholders' exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ikel2tp import __version__
from ikel2tp.cli.main import app

runner = CliRunner()
GOOD = '[ike]\npsk = "Kq7wPz3mXr9TbV2nYc5hJd4s"\n'


def test_help_lists_every_group():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "L2TP/IPsec VPN server" in result.output
    for command in ("serve", "status", "kick", "config", "certs", "users", "proposals", "client-config"):
        assert command in result.output


def test_no_arguments_shows_help():
    result = runner.invoke(app, [])
    assert "Usage" in result.output and "config" in result.output


@pytest.mark.parametrize("group", ["config", "certs", "users", "proposals"])
def test_each_group_explains_itself(group):
    result = runner.invoke(app, [group, "--help"])
    assert result.exit_code == 0
    after_usage = result.output.split("Usage:", 1)[1].split("╭", 1)[0].splitlines()[1:]
    summary = " ".join(line.strip() for line in after_usage if line.strip())
    assert len(summary) > 20 and summary.endswith("."), result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"ikel2tp {__version__}"


def test_config_check_ok(tmp_path):
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: listen 0.0.0.0 ports 500/4500")
    assert "Kq7wPz3m" not in result.output


def test_config_check_prints_warnings(tmp_path):
    path = tmp_path / "weak.toml"
    path.write_text(GOOD + 'phase2 = ["aes128-md5"]\n')
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 0
    assert "warning: ike.phase2[0]: aes128-md5 uses weak md5" in result.stderr
    assert result.stdout.startswith("OK: ")


def test_config_check_broken_file_names_file_and_key(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text(GOOD + "[pool]\nnetwork = '10.42.0.0/33'\n")
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {path}: pool.network: '10.42.0.0/33' is not an IP address")


def test_config_check_missing_file(tmp_path):
    result = runner.invoke(app, ["config", "check", str(tmp_path / "none.toml")])
    assert result.exit_code == 1 and "cannot read" in result.stderr


def test_example_config_checks_ok():
    example = Path(__file__).resolve().parents[2] / "docs" / "ikel2tp.example.toml"
    result = runner.invoke(app, ["config", "check", str(example)])
    assert result.exit_code == 0 and result.stdout.startswith("OK: ")
