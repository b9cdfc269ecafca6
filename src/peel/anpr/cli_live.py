"""``peel anpr`` commands for live."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``peel anpr``."""
