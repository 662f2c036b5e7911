"""The ``ikel2tp`` console script: one typer app that gathers each area's commands."""

from __future__ import annotations

import typer

from ikel2tp import __version__
from ikel2tp.cli import certs, client_config, config_cmd, proposals, serve, users

app = typer.Typer(
    name="ikel2tp",
    help="ikel2tp: an L2TP/IPsec VPN server (IKEv1, ESP, L2TP, PPP) in one process.",
    no_args_is_help=True,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"ikel2tp {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """ikel2tp: an L2TP/IPsec VPN server (IKEv1, ESP, L2TP, PPP) in one process."""


app.command("serve")(serve.serve)
app.command("status")(serve.status)
app.command("kick")(serve.kick)
app.add_typer(config_cmd.app, name="config")
app.add_typer(certs.app, name="certs")
app.add_typer(users.app, name="users")
app.add_typer(proposals.app, name="proposals")
app.command("client-config")(client_config.client_config)
