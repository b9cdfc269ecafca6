"""``peel fusion …``: sources and imports, linkage, analysis, simulation and evaluation.

Each area registers its own commands (``cli_sources``, ``cli_link``, ``cli_analyse``,
``cli_sim``); this module holds what they share.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from peel.core.cli import acting_person as person
from peel.core.cli import sessions as sessions

__all__ = ["AsUser", "app", "console", "err", "person", "sessions"]

app = typer.Typer(
    help="Multi-agency data fusion: sources, linkage, risk indicators and review.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

AsUser = Annotated[str, typer.Option("--as", help="The person acting (email); audited")]


def _register_commands() -> None:
    from peel.fusion import cli_analyse, cli_link, cli_sim, cli_sources

    for module in (cli_sources, cli_link, cli_analyse, cli_sim):
        module.register(app)


_register_commands()
