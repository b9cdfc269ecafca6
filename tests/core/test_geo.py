"""Locations from map pins, coordinates, postcodes, Plus Codes and grid references."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peel.core import geo
from peel.core.errors import InvalidInput
from peel.core.geo import (
    LAND_SQUARES,
    AreaLookup,
    OfflineGeocoder,
    bng_to_wgs84,
    from_bng,
    from_grid_reference,
    from_latlon,
    from_map_pin,
    from_plus_code,
    from_postcode,
    normalise_postcode,
    parse_location,
    to_grid_reference,
    wgs84_to_bng,
)

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LSOA_SHAPEFILE = SHARED_DATA / "boundaries" / "london-2011-lsoa-gen20.shp"
FORCE_CSV = SHARED_DATA / "lookups" / "PoliceforceLSOA.csv"

BUCKINGHAM_PALACE = (51.501009, -0.141588)
PALACE_BNG = (529090.0, 179645.0)


def errors_of(call: object, *args: object, **kwargs: object) -> dict[str, str]:
    assert callable(call)
    with pytest.raises(InvalidInput) as raised:
        call(*args, **kwargs)
    return raised.value.errors


# --- Conversions -------------------------------------------------------------------------


def test_wgs84_to_bng_matches_a_known_point() -> None:
    easting, northing = wgs84_to_bng(*BUCKINGHAM_PALACE)
    assert math.dist((easting, northing), PALACE_BNG) < 5


def test_bng_to_wgs84_matches_a_known_point() -> None:
    lat, lon = bng_to_wgs84(*PALACE_BNG)
    assert lat == pytest.approx(BUCKINGHAM_PALACE[0], abs=5e-5)
    assert lon == pytest.approx(BUCKINGHAM_PALACE[1], abs=5e-5)


@settings(max_examples=300, deadline=None)
@given(
    easting=st.floats(min_value=0, max_value=700_000),
    northing=st.floats(min_value=0, max_value=1_300_000),
)
def test_bng_round_trips_through_wgs84_within_a_centimetre(easting: float, northing: float) -> None:
    lat, lon = bng_to_wgs84(easting, northing)
    back = wgs84_to_bng(lat, lon)
    assert math.dist(back, (easting, northing)) < 0.01


# --- Grid references ---------------------------------------------------------------------


def test_ten_figure_reference_is_the_centre_of_its_metre_square() -> None:
    location = from_grid_reference("TQ 30260 80880")
    assert (location.easting, location.northing) == (530260.5, 180880.5)
    assert location.source == "grid_reference"
    assert location.grid_reference == "TQ 30260 80880"
    # Through WGS84 and back lands within a metre of the centre.
    assert math.dist(wgs84_to_bng(location.lat, location.lon), (530260.5, 180880.5)) < 1


@pytest.mark.parametrize(
    ("text", "normalised", "centre"),
    [
        ("TQ 30260 80880", "TQ 30260 80880", (530260.5, 180880.5)),
        ("TQ3026080880", "TQ 30260 80880", (530260.5, 180880.5)),
        ("tq 302 808", "TQ 302 808", (530250, 180850)),
        ("  SU  41 12 ", "SU 41 12", (441500, 112500)),
        ("SU4112", "SU 41 12", (441500, 112500)),
        ("NN 166 712", "NN 166 712", (216650, 771250)),  # Ben Nevis
        ("HP 6 1", "HP 6 1", (465000, 1215000)),
        ("TQ", "TQ", (550000, 150000)),
    ],
)
def test_grid_references_parse_to_the_centre_of_the_square(
    text: str, normalised: str, centre: tuple[float, float]
) -> None:
    location = from_grid_reference(text)
    assert location.text == normalised
    assert (location.easting, location.northing) == centre


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TQ 3026 808", "same number of digits"),
        ("TQ 30260 8088", "same number of digits"),
        ("TQ 3026080", "even number of digits"),
        ("TQ 302608 808808", "at most 10"),
        ("TW 123 456", "TW is not a grid square in Great Britain"),
        ("IQ 123 456", "IQ is not a grid square in Great Britain"),
        ("ZZ 123 456", "ZZ is not a grid square in Great Britain"),
        ("T 123 456", "two letters then digits"),
        ("530260 180880", "two letters then digits"),
        ("", "two letters then digits"),
    ],
)
def test_bad_grid_references_say_what_was_expected(text: str, expected: str) -> None:
    message = errors_of(from_grid_reference, text)["grid_reference"]
    assert expected in message
    assert "for example" in message


def test_the_land_squares_are_all_on_the_grid() -> None:
    assert set(LAND_SQUARES) <= set(geo._SQUARES)
    assert len(geo._SQUARES) == 7 * 13


@pytest.mark.parametrize(
    ("point", "digits", "expected"),
    [
        ((530260.9, 180880.2), 10, "TQ 30260 80880"),
        ((530260.9, 180880.2), 6, "TQ 302 808"),
        ((441599, 112999), 4, "SU 41 12"),
        ((441599, 112999), 0, "SU"),
        ((0.0, 0.0), 10, "SV 00000 00000"),
        ((699_999.9, 1_299_999.9), 2, "JM 9 9"),
    ],
)
def test_to_grid_reference_truncates(
    point: tuple[float, float], digits: int, expected: str
) -> None:
    assert to_grid_reference(*point, digits=digits) == expected


def test_to_grid_reference_refuses_points_off_the_grid_and_odd_digits() -> None:
    with pytest.raises(ValueError):
        to_grid_reference(-1, 100)
    with pytest.raises(ValueError):
        to_grid_reference(700_000, 100)
    with pytest.raises(ValueError):
        to_grid_reference(530000, 180000, digits=5)


@st.composite
def land_points(draw: st.DrawFn) -> tuple[float, float]:
    e100k, n100k = geo._SQUARES[draw(st.sampled_from(sorted(LAND_SQUARES)))]
    offset = st.floats(min_value=0, max_value=99_999.999, allow_nan=False)
    return e100k * 100_000 + draw(offset), n100k * 100_000 + draw(offset)


@settings(max_examples=300, deadline=None)
@given(point=land_points(), digits=st.sampled_from([0, 2, 4, 6, 8, 10]))
def test_grid_reference_formatting_round_trips(point: tuple[float, float], digits: int) -> None:
    reference = to_grid_reference(*point, digits=digits)
    location = from_grid_reference(reference)
    half = 10 ** (5 - digits // 2) / 2
    assert abs(location.easting - point[0]) <= half
    assert abs(location.northing - point[1]) <= half
    assert location.text == reference
    assert to_grid_reference(location.easting, location.northing, digits) == reference


# --- Latitude and longitude ---------------------------------------------------------------


def test_latlon_fills_every_representation() -> None:
    location = from_latlon("51.501009", " -0.141588 ")
    assert location.source == "latlon"
    assert location.text == "51.501009, -0.141588"
    assert math.dist((location.easting, location.northing), PALACE_BNG) < 5
    assert location.plus_code == "9C3XGV25+C9"
    assert location.grid_reference is not None
    assert location.grid_reference.startswith("TQ 2908")


def test_map_pin_is_latlon_with_its_own_source() -> None:
    location = from_map_pin(*BUCKINGHAM_PALACE)
    assert location.source == "map"
    assert location == replace(from_latlon(*BUCKINGHAM_PALACE), source="map")


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        (48.8566, 2.3522, "That point is outside the UK"),  # Paris
        (40.7128, -74.006, "That point is outside the UK"),  # New York
        (-0.141588, 51.501009, "wrong way round"),
        ("north", "-0.1", "Enter the latitude"),
        ("nan", "-0.1", "Enter the latitude"),
        ("51.5", "inf", "Enter the longitude"),
        (91, -0.1, "Enter the latitude"),
        (51.5, -181, "Enter the longitude"),
        ("", "", "Enter the latitude and longitude"),
    ],
)
def test_bad_latlon_is_rejected(lat: object, lon: object, expected: str) -> None:
    message = errors_of(from_latlon, lat, lon)["latlon"]
    assert expected in message
    assert "for example" in message


@pytest.mark.parametrize(
    "point",
    [(54.597, -5.930), (60.15, -1.15), (49.91, -6.31), (54.15, -4.48), (52.48, 1.75)],
    ids=["Belfast", "Lerwick", "Isles of Scilly", "Isle of Man", "Lowestoft"],
)
def test_the_edges_of_the_uk_are_accepted(point: tuple[float, float]) -> None:
    assert from_latlon(*point).lat == point[0]


# --- British National Grid ----------------------------------------------------------------


def test_bng_from_strings() -> None:
    location = from_bng("529090", "179645.0")
    assert location.source == "bng"
    assert location.text == "529090, 179645"
    assert location.lat == pytest.approx(BUCKINGHAM_PALACE[0], abs=5e-5)
    assert location.grid_reference == "TQ 29090 79645"


def test_bad_bng_names_each_field() -> None:
    errors = errors_of(from_bng, "-5", "1300001")
    assert set(errors) == {"easting", "northing"}
    assert "for example 529090" in errors["easting"]
    assert "for example 179645" in errors["northing"]


# --- Postcodes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sw1a1aa", "SW1A 1AA"),
        ("SW1A 1AA", "SW1A 1AA"),
        ("  ec1a   1bb ", "EC1A 1BB"),
        ("M11AE", "M1 1AE"),
        ("b338th", "B33 8TH"),
        ("CR2 6XH", "CR2 6XH"),
        ("DN551PT", "DN55 1PT"),
        ("W1A 0AX", "W1A 0AX"),
        ("bt1 5gs", "BT1 5GS"),
        ("GIR 0AA", "GIR 0AA"),
    ],
)
def test_postcodes_are_normalised(text: str, expected: str) -> None:
    assert normalise_postcode(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SW1A1A", "Enter a full UK postcode"),
        ("12345", "Enter a full UK postcode"),
        ("ABC DEF", "Enter a full UK postcode"),
        ("", "Enter a full UK postcode"),
        ("QA1 1AA", "Enter a full UK postcode"),
        ("SW1A 1CA", "Enter a full UK postcode"),
        ("SW1A", "including the last part"),
    ],
)
def test_malformed_postcodes_are_rejected(text: str, expected: str) -> None:
    message = errors_of(normalise_postcode, text)["postcode"]
    assert expected in message
    assert "for example SW1A 1AA" in message


@pytest.fixture
def postcode_csv(tmp_path: Path) -> Path:
    path = tmp_path / "postcodes.csv"
    path.write_text(
        "postcode,lat,lon\n"
        "SW1A 1AA,51.501009,-0.141588\n"
        "EC1A1BB,51.520180,-0.097060\n"
        "ZZ9 9ZZ,99.999999,0.000000\n"
        "AB1 2CD,,\n",
        encoding="utf-8",
    )
    return path


def test_offline_geocoder_reads_a_csv_lazily(postcode_csv: Path) -> None:
    geocoder = OfflineGeocoder(postcode_csv)
    assert geocoder._points is None
    assert geocoder.lookup("SW1A 1AA") == (51.501009, -0.141588)
    assert geocoder.lookup("ec1a 1bb") == (51.52018, -0.09706)
    assert geocoder.lookup("ZZ9 9ZZ") is None  # "no location" rows are skipped
    assert geocoder.lookup("AB1 2CD") is None
    assert geocoder.lookup("N1 9GU") is None


def test_offline_geocoder_accepts_the_ons_column_names(tmp_path: Path) -> None:
    path = tmp_path / "onspd.csv"
    path.write_text("pcds,lat,long\nSW1A 1AA,51.501009,-0.141588\n", encoding="utf-8")
    assert OfflineGeocoder(path).lookup("SW1A1AA") == (51.501009, -0.141588)


def test_offline_geocoder_explains_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("code,x,y\nSW1A 1AA,1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="needs the columns postcode, lat and lon"):
        OfflineGeocoder(path).lookup("SW1A 1AA")


def test_offline_geocoder_without_a_file_knows_nothing() -> None:
    assert OfflineGeocoder().lookup("SW1A 1AA") is None


def test_from_postcode_geocodes_known_postcodes(postcode_csv: Path) -> None:
    location = from_postcode("sw1a1aa", OfflineGeocoder(postcode_csv))
    assert location is not None
    assert location.source == "postcode"
    assert location.postcode == location.text == "SW1A 1AA"
    assert math.dist((location.easting, location.northing), PALACE_BNG) < 5


def test_from_postcode_returns_none_for_unknown_but_well_formed(postcode_csv: Path) -> None:
    assert from_postcode("N1 9GU", OfflineGeocoder(postcode_csv)) is None
    assert from_postcode("N1 9GU", None) is None
    assert "postcode" in errors_of(from_postcode, "N1 9G", OfflineGeocoder(postcode_csv))


# --- Plus Codes --------------------------------------------------------------------------


def test_full_plus_code() -> None:
    location = from_plus_code(" 9c3xgv4c+xv ")
    assert location.source == "plus_code"
    assert location.plus_code == "9C3XGV4C+XV"
    assert location.text == "9C3XGV4C+XV"
    assert location.lat == pytest.approx(51.5074375)
    assert location.lon == pytest.approx(-0.1278125)


def test_eleven_digit_plus_code_is_accepted_and_stored_as_ten() -> None:
    location = from_plus_code("9C3XGV4C+XV2")
    assert location.plus_code == "9C3XGV4C+XV"


def test_short_plus_code_is_recovered_near_the_reference() -> None:
    location = from_plus_code("GV4C+XV", reference=(51.5, -0.1))
    assert location.plus_code == "9C3XGV4C+XV"
    assert location.text == "GV4C+XV"


@pytest.mark.parametrize(
    ("text", "reference", "expected"),
    [
        ("GV4C+XV", None, "short Plus Code"),
        ("GV4C+XV London", None, "without a place name"),
        ("9C3XGV4C", None, "Enter a Plus Code"),
        ("hello+world", None, "Enter a Plus Code"),
        ("", None, "Enter a Plus Code"),
        ("8FW4V75V+8Q", None, "outside the UK"),  # Eiffel Tower
    ],
)
def test_bad_plus_codes_are_rejected(
    text: str, reference: tuple[float, float] | None, expected: str
) -> None:
    message = errors_of(from_plus_code, text, reference)["plus_code"]
    assert expected in message
    assert "for example 9C3XGV4C+XV" in message


# --- The form entry point ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "values", "source"),
    [
        ("map", {"lat": "51.501009", "lon": "-0.141588"}, "map"),
        ("latlon", {"lat": "51.501009", "lon": "-0.141588"}, "latlon"),
        ("plus_code", {"plus_code": "9C3XGV25+C9"}, "plus_code"),
        ("grid_reference", {"grid_reference": "TQ 29090 79645"}, "grid_reference"),
        ("bng", {"easting": "529090", "northing": "179645"}, "bng"),
    ],
)
def test_parse_location_dispatches_on_kind(kind: str, values: dict[str, str], source: str) -> None:
    location = parse_location(kind, values, None)
    assert location is not None
    assert location.source == source
    assert math.dist((location.easting, location.northing), PALACE_BNG) < 10


def test_parse_location_postcode(postcode_csv: Path) -> None:
    geocoder = OfflineGeocoder(postcode_csv)
    location = parse_location("postcode", {"postcode": "sw1a 1aa"}, geocoder)
    assert location is not None
    assert location.postcode == "SW1A 1AA"
    assert parse_location("postcode", {"postcode": "N1 9GU"}, geocoder) is None


def test_parse_location_short_plus_code_uses_the_reference() -> None:
    location = parse_location("plus_code", {"plus_code": "GV4C+XV"}, None, reference=(51.5, 0))
    assert location is not None
    assert location.plus_code == "9C3XGV4C+XV"


@pytest.mark.parametrize(
    ("kind", "values", "fields"),
    [
        ("latlon", {}, {"lat", "lon"}),
        ("map", {"lat": "51.5", "lon": "east"}, {"lon"}),
        ("latlon", {"lat": "48.8566", "lon": "2.3522"}, {"lat"}),
        ("postcode", {"postcode": " "}, {"postcode"}),
        ("postcode", {"postcode": "12345"}, {"postcode"}),
        ("plus_code", {}, {"plus_code"}),
        ("grid_reference", {"grid_reference": "XX 1 2"}, {"grid_reference"}),
        ("bng", {"easting": "529090"}, {"northing"}),
        ("what3words", {}, {"kind"}),
    ],
)
def test_parse_location_errors_are_keyed_by_field(
    kind: str, values: dict[str, str], fields: set[str]
) -> None:
    assert set(errors_of(parse_location, kind, values, None)) == fields


# --- Boundaries --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def london_lsoas() -> AreaLookup:
    for path in (LSOA_SHAPEFILE, FORCE_CSV):
        if not path.exists():
            pytest.skip(f"shared data not present: {path}")
    return AreaLookup.from_paths(LSOA_SHAPEFILE, FORCE_CSV)


def test_area_lookup_finds_the_fields_in_the_dbf(london_lsoas: AreaLookup) -> None:
    assert (london_lsoas.code_field, london_lsoas.name_field) == ("LSOA11CD", "LSOA11NM")


def test_city_of_london_point_is_in_a_city_of_london_lsoa(london_lsoas: AreaLookup) -> None:
    area = london_lsoas.area_for(*wgs84_to_bng(51.5155, -0.0922))
    assert area is not None
    print(f"City of London point: {area}; the lookup CSV calls the force {area.force_name!r}")
    assert area.lsoa_code.startswith("E01")
    assert area.lsoa_name.startswith("City of London")
    assert area.force_name == "City of London"


def test_westminster_point_is_policed_by_the_met(london_lsoas: AreaLookup) -> None:
    area = london_lsoas.area_for(*PALACE_BNG)
    assert area is not None
    assert area.lsoa_name.startswith("Westminster")
    assert area.force_name == "Metropolitan Police"


def test_points_outside_the_boundaries_have_no_area(london_lsoas: AreaLookup) -> None:
    manchester = from_latlon(53.4808, -2.2426)
    assert london_lsoas.area_for(manchester.easting, manchester.northing) is None


def test_area_lookup_without_force_csv_leaves_force_empty() -> None:
    if not LSOA_SHAPEFILE.exists():
        pytest.skip(f"shared data not present: {LSOA_SHAPEFILE}")
    area = AreaLookup.from_paths(LSOA_SHAPEFILE).area_for(*PALACE_BNG)
    assert area is not None
    assert area.force_name is None
