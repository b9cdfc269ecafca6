"""``peel anpr …``: import cameras, the register and reads; search; hotlists; simulate.

Each area registers its own commands (``cli_ingest``, ``cli_search``, ``cli_live``,
``cli_sim``); this module holds what they share.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from peel.core.config import get_settings
from peel.core.db import build_engine, make_sessionmaker
from peel.core.errors import InvalidInput
from peel.core.identity import principal_for_user
from peel.core.models import Organisation, User
from peel.core.principal import Principal

app = typer.Typer(
    help="ANPR: cameras, reads, hotlists and investigative search.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)

AsUser = Annotated[str, typer.Option("--as", help="The person acting (email); audited")]
Force = Annotated[str, typer.Option("--force", help="Owning force (organisation code)")]


def sessions() -> sessionmaker[Session]:
    settings = get_settings()
    settings.ensure_data_dir()
    return make_sessionmaker(build_engine(settings.resolved_database_url))


def person(session: Session, email: str) -> Principal:
    """The active user with this email, as a principal; an unknown email names ``--as``."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.is_active:
        raise InvalidInput({"--as": f"No active user {email!r}"})
    return principal_for_user(user)


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
