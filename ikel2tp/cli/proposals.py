"""``ikel2tp proposals``: show our policy, check a client against it, explain captures, ask the
server for its last refusals, probe a gateway.  The explanations come from :mod:`ikel2tp.proposals`,
which runs the responder's own selection code (:mod:`ikel2tp.ike.proposal`)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ikel2tp.common.errors import ConfigError
from ikel2tp.config import CONFIG_NAME, DEFAULT_STATE_DIR, Config, load_config
from ikel2tp.ike.constants import AuthMethod
from ikel2tp.proposals import diagnosis, profiles
from ikel2tp.proposals.policy import Policy, show_lines

app = typer.Typer(help="Show and explain the IKE and ESP proposals the server accepts.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        dir_okay=False,
        help=f"Configuration file (default: {DEFAULT_STATE_DIR}/{CONFIG_NAME} if present, "
        "else the built-in defaults).",
    ),
]
_WINDOWS = {"windows", "windows-legacy"}


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"ikel2tp proposals: {message}", err=True)
    return typer.Exit(code)


def _config(path: Path | None) -> Config | None:
    default = Path(DEFAULT_STATE_DIR) / CONFIG_NAME
    if path is None and not default.exists():
        return None
    try:
        return load_config(path or default, log=None)
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _policy(path: Path | None) -> Policy:
    config = _config(path)
    if config is not None:
        return Policy.from_config(config)
    defaults = Policy.from_config(Config())
    return dataclasses.replace(
        defaults,
        auth_methods=(AuthMethod.PRE_SHARED_KEY,),
        source="the built-in defaults (with a pre-shared key, as `ikel2tp serve` writes)",
    )


@app.command()
def show(config: ConfigOption = None) -> None:
    """Our effective phase 1 and phase 2 policy: the strings of the configuration and an attribute table."""
    for line in show_lines(_policy(config)):
        typer.echo(line)


def _split(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@app.command()
def check(
    client: Annotated[str, typer.Option("--client", help=f"{', '.join(profiles.PROFILES)} or custom.")],
    config: ConfigOption = None,
    ike: Annotated[
        list[str],
        typer.Option(
            "--ike",
            help="custom: phase 1 suites, client order "
            "(repeat or comma-separate), e.g. aes256-sha1-modp2048.",
        ),
    ] = [],  # noqa: B006
    esp: Annotated[list[str], typer.Option("--esp", help="custom: phase 2 suites, e.g. aes128-sha1.")] = [],  # noqa: B006
) -> None:
    """Run a client's offer through the responder's selection: what will be chosen, or why nothing will.

    Exit status 0 when phase 1 and phase 2 would both succeed, 1 otherwise.
    """
    try:
        if client == "custom":
            if not ike or not esp:
                raise ValueError("--client custom needs --ike and --esp")
            profile = profiles.custom(_split(ike), _split(esp))
        else:
            if ike or esp:
                raise ValueError("--ike and --esp go with --client custom")
            profile = profiles.profile(client)
    except (KeyError, ValueError) as exc:
        raise _fail(str(exc).strip("'\""), 2) from None
    policy = _policy(config)
    typer.echo(f"client: {profile.title}; policy: {policy.source}")
    for source in profile.sources:
        typer.echo(f"  source: {source}")
    if profile.unverified:
        typer.echo(f"  UNVERIFIED: {'; '.join(profile.unverified)}")
    ok = True
    for verdict in diagnosis.check(profile, policy):
        ok &= verdict.ok
        for line in verdict.lines:
            typer.echo(line)
    if policy.cert and client in _WINDOWS:
        ok &= _check_certificate(policy.cert)
    raise typer.Exit(0 if ok else 1)


def _check_certificate(path: str) -> bool:
    from ikel2tp.proposals.certificate import certificate_findings, load_certificate

    try:
        cert = load_certificate(path)
    except (OSError, ValueError) as exc:
        typer.echo(f"server certificate: cannot read {path}: {exc}")
        return False
    ok = True
    for fatal, line in certificate_findings(cert, datetime.now(UTC)):
        ok &= not fatal
        typer.echo(line)
    return ok


@app.command()
def explain(
    capture: Annotated[Path, typer.Argument(dir_okay=False, help="A pcap or pcapng file.")],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            dir_okay=False,
            help="Explain against this policy (default: against what the responder in the capture answered).",
        ),
    ] = None,
    decrypt: Annotated[
        Path | None,
        typer.Option(
            "--decrypt", dir_okay=False, help="IKEv1 decryption table (Wireshark's ikev1_decryption_table)."
        ),
    ] = None,
) -> None:
    """Explain each Main Mode and Quick Mode negotiation in a capture (exit 1 when one failed)."""
    from ikel2tp.proposals.explain import TableError, explain_capture, parse_decryption_table
    from ikel2tp.proposals.pcap import CaptureError, read_capture

    try:
        data = capture.read_bytes()
        table = parse_decryption_table(decrypt.read_text()) if decrypt else {}
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read: {exc}", 2) from None
    except TableError as exc:
        raise _fail(f"{decrypt}: {exc}", 2) from None
    try:
        parsed = read_capture(data)
    except CaptureError as exc:
        raise _fail(f"{capture}: {exc.reason}", 2) from None
    policy = Policy.from_config(_config(config)) if config else None  # type: ignore[arg-type]
    reports, notes = explain_capture(parsed, policy, table)
    for note in notes:
        typer.echo(f"note: {note}")
    for number, report in enumerate(reports, 1):
        typer.echo(f"negotiation {number}: {report.title}")
        for line in report.lines:
            typer.echo(f"  {line}")
    raise typer.Exit(1 if any(r.ok is False for r in reports) or not reports else 0)


@app.command()
def last(
    peer: Annotated[str | None, typer.Argument(help="Only this client address.")] = None,
    config: ConfigOption = None,
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="Where the default configuration lives.")
    ] = Path(DEFAULT_STATE_DIR),
    socket: Annotated[Path | None, typer.Option("--socket", help="The server's control socket.")] = None,
) -> None:
    """The running server's last refusal explanations, per peer."""
    from ikel2tp.cli.serve import control_path
    from ikel2tp.proposals.history import CONTROL_COMMAND
    from ikel2tp.server.control import ControlError, request

    path = control_path(config, state_dir, socket)
    try:
        answer = request(path, {"cmd": CONTROL_COMMAND, "peer": peer})
    except ControlError as exc:
        raise _fail(str(exc)) from None
    if not answer.get("ok"):
        raise _fail(f"the server did not answer {CONTROL_COMMAND!r}: {answer.get('error', '')}")
    records = answer.get("refusals", [])
    if not records:
        typer.echo(f"no refusals recorded{f' for {peer}' if peer else ''}")
        return
    for r in records:
        when = datetime.fromtimestamp(float(r.get("time", 0)), UTC).strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(f"{when} UTC  {r.get('peer', '?')}  {r.get('text', '')}")


