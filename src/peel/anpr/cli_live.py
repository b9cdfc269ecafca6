"""``peel anpr hotlist …``, ``peel anpr alerts`` and ``peel anpr feed`` (live reads)."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from peel.anpr import hotlists
from peel.anpr.plates import display
from peel.core.cli import friendly_errors
from peel.core.config import EventBusKind, get_settings
from peel.core.db import transaction
from peel.core.enums import TLP
from peel.core.errors import InvalidInput
from peel.core.events import EventBus, EventBusError, event_bus_from_settings
from peel.core.principal import Principal

# The shared options of ``peel.anpr.cli``, repeated here: that module imports this one while
# it is being built, so importing from it at the top would be circular.
AsUser = Annotated[str, typer.Option("--as", help="The person acting (email); audited")]
console = Console()
err = Console(stderr=True)

hotlist_app = typer.Typer(help="Hotlists: plates to alert on.", no_args_is_help=True)

Label = Annotated[TLP, typer.Option("--tlp", help="Who may see the entry and its alerts")]
ListName = Annotated[str, typer.Option("--list", help="Which of the force's lists")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON")]
PICKED_UP = "Running servers match reads against it within 30 seconds."


@contextmanager
def acting(email: str) -> Iterator[tuple[Session, Principal]]:
    """One transaction, and the person ``--as`` names."""
    from peel.anpr.cli import person, sessions

    with transaction(sessions()) as session:
        yield session, person(session, email)


def _print_entries(rows: list[dict[str, Any]]) -> None:
    table = Table("id", "plate", "priority", "list", "reason", "expires", "tlp", "fuzzy", "state")
    for row in rows:
        table.add_row(
            row["id"],
            row["display"],
            str(row["priority"]),
            row["list_name"],
            row["reason"],
            row["expires_at"] or "never",
            row["tlp"],
            "yes" if row["match_fuzzy"] else "",
            "withdrawn" if row["withdrawn_at"] else "active",
        )
    console.print(table)


@hotlist_app.command("add")
@friendly_errors
def hotlist_add(
    plate: Annotated[str, typer.Argument(help="The number plate, e.g. 'AB51 CDE'")],
    reason: Annotated[str, typer.Option("--reason", help="Why the vehicle is of interest")],
    as_user: AsUser,
    priority: Annotated[int, typer.Option("--priority", help="0 (lowest) to 100")] = 50,
    expires: Annotated[
        str | None, typer.Option("--expires", help="ISO date or time; no zone means UTC")
    ] = None,
    fuzzy: Annotated[bool, typer.Option("--fuzzy", help="Also alert on look-alikes")] = False,
    tlp: Label = TLP.amber,
    list_name: ListName = hotlists.DEFAULT_LIST,
) -> None:
    """Put a plate on your force's hotlist."""
    expires_at = hotlists.parse_expiry(expires or "", "--expires")
    with acting(as_user) as (session, actor):
        entry = hotlists.create_entry(
            session, actor, plate, reason, priority, expires_at, tlp, fuzzy, list_name
        )
        entry_id, shown = entry.id, display(entry.plate)
    console.print(f"Added {shown} to {list_name} as {entry_id}. {PICKED_UP}")


@hotlist_app.command("list")
@friendly_errors
def hotlist_list(
    as_user: AsUser,
    show_all: Annotated[bool, typer.Option("--all", help="Include expired and withdrawn")] = False,
    as_json: Json = False,
) -> None:
    """The hotlist entries you may see, most urgent first."""
    with acting(as_user) as (session, actor):
        rows = hotlists.entry_summary(hotlists.visible_entries(session, actor, show_all))
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        _print_entries(rows)


@hotlist_app.command("withdraw")
@friendly_errors
def hotlist_withdraw(
    entry_id: Annotated[str, typer.Argument(help="The entry's id (from hotlist list)")],
    as_user: AsUser,
    reason: Annotated[str, typer.Option("--reason", help="Why it is withdrawn")] = "",
) -> None:
    """Stop an entry raising alerts."""
    with acting(as_user) as (session, actor):
        entry = hotlists.withdraw_entry(session, actor, entry_id, reason)
        shown = display(entry.plate)
    console.print(f"Withdrew {shown} ({entry_id}).")


@hotlist_app.command("import")
@friendly_errors
def hotlist_import(
    file: Annotated[Path, typer.Argument(help="CSV: plate, reason, priority, expires_at")],
    as_user: AsUser,
    tlp: Label = TLP.amber,
    fuzzy: Annotated[bool, typer.Option("--fuzzy", help="Also alert on look-alikes")] = False,
    list_name: ListName = hotlists.DEFAULT_LIST,
) -> None:
    """Add every row of a CSV to your force's hotlist, or none if any row is wrong."""
    with acting(as_user) as (session, actor):
        added = hotlists.import_hotlist(session, actor, file, tlp, fuzzy, list_name)
        count = len(added)
    console.print(f"Added {count} entries to {list_name}. {PICKED_UP}")


