"""``python -m ikel2tp``: the same as the ``ikel2tp`` console script."""

from ikel2tp.cli.main import app

app(prog_name="ikel2tp")
