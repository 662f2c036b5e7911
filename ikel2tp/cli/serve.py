"""``ikel2tp serve``, ``ikel2tp status`` and ``ikel2tp kick``: run the server and talk to it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from ikel2tp.common.errors import ConfigError
from ikel2tp.config import CONFIG_NAME, CONTROL_SOCKET_NAME, DEFAULT_STATE_DIR, load_config

_CONFIG = typer.Option(None, "--config", "-c", help="Configuration file (TOML). Without it the server uses "
                       "<state-dir>/ikel2tp.toml, writing one with fresh secrets on the first run.",
                       dir_okay=False)
_STATE_DIR = typer.Option(Path(DEFAULT_STATE_DIR), "--state-dir",
                          help="Where the embedded default configuration lives (without --config).")
_EXPORT_IKE_KEYS = typer.Option(
    None, "--export-ike-keys", dir_okay=False,
    help="DEBUG: write each IKE SA's encryption key to this file (mode 0600) in Wireshark's "
    "ikev1_decryption_table format, for `ikel2tp proposals explain CAPTURE --decrypt FILE`. "
    "Whoever reads it can decrypt phase 2: delete it after use.")
_SOCKET = typer.Option(None, "--socket",
                       help="The server's control socket (default: from the configuration).")


def serve(config: Path | None = _CONFIG, state_dir: Path = _STATE_DIR,
          export_ike_keys: Path | None = _EXPORT_IKE_KEYS) -> None:
    """Run the L2TP/IPsec VPN server in the foreground, logging to stderr.

    Without --config, the first run writes a configuration with fresh secrets and prints what clients type.

    SIGTERM/SIGINT disconnect every client and exit; SIGHUP reloads users, pre-shared keys, certificates, CA,
    CRL and allowed_subjects.
    """
    from ikel2tp.config import ensure_default_config
    from ikel2tp.server.daemon import run

    try:
        if config is not None:
            loaded, first_run = load_config(config, log=None), None
        else:
            loaded, first_run = ensure_default_config(state_dir)
    except ConfigError as exc:
        typer.echo(f"ikel2tp serve: {exc}", err=True)
        raise typer.Exit(1) from None
    if first_run:
        typer.echo(first_run)
    raise typer.Exit(run(loaded, config_path=str(config) if config is not None else None,
                         export_ike_keys=str(export_ike_keys) if export_ike_keys is not None else None))


def control_path(config: Path | None, state_dir: Path, socket: Path | None) -> str:
    """The running server's control socket: ``--socket``, else the one the configuration names
    (``--config``, or ``<state-dir>/ikel2tp.toml`` when present), else the state directory's default.
    A configuration that does not load ends the command (exit 1) with the reason."""
    if socket is not None:
        return str(socket)
    path = config if config is not None else state_dir / CONFIG_NAME
    if config is not None or path.exists():
        try:
            return load_config(path, log=None).server.control_socket
        except ConfigError as exc:
            typer.echo(f"ikel2tp: {exc}", err=True)
            raise typer.Exit(1) from None
    return os.path.join(state_dir, CONTROL_SOCKET_NAME)


def _ask(path: str, request: dict[str, Any]) -> dict[str, Any]:
    from ikel2tp.server.control import ControlError
    from ikel2tp.server.control import request as send

    try:
        answer = send(path, request)
    except ControlError as exc:
        typer.echo(f"ikel2tp: {exc}", err=True)
        raise typer.Exit(1) from None
    if not answer.get("ok"):
        typer.echo(f"ikel2tp: {answer.get('error', 'the server refused the request')}", err=True)
        raise typer.Exit(1)
    return answer


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count}{unit}" if unit == "B" else f"{count:.1f}{unit}"
        count /= 1024
    return str(count)


def _uptime(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def format_session(s: dict[str, Any]) -> str:
    """One ``ikel2tp status`` line for a session as the control socket describes it."""
    peer = s["peer"] + (" (NAT" + (f", inside {s['inner_peer']}" if s.get("inner_peer") else "") + ")"
                        if s.get("nat") else "")
    algorithms = " / ".join(a for a in (s.get("phase1"), s.get("phase2")) if a) or "-"
    return (f"{s.get('user') or '-':<12} {s.get('address') or '-':<15} {peer:<40} {algorithms:<40} "
            f"up {_uptime(s['uptime'])}  in {_size(s['bytes_in'])} out {_size(s['bytes_out'])}  "
            f"drops {s['drops']}  [{s.get('state', '')}]")


def status(json_output: bool = typer.Option(False, "--json", help="Print the sessions as JSON."),
           config: Path | None = _CONFIG, state_dir: Path = _STATE_DIR,
           socket: Path | None = _SOCKET) -> None:
    """Show the running server's sessions: user, peer and NAT, address, algorithms, uptime, bytes, drops."""
    answer = _ask(control_path(config, state_dir, socket), {"cmd": "status"})
    sessions = answer.get("sessions", [])
    if json_output:
        typer.echo(json.dumps(sessions, indent=2))
        return
    if not sessions:
        typer.echo("no sessions")
        return
    for session in sessions:
        typer.echo(format_session(session))


def kick(target: str = typer.Argument(..., help="A user name or a client's assigned IP address."),
         config: Path | None = _CONFIG, state_dir: Path = _STATE_DIR, socket: Path | None = _SOCKET) -> None:
    """Disconnect a user's sessions (or the session with that address): PPP, L2TP and IPsec are closed."""
    answer = _ask(control_path(config, state_dir, socket), {"cmd": "kick", "target": target})
    kicked = answer.get("kicked", 0)
    if not kicked:
        typer.echo(f"ikel2tp: no session of {target}", err=True)
        raise typer.Exit(1)
    typer.echo(f"kicked {kicked} session(s) of {target}")
