"""A small synthetic region whose right answers are known, written in the read store's layout.

Cameras sit around a town centre (53.80 N, 1.55 W) with two towns 60 and 70 km away. Ten days
of background traffic (with a morning rush at the busy camera C0) surround planted vehicles:

* TARGET drives past C0 every morning; FOLLOWER trails it by 20–40 s at five other cameras on
  five different days; COMMUTER passes C0 on the target's schedule (within a minute of it on
  most mornings) and shares C5 with it once, so it has *more* co-sightings than the follower;
  STRANGER happens to drive 30 s behind the target on one journey past four cameras (C3, C9,
  C4, C8 on day 8), so it is co-sighted four times on a single occasion.
* clones: CLONE (three impossible hops to a distant town), JITTER (two cameras 40 m apart,
  2 s apart), LOWCONF (an impossible hop made by a low-confidence read), REGISTERED (seen as a
  red Vauxhall, registered as a blue Ford), NOREG (seen as both BMW and Audi, not registered),
  HONEST (registered Ford, one odd sighting), GREYISH (a registered blue Ford that cameras
  call black now and then: three of 33 reads, the usual misdescription).
* VISITOR at C6 late on five nights; ONCE at C6 on two nights.
* STAKE3 in all three stakeout windows, STAKE2 in two.
* RUNNER: four short round trips from the hub to the towns; WORKER: one long day away each
  day; LOCAL: only at the hub.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from peel.anpr.plates import fuzzy_key
from peel.anpr.search import Area, PlaceWindow
from peel.anpr.store import CAMERA_SCHEMA, READ_SCHEMA, REGISTER_SCHEMA

START = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
DAYS = 10
END = START + timedelta(days=DAYS)

TARGET = "TG51ABC"
TARGET_MISREAD = "TG5IABC"  # 1 read as I: the same vehicle
TARGET_TWIN_READ = "TG51A8C"  # B read as 8 by the gantry's second camera, beside the target
FOLLOWER = "FL12XYZ"
COMMUTER = "CM63JKL"
STRANGER = "ST58RNG"
CLONE = "KX19CLN"
JITTER = "JT20JIT"
LOWCONF = "LC15LOW"
REGISTERED = "RG18REG"
NOREG = "NR17NRG"
HONEST = "HN16HON"
GREYISH = "GR15BLU"
VISITOR = "VS14VIS"
ONCE = "VS14ONC"
STAKE3 = "SK11OUT"
STAKE2 = "SK11TWO"
RUNNER = "CL22RUN"
WORKER = "CL22WRK"
LOCAL = "CL22LOC"

CENTRE = (53.80, -1.55)
KM_LAT = 1 / 111.2
KM_LON = 1 / (111.2 * 0.5906)  # cos(53.8°)


def _at(north_km: float, east_km: float) -> tuple[float, float]:
    return CENTRE[0] + north_km * KM_LAT, CENTRE[1] + east_km * KM_LON


CAMERAS: dict[str, tuple[str, tuple[float, float]]] = {
    "C0": ("Ring road rush-hour gantry", _at(0, 0)),
    "C0B": ("Ring road gantry, other lane", _at(0.03, 0.02)),
    "C1": ("Canal bridge", _at(4, 1)),
    "C2": ("Market street", _at(-3, 4)),
    "C3": ("Hospital roundabout", _at(6, -5)),
    "C4": ("Retail park", _at(-7, -2)),
    "C5": ("Station approach", _at(2, 8)),
    "C6": ("Quiet lane", _at(-5, 9)),
    "C7": ("Depot entrance", _at(9, 3)),
    "C8": ("Ferry road", _at(-9, 6)),
    "C9": ("Airport link", _at(3, -10)),
    "F1": ("Northtown high street", _at(60, 2)),
    "F2": ("Southport bypass", _at(-70, -3)),
}
HUB = Area(CENTRE[0], CENTRE[1], 2500.0)


@dataclass
class FakeStore:
    """The read store's layout on disk, written directly (what ``ReadStore`` writes)."""

    root: Path

    @property
    def reads_dir(self) -> Path:
        return self.root / "reads"

    @property
    def cameras_path(self) -> Path:
        return self.root / "cameras.parquet"

    @property
    def register_path(self) -> Path:
        return self.root / "register.parquet"

    def reads_glob(self) -> str:
        return str(self.reads_dir / "day=*" / "*.parquet")

    def has_reads(self) -> bool:
        return any(self.reads_dir.glob("day=*/*.parquet"))


def day(n: int, hour: float = 0.0, seconds: float = 0.0) -> datetime:
    return START + timedelta(days=n, hours=hour, seconds=seconds)


