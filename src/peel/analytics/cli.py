"""``peel analytics``: import crime data, back-test predictions, near-repeat and hotspots."""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from peel.analytics import backtest, ingest, service
from peel.analytics.knox import knox
from peel.core.cli import friendly_errors
from peel.core.config import get_settings
from peel.core.errors import InvalidInput

app = typer.Typer(
    help="Crime analytics: hotspots, honest prediction, near repeats.", no_args_is_help=True
)
console = Console()


def _out() -> Path:
    settings = get_settings()
    settings.ensure_data_dir()
    return settings.parquet_dir


@app.command("import")
@friendly_errors
def import_crime(
    paths: Annotated[list[Path], typer.Argument(help="CSV files or folders")],
    dataset: Annotated[str, typer.Option(help="Name to store it under (replaces one)")],
    outcomes: Annotated[bool, typer.Option(help="The files are outcomes files")] = False,
    mapping: Annotated[
        list[str] | None,
        typer.Option(help="Any other CSV: FIELD=COLUMN, repeat (e.g. occurred_at=Date)"),
    ] = None,
    date_format: Annotated[str | None, typer.Option(help="strptime pattern for dates")] = None,
    crs: Annotated[int, typer.Option(help="EPSG code of mapped easting/northing")] = 27700,
    bounds: Annotated[
        tuple[float, float, float, float] | None,
        typer.Option(help="West South East North in degrees: skip points >2 km outside"),
    ] = None,
) -> None:
    """Import data.police.uk street-level or outcomes CSVs, or any CSV through a mapping."""
    if mapping:
        pairs = [m.split("=", 1) for m in mapping]
        bad = [m for m, p in zip(mapping, pairs, strict=True) if len(p) != 2 or not all(p)]
        if bad:
            raise InvalidInput({"--mapping": f"expected FIELD=COLUMN, got {bad[0]!r}"})
        report = ingest.import_generic(
            paths, dataset, _out(), dict(pairs), date_format, projected_crs=crs, bounds=bounds
        )
    elif outcomes:
        report = ingest.import_outcomes(paths, dataset, _out())
    else:
        report = ingest.import_police_uk(paths, dataset, _out(), bounds=bounds)
    console.print(report.summary())


@app.command("datasets")
@friendly_errors
def datasets() -> None:
    """List imported datasets and their size."""
    out = _out()
    names = ingest.list_datasets(out)
    if not names:
        console.print(
            "No datasets yet: `peel analytics import FILE… --dataset NAME` or `peel demo load`."
        )
    for name in names:
        total = sum(n for _, n in service.categories(out, name))
        console.print(f"{name}: {total:,} crimes")


def _rows_json(rows: list[backtest.Row]) -> list[dict[str, object]]:
    return [
        {
            "method": r.method,
            "coverage": r.coverage,
            "hit_rate": round(r.hit_rate, 6),
            "pai": round(r.pai, 6),
            "pei": round(r.pei, 6),
        }
        for r in rows
    ]


def _print_rows(rows: list[backtest.Row], title: str) -> None:
    table = Table(title=title)
    for column in ("Method", "Coverage", "Hit rate", "PAI", "PEI"):
        table.add_column(column, justify="right" if column != "Method" else "left")
    for r in rows:
        name = f"{r.method} (baseline)" if r.method in backtest.BASELINES else r.method
        table.add_row(
            name, f"{r.coverage:.0%}", f"{r.hit_rate:.3f}", f"{r.pai:.2f}", f"{r.pei:.3f}"
        )
    console.print(table)
    console.print("A method is worth using only where it beats the naive and KDE baselines.")


def _events_from_files(paths: list[Path], label: str, category: str | None) -> service.Events:
    with tempfile.TemporaryDirectory() as folder:
        ingest.import_police_uk(paths, label, folder)
        return service.load_events(Path(folder), label, category)