@app.command()
def probe(
    host: Annotated[str, typer.Argument(help="The gateway's address (only this address is contacted).")],
    port: Annotated[int, typer.Option("--port", help="UDP port (4500 adds the non-ESP marker).")] = 500,
    transforms: Annotated[
        list[str],
        typer.Option(
            "--transforms", help="Phase 1 suites to try, one per message (repeat or comma-separate)."
        ),
    ] = [],  # noqa: B006
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait per try.")] = 2.0,
    tries: Annotated[int, typer.Option("--tries", help="Sends per transform before 'silent'.")] = 2,
) -> None:
    """Send Main Mode first messages with one transform each and report which ones the gateway accepts."""
    import ipaddress

    from ikel2tp.proposals.probe import DEFAULT_TRANSFORMS
    from ikel2tp.proposals.probe import probe as run_probe

    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise _fail(f"{host!r}: give an IP address (the probe contacts exactly that address)", 2) from None
    try:
        results = run_probe(
            host,
            _split(transforms) or list(DEFAULT_TRANSFORMS),
            port=port,
            timeout=timeout,
            tries=max(1, tries),
        )
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    except OSError as exc:
        raise _fail(f"{host}:{port}: {exc.strerror or exc}") from None
    for result in results:
        typer.echo(result.line())
    accepted = [r.transform for r in results if r.verdict == "accepted"]
    typer.echo(f"accepted: {', '.join(accepted) or 'none'}")
    raise typer.Exit(0 if accepted else 1)
