"""``peel anpr`` commands for ingest: cameras, the register, reads, compaction and retention."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from peel.anpr import ingest, jobs
from peel.anpr.store import ReadStore
from peel.core.cli import friendly_errors, operator
from peel.core.config import get_settings
from peel.core.db import transaction
from peel.core.errors import InvalidInput

# The shared options of ``peel.anpr.cli``, repeated here: that module imports this one while
# it is being built, so importing from it at the top would be circular.
AsUser = Annotated[str, typer.Option("--as", help="The person acting (email); audited")]
Force = Annotated[str, typer.Option("--force", help="Owning force (organisation code)")]

console = Console()
err = Console(stderr=True)
cameras_app = typer.Typer(help="ANPR cameras.", no_args_is_help=True)
register_app = typer.Typer(
    help="The vehicle register (plate, make, model, colour).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``peel anpr``."""
    app.add_typer(cameras_app, name="cameras")
    app.add_typer(register_app, name="register")
    app.command("ingest")(ingest_reads)
    app.command("compact")(compact)
    app.command("retention")(retention)


@cameras_app.command("import")
@friendly_errors
def import_cameras(
    file: Annotated[Path, typer.Argument(help="CSV, NDJSON or Parquet: camera_id, name, lat, lon")],
    force: Force,
    as_user: AsUser,
) -> None:
    """Add or update a force's cameras (all or nothing)."""
    from peel.anpr.cli import organisation, person, sessions

    with transaction(sessions()) as session:
        actor = person(session, as_user)
        result = ingest.import_cameras(
            session, get_settings(), file, organisation(session, force), actor
        )
    console.print(
        f"Cameras: {result.created} added, {result.updated} updated, "
        f"{result.unchanged} unchanged; {result.total} known in all."
    )


@register_app.command("import")
@friendly_errors
def import_register(
    file: Annotated[
        Path, typer.Argument(help="CSV, NDJSON or Parquet: plate, make, model, colour")
    ],
) -> None:
    """Replace the vehicle register (all or nothing)."""
    result = ingest.import_register(get_settings(), file)
    console.print(f"Register: {result.rows:,} vehicles written to {result.path}.")


@friendly_errors
def ingest_reads(
    files: Annotated[list[Path], typer.Argument(help="CSV (.csv, .csv.gz), NDJSON or Parquet")],
    as_user: AsUser,
    mapping: Annotated[
        str | None,
        typer.Option(help=f"Source column mapping: {', '.join(sorted(ingest.MAPPINGS))}"),
    ] = None,
    force: Annotated[
        str | None, typer.Option("--force", help="Owning force (default: the person's)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Load number-plate reads; refused rows are quarantined with their line numbers."""
    from peel.anpr.cli import organisation, person, sessions

    settings = get_settings()
    with transaction(sessions()) as session:
        actor = person(session, as_user)
        owner = organisation(session, force).id if force else None
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("Loading reads", total=None)
            results = ingest.ingest_files(
                session,
                settings,
                files,
                actor,
                owner_org_id=owner,
                mapping=mapping,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    if as_json:
        print(json.dumps([_as_dict(r) for r in results], indent=2))
        return
    table = Table("File", "Read", "Landed", "Duplicates", "Rejected", "Quarantine", "Reads/s")
    for r in results:
        table.add_row(
            r.source_name,
            f"{r.rows_read:,}",
            f"{r.rows_landed:,}",
            f"{r.rows_duplicate:,}",
            f"{r.rows_rejected:,}",
            str(r.quarantine_path or "-"),
            f"{r.rate:,.0f}",
        )
    console.print(table)
    for r in results:
        if r.cameras_created:
            console.print(f"{r.source_name}: {len(r.cameras_created)} new cameras")
        for problem in r.problems[:5]:
            console.print(f"{r.source_name}: {problem['problem']}")
        if r.rows_rejected > 5:
            console.print(f"{r.source_name}: … all {r.rows_rejected:,} are in {r.quarantine_path}")


def _as_dict(result: ingest.IngestResult) -> dict[str, object]:
    data = asdict(result)
    data["quarantine_path"] = str(result.quarantine_path) if result.quarantine_path else None
    data["days"] = [d.isoformat() for d in result.days]
    data["rate"] = round(result.rate)
    return data


@friendly_errors
def compact(
    day: Annotated[
        str | None, typer.Option(help="Only this day (YYYY-MM-DD, UTC); default every day")
    ] = None,
) -> None:
    """Merge each day's reads files into one, sorted by plate."""
    try:
        only = date.fromisoformat(day) if day else None
    except ValueError:
        raise InvalidInput({"--day": "give a date as YYYY-MM-DD"}) from None
    done = ReadStore(get_settings().anpr_dir).compact(only)
    console.print(f"Compacted {done} day(s).")


@friendly_errors
def retention(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list the days due")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Drop whole days of reads older than the retention period (PEEL_ANPR_RETENTION_DAYS)."""
    from peel.anpr.cli import sessions

    settings = get_settings()
    if dry_run:
        days = jobs.expired_days(settings)
    else:
        days = jobs.run_retention(settings, sessions=sessions(), actor=operator())
    if as_json:
        print(json.dumps([d.isoformat() for d in days]))
        return
    verb = "Would drop" if dry_run else "Dropped"
    kept = jobs.retention_cutoff(settings).isoformat()
    listed = ", ".join(d.isoformat() for d in days) or "nothing"
    console.print(f"{verb} {len(days)} day(s) before {kept}: {listed}")
