"""ANPR housekeeping: retention drops whole days of reads; compaction merges a day's files.

Retention keeps ``anpr_retention_days`` (a year by default). A day's partition is dropped
once every read in it is older than that, so up to one extra day is kept; each run that
drops anything writes one audit event (``anpr.retention``) naming the days, as the system.
Live feeds land a small file every few seconds, so finished days are compacted into one
file sorted by plate, which keeps plate searches fast.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from peel.anpr.store import ReadStore
from peel.core.audit import record_audit
from peel.core.config import Settings
from peel.core.db import build_engine, make_sessionmaker, transaction, utcnow
from peel.core.principal import SYSTEM, Principal

log = structlog.get_logger(__name__)

#: How long the server waits after starting before the first run, then between runs.
FIRST_RUN_SECONDS = 60.0
EVERY_SECONDS = 3600.0
#: Today's files are merged once there are this many (live flushes add one every few seconds).
TODAY_MAX_FILES = 60


def retention_cutoff(settings: Settings, now: datetime | None = None) -> date:
    """The oldest day kept: days before it hold only reads past the retention period."""
    return ((now or utcnow()) - timedelta(days=settings.anpr_retention_days)).date()


def expired_days(settings: Settings, now: datetime | None = None) -> list[date]:
    """The days the next retention run would drop."""
    cutoff = retention_cutoff(settings, now)
    return [day for day in ReadStore(settings.anpr_dir).days() if day < cutoff]


def run_retention(
    settings: Settings,
    now: datetime | None = None,
    *,
    sessions: sessionmaker[Session] | None = None,
    actor: Principal = SYSTEM,
) -> list[date]:
    """Drop the day partitions older than the retention period; returns the days dropped.

    The audit event is written in the same transaction as the drop and names every day.
    """
    store = ReadStore(settings.anpr_dir)
    cutoff = retention_cutoff(settings, now)
    if not any(day < cutoff for day in store.days()):
        return []
    engine = None
    if sessions is None:
        engine = build_engine(settings.resolved_database_url)
        sessions = make_sessionmaker(engine)
    try:
        with transaction(sessions) as session:
            dropped = store.drop_before(cutoff)
            if dropped:
                days = [day.isoformat() for day in dropped]
                record_audit(
                    session,
                    actor,
                    "anpr.retention",
                    "anpr_reads",
                    None,
                    changes={"days_dropped": [days, None]},
                    detail=json.dumps(
                        {
                            "retention_days": settings.anpr_retention_days,
                            "kept_from": cutoff.isoformat(),
                            "days_dropped": days,
                        }
                    ),
                )
    finally:
        if engine is not None:
            engine.dispose()
    log.info("anpr retention", days_dropped=len(dropped), kept_from=cutoff.isoformat())
    return dropped


def compact_finished_days(settings: Settings, now: datetime | None = None) -> int:
    """Merge the files of every day before today (UTC), and today's once there are many.

    Returns the days rewritten. Merging today keeps live days quick to search: a query opens
    one file per flush otherwise.
    """
    store = ReadStore(settings.anpr_dir)
    today = (now or utcnow()).date()
    due = [
        day
        for day in store.days()
        if day < today or (day == today and len(store.files(day)) >= TODAY_MAX_FILES)
    ]
    return sum(store.compact(day) for day in due)


def run_housekeeping(settings: Settings, now: datetime | None = None) -> dict[str, object]:
    """Retention, then compaction of finished days; a summary for the log."""
    dropped = run_retention(settings, now)
    compacted = compact_finished_days(settings, now)
    return {"days_dropped": [d.isoformat() for d in dropped], "days_compacted": compacted}


async def retention_schedule(settings: Settings) -> None:
    """Run housekeeping a minute after the server starts, then hourly, until cancelled."""
    delay = FIRST_RUN_SECONDS
    while True:
        await asyncio.sleep(delay)
        delay = EVERY_SECONDS
        try:
            summary = await asyncio.to_thread(run_housekeeping, settings)
            log.info("anpr housekeeping", **summary)
        except Exception:
            log.exception("anpr housekeeping failed; trying again in an hour")
