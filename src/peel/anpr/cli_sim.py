"""``peel anpr simulate`` (a synthetic region with planted truth) and ``peel anpr evaluate``."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from peel.anpr.search import DEFAULT_MIN_SCORE
from peel.anpr.simulate import parse_start
from peel.core.cli import friendly_errors
from peel.core.config import get_settings
from peel.core.db import transaction
from peel.core.errors import InvalidInput


class ReadFormat(StrEnum):
    parquet = "parquet"
    csv = "csv"
    ndjson = "ndjson"


class RegionKey(StrEnum):
    east_anglia = "east-anglia"
    wessex = "wessex"


# ``peel.anpr.cli`` imports this module while it is being built; its helpers are imported
# inside the commands, and the shared option is repeated here.
AsUser = Annotated[str, typer.Option("--as", help="The person acting (email); audited")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON")]
console = Console()
EVALUATION_REASON = "Measuring search accuracy against a simulated region's planted truth"


def simulate_command(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write into (created if missing)")],
    days: Annotated[int, typer.Option(min=1, max=366, help="Days of traffic")] = 7,
    vehicles: Annotated[int, typer.Option(min=50, help="Ordinary vehicles")] = 5000,
    cameras: Annotated[int, typer.Option(min=8, max=20_000, help="Cameras")] = 120,
    seed: Annotated[int, typer.Option(help="Same seed and options, same files")] = 1,
    fmt: Annotated[
        ReadFormat, typer.Option("--format", help="File format of the reads")
    ] = ReadFormat.parquet,
    region: Annotated[
        RegionKey, typer.Option(help="Where: a box in Essex/East Anglia or in Wessex (Dorset)")
    ] = RegionKey.east_anglia,
    start: Annotated[
        str | None,
        typer.Option(
            help="First instant (ISO 8601, UTC). Default: the last DAYS whole days before "
            "today, so searches stay within the open 90 days"
        ),
    ] = None,
    json_out: Json = False,
) -> None:
    """Generate a synthetic region: roads, cameras, commuters and planted suspects."""
    from peel.anpr.simulate import simulate

    first = parse_start(start, days)
    if json_out:
        result = simulate(out_dir, seed, days, vehicles, cameras, first, region.value, fmt.value)
    else:
        columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("Starting", total=100)

            def report(stage: str, fraction: float) -> None:
                bar.update(task, description=stage, completed=round(fraction * 100))

            result = simulate(
                out_dir, seed, days, vehicles, cameras, first, region.value, fmt.value, report
            )
    summary: dict[str, Any] = {
        "reads": result.reads,
        "cameras": result.cameras,
        "vehicles": result.vehicles,
        "days": [d.isoformat() for d in result.days],
        "convoys": result.convoys,
        "clones": result.clones,
        "county_lines": result.county_lines,
        "files": [str(p) for p in result.files],
        "truth": str(result.truth_path),
        "seconds": round(result.generate_seconds + result.write_seconds, 2),
    }
    if json_out:
        console.print_json(json.dumps(summary))
        return
    table = Table("", "", show_header=False)
    table.add_row("reads", f"{result.reads:,} in {len(result.files)} {fmt} files")
    table.add_row("cameras", f"{result.cameras:,}")
    table.add_row("vehicles", f"{result.vehicles:,}")
    table.add_row("days", f"{result.days[0]} to {result.days[-1]}" if result.days else "none")
    table.add_row("planted convoys", str(result.convoys))
    table.add_row("planted cloned plates", str(result.clones))
    table.add_row("planted county-lines runners", str(result.county_lines))
    table.add_row("ground truth", str(result.truth_path))
    table.add_row("took", f"{summary['seconds']} s")
    console.print(table)
    console.print(
        "Next: peel anpr cameras import "
        f"{out_dir / 'cameras.csv'} --force CODE --as EMAIL; peel anpr register import "
        f"{out_dir / 'register.csv'}; peel anpr ingest {out_dir / 'reads'}/* --as EMAIL; "
        f"then peel anpr evaluate {out_dir} --as EMAIL"
    )


def evaluate_command(
    out_dir: Annotated[Path, typer.Argument(help="A folder written by `peel anpr simulate`")],
    as_user: AsUser,
    reason: Annotated[str, typer.Option(help="Why (audited with every search)")] = (
        EVALUATION_REASON
    ),
    window: Annotated[int, typer.Option(help="Convoy window, seconds either side")] = 120,
    threshold: Annotated[
        float, typer.Option(help="Convoy score that counts as found")
    ] = DEFAULT_MIN_SCORE,
    clone_threshold: Annotated[
        float, typer.Option(help="Clone score that counts as flagged")
    ] = 0.0,
    sample: Annotated[int, typer.Option(min=0, help="Unplanted plates to run convoy on")] = 20,
    sweep: Annotated[bool, typer.Option(help="Also show scores at several thresholds")] = False,
    json_out: Json = False,
) -> None:
    """Precision and recall of convoy, clone and county-lines search against truth.json."""
    from peel.anpr.cli import person, sessions
    from peel.anpr.evaluate import evaluate
    from peel.anpr.search import DuckDBEngine
    from peel.anpr.service import SearchRequest, authorise_search
    from peel.anpr.simulate import load_truth
    from peel.anpr.store import ReadStore

    settings = get_settings()
    truth = load_truth(out_dir)
    store = ReadStore(settings.anpr_dir)
    if not store.has_reads():
        raise InvalidInput({"store": "holds no reads; import the simulated region first"})
    params = truth["parameters"]
    start, end = datetime.fromisoformat(params["start"]), datetime.fromisoformat(params["end"])
    with transaction(sessions()) as session:
        actor = person(session, as_user)

        def audit(kind: str, subject: str) -> None:
            authorise_search(
                session, actor, settings, SearchRequest(kind, subject, start, end, reason)
            )
            session.commit()  # each search is on the record before it runs

        result = evaluate(
            DuckDBEngine(store),
            truth,
            window_s=window,
            threshold=threshold,
            sample=sample,
            clone_threshold=clone_threshold,
            max_speed_kmh=settings.anpr_max_speed_kmh,
            audit=audit,
        )
    extra = result.sweep() if sweep else []
    if json_out:
        body = {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "window_s": window,
            "targets_planted": result.targets_planted,
            "targets_sampled": result.targets_sampled,
            "results": result.rows(),
            "sweep": result.rows(extra),
            "misses": {s.name: s.missed for s in result.scores},
            "false_positives": {s.name: s.false_positives[:50] for s in result.scores},
        }
        console.print_json(json.dumps(body, default=str))
        return
    table = Table("test", "planted", "flagged", "correct", "precision", "recall")
    for row in result.rows(result.scores + extra):
        table.add_row(
            row["test"],
            str(row["planted"]),
            str(row["detections"]),
            str(row["true_positives"]),
            "–" if row["precision"] is None else f"{row['precision']:.0%}",
            "–" if row["recall"] is None else f"{row['recall']:.0%}",
        )
    console.print(
        f"{result.targets_planted} planted convoy targets and {result.targets_sampled} other "
        f"plates, {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC, window ±{window} s"
    )
    console.print(table)
    missed = {s.name: s.missed for s in result.scores if s.missed}
    if missed:
        console.print_json(json.dumps({"missed": missed}))


SIMULATE_HELP = (
    "Generate a synthetic region: roads, cameras, commuters and planted suspects.\n\n"
    "Writes OUT_DIR/cameras.csv, register.csv, reads/reads-DAY.FORMAT (the columns the "
    "importer takes) and truth.json (the planted convoys, cloned plates and county-lines "
    "runners). Load them with `peel anpr cameras import`, `peel anpr register import` and "
    "`peel anpr ingest`, then measure the searches with `peel anpr evaluate OUT_DIR`."
)
EVALUATE_HELP = (
    "Precision and recall of convoy, clone and county-lines search against truth.json.\n\n"
    "Runs on the reads already in the store (it imports nothing), over the truth's period; "
    "see peel.anpr.evaluate for the rules. Every search is authorised and audited as the "
    "person given with --as (a period older than 90 days needs a supervisor)."
)


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``peel anpr``."""
    app.command("simulate", help=SIMULATE_HELP)(friendly_errors(simulate_command))
    app.command("evaluate", help=EVALUATE_HELP)(friendly_errors(evaluate_command))