def read(camera: str, plate: str, at: datetime, **extra: Any) -> dict[str, Any]:
    return {"camera_id": camera, "plate": plate, "read_at": at, **extra}


def write_store(
    root: Path,
    reads: list[dict[str, Any]],
    cameras: dict[str, tuple[str, tuple[float, float]]] | None = None,
    register: list[dict[str, Any]] | None = None,
    row_group_size: int = 500,
) -> FakeStore:
    """Reads partitioned by UTC day, each file sorted by (plate, read_at), small row groups."""
    store = FakeStore(root)
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in reads:
        by_day[r["read_at"].astimezone(UTC).date().isoformat()].append(r)
    for name, rows in by_day.items():
        rows.sort(key=lambda r: (r["plate"], r["read_at"]))
        folder = store.reads_dir / f"day={name}"
        folder.mkdir(parents=True, exist_ok=True)
        columns: dict[str, list[Any]] = {f.name: [] for f in READ_SCHEMA}
        for r in rows:
            micros = int(r["read_at"].timestamp() * 1_000_000)
            key = f"{r['camera_id']}|{r['plate']}|{micros}"
            full = {
                "read_id": hashlib.md5(key.encode()).hexdigest(),
                "plate_raw": r["plate"],
                "fuzzy": fuzzy_key(r["plate"]),
                "batch_id": "test-batch",
                **r,
            }
            for f in READ_SCHEMA:
                columns[f.name].append(full.get(f.name))
        table = pa.table(columns, schema=READ_SCHEMA)
        pq.write_table(table, folder / "part-0.parquet", row_group_size=row_group_size)
    cams = CAMERAS if cameras is None else cameras
    pq.write_table(
        pa.table(
            {
                "camera_id": list(cams),
                "name": [v[0] for v in cams.values()],
                "lat": [v[1][0] for v in cams.values()],
                "lon": [v[1][1] for v in cams.values()],
                "easting": [None] * len(cams),
                "northing": [None] * len(cams),
                "direction": ["N"] * len(cams),
                "owner_org_id": ["force"] * len(cams),
            },
            schema=CAMERA_SCHEMA,
        ),
        store.cameras_path,
    )
    if register is not None:
        cols = {f.name: [r.get(f.name) for r in register] for f in REGISTER_SCHEMA}
        pq.write_table(pa.table(cols, schema=REGISTER_SCHEMA), store.register_path)
    return store


# --- the scenario ------------------------------------------------------------------------------


def _background(rng: random.Random) -> list[dict[str, Any]]:
    """Ordinary traffic: each camera has its own regulars; C0 has a heavy 07:00–09:00 rush."""
    out = []
    for n, camera in enumerate(CAMERAS):
        size = 400 if camera == "C0" else 60
        pool = [f"B{n:02d}{k:03d}{chr(65 + k % 26)}" for k in range(size)]
        per_day = 40 if camera.startswith("F") else 60
        for d in range(DAYS):
            for _ in range(per_day):
                out.append(read(camera, rng.choice(pool), day(d, rng.uniform(6, 22))))
            if camera == "C0":
                for _ in range(300):  # the rush: five cars a minute
                    out.append(read(camera, rng.choice(pool), day(d, rng.uniform(7, 9))))
    return out


