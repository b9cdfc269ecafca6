"""A demo ANPR region for the demo force: cameras, a week of reads up to now, hotlist entries,
and a live feed that replays simulated traffic so alerts keep arriving.

Everything comes from :mod:`peel.anpr.simulate` (invented towns in a box over Dorset and the
New Forest) and goes in through the real importers, so the demo exercises what a force would
use. Loading twice is harmless: a region whose cameras and ground truth are already there is
left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from peel.anpr import hotlists, ingest
from peel.anpr.models import AnprCamera, AnprHotlistEntry
from peel.anpr.service import can_use_anpr
from peel.anpr.simulate import REGIONS, Simulation, simulate
from peel.core.config import Settings
from peel.core.db import utcnow
from peel.core.enums import TLP
from peel.core.identity import principal_for_user
from peel.core.models import Organisation, User
from peel.core.principal import Principal

logger = structlog.get_logger(__name__)

REGION = REGIONS["wessex"]
SEED = 2027
VEHICLES = 10_000
CAMERAS = 150
DAYS = 7
FIRST_CAMERA = f"{REGION.camera_prefix}0001"
LIST_NAME = "Force hotlist"
LOADER = Principal(display_name="demo loader", is_platform_admin=True)


@dataclass(frozen=True)
class AnprDemo:
    """What the demo loaded, and the planted suspects worth searching for."""

    cameras: int
    reads: int
    register: int
    hotlist_plates: list[str]
    convoy_target: str
    convoy_followers: list[str]
    truth_path: Path
    notes: list[str] = field(default_factory=list)


def truth_path(settings: Settings) -> Path:
    """Where the demo region's ground truth is kept (``peel anpr evaluate`` takes its folder)."""
    return settings.anpr_dir / "demo" / "truth.json"


def is_loaded(session: Session, settings: Settings) -> bool:
    return truth_path(settings).is_file() and session.get(AnprCamera, FIRST_CAMERA) is not None


def _searcher(session: Session, force: Organisation, officer: User | None) -> Principal | None:
    """The person who puts the demo plates on the hotlist: the officer, else anyone able to."""
    candidates = [officer] if officer is not None else []
    candidates += list(
        session.scalars(
            select(User).where(User.organisation_id == force.id, User.is_active).order_by(User.id)
        )
    )
    for user in candidates:
        principal = principal_for_user(user)
        if can_use_anpr(principal) and principal.organisation_id == force.id:
            return principal
    return None


def showcase_convoy(truth: dict[str, Any]) -> dict[str, Any]:
    """The planted convoy to point users at: the one whose followers were seen trailing the
    target on the most trips (a convoy shared on one or two journeys is, rightly, not found
    with the default minimum score). The first planted convoy wins a tie."""

    def trailed(convoy: dict[str, Any]) -> int:
        seen = convoy.get("trips_trailed_seen") or {}
        return min((int(seen.get(f, 0)) for f in convoy["followers"]), default=0)

    convoys: list[dict[str, Any]] = truth["convoys"]
    return max(convoys, key=trailed)