@app.command("backtest")
@friendly_errors
def run_backtest(
    dataset: Annotated[str | None, typer.Option(help="Imported dataset (rolling test)")] = None,
    train: Annotated[list[Path] | None, typer.Option(help="Training CSVs (fixed split)")] = None,
    test: Annotated[list[Path] | None, typer.Option(help="Test CSVs (fixed split)")] = None,
    category: Annotated[str | None, typer.Option(help="police.uk category slug")] = None,
    months: Annotated[int, typer.Option(min=1, max=60, help="Months to test (rolling)")] = 12,
    cell: Annotated[float, typer.Option(help="Cell size in metres")] = 150.0,
    coverage: Annotated[list[float] | None, typer.Option(help="Share of area, repeatable")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON row per method")] = False,
) -> None:
    """Score every prediction method beside the naive and KDE baselines."""
    coverages = tuple(coverage or ([0.05] if train else [0.01, 0.05, 0.10]))
    if train or test:
        if not (train and test):
            raise InvalidInput({"--test": "give both --train and --test files"})
        train_events = _events_from_files(train, "train", category)
        test_events = _events_from_files(test, "test", category)
        settings = service.backtest_settings(train_events, test_events)
        rows = backtest.fixed_split(train_events, test_events, cell, coverages, settings=settings)
        title = "Fixed split"
    elif dataset:
        events = service.load_events(_out(), dataset, category)
        with Progress(console=Console(stderr=True), transient=as_json) as bar:
            task = bar.add_task("Back-testing", total=1.0)
            result = backtest.rolling(
                events,
                months,
                cell,
                coverages,
                settings=service.backtest_settings(events),
                progress=lambda f, m: bar.update(task, completed=f, description=m[:40]),
            )
        rows, title = result.mean, f"Rolling back-test, mean of {len(result.months)} months"
    else:
        raise InvalidInput({"--dataset": "give --dataset, or --train and --test files"})
    if as_json:
        print(json.dumps(_rows_json(rows), indent=2))
    else:
        _print_rows(rows, title)


def _day(text: str) -> np.datetime64:
    text = text.strip()
    if "/" in text:
        day, month, year = (int(p) for p in text.split("/"))
        return np.datetime64(f"{year:04d}-{month:02d}-{day:02d}")
    return np.datetime64(text[:10], "D")


def _nrc_file(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X, Y, date rows (dd/mm/yyyy or ISO), as the Near Repeat Calculator reads them."""
    xs, ys, dates = [], [], []
    with path.open(newline="") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            try:
                x, y, when = float(row[0]), float(row[1]), _day(row[2])
            except (ValueError, IndexError):
                if line == 1:
                    continue  # a header
                raise InvalidInput(
                    {str(path): f"line {line}: expected X,Y,date (dd/mm/yyyy or yyyy-mm-dd)"}
                ) from None
            xs.append(x)
            ys.append(y)
            dates.append(when)
    return np.array(xs), np.array(ys), np.array(dates)


@app.command("knox")
@friendly_errors
def run_knox(
    dataset: Annotated[str | None, typer.Option(help="Imported dataset with dates")] = None,
    nrc_file: Annotated[Path | None, typer.Option(help="X,Y,dd/mm/yyyy file, no header")] = None,
    category: Annotated[str | None, typer.Option()] = "burglary",
    space: Annotated[int, typer.Option(help="Spatial bandwidth, metres")] = 100,
    space_bands: Annotated[int, typer.Option()] = 3,
    time: Annotated[int, typer.Option(help="Temporal bandwidth, days")] = 7,
    time_bands: Annotated[int, typer.Option()] = 3,
    iterations: Annotated[int, typer.Option(min=9, max=9999)] = 99,
    seed: Annotated[int | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Knox near-repeat test with Monte Carlo permutations (Near Repeat Calculator bands)."""
    if nrc_file:
        x, y, dates = _nrc_file(nrc_file)
    elif dataset:
        events = service.load_events(_out(), dataset, category)
        x, y, dates = events.x, events.y, np.floor(events.t)
    else:
        raise InvalidInput({"--dataset": "give --dataset or --nrc-file"})
    result = knox(
        x,
        y,
        dates,
        spatial_bandwidth=space,
        spatial_bands=space_bands,
        temporal_bandwidth=time,
        temporal_bands=time_bands,
        iterations=iterations,
        seed=seed,
    )
    rows = result.rows()
    if as_json:
        print(
            json.dumps(
                [r._asdict() if hasattr(r, "_asdict") else vars(r) for r in rows],
                indent=2,
                default=float,
            )
        )
        return
    table = Table(title=f"Knox test: {result.n_events:,} events, {iterations} permutations")
    for column in ("Distance", "Time", "Observed", "Expected", "Knox ratio", "p"):
        table.add_column(column)
    for r in rows:
        ratio = "–" if r.ratio is None else f"{r.ratio:.2f}"
        table.add_row(
            r.spatial, r.temporal, str(r.observed), f"{r.expected:.2f}", ratio, f"{r.p_value:.3f}"
        )
    console.print(table)


@app.command("hotspots")
@friendly_errors
def run_hotspots(
    dataset: Annotated[str, typer.Option()],
    out: Annotated[Path, typer.Option(help="GeoJSON file to write")],
    category: Annotated[str | None, typer.Option()] = None,
    cell: Annotated[float, typer.Option(help="Cell size in metres")] = 200.0,
    surface: Annotated[str, typer.Option(help="grid, kde or h3")] = "kde",
    top: Annotated[float, typer.Option(help="Share of cells to keep")] = 0.05,
) -> None:
    """Write the top hotspot cells and Getis-Ord Gi* hot cells as GeoJSON (WGS84)."""
    events = service.load_events(_out(), dataset, category)
    spots = service.hotspots(events, cell, "grid" if surface == "h3" else surface)
    collection = (
        service.h3_cells(events, cell, top)
        if surface == "h3"
        else service.cells_geojson(spots, top)
    )
    out.write_text(json.dumps(collection))
    console.print(
        f"{len(collection['features'])} cells written to {out} "
        f"({int(spots.hot.sum())} Gi* hot cells, {spots.events:,} crimes)."
    )
