"""``peel fusion …``: sources and imports, linkage, analysis, simulation and evaluation.

Each area registers its own commands (``cli_sources``, ``cli_link``, ``cli_analyse``,
``cli_sim``); what they share lives in ``cli_shared``, so any of them imports on its own.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Multi-agency data fusion: sources, linkage, risk indicators and review.",
    no_args_is_help=True,
)


def _register_commands() -> None:
    from peel.fusion import cli_analyse, cli_link, cli_sim, cli_sources

    for module in (cli_sources, cli_link, cli_analyse, cli_sim):
        module.register(app)


_register_commands()
