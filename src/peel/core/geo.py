"""Where something happened, from whatever a person can give: a map pin, latitude and
longitude, a postcode, a Plus Code, an OS grid reference or British National Grid metres.

Every parser returns a :class:`Location` carrying both WGS84 (EPSG:4326) and British
National Grid (EPSG:27700) coordinates, plus the Plus Code and 10-figure grid reference of
the point, or raises :class:`~peel.core.errors.InvalidInput` keyed by the form field.

Conversions use pyproj with its network access left off (its default), so no transformation
grid is ever downloaded at run time. Without the OSTN15 grid installed locally the
conversion is the OSGB36 7-parameter Helmert transformation, good to about 2-5 metres; if
the grid is installed in pyproj's data folder it is used automatically (sub-metre).
Northern Ireland points are given British National Grid coordinates too (not Irish Grid).
"""

from __future__ import annotations

import csv
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import shapefile
import shapely
from openlocationcode import openlocationcode as olc
from pyproj import CRS, Transformer
from shapely.geometry import Point, shape
from shapely.strtree import STRtree

from peel.core.errors import InvalidInput

SOURCES = ("map", "latlon", "postcode", "plus_code", "grid_reference", "bng")

# A coarse box around the UK and the Isle of Man (Jersey and Guernsey lie further south).
UK_LAT = (49.8, 60.95)
UK_LON = (-8.7, 1.9)
BNG_EASTING = (0.0, 700_000.0)
BNG_NORTHING = (0.0, 1_300_000.0)

_EXAMPLE_LATLON = "for example 51.501009, -0.141588"
_EXAMPLE_GRID = "for example TQ 30260 80880"
_EXAMPLE_PLUS = "for example 9C3XGV4C+XV"
_EXAMPLE_POSTCODE = "for example SW1A 1AA"

# Outward code then inward code, without the space (UK Government Data Standards pattern).
_POSTCODE = re.compile(
    r"GIR0AA|[A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPS-UW]"
    r"|[A-HK-Y][0-9][ABEHMNPRV-Y])[0-9][ABD-HJLNP-UW-Z]{2}"
)
_OUTWARD_ONLY = re.compile(r"[A-PR-UWYZ][A-Z]?[0-9][0-9A-Z]?")
_GRID_REFERENCE = re.compile(r"([A-Z]{2})\s*([0-9]*)(?:\s+([0-9]+))?")

# The 25 grid letters: the alphabet without I.
_GRID_LETTERS = "ABCDEFGHJKLMNOPQRSTUVWXYZ"
# 100 km squares of the National Grid that contain land in Great Britain.
_LAND_SQUARE_LIST = (
    "HP HT HU HW HX HY HZ NA NB NC ND NF NG NH NJ NK NL NM NN NO NR NS NT NU NW NX NY NZ "
    "OV SC SD SE SH SJ SK SM SN SO SP SR SS ST SU SV SW SX SY SZ TA TF TG TL TM TQ TR TV"
)
LAND_SQUARES = frozenset(_LAND_SQUARE_LIST.split())


@dataclass(frozen=True)
class Location:
    """A point in both WGS84 and British National Grid, with how the person gave it."""

    lat: float
    lon: float
    easting: float
    northing: float
    source: str
    text: str
    postcode: str | None = None
    plus_code: str | None = None
    grid_reference: str | None = None


class Geocoder(Protocol):
    """Turns a normalised postcode into (lat, lon), or None when it is not known."""

    def lookup(self, postcode: str) -> tuple[float, float] | None: ...


# --- Coordinate conversion -------------------------------------------------------------


@cache
def _transformer(source_epsg: int, target_epsg: int) -> Transformer:
    """One cached transformer per direction; ballpark (100 m) fallbacks are refused."""
    return Transformer.from_crs(
        source_epsg, target_epsg, always_xy=True, only_best=False, allow_ballpark=False
    )


def wgs84_to_bng(lat: float, lon: float) -> tuple[float, float]:
    """Convert WGS84 latitude and longitude to British National Grid (easting, northing)."""
    easting, northing = _transformer(4326, 27700).transform(lon, lat)
    if not (math.isfinite(easting) and math.isfinite(northing)):
        raise ValueError(f"cannot convert {lat}, {lon} to British National Grid")
    return float(easting), float(northing)


