"""``ikel2tp users``: add local users and set their passwords in the configuration file.

Only the NT hash of a password is written (``nt_hash = "..."``), so the file never holds the
plaintext.  The edit is textual: every other line, comment and blank of the file stays as it was.
The result is validated like ``ikel2tp config check`` before it replaces the file (mode 0600).
"""

from __future__ import annotations

import json
import sys
import tomllib
from ipaddress import IPv4Address
from pathlib import Path

import typer

from ikel2tp.common.errors import ConfigError
from ikel2tp.common.files import write_private
from ikel2tp.config import CONFIG_NAME, DEFAULT_STATE_DIR, parse_config
from ikel2tp.ppp.auth.mschapv2 import nt_password_hash

app = typer.Typer(help="Manage the local VPN users ([[users]]) in the configuration file.",
                  no_args_is_help=True)

DEFAULT_CONFIG = Path(DEFAULT_STATE_DIR) / CONFIG_NAME
_CONFIG_OPTION = typer.Option(DEFAULT_CONFIG, "--config", "-c", help="The TOML configuration file to edit.")
_STDIN_OPTION = typer.Option(False, "--password-stdin",
                             help="Read the password from the first line of stdin.")


def _toml_string(text: str) -> str:
    # A JSON string (control characters as \uXXXX) is also a valid TOML basic string.
    return json.dumps(text, ensure_ascii=False)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise typer.BadParameter("the password must not be empty")
    return password


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _load(path: Path) -> tuple[str, list[dict]]:
    try:
        text = path.read_text(encoding="utf-8")
        users = tomllib.loads(text).get("users", [])
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _fail(f"{path}: {exc}") from exc
    if not isinstance(users, list) or not all(isinstance(u, dict) for u in users):
        raise _fail(f"{path}: 'users' must be a list of [[users]] tables")
    return text, users


def _key_of(line: str) -> tuple[str, object] | None:
    """The key and value of a single-line ``key = value`` TOML line, else None."""
    try:
        parsed = tomllib.loads(line)
    except tomllib.TOMLDecodeError:
        return None
    return next(iter(parsed.items())) if len(parsed) == 1 else None


_SECRET_KEYS = ("password", "nt_hash")


def _blocks(text: str) -> list[list[str]]:
    """The file's lines grouped by table: each block starts at a ``[header]`` line (the first block
    is what precedes any header)."""
    blocks: list[list[str]] = [[]]
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("["):
            blocks.append([])
        blocks[-1].append(line)
    return blocks


def set_user_hash(text: str, name: str, nt_hash: bytes) -> str:
    """Replace ``password``/``nt_hash`` of the ``[[users]]`` table named ``name`` with ``nt_hash``."""
    blocks = _blocks(text)
    for block in blocks:
        if not block or block[0].strip().replace(" ", "") != "[[users]]":
            continue
        entries = [_key_of(line.strip()) for line in block]
        if ("name", name) not in entries:
            continue
        secrets = [i for i, entry in enumerate(entries) if entry is not None and entry[0] in _SECRET_KEYS]
        # The new line takes the place of the first password/nt_hash line, or follows the name.
        where = secrets[0] if secrets else entries.index(("name", name)) + 1
        new_line = f"nt_hash = {_toml_string(nt_hash.hex())}\n"
        edited = []
        for index, line in enumerate(block):
            if index == where:
                edited.append(new_line)
            if index not in secrets:
                edited.append(line if line.endswith("\n") else line + "\n")
        if where == len(block):
            edited.append(new_line)
        block[:] = edited
        break
    return "".join(line for block in blocks for line in block)


def _write(path: Path, text: str) -> None:
    try:
        parse_config(text, str(path), base_dir=path.parent.resolve(), log=None)
    except ConfigError as exc:
        raise _fail(f"not written, the result would be invalid: {exc}") from exc
    try:
        write_private(path, text.encode("utf-8"))
    except OSError as exc:
        raise _fail(f"{path}: cannot write: {exc}") from exc


@app.command()
def add(
    name: str = typer.Argument(..., help="The user name the client types in."),
    config: Path = _CONFIG_OPTION,
    password_stdin: bool = _STDIN_OPTION,
    static_ip: str = typer.Option(None, "--static-ip", help="Give this user always the same address."),
) -> None:
    """Add a user; the password is asked for (twice) and stored as its NT hash."""
    text, users = _load(config)
    if any(u.get("name") == name for u in users):
        raise _fail(f"user {name!r} already exists in {config} (use 'ikel2tp users passwd')")
    if static_ip is not None:
        try:
            IPv4Address(static_ip)
        except ValueError as exc:
            raise _fail(f"--static-ip: {exc}") from exc
    password = _read_password(password_stdin)
    digest = nt_password_hash(password).hex()
    block = f"\n[[users]]\nname = {_toml_string(name)}\nnt_hash = {_toml_string(digest)}\n"
    if static_ip is not None:
        block += f"static_ip = {_toml_string(static_ip)}\n"
    _write(config, (text if text.endswith("\n") or not text else text + "\n") + block)
    typer.echo(f"added user {name!r} to {config}; send SIGHUP to a running server to load it")


@app.command()
def passwd(
    name: str = typer.Argument(..., help="The user whose password changes."),
    config: Path = _CONFIG_OPTION,
    password_stdin: bool = _STDIN_OPTION,
) -> None:
    """Set a user's password (stored as its NT hash; a plaintext password line is removed)."""
    text, users = _load(config)
    if not any(u.get("name") == name for u in users):
        raise _fail(f"no user {name!r} in {config} (use 'ikel2tp users add')")
    password = _read_password(password_stdin)
    digest = nt_password_hash(password)
    new_text = set_user_hash(text, name, digest)
    if not any(u.get("name") == name and u.get("nt_hash") == digest.hex()
               for u in tomllib.loads(new_text).get("users", [])):
        raise _fail(f"could not edit user {name!r} in {config}: keep its entry on plain 'key = value' lines")
    _write(config, new_text)
    typer.echo(f"password of {name!r} changed in {config}; send SIGHUP to a running server to load it")


@app.command("hash")
def hash_command(password_stdin: bool = _STDIN_OPTION) -> None:
    """Print the NT hash of a password, for an ``nt_hash = "..."`` line."""
    typer.echo(nt_password_hash(_read_password(password_stdin)).hex())