def alerts(
    as_user: AsUser,
    as_json: Json = False,
    unacknowledged: Annotated[
        bool, typer.Option("--unacknowledged", help="Only those not yet dealt with")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50,
) -> None:
    """Hotlist alerts you may see, newest first."""
    with acting(as_user) as (session, actor):
        rows: list[dict[str, Any]] = [
            {
                "id": a.id,
                "plate": a.plate,
                "plate_read": a.plate_read,
                "camera_id": a.camera_id,
                "read_at": a.read_at.isoformat(),
                "match": a.match,
                "priority": a.priority,
                "reason": a.entry.reason if a.entry else "",
                "list_name": a.entry.list_name if a.entry else "",
                "tlp": TLP(a.tlp).value,
                "acknowledged_at": a.acknowledged_at.isoformat() if a.acknowledged_at else None,
                "outcome": a.outcome,
            }
            for a in hotlists.visible_alerts(session, actor, None, unacknowledged, limit)
        ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("id", "read at", "plate", "as read", "camera", "match", "priority", "reason")
    for row in rows:
        table.add_row(
            row["id"],
            row["read_at"],
            display(row["plate"]),
            row["plate_read"],
            row["camera_id"],
            row["match"],
            str(row["priority"]),
            row["reason"],
        )
    console.print(table)


# --- feeding reads to a running server ------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Reads from a CSV, NDJSON (either optionally gzipped) or Parquet file, as dicts."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
            for row in batch.to_pylist():
                yield {k: _plain(v) for k, v in row.items() if v is not None}
        return
    raw = path.read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
        name = name[:-3]
    text = io.StringIO(raw.decode("utf-8-sig"))
    if name.endswith((".ndjson", ".jsonl", ".json")):
        for number, line in enumerate(text, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInput({f"line {number}": f"not JSON: {exc.msg}"}) from None
            if not isinstance(row, dict):
                raise InvalidInput({f"line {number}": "each line must be a JSON object"})
            yield row
        return
    for row in csv.DictReader(text):
        yield {(k or "").strip(): v for k, v in row.items() if v not in (None, "")}


async def publish_feed(
    bus: EventBus,
    subject: str,
    rows: Iterable[dict[str, Any]],
    rate: float,
    batch: int,
    source: str = "",
    now: bool = False,
    limit: int | None = None,
) -> tuple[int, float]:
    """Publish reads on ``subject`` at ``rate`` reads a second, ``batch`` a message.

    Returns how many were sent and how long it took. ``now`` stamps each read with the
    current time; ``limit`` stops after that many reads.
    """
    sent = 0
    started = time.perf_counter()
    chunk: list[dict[str, Any]] = []
    for row in rows:
        if limit is not None and sent + len(chunk) >= limit:
            break
        chunk.append({**row, "read_at": datetime.now(UTC).isoformat()} if now else row)
        if len(chunk) >= batch:
            await bus.publish(subject, {"reads": chunk, "source": source})
            sent += len(chunk)
            chunk = []
            delay = started + sent / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
    if chunk:
        await bus.publish(subject, {"reads": chunk, "source": source})
        sent += len(chunk)
    return sent, time.perf_counter() - started


async def _feed(
    path: Path, rate: float, batch: int, source: str, now: bool, limit: int | None
) -> tuple[int, float]:
    settings = get_settings()
    async with event_bus_from_settings(settings) as bus:
        return await publish_feed(
            bus, settings.anpr_live_subject, read_rows(path), rate, batch, source, now, limit
        )


def feed(
    file: Annotated[Path, typer.Argument(help="Reads: CSV, NDJSON (.gz) or Parquet")],
    rate: Annotated[float, typer.Option("--rate", min=0.1, help="Reads a second")] = 100,
    batch: Annotated[
        int | None, typer.Option("--batch", min=1, max=10_000, help="Reads per message")
    ] = None,
    source: Annotated[str, typer.Option("--source", help="Feed name")] = "peel anpr feed",
    now: Annotated[
        bool, typer.Option("--now/--keep-times", help="Stamp each read with the current time")
    ] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Stop after N")] = None,
) -> None:
    """Publish reads from a file onto the live event-bus subject of a running server (NATS)."""
    settings = get_settings()
    if settings.event_bus != EventBusKind.nats:
        raise InvalidInput(
            {"PEEL_EVENT_BUS": "set it to nats (and PEEL_NATS_URL) so the server receives the feed"}
        )
    if not file.is_file():
        raise InvalidInput({"FILE": f"{file} is not a file"})
    per_message = batch or max(1, min(1000, int(rate / 20)))
    try:
        sent, seconds = asyncio.run(_feed(file, rate, per_message, source, now, limit))
    except EventBusError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    achieved = sent / seconds if seconds > 0 else float(sent)
    console.print(
        f"Published {sent} reads to {settings.anpr_live_subject} in {seconds:.1f} s "
        f"({achieved:.0f} a second)."
    )


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``peel anpr``."""
    app.add_typer(hotlist_app, name="hotlist")
    app.command("alerts")(friendly_errors(alerts))
    app.command("feed")(friendly_errors(feed))
