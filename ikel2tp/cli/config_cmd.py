"""``ikel2tp config``: check a configuration file before the server uses it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ikel2tp.common.errors import ConfigError
from ikel2tp.config import load_config

app = typer.Typer(help="Check configuration files before the server uses them.", no_args_is_help=True)


@app.callback()
def config() -> None:
    """Check configuration files before the server uses them."""


@app.command()
def check(file: Annotated[Path, typer.Argument(help="The TOML configuration file to check.")]) -> None:
    """Validate FILE: print 'OK: <summary>', or the error naming file, key and what is allowed (exit 1)."""
    try:
        loaded = load_config(file, log=None)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for warning in loaded.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"OK: {loaded.summary()}")
