"""``peel fusion simulate``: a small county's multi-agency files with planted truth."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from peel.core.cli import friendly_errors
from peel.core.errors import InvalidInput
from peel.fusion.cli_shared import console
from peel.fusion.simulate import MAX_CHILDREN, MIN_CHILDREN, SimulationResult, simulate

SIMULATE_HELP = (
    "Generate a county's multi-agency data with planted risk and linkage truth.\n\n"
    "Writes OUT_DIR/police.csv, childrens-services.xlsx, school.json and ae.parquet, each in "
    "its agency's own columns and formats, with mappings/*.yaml to import them (`peel fusion "
    "import`), persons.parquet (every person record with its true person, for `peel fusion "
    "link`) and truth.json (who is behind every record; the planted at-risk children, group, "
    "co-offending pairs and violent households)."
)


def _as_of(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput({"--as-of": f"expected a date YYYY-MM-DD, got {text!r}"}) from None


def simulate_command(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write into (created if missing)")],
    children: Annotated[
        int, typer.Option(min=MIN_CHILDREN, max=MAX_CHILDREN, help="Children in the county")
    ] = 400,
    seed: Annotated[int, typer.Option(help="Same seed and date, same files")] = 11,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day the data runs up to (default today)")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Generate a county's multi-agency data with planted risk and linkage truth."""
    day = _as_of(as_of)
    if json_out:
        result = simulate(out_dir, children, seed, as_of=day)
        console.print_json(json.dumps(summary(result)))
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("Starting", total=100)

        def report(fraction: float, stage: str) -> None:
            bar.update(task, description=stage, completed=round(fraction * 100))

        result = simulate(out_dir, children, seed, as_of=day, progress=report)
    _print_summary(result)


def summary(result: SimulationResult) -> dict[str, Any]:
    """What was written and planted, as JSON-able values."""
    truth = json.loads(result.truth_path.read_text(encoding="utf-8"))
    patterns: dict[str, int] = {}
    for entry in truth["at_risk"]:
        patterns[entry["pattern"]] = patterns.get(entry["pattern"], 0) + 1
    return {
        "as_of": result.as_of.isoformat(),
        "people": result.people,
        "children": result.children,
        "person_records": result.records,
        "events": result.events,
        "at_risk_children": result.at_risk,
        "planted_patterns": patterns,
        "group_size": result.group_size,
        "co_offending_pairs": len(truth["co_offending_pairs"]),
        "files": {agency: str(path) for agency, path in result.files.items()},
        "mappings": {agency: str(path) for agency, path in result.mappings.items()},
        "persons": str(result.persons_path),
        "truth": str(result.truth_path),
    }


def _print_summary(result: SimulationResult) -> None:
    body = summary(result)
    table = Table("agency", "file", "person records", "events")
    for agency, path in result.files.items():
        table.add_row(
            agency,
            str(path),
            str(result.records.get(agency, 0)),
            str(result.events.get(agency, 0)),
        )
    console.print(table)
    console.print(
        f"{result.people} people ({result.children} children) up to {body['as_of']}; "
        f"{result.at_risk} children with planted risk "
        f"({', '.join(f'{k}: {v}' for k, v in body['planted_patterns'].items())}); "
        f"a group of {result.group_size}; {body['co_offending_pairs']} co-offending pairs."
    )
    console.print(
        f"Truth: {result.truth_path}; linkage table: {result.persons_path}. Next: register a "
        "source per agency (`peel fusion sources add`), then for each file `peel fusion import "
        f"CODE FILE --as EMAIL --mapping {result.out_dir / 'mappings'}/<file name>.yaml`."
    )


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``peel fusion``."""
    app.command("simulate", help=SIMULATE_HELP)(friendly_errors(simulate_command))
