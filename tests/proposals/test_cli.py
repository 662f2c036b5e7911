"""``ikel2tp proposals`` end to end through typer: show, check, explain, last, probe."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ikel2tp.cli.main import app
from tests.proposals.lab import Lab, settings
from tests.proposals.test_probe import LoopbackResponder

runner = CliRunner()
PSK_LINE = 'psk = "Kq7wPz3mXr9TbV2nYc5hJd4s"\n'


def write_config(tmp_path: Path, p1: list[str], p2: list[str], extra: str = "") -> Path:
    path = tmp_path / "ikel2tp.toml"
    path.write_text(f"[ike]\n{PSK_LINE}phase1 = {json.dumps(p1)}\nphase2 = {json.dumps(p2)}\n{extra}")
    return path


def test_show(tmp_path):
    config = write_config(tmp_path, ["3des-md5-modp1024"], ["aes128-sha1-modp2048"])
    result = runner.invoke(app, ["proposals", "show", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert '  "3des-md5-modp1024"' in result.output
    assert (
        "1  3DES-CBC    192         MD5       2 (MODP 1024)  Pre-shared key  28800 s   Main Mode"
        in result.output
    )
    assert "group 14 (MODP 2048)" in result.output


def test_check_exit_codes(tmp_path):
    config = write_config(tmp_path, ["aes256-sha1-modp2048"], ["aes256-sha1"])
    ok = runner.invoke(app, ["proposals", "check", "--client", "windows", "--config", str(config)])
    assert ok.exit_code == 0, ok.output
    assert "phase 1: chosen aes256-sha1-modp2048 (the client's 3rd proposal" in ok.output
    assert "UNVERIFIED: exact phase 1 order" in ok.output
    bad = runner.invoke(app, ["proposals", "check", "--client", "android", "--config", str(config)])
    assert bad.exit_code == 1
    assert (
        'phase 1 refused: DH group: client modp1024, server modp2048; fix: add "aes256-sha1-modp1024" to '
        "[ike] phase1" in bad.output
    )
    custom = runner.invoke(
        app,
        [
            "proposals",
            "check",
            "--client",
            "custom",
            "--config",
            str(config),
            "--ike",
            "aes256-sha1-modp2048,3des-sha1-modp1024",
            "--esp",
            "aes256-sha1",
        ],
    )
    assert custom.exit_code == 0, custom.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--client", "nokia"], "unknown client 'nokia'"),
        (["--client", "custom"], "--client custom needs --ike and --esp"),
        (["--client", "windows", "--ike", "aes128-sha1-modp2048"], "--ike and --esp go with --client custom"),
        (
            ["--client", "custom", "--ike", "rot13-sha1-modp2048", "--esp", "aes128-sha1"],
            "unknown cipher 'rot13'",
        ),
    ],
)
def test_check_bad_arguments(args, message, tmp_path):
    config = write_config(tmp_path, ["aes256-sha1-modp2048"], ["aes256-sha1"])
    result = runner.invoke(app, ["proposals", "check", "--config", str(config), *args])
    assert result.exit_code == 2 and message in result.output


def test_check_windows_certificate(tmp_path):
    fixtures = Path("certs/fixtures").resolve()
    extra = (f'cert = "{fixtures}/server-no-serverauth.crt"\nkey = "{fixtures}/server-no-serverauth.key"\n'
             f'ca = "{fixtures}/ca.crt"\n')
    config = write_config(tmp_path, ["aes256-sha1-modp2048"], ["aes256-sha1"], extra)
    result = runner.invoke(app, ["proposals", "check", "--client", "windows", "--config", str(config)])
    assert result.exit_code == 1
    assert "server certificate: no serverAuth extended key usage (1.3.6.1.5.5.7.3.1)" in result.output


def test_explain_capture_with_config_and_table(tmp_path):
    lab = Lab(
        settings("aes128-sha1-modp2048", "aes128-md5"), settings("aes128-sha1-modp2048", "aes128-sha1")
    ).run()
    (tmp_path / "c.pcapng").write_bytes(lab.pcapng())
    (tmp_path / "keys").write_text(lab.table())
    config = write_config(tmp_path, ["aes128-sha1-modp2048"], ["aes128-md5"])
    result = runner.invoke(
        app,
        [
            "proposals",
            "explain",
            str(tmp_path / "c.pcapng"),
            "--config",
            str(config),
            "--decrypt",
            str(tmp_path / "keys"),
        ],
    )
    assert result.exit_code == 1
    assert result.output.startswith("negotiation 1: 198.51.100.7:500 -> 192.0.2.1:500")
    assert (
        '  phase 2 refused: integrity: client sha1, server md5; fix: add "aes128-sha1" to [ike] phase2\n'
        in result.output
    )


def test_explain_successful_capture_exits_0(tmp_path):
    lab = Lab(
        settings("aes128-sha1-modp2048", "aes128-sha1"), settings("aes128-sha1-modp2048", "aes128-sha1")
    ).run()
    (tmp_path / "ok.pcap").write_bytes(lab.pcap())
    result = runner.invoke(app, ["proposals", "explain", str(tmp_path / "ok.pcap")])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "content, table, message",
    [
        (b"not a capture at all", None, "not a pcap or pcapng file"),
        (b"\xd4\xc3\xb2\xa1" + bytes(30), None, "cut short"),
        (None, "cookie,key\n", 'line 1: expected "<initiator cookie, 16 hex digits>","<key hex>"'),
    ],
)
def test_explain_bad_input(tmp_path, content, table, message):
    capture = tmp_path / "x.pcap"
    capture.write_bytes(
        content
        if content is not None
        else Lab(
            settings("aes128-sha1-modp2048", "aes128-sha1"), settings("aes128-sha1-modp2048", "aes128-sha1")
        )
        .run()
        .pcap()
    )
    args = ["proposals", "explain", str(capture)]
    if table is not None:
        (tmp_path / "t").write_text(table)
        args += ["--decrypt", str(tmp_path / "t")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


class FakeControl:
    """A unix socket answering one JSON request per connection, like the server's control socket."""

    def __init__(self, path: Path, answer: dict) -> None:
        self.requests: list[dict] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(1)
        self.answer = answer
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            self.requests.append(json.loads(conn.makefile().readline()))
            conn.sendall(json.dumps(self.answer).encode() + b"\n")

    def close(self) -> None:
        self.thread.join(timeout=2)
        self.sock.close()