def _convoy(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for d in range(DAYS):
        target_at = day(d, 8, rng.uniform(-60, 60))
        out.append(read("C0", TARGET, target_at))
        out.append(read("C0", TARGET_TWIN_READ, target_at + timedelta(seconds=1)))
        commuter_at = day(d, 8, rng.uniform(-60, 60))
        out.append(read("C0", COMMUTER, commuter_at))
        out.append(read("C0", COMMUTER, day(d, 17.5, rng.uniform(-300, 300))))
    out.append(read("C0B", TARGET_MISREAD, day(3, 8, 0)))  # misread at the twin camera
    for n, camera in enumerate(("C1", "C2", "C3", "C4", "C9")):
        d = 2 * n + 1
        at = day(d, 14, rng.uniform(0, 1800))
        out.append(read(camera, TARGET, at))
        out.append(read(camera, FOLLOWER, at + timedelta(seconds=rng.uniform(20, 40))))
        out.append(read("C7", FOLLOWER, day(d, 19, rng.uniform(0, 600))))  # elsewhere, alone
    at = day(2, 18)
    out.append(read("C5", TARGET, at))
    out.append(read("C5", COMMUTER, at + timedelta(seconds=30)))
    for camera, minutes in (("C3", 0), ("C9", 8), ("C4", 20), ("C8", 30)):  # one shared trip
        at = day(8, 11, 60 * minutes)
        out.append(read(camera, TARGET, at))
        out.append(read(camera, STRANGER, at + timedelta(seconds=30)))
    return out


def _clones() -> list[dict[str, Any]]:
    out = []
    for d in (1, 4, 7):  # C0 to F1 is 60 km: 15 minutes means 240 km/h
        out.append(read("C0", CLONE, day(d, 10), confidence=0.95))
        out.append(read("F1", CLONE, day(d, 10.25), confidence=0.95))
    out.append(read("C0", JITTER, day(2, 9), confidence=0.9))
    out.append(read("C0B", JITTER, day(2, 9, 2), confidence=0.9))
    # a mobile camera's own positions, 300 m apart, a second apart: the same place
    out.append(read("C6", JITTER, day(5, 9), lat=53.7601, lon=-1.4101, confidence=0.9))
    out.append(read("C6", JITTER, day(5, 9, 1), lat=53.7628, lon=-1.4101, confidence=0.9))
    out.append(read("C0", LOWCONF, day(3, 11), confidence=0.95))
    out.append(read("F2", LOWCONF, day(3, 11.2), confidence=0.3))
    for d in range(3):
        out.append(read("C2", REGISTERED, day(d, 12), make="Vauxhall", colour="red"))
    for d in range(3):
        out.append(read("C3", NOREG, day(d, 12), make="BMW", colour="black"))
        out.append(read("C4", NOREG, day(d + 4, 12), make="Audi", colour="black"))
    for d in range(4):
        out.append(read("C5", HONEST, day(d, 12), make="FORD", colour="Blue"))
    out.append(read("C5", HONEST, day(5, 12), make="Vauxhall", colour="blue"))
    for n in range(33):
        colour = "black" if n % 11 == 5 else "blue"
        out.append(read("C3", GREYISH, day(n % DAYS, 13, 60 * n), make="Ford", colour=colour))
    return out


def _visitors_and_stakeout() -> list[dict[str, Any]]:
    out = []
    for d in (0, 2, 3, 6, 8):
        out.append(read("C6", VISITOR, day(d, 23, 60)))
        out.append(read("C6", VISITOR, day(d, 23, 600)))  # the same visit
    for d in (1, 5):
        out.append(read("C6", ONCE, day(d, 23)))
    out.append(read("C7", STAKE3, day(2, 10.5)))
    out.append(read("C8", STAKE3, day(4, 15)))
    out.append(read("C9", STAKE3, day(6, 10)))
    out.append(read("C7", STAKE2, day(2, 11)))
    out.append(read("C8", STAKE2, day(4, 14.5)))
    out.append(read("C9", STAKE2, day(7, 10)))  # the right place, the wrong day
    return out


def stakeout_windows() -> list[PlaceWindow]:
    c9 = CAMERAS["C9"][1]
    return [
        PlaceWindow(["C7"], None, day(2, 10), day(2, 12)),
        PlaceWindow(("C8",), None, day(4, 14), day(4, 16)),
        PlaceWindow(None, Area(c9[0], c9[1], 300.0), day(6, 9), day(6, 11)),
    ]


def _county_lines() -> list[dict[str, Any]]:
    out = []
    for n, d in enumerate((1, 3, 5, 8)):
        town = "F1" if n % 2 == 0 else "F2"
        out.append(read("C0", RUNNER, day(d, 12)))
        out.append(read(town, RUNNER, day(d, 13)))
        out.append(read(town, RUNNER, day(d, 13.5)))
        out.append(read("C0", RUNNER, day(d, 14.5)))
    for d in range(DAYS):
        out.append(read("C0", WORKER, day(d, 6.5)))
        out.append(read("F1", WORKER, day(d, 7.5)))
        out.append(read("F1", WORKER, day(d, 17)))
        out.append(read("C0", WORKER, day(d, 18)))
        out.append(read("C0", LOCAL, day(d, 12)))
        out.append(read("C1", LOCAL, day(d, 13)))
        out.append(read("C0", LOCAL, day(d, 14)))
    return out


REGISTER = [
    {"plate": REGISTERED, "make": "Ford", "model": "Focus", "colour": "Blue"},
    {"plate": HONEST, "make": "Ford", "model": "Fiesta", "colour": "Blue"},
    {"plate": CLONE, "make": "Ford", "model": "Fiesta", "colour": "Silver"},
    {"plate": GREYISH, "make": "Ford", "model": "Focus", "colour": "Blue"},
]


def scenario_reads(seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return _background(rng) + _convoy(rng) + _clones() + _visitors_and_stakeout() + _county_lines()


def build_scenario(root: Path) -> FakeStore:
    return write_store(root, scenario_reads(), register=REGISTER)
