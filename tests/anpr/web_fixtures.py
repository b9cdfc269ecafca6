"""A small ANPR region for the web tests, written straight into the read store's layout.

Eight cameras a kilometre apart along a city road, two cameras in a town 50 km north, and
about two thousand reads over the last five days (all inside the 90-day open period):

* ``TARGET`` drives the road every morning; ``FOLLOWER`` trails it by 20 seconds on all five
  mornings (five journeys, which convoy scoring rates at about 4.3, past the default bar of
  4); background traffic passes the same cameras at random, and some of it happens to pass
  close to the target once (the bunching convoy scoring must see through).
* ``CLONE`` is read in the city and, five minutes later, in the town 50 km away.
* ``VISITOR`` passes one camera every evening.
* ``STAKER`` is seen at two places on two nights; ``RUNNER`` makes short-stay round trips
  from the city to the town.

The reads and cameras land through :class:`peel.anpr.store.ReadStore`, in its layout
(``reads/day=YYYY-MM-DD/*.parquet`` and ``cameras.parquet``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy.orm import Session

from peel.anpr import plates
from peel.anpr.models import AnprCamera
from peel.anpr.store import READ_SCHEMA, ReadStore, read_id_for
from peel.core.geo import wgs84_to_bng

TARGET = "AB12CDE"
FOLLOWER = "FL61RWR"
CLONE = "CL07NED"
VISITOR = "VS19TOR"
STAKER = "SK20OUT"
RUNNER = "RN68LNS"
CITY = [f"CITY{i:02d}" for i in range(1, 9)]
TOWN = ["TOWN01", "TOWN02"]


@dataclass(frozen=True)
class Camera:
    camera_id: str
    name: str
    lat: float
    lon: float
    direction: str = "N"


def cameras() -> list[Camera]:
    city = [Camera(cid, f"Station Road {n}", 51.0 + 0.009 * n, -1.30) for n, cid in enumerate(CITY)]
    town = [
        Camera("TOWN01", "Market Street <north>", 51.45, -1.30),
        Camera("TOWN02", "Market Street south", 51.452, -1.302, "S"),
    ]
    return city + town


@dataclass
class Region:
    """What was written, for the tests to aim their searches at."""

    root: Path
    now: datetime
    reads: list[dict[str, Any]] = field(default_factory=list)

    def day(self, days_ago: int) -> datetime:
        """Midnight UTC, ``days_ago`` days before today."""
        midnight = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight - timedelta(days=days_ago)

    @property
    def start(self) -> datetime:
        return self.day(6)

    @property
    def end(self) -> datetime:
        return self.now + timedelta(minutes=1)

    def of(self, plate: str) -> list[dict[str, Any]]:
        return sorted((r for r in self.reads if r["plate"] == plate), key=lambda r: r["read_at"])


def read(camera_id: str, plate: str, at: datetime, **extra: Any) -> dict[str, Any]:
    at = at.astimezone(UTC).replace(microsecond=0)
    return {
        "read_id": read_id_for(camera_id, plate, at),
        "camera_id": camera_id,
        "plate": plate,
        "plate_raw": plates.display(plate),
        "fuzzy": plates.fuzzy_key(plate),
        "read_at": at,
        "confidence": 0.93,
        "lat": None,
        "lon": None,
        "make": extra.get("make"),
        "model": extra.get("model"),
        "colour": extra.get("colour"),
        "direction": None,
        "batch_id": "web-fixture",
    }


def random_plate(rng: random.Random) -> str:
    letters = "ABCEFGHJKLMNOPRSTUVWXY"
    return (
        rng.choice(letters)
        + rng.choice(letters)
        + f"{rng.randint(51, 74)}"
        + "".join(rng.choice(letters) for _ in range(3))
    )


def _drive(camera_ids: list[str], plate: str, start: datetime, gap_s: float = 90) -> list[dict]:
    return [read(c, plate, start + timedelta(seconds=gap_s * i)) for i, c in enumerate(camera_ids)]


def build_reads(region: Region, seed: int = 5) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    reads: list[dict[str, Any]] = []
    for days_ago in range(1, 6):
        morning = region.day(days_ago) + timedelta(hours=8, minutes=7 * days_ago)
        reads += _drive(CITY, TARGET, morning)
        reads += _drive(CITY, FOLLOWER, morning + timedelta(seconds=20))
        # Background traffic: random runs of cameras through the morning.
        for _ in range(60):
            first = rng.randrange(0, len(CITY) - 2)
            run = CITY[first : first + rng.randint(2, len(CITY) - first)]
            start = region.day(days_ago) + timedelta(hours=7, seconds=rng.randrange(3 * 3600))
            reads += _drive(run, random_plate(rng), start, rng.uniform(70, 110))
        # Bunching: cars that share the target's road for two cameras, once.
        for _ in range(4):
            first = rng.randrange(0, len(CITY) - 2)
            start = morning + timedelta(seconds=90 * first + rng.uniform(-40, 40))
            reads += _drive(CITY[first : first + 2], random_plate(rng), start)
        reads.append(read(CITY[3], VISITOR, region.day(days_ago) + timedelta(hours=19)))
    # A cloned plate: the city and the town, 50 km apart, five minutes apart.
    noon = region.day(2) + timedelta(hours=12)
    reads.append(read(CITY[0], CLONE, noon, make="Ford", colour="Blue"))
    reads.append(read("TOWN01", CLONE, noon + timedelta(minutes=5), make="Ford", colour="Blue"))
    # A stakeout: two places on two nights.
    reads.append(read(CITY[1], STAKER, region.day(3) + timedelta(hours=22, minutes=10)))
    reads.append(read(CITY[6], STAKER, region.day(2) + timedelta(hours=22, minutes=40)))
    for days_ago, cam in ((3, CITY[1]), (2, CITY[6])):
        reads.append(read(cam, random_plate(rng), region.day(days_ago) + timedelta(hours=22)))
    # County lines: out to the town, a short stay, and back, on three days.
    for days_ago in (1, 2, 4):
        leave = region.day(days_ago) + timedelta(hours=10)
        reads.append(read(CITY[7], RUNNER, leave))
        reads.append(read("TOWN01", RUNNER, leave + timedelta(minutes=40)))
        reads.append(read("TOWN02", RUNNER, leave + timedelta(hours=2)))
        reads.append(read(CITY[7], RUNNER, leave + timedelta(hours=2, minutes=40)))
    # Today, so the overview counts reads.
    today = region.day(0) + timedelta(seconds=1)
    reads += [read(CITY[0], random_plate(rng), today) for _ in range(3)]
    return reads


def write_cameras(root: Path, owner_org_id: str, chosen: list[Camera] | None = None) -> None:
    rows = []
    for cam in chosen if chosen is not None else cameras():
        easting, northing = wgs84_to_bng(cam.lat, cam.lon)
        rows.append(
            {
                "camera_id": cam.camera_id,
                "name": cam.name,
                "lat": cam.lat,
                "lon": cam.lon,
                "easting": easting,
                "northing": northing,
                "direction": cam.direction,
                "owner_org_id": owner_org_id,
            }
        )
    ReadStore(root).write_cameras(rows)


def write_reads(root: Path, reads: list[dict[str, Any]]) -> None:
    """Land the reads through the store: one file per UTC day, sorted by plate and time."""
    table = pa.Table.from_pylist(
        [{f.name: r.get(f.name) for f in READ_SCHEMA} for r in reads], schema=READ_SCHEMA
    )
    result = ReadStore(root).append(table)
    assert result.landed == len(reads), result


def write_region(root: Path, owner_org_id: str, now: datetime | None = None) -> Region:
    region = Region(root, now or datetime.now(UTC))
    region.reads = build_reads(region)
    write_cameras(root, owner_org_id)
    write_reads(root, region.reads)
    return region


def add_cameras_to_db(db: Session, owner_org_id: str) -> None:
    """The same cameras in the camera table (the live path checks reads against it)."""
    for cam in cameras():
        easting, northing = wgs84_to_bng(cam.lat, cam.lon)
        db.add(
            AnprCamera(
                id=cam.camera_id,
                name=cam.name,
                lat=cam.lat,
                lon=cam.lon,
                easting=easting,
                northing=northing,
                direction=cam.direction,
                owner_org_id=owner_org_id,
            )
        )
    db.flush()
