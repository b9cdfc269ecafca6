"""``peel fusion link`` and ``peel fusion evaluate``: link a person file; measure a linkage.

Both work on files alone (no database), so linkage can be tried and measured on any labelled
set: ``link`` writes ``record_id, entity_id, match_probability``; ``evaluate`` compares that
with known clusters (or pairwise labels) and prints pairwise and cluster precision, recall
and F1, optionally per group of a column, to see whether some groups are linked worse.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from peel.core.cli import friendly_errors
from peel.core.config import get_settings
from peel.core.errors import InvalidInput
from peel.fusion import linkage, metrics
from peel.fusion.cli_shared import console, err


def register(app: typer.Typer) -> None:
    """Add the linkage commands to ``peel fusion``."""
    app.command("link")(link)
    app.command("evaluate")(evaluate)


def _config(threshold: float | None, keep: float | None, engine: str | None) -> Any:
    """Linkage settings: the options given, else the platform's configured defaults."""
    settings = get_settings()
    match = threshold if threshold is not None else settings.fusion_match_threshold
    kept = keep if keep is not None else min(settings.fusion_keep_threshold, match)
    return linkage.LinkageConfig(
        match_threshold=match, keep_threshold=kept, engine=engine or settings.fusion_engine
    )


@friendly_errors
def link(
    input: Annotated[Path, typer.Argument(help="Person file (CSV or Parquet)")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the entities (.csv/.parquet)")],
    threshold: Annotated[
        float | None, typer.Option(help="Join pairs at least this likely (default: configured)")
    ] = None,
    keep: Annotated[
        float | None, typer.Option(help="Score pairs kept from this probability (evidence)")
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="duckdb or spark (default: configured)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Link a flat person file into people: ``record_id, entity_id, match_probability``."""
    config = _config(threshold, keep, engine)
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=as_json) as bar:
        task = bar.add_task("Reading the person file", total=1.0)
        try:
            report = linkage.link_file(
                input,
                out,
                config,
                lambda done, message: bar.update(task, completed=done, description=message),
            )
        except ImportError as exc:
            raise InvalidInput({"--engine": f"{config.engine} cannot run here ({exc})"}) from exc
    _print_link_summary(input, out, config, report, as_json)


def _print_link_summary(
    input: Path, out: Path, config: Any, report: linkage.LinkReport, as_json: bool
) -> None:
    if as_json:
        summary = {
            "input": str(input),
            "output": str(out),
            "records": report.records,
            "entities": report.entities,
            "linked_records": report.linked_records,
            "match_threshold": config.match_threshold,
            "engine": config.engine,
            **{k: v for k, v in report.stats.items() if k != "records"},
        }
        print(json.dumps(summary, indent=2))
        return
    seconds = sum(report.stats.get("seconds", {}).values())
    console.print(
        f"Linked {report.records:,} records into {report.entities:,} people "
        f"({report.linked_records:,} records joined to another) in {seconds:.1f} s; "
        f"wrote {out}."
    )


@friendly_errors
def evaluate(
    predictions: Annotated[Path, typer.Argument(help="record_id, entity_id (CSV or Parquet)")],
    truth: Annotated[
        Path | None,
        typer.Argument(help="record_id and the true cluster, or pairwise labels"),
    ] = None,
    truth_column: Annotated[str, typer.Option(help="Column holding the true cluster")] = "cluster",
    by: Annotated[str | None, typer.Option(help="Also score each group of this column")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Pairwise and cluster precision, recall and F1 of a linkage against the truth."""
    predicted = linkage.read_table(predictions, "predictions")
    known = linkage.read_table(truth, "truth") if truth is not None else None
    names = (str(predictions), str(truth or predictions))
    try:
        result = metrics.evaluate(predicted, known, truth_column, by, names)
    except (KeyError, ValueError) as exc:
        where, _, problem = str(exc.args[0]).partition(": ")
        raise InvalidInput({where: problem or where}, "Cannot evaluate") from exc
    if as_json:
        print(json.dumps(result.as_dict(), indent=2))
        return
    console.print(_scores_table(f"All {result.overall.records:,} records", {"": result.overall}))
    if result.groups is not None:
        console.print(_scores_table(f"By {result.by}", result.groups))


def _scores_table(title: str, rows: dict[str, metrics.LinkageScores]) -> Table:
    table = Table("Group", "Records", "Kind", "Precision", "Recall", "F1", title=title)
    for group, scores in rows.items():
        for kind, s in (("pairwise", scores.pairwise), ("cluster", scores.cluster)):
            table.add_row(
                group,
                f"{scores.records:,}",
                kind,
                f"{s.precision:.4f}",
                f"{s.recall:.4f}",
                f"{s.f1:.4f}",
            )
    return table