def test_last_asks_the_server(tmp_path):
    path = tmp_path / "control.sock"
    record = {
        "peer": "198.51.100.7",
        "time": 1700000000.0,
        "text": "phase 1 refused: hash: client sha1, server md5",
    }
    control = FakeControl(path, {"ok": True, "refusals": [record]})
    try:
        result = runner.invoke(app, ["proposals", "last", "198.51.100.7", "--socket", str(path)])
    finally:
        control.close()
    assert control.requests == [{"cmd": "refusals", "peer": "198.51.100.7"}]
    assert result.exit_code == 0
    assert result.output == (
        "2023-11-14 22:13:20 UTC  198.51.100.7  phase 1 refused: hash: client sha1, server md5\n"
    )


def test_last_against_a_server_without_the_command(tmp_path):
    path = tmp_path / "control.sock"
    control = FakeControl(path, {"ok": False, "error": "unknown request; commands are status, kick, reload"})
    try:
        result = runner.invoke(app, ["proposals", "last", "--socket", str(path)])
    finally:
        control.close()
    assert result.exit_code == 1 and "did not answer 'refusals'" in result.output


def test_probe_command_on_loopback():
    server = LoopbackResponder()
    try:
        result = runner.invoke(
            app,
            [
                "proposals",
                "probe",
                "127.0.0.1",
                "--port",
                str(server.port),
                "--transforms",
                "aes256-sha1-modp2048,aes128-md5-modp1024",
                "--timeout",
                "1",
            ],
        )
    finally:
        server.close()
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "accepted: aes256-sha1-modp2048"
    named = runner.invoke(app, ["proposals", "probe", "vpn.example.com"])
    assert named.exit_code == 2 and "give an IP address" in named.output
