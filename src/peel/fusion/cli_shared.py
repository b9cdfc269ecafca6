"""What the ``peel fusion`` command modules share: consoles, ``--as``, sessions."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from peel.core.cli import acting_person as person
from peel.core.cli import sessions as sessions

__all__ = ["AsUser", "console", "err", "person", "sessions"]

console = Console()
err = Console(stderr=True)

AsUser = Annotated[str, typer.Option("--as", help="The person acting (email); audited")]