def _hotlist(truth: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(plate, reason, priority) for the plates a demo user should see alerts for."""
    busy = truth["busy_plates"][0]["plate"]
    clone = truth["clones"][0]
    real, fake = clone["vehicles"]
    runner = truth["county_lines"][0]
    convoy = showcase_convoy(truth)
    return [
        (busy, "Stolen overnight from a driveway; keys taken in a burglary (demo)", 90),
        (
            clone["plate"],
            f"Cloned plate: the keeper's {real['colour'].lower()} {real['make']} {real['model']} "
            f"is at home; a {fake['colour'].lower()} {fake['make']} is using these plates (demo)",
            75,
        ),
        (
            runner["plate"],
            f"Suspected county-lines vehicle working out of {runner['hub']['name']} (demo)",
            60,
        ),
        (convoy["target"], "Witness in a serious case; check for vehicles following (demo)", 40),
    ]


def load_anpr_demo(
    session: Session,
    settings: Settings,
    force_org: Organisation,
    officer_user: User | None = None,
    now: datetime | None = None,
    vehicles: int = VEHICLES,
    cameras: int = CAMERAS,
) -> AnprDemo | None:
    """Simulate the demo region's last week and load it for ``force_org``; None if loaded.

    Cameras, the register and reads go through :mod:`peel.anpr.ingest` (reads are committed
    file by file, as the importer does); hotlist entries are created by ``officer_user`` (or
    another of the force's officers) and expire in 90 days. About 160,000 reads at the
    default size; ``vehicles`` and ``cameras`` make it smaller (tests) or larger.
    """
    if is_loaded(session, settings):
        return None
    now = (now or utcnow()).astimezone(UTC)
    settings.ensure_data_dir()
    with tempfile.TemporaryDirectory(prefix="peel-anpr-demo-") as folder:
        out = Path(folder)
        result = simulate(
            out, SEED, DAYS, vehicles, cameras, now - timedelta(days=DAYS), REGION, "parquet"
        )
        ingest.import_cameras(session, settings, out / "cameras.csv", force_org, LOADER)
        register = ingest.import_register(settings, out / "register.csv")
        loaded = ingest.ingest_files(session, settings, result.files, LOADER, force_org.id)
        truth = json.loads(result.truth_path.read_text(encoding="utf-8"))
        notes = []
        searcher = _searcher(session, force_org, officer_user)
        plates: list[str] = []
        if searcher is None:
            notes.append("no officer of the force to own hotlist entries; none were added")
        else:
            plates = _add_hotlist(session, searcher, truth, now)
        target = truth_path(settings)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.truth_path, target)
    session.flush()
    convoy = showcase_convoy(truth)
    return AnprDemo(
        cameras=result.cameras,
        reads=sum(r.rows_landed for r in loaded),
        register=register.rows,
        hotlist_plates=plates,
        convoy_target=convoy["target"],
        convoy_followers=convoy["followers"],
        truth_path=target,
        notes=notes,
    )


def _add_hotlist(
    session: Session, actor: Principal, truth: dict[str, Any], now: datetime
) -> list[str]:
    added = []
    for plate, reason, priority in _hotlist(truth):
        listed = session.scalar(
            select(AnprHotlistEntry.id).where(
                AnprHotlistEntry.plate == plate,
                AnprHotlistEntry.owner_org_id == actor.organisation_id,
                AnprHotlistEntry.withdrawn_at.is_(None),
            )
        )
        if listed is None:
            hotlists.create_entry(
                session,
                actor,
                plate,
                reason,
                priority,
                now + timedelta(days=90),
                TLP.amber,
                False,
                LIST_NAME,
            )
            added.append(plate)
    return added


# --- the live feed ------------------------------------------------------------------------------


class DemoFeed:
    """Replays a simulated weekday of the loaded demo region, shifted to now, through live ingest.

    Reads go in at ``rate`` a second in their order through the day, starting from the
    current time of day and wrapping at midnight; each is stamped with the moment it is sent
    and given a fresh id, so the store and the map fill as if cameras were reporting.
    """

    def __init__(
        self,
        live: Any,
        sessions: sessionmaker[Session],
        settings: Settings,
        rate: float,
        tick_seconds: float = 1.0,
        today: datetime | None = None,
    ) -> None:
        self.live = live
        self.sessions = sessions
        self.settings = settings
        self.rate = rate
        self.tick_seconds = tick_seconds
        self.today = today
        self.sent = 0
        self.alerts = 0
        self.position = 0
        self._token = uuid.uuid4().hex[:8]

    def day_of_reads(self) -> list[dict[str, Any]]:
        """A weekday of the demo region's reads (the most recent weekday before today)."""
        day = (self.today or utcnow()).astimezone(UTC).replace(
            hour=0, minute=0, second=0, microsecond=0
        ) - timedelta(days=1)
        while day.weekday() >= 5:
            day -= timedelta(days=1)
        loaded = json.loads(truth_path(self.settings).read_text(encoding="utf-8"))["parameters"]
        sim = Simulation(
            int(loaded["seed"]),
            1,
            int(loaded["vehicles"]),
            int(loaded["cameras"]),
            day,
            REGIONS[loaded["region"]],
        )
        rows: list[dict[str, Any]] = sim.reads_table().to_pylist()
        for row in rows:
            at = row.pop("read_at")
            row["second_of_day"] = at.hour * 3600 + at.minute * 60 + at.second
        return rows

    def _demo_loaded(self) -> bool:
        with self.sessions() as session:
            return is_loaded(session, self.settings)

    @staticmethod
    def start_position(rows: list[dict[str, Any]], second_of_day: int) -> int:
        """Where in the day's reads (in time order) the current time of day falls."""
        seconds = np.array([r["second_of_day"] for r in rows])
        return int(np.searchsorted(seconds, second_of_day)) % max(len(rows), 1)

    async def run(self) -> None:
        """Feed until cancelled; waits (checking every 30 s) until the demo is loaded."""
        while True:  # until the demo is loaded (`peel demo load` may come later)
            if await asyncio.to_thread(self._demo_loaded):
                break
            await asyncio.sleep(30)
        rows = await asyncio.to_thread(self.day_of_reads)
        if not rows:
            logger.warning("the demo feed has no reads to replay")
            return
        now = utcnow()
        self.position = self.start_position(rows, now.hour * 3600 + now.minute * 60 + now.second)
        owed = 0.0
        last = time.monotonic()
        logger.info("ANPR demo feed started", rate=self.rate, reads_per_day=len(rows))
        while True:
            await asyncio.sleep(self.tick_seconds)
            moment = time.monotonic()
            owed += (moment - last) * self.rate
            last = moment
            if int(owed) <= 0:
                continue
            count = int(owed)
            owed -= count
            try:
                await self.send(rows, count)
            except Exception:
                logger.exception("the demo feed could not submit reads; trying again")

    async def send(self, rows: list[dict[str, Any]], count: int) -> Any:
        """Submit the next ``count`` reads, stamped now; returns live ingest's result."""
        stamp = utcnow().isoformat()
        batch = []
        for _ in range(count):
            row = {k: v for k, v in rows[self.position].items() if k != "second_of_day"}
            row["read_at"] = stamp
            row["read_id"] = f"DEMOFEED-{self._token}-{self.sent}"
            batch.append(row)
            self.sent += 1
            self.position = (self.position + 1) % len(rows)
        result = await self.live.submit(batch, "live", "demo feed", "demo feed")
        self.alerts += len(result.alerts)
        return result


def start_demo_feed(app: Any) -> asyncio.Task[None] | None:
    """Start the demo feed when ``anpr_demo_feed_per_second`` is set (never in production).

    Call from the app's lifespan after live ingest is on ``app.state.anpr_live``; cancel the
    task on shutdown. Returns None when the feed is off.
    """
    settings: Settings = app.state.settings
    rate = settings.anpr_demo_feed_per_second
    live = getattr(app.state, "anpr_live", None)
    if rate <= 0 or settings.is_production:
        return None
    if live is None:
        logger.warning("ANPR demo feed is on but live ingest is not running; no feed")
        return None
    feed = DemoFeed(live, app.state.sessions, settings, rate)
    app.state.anpr_demo_feed = feed
    return asyncio.create_task(feed.run(), name="peel-anpr-demo-feed")


async def stop_demo_feed(task: asyncio.Task[None] | None) -> None:
    """Cancel the feed task and wait for it to end."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
