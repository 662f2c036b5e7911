"""``ikel2tp users add/passwd/hash`` edit the TOML file in place and keep everything else."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from ikel2tp.cli.users import app, set_user_hash
from ikel2tp.config import load_config
from ikel2tp.ppp.auth.mschapv2 import nt_password_hash

CONFIG = """\
# my server
[ike]
psk = "a-long-enough-pre-shared-key-123"

[[users]]
# the boss
password = "old"
name = "boss"
static_ip = "10.42.0.9"

[[users]]
name = "other"
nt_hash = "00112233445566778899aabbccddeeff"
"""


def write(tmp_path: Path) -> Path:
    path = tmp_path / "ikel2tp.toml"
    path.write_text(CONFIG)
    path.chmod(0o644)
    return path


def run(*args: str, stdin: str = "") -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.output


def test_add_appends_a_hashed_user(tmp_path: Path) -> None:
    path = write(tmp_path)
    code, _ = run("add", "new user", "--config", str(path), "--password-stdin", "--static-ip", "10.42.0.20",
                  stdin="s3cret\n")
    assert code == 0
    text = path.read_text()
    assert text.startswith(CONFIG) and "s3cret" not in text
    users = {u.name: u for u in load_config(path, log=None).users}
    assert users["new user"].nt_hash == nt_password_hash("s3cret")
    assert str(users["new user"].static_ip) == "10.42.0.20"
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_add_refuses_an_existing_user(tmp_path: Path) -> None:
    path = write(tmp_path)
    code, output = run("add", "boss", "--config", str(path), "--password-stdin", stdin="x\n")
    assert code == 1 and "already exists" in output and path.read_text() == CONFIG


def test_passwd_replaces_the_plaintext_with_a_hash(tmp_path: Path) -> None:
    path = write(tmp_path)
    code, _ = run("passwd", "boss", "--config", str(path), "--password-stdin", stdin="n3w\n")
    assert code == 0
    text = path.read_text()
    assert 'password = "old"' not in text and "# the boss" in text and "# my server" in text
    boss = tomllib.loads(text)["users"][0]
    assert boss == {"name": "boss", "nt_hash": nt_password_hash("n3w").hex(), "static_ip": "10.42.0.9"}
    assert tomllib.loads(text)["users"][1]["nt_hash"] == "00112233445566778899aabbccddeeff"


def test_passwd_unknown_user(tmp_path: Path) -> None:
    path = write(tmp_path)
    code, output = run("passwd", "ghost", "--config", str(path), "--password-stdin", stdin="x\n")
    assert code == 1 and "no user 'ghost'" in output


def test_prompted_password_and_hash_command() -> None:
    code, output = run("hash", stdin="clientPass\nclientPass\n")
    assert code == 0 and output.strip().endswith("44ebba8d5312b8d611474411f56989ae")


def test_set_user_hash_adds_a_line_when_there_was_none() -> None:
    text = '[[users]]\nname = "x"\n'
    assert set_user_hash(text, "x", bytes(16)) == f'[[users]]\nname = "x"\nnt_hash = "{bytes(16).hex()}"\n'
