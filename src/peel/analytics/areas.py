"""LSOA choropleths: crimes per small area, drawn on the configured boundary polygons."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import shapefile

from peel.analytics.ingest import connect
from peel.analytics.service import _filters_sql, require_dataset
from peel.core.geo import _dbf_fields, _guess_fields, bng_to_wgs84_many


@cache
def _polygons(path: Path) -> dict[str, tuple[str, list[list[list[float]]]]]:
    """Every area's name and rings in WGS84, read once per boundary file (BNG shapefile)."""
    code_field, name_field = _guess_fields(_dbf_fields(path))
    areas: dict[str, tuple[str, list[list[list[float]]]]] = {}
    with shapefile.Reader(str(path)) as reader:
        names = [f[0] for f in reader.fields[1:]]
        code_at, name_at = names.index(code_field), names.index(name_field)
        for shape_record in reader.iterShapeRecords():
            shape = shape_record.shape
            points = np.asarray(shape.points, dtype=np.float64)
            if len(points) == 0:
                continue
            lat, lon = bng_to_wgs84_many(points[:, 0], points[:, 1])
            coords = np.column_stack([np.round(lon, 6), np.round(lat, 6)]).tolist()
            parts = [*shape.parts, len(coords)]
            rings = [coords[parts[i] : parts[i + 1]] for i in range(len(parts) - 1)]
            record = shape_record.record
            areas[str(record[code_at])] = (str(record[name_at]), rings)
    return areas


def lsoa_counts_sql(where: str) -> str:
    return (
        f"SELECT lsoa_code, count(*) FROM crime WHERE {where} AND lsoa_code IS NOT NULL "
        "GROUP BY 1 ORDER BY 2 DESC"
    )


def lsoa_choropleth(
    out_dir: Path,
    dataset: str,
    boundaries: Path,
    category: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> dict[str, Any]:
    """Crimes per LSOA as WGS84 polygons; areas missing from the boundary file are counted."""
    require_dataset(out_dir, dataset)
    where, params = _filters_sql(category, since, until)
    with connect(out_dir) as con:
        counts = con.execute(lsoa_counts_sql(where), [dataset, *params]).fetchall()
    polygons = _polygons(Path(boundaries))
    top = max((int(n) for _, n in counts), default=1)
    features, unmatched = [], 0
    for code, n in counts:
        if code not in polygons:
            unmatched += int(n)
            continue
        name, rings = polygons[code]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": rings},
                "properties": {
                    "code": code,
                    "name": name,
                    "value": int(n),
                    "level": round(int(n) / top, 3),
                    "hot": False,
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "crimes_outside_boundaries": unmatched,
    }