def bng_to_wgs84(easting: float, northing: float) -> tuple[float, float]:
    """Convert British National Grid metres to WGS84 (lat, lon)."""
    lon, lat = _transformer(27700, 4326).transform(easting, northing)
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise ValueError(f"cannot convert {easting}, {northing} to latitude and longitude")
    return float(lat), float(lon)


def bng_to_wgs84_many(easting: Any, northing: Any) -> tuple[Any, Any]:
    """Convert arrays of British National Grid metres to WGS84 (lat array, lon array)."""
    lon, lat = _transformer(27700, 4326).transform(easting, northing)
    return lat, lon


# --- OS grid references ----------------------------------------------------------------


def _square_letters(e100k: int, n100k: int) -> str:
    """The two letters of the 100 km square with this south-west corner (in 100 km)."""
    first = (19 - n100k) - (19 - n100k) % 5 + (e100k + 10) // 5
    second = (19 - n100k) * 5 % 25 + e100k % 5
    return _GRID_LETTERS[first] + _GRID_LETTERS[second]


_SQUARES: dict[str, tuple[int, int]] = {
    _square_letters(e, n): (e, n) for e in range(7) for n in range(13)
}


def to_grid_reference(easting: float, northing: float, digits: int = 10) -> str:
    """Format BNG metres as an OS grid reference such as ``TQ 30260 80880``.

    The digits are truncated, as the OS convention is: the reference names the square the
    point lies in. ``digits`` is the total count, 0 to 10 and even.
    """
    if digits not in (0, 2, 4, 6, 8, 10):
        raise ValueError("digits must be 0, 2, 4, 6, 8 or 10")
    if not (0 <= easting < BNG_EASTING[1] and 0 <= northing < BNG_NORTHING[1]):
        raise ValueError(f"{easting}, {northing} is outside the British National Grid")
    e100k, n100k = int(easting // 100_000), int(northing // 100_000)
    letters = _square_letters(e100k, n100k)
    per_axis = digits // 2
    if per_axis == 0:
        return letters
    size = 10 ** (5 - per_axis)
    east = int((easting - e100k * 100_000) // size)
    north = int((northing - n100k * 100_000) // size)
    return f"{letters} {east:0{per_axis}d} {north:0{per_axis}d}"


def _grid_reference_or_none(easting: float, northing: float) -> str | None:
    """The 10-figure grid reference, or None when the point is off the grid."""
    try:
        return to_grid_reference(easting, northing, 10)
    except ValueError:
        return None


def _split_grid_reference(text: str, field: str) -> tuple[str, str, str]:
    """Split a grid reference into its letters and equal-length easting/northing digits."""
    cleaned = " ".join(str(text).upper().split())
    match = _GRID_REFERENCE.fullmatch(cleaned)
    if not match:
        raise InvalidInput(
            {field: f"Enter an OS grid reference: two letters then digits, {_EXAMPLE_GRID}"}
        )
    letters, first, second = match.group(1), match.group(2), match.group(3)
    if second is not None and len(first) != len(second):
        raise InvalidInput(
            {
                field: "Give the same number of digits for the easting and the northing, "
                "for example TQ 302 808"
            }
        )
    digits = first + (second or "")
    if len(digits) % 2 or len(digits) > 10:
        raise InvalidInput(
            {
                field: "Use an even number of digits, at most 10 (5 for each direction), "
                f"{_EXAMPLE_GRID}"
            }
        )
    half = len(digits) // 2
    return letters, digits[:half], digits[half:]


def from_grid_reference(text: str, field: str = "grid_reference") -> Location:
    """Parse an OS grid reference (``TQ 30260 80880``, ``TQ3026080880``, ``SU 41 12``).

    The point is the CENTRE of the referenced square, so precision stays honest:
    ``TQ 302 808`` (a 100 m square) gives easting 530250, northing 180850.
    Only 100 km squares containing land in Great Britain are accepted.
    """
    letters, east, north = _split_grid_reference(text, field)
    if letters not in LAND_SQUARES:
        raise InvalidInput(
            {
                field: f"{letters} is not a grid square in Great Britain. Check the two "
                f"letters, {_EXAMPLE_GRID}"
            }
        )
    e100k, n100k = _SQUARES[letters]
    size = 10 ** (5 - len(east))
    easting = e100k * 100_000 + int(east or 0) * size + size / 2
    northing = n100k * 100_000 + int(north or 0) * size + size / 2
    normalised = " ".join(part for part in (letters, east, north) if part)
    return _from_bng_point(easting, northing, "grid_reference", normalised)


# --- Building locations ----------------------------------------------------------------


def _build(
    lat: float,
    lon: float,
    easting: float,
    northing: float,
    source: str,
    text: str,
    postcode: str | None = None,
) -> Location:
    """Fill in the Plus Code and grid reference every location carries."""
    return Location(
        lat=lat,
        lon=lon,
        easting=easting,
        northing=northing,
        source=source,
        text=text,
        postcode=postcode,
        plus_code=olc.encode(lat, lon, 10),
        grid_reference=_grid_reference_or_none(easting, northing),
    )


def _from_wgs84_point(
    lat: float, lon: float, source: str, text: str, postcode: str | None = None
) -> Location:
    easting, northing = wgs84_to_bng(lat, lon)
    return _build(lat, lon, easting, northing, source, text, postcode)


def _from_bng_point(easting: float, northing: float, source: str, text: str) -> Location:
    lat, lon = bng_to_wgs84(easting, northing)
    return _build(lat, lon, easting, northing, source, text)


def _fmt(value: float, places: int) -> str:
    """A number with at most ``places`` decimals and no trailing zeros."""
    return f"{value:.{places}f}".rstrip("0").rstrip(".")


def _number(value: object, field: str, message: str, low: float, high: float) -> float:
    """Read a finite number within [low, high] from a string or number, else raise."""
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise InvalidInput({field: message}) from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise InvalidInput({field: message})
    if not (math.isfinite(number) and low <= number <= high):
        raise InvalidInput({field: message})
    return number


def _in_uk(lat: float, lon: float) -> bool:
    return UK_LAT[0] <= lat <= UK_LAT[1] and UK_LON[0] <= lon <= UK_LON[1]


def _outside_uk_message(lat: float, lon: float) -> str:
    if _in_uk(lon, lat):
        return (
            "That point is outside the UK. The latitude and longitude look the wrong way "
            f"round: latitude comes first, {_EXAMPLE_LATLON}"
        )
    return f"That point is outside the UK. Give a point in the UK, {_EXAMPLE_LATLON}"


def _read_latlon(lat: object, lon: object, lat_field: str, lon_field: str) -> tuple[float, float]:
    """Read and check both coordinates, reporting every problem at once."""
    errors: dict[str, str] = {}
    values: list[float] = []
    for value, field, name, limit in (
        (lat, lat_field, "latitude", 90.0),
        (lon, lon_field, "longitude", 180.0),
    ):
        message = f"Enter the {name} as a number from -{limit:g} to {limit:g}, {_EXAMPLE_LATLON}"
        try:
            values.append(_number(value, field, message, -limit, limit))
        except InvalidInput:
            errors[field] = message
    if len(values) == 0 and lat_field == lon_field:
        errors[lat_field] = f"Enter the latitude and longitude as numbers, {_EXAMPLE_LATLON}"
    if errors:
        raise InvalidInput(errors)
    if not _in_uk(values[0], values[1]):
        raise InvalidInput({lat_field: _outside_uk_message(values[0], values[1])})
    return values[0], values[1]


def _latlon_location(
    lat: object, lon: object, source: str, lat_field: str, lon_field: str
) -> Location:
    latitude, longitude = _read_latlon(lat, lon, lat_field, lon_field)
    text = f"{_fmt(latitude, 6)}, {_fmt(longitude, 6)}"
    return _from_wgs84_point(latitude, longitude, source, text)


def from_latlon(lat: float | str, lon: float | str, field: str = "latlon") -> Location:
    """A point from WGS84 latitude and longitude in decimal degrees, inside the UK box."""
    return _latlon_location(lat, lon, "latlon", field, field)


def from_map_pin(lat: float | str, lon: float | str, field: str = "latlon") -> Location:
    """A point someone dropped on a map: ``from_latlon`` with source ``map``."""
    return _latlon_location(lat, lon, "map", field, field)


def from_bng(
    easting: float | str,
    northing: float | str,
    *,
    fields: tuple[str, str] = ("easting", "northing"),
) -> Location:
    """A point from British National Grid metres (easting 0-700000, northing 0-1300000)."""
    errors: dict[str, str] = {}
    values: list[float] = []
    checks = (
        (
            easting,
            fields[0],
            "Enter the easting in metres, from 0 to 700000, for example 529090",
            BNG_EASTING,
        ),
        (
            northing,
            fields[1],
            "Enter the northing in metres, from 0 to 1300000, for example 179645",
            BNG_NORTHING,
        ),
    )
    for value, field, message, (low, high) in checks:
        try:
            values.append(_number(value, field, message, low, high))
        except InvalidInput as error:
            errors.update(error.errors)
    if errors:
        raise InvalidInput(errors)
    text = f"{_fmt(values[0], 2)}, {_fmt(values[1], 2)}"
    return _from_bng_point(values[0], values[1], "bng", text)


# --- Plus Codes ------------------------------------------------------------------------


def _full_plus_code(text: str, reference: tuple[float, float] | None, field: str) -> str:
    """Check a Plus Code and, if it is a short one, recover it near ``reference``."""
    words = str(text).split()
    if len(words) > 1:
        raise InvalidInput(
            {
                field: "Enter the Plus Code on its own, without a place name. Use the full "
                f"code, {_EXAMPLE_PLUS}"
            }
        )
    code = words[0].upper() if words else ""
    if not olc.isValid(code):
        raise InvalidInput({field: f"Enter a Plus Code, {_EXAMPLE_PLUS}"})
    if olc.isFull(code):
        return str(code)
    if reference is None:
        raise InvalidInput(
            {
                field: "That is a short Plus Code. Enter the full code, with the four "
                f"characters before it, {_EXAMPLE_PLUS}"
            }
        )
    return str(olc.recoverNearest(code, reference[0], reference[1]))


def from_plus_code(
    text: str, reference: tuple[float, float] | None = None, field: str = "plus_code"
) -> Location:
    """A point from a Plus Code; the centre of the code's area.

    Full codes (``9C3XGV4C+XV``) stand alone; short codes (``GV4C+XV``) need a nearby
    ``reference`` (lat, lon) to recover the full code.
    """
    code = _full_plus_code(text, reference, field)
    area = olc.decode(code)
    lat, lon = float(area.latitudeCenter), float(area.longitudeCenter)
    if not _in_uk(lat, lon):
        raise InvalidInput(
            {field: f"That point is outside the UK. Check the code, {_EXAMPLE_PLUS}"}
        )
    return _from_wgs84_point(lat, lon, "plus_code", " ".join(str(text).upper().split()))


# --- Postcodes -------------------------------------------------------------------------


def normalise_postcode(text: str, field: str = "postcode") -> str:
    """Check a UK postcode's format and return it upper case with one space (``SW1A 1AA``)."""
    compact = "".join(str(text).split()).upper()
    if _POSTCODE.fullmatch(compact):
        return f"{compact[:-3]} {compact[-3:]}"
    if _OUTWARD_ONLY.fullmatch(compact):
        message = f"Enter the full postcode, including the last part, {_EXAMPLE_POSTCODE}"
    else:
        message = f"Enter a full UK postcode, {_EXAMPLE_POSTCODE}"
    raise InvalidInput({field: message})


def from_postcode(
    text: str, geocoder: Geocoder | None = None, field: str = "postcode"
) -> Location | None:
    """A point for a postcode, or None when the postcode is well formed but not known.

    Raises ``InvalidInput`` only for a badly formed postcode. When the geocoder does not
    know the postcode (or there is none) the result is None: the caller keeps the
    normalised postcode text without coordinates rather than rejecting the person's answer.
    """
    postcode = normalise_postcode(text, field)
    point = geocoder.lookup(postcode) if geocoder is not None else None
    if point is None:
        return None
    return _from_wgs84_point(point[0], point[1], "postcode", postcode, postcode=postcode)


_CSV_POSTCODE = ("postcode", "pcds", "pcd")
_CSV_LAT = ("lat", "latitude")
_CSV_LON = ("lon", "long", "lng", "longitude")


def _pick_column(names: list[str], wanted: tuple[str, ...]) -> str | None:
    lowered = {name.strip().lower(): name for name in names}
    return next((lowered[w] for w in wanted if w in lowered), None)


class OfflineGeocoder:
    """Postcode look-up from a local CSV (``postcode, lat, lon``); no network, ever.

    An ONS Postcode Directory extract works directly (``pcds``/``lat``/``long`` are also
    recognised). Rows without usable coordinates are skipped. The file is read once, on the
    first look-up; with no file every look-up returns None.
    """

    def __init__(self, csv_path: Path | None = None) -> None:
        self.csv_path = csv_path
        self._points: dict[str, tuple[float, float]] | None = None
        self._lock = threading.Lock()

    def lookup(self, postcode: str) -> tuple[float, float] | None:
        """The (lat, lon) of a postcode in any spacing or case, or None if unknown."""
        if self.csv_path is None:
            return None
        if self._points is None:
            with self._lock:
                if self._points is None:
                    self._points = self._load(self.csv_path)
        return self._points.get("".join(postcode.split()).upper())

    @staticmethod
    def _load(path: Path) -> dict[str, tuple[float, float]]:
        points: dict[str, tuple[float, float]] = {}
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            names = list(reader.fieldnames or [])
            columns = [
                _pick_column(names, wanted) for wanted in (_CSV_POSTCODE, _CSV_LAT, _CSV_LON)
            ]
            if None in columns:
                raise ValueError(
                    f"{path} needs the columns postcode, lat and lon; it has {', '.join(names)}"
                )
            code_col, lat_col, lon_col = (str(c) for c in columns)
            for row in reader:
                try:
                    lat, lon = float(row[lat_col]), float(row[lon_col])
                except (TypeError, ValueError):
                    continue
                if abs(lat) <= 90 and abs(lon) <= 180:  # ONSPD marks "no location" as 99.999999
                    points["".join((row[code_col] or "").split()).upper()] = (lat, lon)
        return points


# --- One entry point for forms ---------------------------------------------------------

_KINDS_MESSAGE = (
    "Choose how to give the location: map, latlon, postcode, plus_code, grid_reference or bng"
)


def _required(values: Mapping[str, str], field: str, message: str) -> str:
    value = (values.get(field) or "").strip()
    if not value:
        raise InvalidInput({field: message})
    return value


def parse_location(
    kind: str,
    values: Mapping[str, str],
    geocoder: Geocoder | None = None,
    *,
    reference: tuple[float, float] | None = None,
) -> Location | None:
    """Parse a location form: ``kind`` says which fields to read from ``values``.

    Fields are ``lat``, ``lon``, ``postcode``, ``plus_code``, ``grid_reference``,
    ``easting`` and ``northing``; errors are keyed by them. Returns None only for a
    well-formed postcode the geocoder does not know (see ``from_postcode``).
    """
    if kind in ("map", "latlon"):
        return _latlon_location(values.get("lat"), values.get("lon"), kind, "lat", "lon")
    if kind == "postcode":
        text = _required(values, "postcode", f"Enter a postcode, {_EXAMPLE_POSTCODE}")
        return from_postcode(text, geocoder)
    if kind == "plus_code":
        text = _required(values, "plus_code", f"Enter a Plus Code, {_EXAMPLE_PLUS}")
        return from_plus_code(text, reference)
    if kind == "grid_reference":
        text = _required(values, "grid_reference", f"Enter a grid reference, {_EXAMPLE_GRID}")
        return from_grid_reference(text)
    if kind == "bng":
        return from_bng(values.get("easting", ""), values.get("northing", ""))
    raise InvalidInput({"kind": _KINDS_MESSAGE})


# --- Boundaries ------------------------------------------------------------------------


@dataclass(frozen=True)
class Area:
    """The small statistical area (LSOA) a point lies in, and its police force if known."""

    lsoa_code: str
    lsoa_name: str
    force_name: str | None = None


def _dbf_fields(path: Path) -> list[str]:
    with shapefile.Reader(str(path)) as reader:
        return [field.name for field in reader.fields[1:]]


def _guess_fields(names: list[str]) -> tuple[str, str]:
    """The first ``…CD`` field that has a matching ``…NM`` field (``LSOA11CD``/``LSOA11NM``)."""
    for name in names:
        if name.upper().endswith("CD") and f"{name[:-2]}NM" in names:
            return name, f"{name[:-2]}NM"
    raise ValueError(f"no code/name field pair (like LSOA11CD/LSOA11NM) among {names}")


def _check_bng(path: Path) -> None:
    prj = path.with_suffix(".prj")
    if prj.exists() and CRS.from_wkt(prj.read_text()).to_epsg() != 27700:
        raise ValueError(
            f"{path} is not in British National Grid (EPSG:27700); reproject it first, "
            "for example with ogr2ogr -t_srs EPSG:27700"
        )


def _load_forces(path: Path) -> dict[str, str]:
    """LSOA code to police force name from a CSV with ``LSOA Code`` and a force column."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        names = list(reader.fieldnames or [])
        simple = {re.sub(r"[^a-z0-9]", "", name.lower()): name for name in names}
        code = next((simple[k] for k in ("lsoacode", "lsoa11cd", "lsoa21cd") if k in simple), None)
        force = next((name for key, name in simple.items() if "force" in key), None)
        if code is None or force is None:
            raise ValueError(f"{path} needs an LSOA code column and a police force column")
        return {
            row[code].strip(): row[force].strip()
            for row in reader
            if row.get(code) and (row.get(force) or "").strip()
        }


class AreaLookup:
    """Which LSOA (and police force) contains a BNG point, from a polygon shapefile.

    The shapefile must be in EPSG:27700. Polygons are read once, on the first look-up,
    into a shapely STRtree. Points in gaps between (generalised) polygons give None.
    """

    def __init__(
        self,
        shapefile_path: Path,
        code_field: str = "LSOA11CD",
        name_field: str = "LSOA11NM",
        force_csv: Path | None = None,
    ) -> None:
        self.shapefile_path = Path(shapefile_path)
        self.code_field = code_field
        self.name_field = name_field
        self.force_csv = force_csv
        self._index: tuple[STRtree, list[tuple[str, str]], dict[str, str]] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_paths(
        cls,
        shapefile_path: Path,
        force_csv: Path | None = None,
        *,
        code_field: str | None = None,
        name_field: str | None = None,
    ) -> AreaLookup:
        """Build a look-up, finding the code and name fields from the .dbf if not given."""
        if code_field is None or name_field is None:
            code_field, name_field = _guess_fields(_dbf_fields(Path(shapefile_path)))
        return cls(Path(shapefile_path), code_field, name_field, force_csv)

    def _load(self) -> tuple[STRtree, list[tuple[str, str]], dict[str, str]]:
        _check_bng(self.shapefile_path)
        geometries, labels = [], []
        with shapefile.Reader(str(self.shapefile_path)) as reader:
            for item in reader.iterShapeRecords():
                geometry = shape(item.shape.__geo_interface__)
                if not geometry.is_valid:
                    geometry = shapely.make_valid(geometry)
                record = item.record.as_dict()
                geometries.append(geometry)
                labels.append((str(record[self.code_field]), str(record[self.name_field])))
        forces = _load_forces(self.force_csv) if self.force_csv else {}
        return STRtree(geometries), labels, forces

    def area_for(self, easting: float, northing: float) -> Area | None:
        """The area containing this BNG point, or None if no polygon contains it."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = self._load()
        tree, labels, forces = self._index
        hits = tree.query(Point(easting, northing), predicate="intersects")
        if len(hits) == 0:
            return None
        code, name = labels[int(min(hits))]
        return Area(lsoa_code=code, lsoa_name=name, force_name=forces.get(code))
