"""Two years of generated crime for the fictional Wessex force: hotspots that persist, drift
and flare, near-repeat burglaries, a seasonal rhythm and times of day. No real events."""

from __future__ import annotations

import csv
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from peel.analytics.ingest import ImportReport, import_generic, list_datasets
from peel.core.geo import bng_to_wgs84

DATASET = "wessex-demo"
CENTRE = (408_000.0, 92_000.0)  # BNG metres, the same south-coast town as the demo reports
SIDE = 16_000.0
CATEGORY_SHARES = {
    "violent-crime": 0.32,
    "anti-social-behaviour": 0.18,
    "criminal-damage-arson": 0.09,
    "other-theft": 0.09,
    "shoplifting": 0.08,
    "vehicle-crime": 0.07,
    "burglary": 0.07,
    "public-order": 0.05,
    "drugs": 0.025,
    "bicycle-theft": 0.015,
    "robbery": 0.01,
    "theft-from-the-person": 0.01,
    "possession-of-weapons": 0.01,
}
MAPPING = {
    "crime_id": "id",
    "occurred_at": "occurred_at",
    "lat": "lat",
    "lon": "lon",
    "category": "category",
}


def _points(rng: np.random.Generator, n: int, day: np.ndarray) -> tuple[np.ndarray, ...]:
    """Where events fall: town-centre hotspots, a drifting one, and background."""
    x0, y0 = CENTRE
    centres = np.array(
        [[x0, y0], [x0 + 2500, y0 + 1200], [x0 - 3000, y0 - 800], [x0 + 600, y0 - 2600]]
    )
    kind = rng.choice(3, size=n, p=[0.45, 0.10, 0.45])
    which = rng.integers(0, len(centres), n)
    x = np.where(
        kind == 0,
        centres[which, 0] + rng.normal(0, 250, n),
        x0 - SIDE / 2 + rng.uniform(0, SIDE, n),
    )
    y = np.where(
        kind == 0,
        centres[which, 1] + rng.normal(0, 250, n),
        y0 - SIDE / 2 + rng.uniform(0, SIDE, n),
    )
    drift = x0 - 4000 + day * 8.0  # a hotspot moving east about 240 m a month
    x = np.where(kind == 1, drift + rng.normal(0, 200, n), x)
    y = np.where(kind == 1, y0 + 3000 + rng.normal(0, 200, n), y)
    return x, y


def generate(
    rng: np.random.Generator, days: int = 730, per_day: float = 40.0
) -> list[dict[str, str]]:
    start = datetime(2024, 11, 1, tzinfo=UTC)
    season = 1 + 0.2 * np.sin(2 * np.pi * (np.arange(days) - 100) / 365)
    counts = rng.poisson(per_day * season)
    day = np.repeat(np.arange(days), counts).astype(float)
    x, y = _points(rng, len(day), day)
    cats = rng.choice(
        list(CATEGORY_SHARES),
        size=len(day),
        p=np.array(list(CATEGORY_SHARES.values())) / sum(CATEGORY_SHARES.values()),
    )
    hours = np.where(
        rng.random(len(day)) < 0.6, rng.normal(21, 3, len(day)) % 24, rng.uniform(0, 24, len(day))
    )
    rows = [
        _row(f"D{i}", start, d, h, xi, yi, c)
        for i, (d, h, xi, yi, c) in enumerate(zip(day, hours, x, y, cats, strict=True))
    ]
    rows += _near_repeats(rng, start, [r for r in rows if r["category"] == "burglary"])
    return rows


def _near_repeats(
    rng: np.random.Generator, start: datetime, burglaries: list[dict[str, str]]
) -> list[dict[str, str]]:
    """A fifth of burglaries are followed by another within about 100 m and a fortnight."""
    extra = []
    for n, row in enumerate(burglaries):
        if rng.random() >= 0.2:
            continue
        when = datetime.fromisoformat(row["occurred_at"]).replace(tzinfo=UTC)
        day = (when - start).total_seconds() / 86400
        e, nn = float(row["_e"]), float(row["_n"])
        extra.append(
            _row(
                f"N{n}",
                start,
                day + rng.uniform(0, 14),
                rng.uniform(0, 24),
                e + rng.normal(0, 60),
                nn + rng.normal(0, 60),
                "burglary",
            )
        )
    return extra


def _row(
    crime_id: str, start: datetime, day: float, hour: float, x: float, y: float, category: str
) -> dict[str, str]:
    lat, lon = bng_to_wgs84(x, y)
    when = start + timedelta(days=int(day), hours=float(hour))
    return {
        "id": crime_id,
        "occurred_at": when.strftime("%Y-%m-%dT%H:%M:%S"),
        "lat": f"{lat:.6f}",
        "lon": f"{lon:.6f}",
        "category": category,
        "_e": f"{x:.1f}",
        "_n": f"{y:.1f}",
    }


def load_crime_demo(out_dir: Path, seed: int = 20261122) -> ImportReport | None:
    """Generate and import the demo dataset unless it is there already."""
    if DATASET in list_datasets(out_dir):
        return None
    rows = generate(np.random.default_rng(seed))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "wessex-demo.csv"
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(
                handle, fieldnames=list(MAPPING.values()), extrasaction="ignore"
            )
            writer.writeheader()
            writer.writerows(sorted(rows, key=lambda r: r["occurred_at"]))
        return import_generic(path, DATASET, out_dir, MAPPING)
