"""Placeholder until written."""

import typer


def register(app: typer.Typer) -> None:
    """Adds nothing yet."""
