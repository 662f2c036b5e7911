"""``ikel2tp serve``/``status``/``kick`` as a user runs them (typer's CliRunner; a control server on a
thread)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ikel2tp.cli.main import app
from ikel2tp.cli.serve import format_session
from tests.server.test_control import Running

SESSION = {"client": "c3", "user": "alice", "peer": "203.0.113.7:4500", "nat": True, "inner_peer": "10.0.0.5",
           "address": "10.42.0.2", "phase1": "aes256-sha1-ecp384", "phase2": "aes256-sha1", "uptime": 725.0,
           "bytes_in": 3 * 1024 * 1024, "bytes_out": 512, "packets_in": 10, "packets_out": 3, "drops": 2,
           "esp_drops": {"replay": 1},
           "state": "IPCP up"}

runner = CliRunner()


def test_format_session_line():
    line = format_session(SESSION)
    for part in ("alice", "10.42.0.2", "203.0.113.7:4500 (NAT, inside 10.0.0.5)",
                 "aes256-sha1-ecp384 / aes256-sha1", "up 12m05s", "in 3.0MiB", "out 512B", "drops 2",
                 "[IPCP up]"):
        assert part in line
    bare = format_session({**SESSION, "user": None, "address": None, "nat": False, "phase2": ""})
    assert bare.startswith("-") and "(NAT" not in bare


@pytest.fixture
def server(tmp_path):
    def handler(req):
        if req["cmd"] == "status":
            return {"ok": True, "sessions": [SESSION]}
        if req["cmd"] == "kick":
            return {"ok": True, "kicked": 1 if req["target"] in ("alice", "10.42.0.2") else 0}
        return {"ok": True, "message": "reloaded"}

    running = Running(str(tmp_path / "control.sock"), handler)
    yield running
    running.stop()


@pytest.mark.timeout(30)
def test_status_and_kick_through_the_socket(server):
    path = server.server.path
    result = runner.invoke(app, ["status", "--socket", path])
    assert result.exit_code == 0 and "alice" in result.output and "[IPCP up]" in result.output
    result = runner.invoke(app, ["status", "--json", "--socket", path])
    assert result.exit_code == 0 and json.loads(result.output) == [SESSION]
    result = runner.invoke(app, ["kick", "alice", "--socket", path])
    assert result.exit_code == 0 and "kicked 1" in result.output
    result = runner.invoke(app, ["kick", "mallory", "--socket", path])
    assert result.exit_code == 1


@pytest.mark.timeout(30)
def test_status_finds_the_socket_from_the_config(server, tmp_path):
    config = tmp_path / "ikel2tp.toml"
    config.write_text(f'[server]\ncontrol_socket = "{server.server.path}"\n[ike]\npsk = "{"x" * 20}"\n')
    result = runner.invoke(app, ["status", "--config", str(config)])
    assert result.exit_code == 0 and "alice" in result.output


def test_status_without_a_server(tmp_path):
    result = runner.invoke(app, ["status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_serve_refuses_a_broken_config(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[server]\nlisten = ["not an address"]\n[ike]\npsk = "0123456789abcdefghij"\n')
    result = runner.invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == 1
    assert "server.listen[0]" in result.output and "not an IPv4 or IPv6 address" in result.output
