"""``ikel2tp client-config``: write ready-to-run VPN settings for one user and one client OS.

Registered in :mod:`ikel2tp.cli.main` as ``app.command("client-config")(client_config.client_config)``.
Every failure is one ``error:`` line on stderr and exit status 1, with nothing written.  Secrets go
only into the files (0600, in a 0700 directory); the terminal shows them only with --show-secrets.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ikel2tp.common.errors import ConfigError
from ikel2tp.config import CONFIG_NAME, DEFAULT_STATE_DIR, Config, load_config
from ikel2tp.onboarding import GENERATORS, OnboardingError, linux, resolve, write_bundle
from ikel2tp.onboarding.common import AUTH_MODES, file_stem
from ikel2tp.onboarding.offers import IPSEC_DAEMONS

_OS_HELP = f"Client system: {', '.join(GENERATORS)}."


def _load(config: Path | None, state_dir: Path) -> Config:
    path = config if config is not None else state_dir / CONFIG_NAME
    if config is None and not path.exists():
        raise OnboardingError(f"no configuration at {path}: run 'ikel2tp serve' once (it writes one), or "
                              "pass --config FILE")
    try:
        return load_config(path, log=None)
    except ConfigError as exc:
        raise OnboardingError(str(exc)) from None


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def client_config(
    os_name: Annotated[str, typer.Argument(metavar="OS", help=_OS_HELP)],
    user: Annotated[str | None, typer.Argument(
        metavar="[USER]", help="The VPN user (default: the only user in the configuration).")] = None,
    server: Annotated[str | None, typer.Option(
        "--server", help="DNS name or IP address clients dial (default: server.public_address).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Directory for the files, created 0700 (default: ./ikel2tp-USER).",
        file_okay=False)] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="Configuration file, TOML (default: <state-dir>/ikel2tp.toml).",
        dir_okay=False)] = None,
    state_dir: Annotated[Path, typer.Option(
        "--state-dir", help="Where the server's default configuration lives (without --config).")
    ] = Path(DEFAULT_STATE_DIR),
    show_secrets: Annotated[bool, typer.Option(
        "--show-secrets", help="Also print the secrets written into the files.")] = False,
    name: Annotated[str | None, typer.Option(
        "--name", help='Connection name the user sees (default: "ikel2tp VPN (SERVER)").')] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the user's password from the first line of stdin and put it in "
                                 "the profile (default: the client asks for it).")] = False,
    auth: Annotated[str, typer.Option(
        "--auth", help=f"IPsec authentication: {', '.join(AUTH_MODES)} (auto: certificates when ike.cert "
                       "is set, else the pre-shared key).")] = "auto",
    p12: Annotated[Path | None, typer.Option(
        "--p12", help="Certificate mode: the user's PKCS#12 (default: p12/USER.p12 next to ike.ca).",
        dir_okay=False)] = None,
    p12_password: Annotated[str | None, typer.Option(
        "--p12-password", envvar="IKEL2TP_P12_PASSWORD",
        help="Password of the PKCS#12, put into the profile (default: p12/USER.password if present, "
             "else the client asks).")] = None,
    linux_ipsec: Annotated[str, typer.Option(
        "--linux-ipsec", help=f"linux: the client's IPsec daemon under NetworkManager-l2tp "
                              f"({', '.join(IPSEC_DAEMONS)}).")] = "strongswan",
) -> None:
    """Write ready-to-run VPN client settings for one user.

    A PowerShell script (windows), a configuration profile (macos, ios), a NetworkManager keyfile and
    nmcli script (linux) or the fields to type (android up to 11), from the server's configuration.
    """
    os_key = os_name.lower()
    if os_key not in GENERATORS:
        raise _fail(f"unknown OS {os_name!r}: use one of {', '.join(GENERATORS)}")
    if linux_ipsec not in IPSEC_DAEMONS:
        raise _fail(f"--linux-ipsec {linux_ipsec}: use one of {', '.join(IPSEC_DAEMONS)}")
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise _fail("--password-stdin: the first line of stdin is empty")
    try:
        loaded = _load(config, state_dir)
        inputs = resolve(loaded, user, server=server, name=name, password=password, auth=auth, p12=p12,
                         p12_password=p12_password)
        generator = GENERATORS[os_key]
        bundle = linux.generate(inputs, linux_ipsec) if generator is linux.generate else generator(inputs)
        written = write_bundle(bundle, out or Path(f"ikel2tp-{file_stem(inputs.user)}"))
    except OnboardingError as exc:
        raise _fail(str(exc)) from None
    for path in written:
        typer.echo(f"wrote {path} (0600)")
    for note in bundle.notes:
        typer.echo(f"next: {note}")
    if loaded.l2tp.secret and os_key != "android":
        typer.echo("WARNING: [l2tp] secret is set, and this client cannot send an L2TP tunnel secret",
                   err=True)
    for warning in bundle.warnings:
        typer.echo(f"WARNING: {warning}", err=True)
    if show_secrets:
        for label, value in bundle.secrets:
            typer.echo(f"{label}: {value}")
    elif bundle.secrets:
        typer.echo("secrets are only in the files (print them with --show-secrets)")
