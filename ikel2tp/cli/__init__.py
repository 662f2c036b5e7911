"""The ``ikel2tp`` command line (typer): ``main.app`` is the console script."""
