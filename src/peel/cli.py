"""The ``peel`` command: serve the platform and operate it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from peel.analytics import cli as analytics_cli
from peel.anpr import cli as anpr_cli
from peel.core import cli as core_cli
from peel.core import migrate
from peel.core.config import get_settings
from peel.core.db import DatabaseConfigError, build_engine, make_sessionmaker
from peel.core.models import Organisation, User
from peel.evidence import cli as evidence_cli
from peel.fusion import cli as fusion_cli

app = typer.Typer(
    help="Peel: shared, audited data for police forces and partner agencies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(core_cli.db_app, name="db")
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
app.add_typer(core_cli.org_app, name="org")
app.add_typer(core_cli.user_app, name="user")
app.add_typer(core_cli.token_app, name="token")
app.add_typer(core_cli.audit_app, name="audit")
app.add_typer(core_cli.blobs_app, name="blobs")
app.add_typer(core_cli.uploads_app, name="uploads")
app.add_typer(analytics_cli.app, name="analytics")
app.add_typer(evidence_cli.app, name="evidence")
app.add_typer(anpr_cli.app, name="anpr")
app.add_typer(fusion_cli.app, name="fusion")

err = Console(stderr=True)


def check_database() -> None:
    """Fail with one clear line when the database is unusable or behind its migrations."""
    settings = get_settings()
    try:
        engine = build_engine(settings.resolved_database_url)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = migrate.current_revision(connection)
        engine.dispose()
    except DatabaseConfigError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        err.print(f"[red]error:[/red] cannot reach the database: {reason}")
        raise typer.Exit(2) from None
    head = migrate.head_revision()
    if current != head:
        err.print(
            f"[red]error:[/red] the database is at revision {current or 'none'}, "
            f"not {head}: run `peel db upgrade` first"
        )
        raise typer.Exit(2)


def check_event_bus() -> None:
    """With a real broker configured, make sure it answers before serving."""
    import asyncio

    from peel.core.config import EventBusKind
    from peel.core.events import EventBusUnavailable, event_bus_from_settings

    settings = get_settings()
    if settings.event_bus == EventBusKind.memory:
        return

    async def probe() -> None:
        bus = event_bus_from_settings(settings)
        await bus.connect()
        await bus.close()

    try:
        asyncio.run(probe())
    except EventBusUnavailable as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@demo_app.command("load")
@core_cli.friendly_errors
def demo_load(quiet: bool = typer.Option(False, help="Do not print the sign-ins")) -> None:
    """Load demo organisations, people and each capability's records (safe to run again)."""
    from peel.analytics.demo import load_crime_demo
    from peel.anpr.demo import load_anpr_demo
    from peel.core.blobstore import blob_store_from_settings
    from peel.core.demo import load_demo
    from peel.evidence.demo import load_evidence_demo
    from peel.fusion.demo import DEMO_DATA_MANAGERS, load_fusion_demo
    from peel.reporting.demo import load_report_demo

    settings = get_settings()
    if settings.is_production:
        err.print("[red]error:[/red] demo data is not loaded when PEEL_ENV=production")
        raise typer.Exit(2)
    with core_cli.unit_of_work() as session:
        users = load_demo(session)
        reports = load_report_demo(session, settings)
    settings.ensure_data_dir()
    crimes = load_crime_demo(settings.parquet_dir)
    engine = build_engine(settings.resolved_database_url)
    try:
        evidence = load_evidence_demo(make_sessionmaker(engine), blob_store_from_settings(settings))
    finally:
        engine.dispose()
    with core_cli.unit_of_work() as session:
        force = session.scalar(select(Organisation).where(Organisation.code == "wessex-police"))
        officer = session.scalar(select(User).where(User.email == "officer@wessex.police.example"))
        anpr = load_anpr_demo(session, settings, force, officer) if force is not None else None
    engine = build_engine(settings.resolved_database_url)
    try:
        fusion = load_fusion_demo(make_sessionmaker(engine), settings)
    finally:
        engine.dispose()
    out = Console()
    if anpr is not None:
        out.print(
            f"Loaded an ANPR demo region: {anpr.cameras} cameras, {anpr.reads:,} reads over the "
            f"last week, {len(anpr.hotlist_plates)} hotlist plates; a planted convoy follows "
            f"{anpr.convoy_target} (try it at /anpr/convoy)."
        )
    if fusion is not None:
        out.print(
            f"Loaded the fusion demo: {sum(fusion.sources.values()):,} records from "
            f"{len(fusion.sources)} agencies, linked and analysed (see /fusion/queue)."
            if fusion.sources
            else f"Analysed the fusion demo again (run {fusion.run_id})."
        )
    if evidence is not None:
        out.print(
            f"Created demo evidence case {evidence.reference} with {evidence.items} files "
            f"({evidence.clips} docked body-worn video clips)."
        )
    if reports:
        out.print(f"Created {reports} demo reports for Wessex Police (demo).")
    if crimes is not None:
        out.print(
            f"Imported {crimes.rows_imported:,} generated crimes as dataset "
            f"{crimes.dataset!r} for crime analytics."
        )
    if quiet:
        return
    out.print("[bold]Demo sign-ins[/bold] (development only):")
    for u in [*users, *DEMO_DATA_MANAGERS]:
        roles = ", ".join(r.label for r in u.roles) + (
            " + platform admin" if u.platform_admin else ""
        )
        print(f"  {u.email:<40} {u.password:<28} {u.organisation} ({roles})")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (PEEL_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (PEEL_PORT)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
) -> None:
    """Serve the web UI and the API."""
    import uvicorn

    settings = get_settings()
    settings.ensure_data_dir()
    check_database()
    check_event_bus()
    host = host or settings.host
    port = port or settings.port
    err.print(f"Peel is serving on http://{host}:{port}")
    uvicorn.run(
        "peel.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_config=None,
        access_log=False,
    )


def main() -> None:
    try:
        app()
    except ValueError as exc:  # settings refused, e.g. a default secret in production
        err.print(f"[red]error:[/red] {exc}")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
