"""``peel anpr …``: import cameras, the register and reads; search; hotlists; simulate.

Each area registers its own commands (``cli_ingest``, ``cli_search``, ``cli_live``,
``cli_sim``); this module holds what they share.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.core.cli import acting_person as person
from peel.core.cli import sessions as sessions
from peel.core.errors import InvalidInput
from peel.core.models import Organisation

__all__ = ["AsUser", "Force", "app", "console", "err", "organisation", "person", "sessions"]

app = typer.Typer(
    help="ANPR: cameras, reads, hotlists and investigative search.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)

AsUser = Annotated[str, typer.Option("--as", help="The person acting (email); audited")]
Force = Annotated[str, typer.Option("--force", help="Owning force (organisation code)")]


def organisation(session: Session, code: str) -> Organisation:
    """The organisation with this code; an unknown code names ``--force``."""
    org = session.scalar(select(Organisation).where(Organisation.code == code.strip().lower()))
    if org is None:
        raise InvalidInput({"--force": f"No organisation with code {code!r}"})
    return org


def _register_commands() -> None:
    from peel.anpr import cli_ingest, cli_live, cli_search, cli_sim

    for module in (cli_ingest, cli_search, cli_live, cli_sim):
        module.register(app)


_register_commands()
