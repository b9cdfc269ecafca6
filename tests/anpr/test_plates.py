"""Plate normalisation, UK format classification and the look-alike fuzzy key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peel.anpr.plates import PlateFormat, classify, display, fuzzy_key, is_valid, normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" ab51 cde ", "AB51CDE"),
        ("AB51-CDE", "AB51CDE"),
        ("ａｂ５１ｃｄｅ", "AB51CDE"),  # full-width forms fold to ASCII
        ("a.b.c 123", "ABC123"),
        ("", ""),
        ("  -- ", ""),
    ],
)
def test_normalise_strips_spaces_punctuation_and_case(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    ("plate", "fmt"),
    [
        ("AB51CDE", PlateFormat.current),
        ("YX02ABZ", PlateFormat.current),  # Z may end a current plate
        ("AB00CDE", PlateFormat.current),  # September 2050 to February 2051
        ("AB01CDE", PlateFormat.unknown),  # 01 was never issued
        ("IA51CDE", PlateFormat.unknown),  # I never in the memory tag
        ("QA51CDE", PlateFormat.unknown),  # nor Q
        ("ZA51CDE", PlateFormat.unknown),  # nor Z
        ("AB51CDI", PlateFormat.unknown),  # I never in the last three letters
        ("AB51QDE", PlateFormat.unknown),  # nor Q
        ("A123BCD", PlateFormat.prefix),
        ("P7ABC", PlateFormat.prefix),
        ("I123BCD", PlateFormat.unknown),  # I is never a year letter
        ("ABC123A", PlateFormat.suffix),
        ("ABC123U", PlateFormat.unknown),  # nor U
        ("Q123ABC", PlateFormat.q_plate),
        ("AIZ1234", PlateFormat.northern_ireland),
        ("BXI3456", PlateFormat.northern_ireland),
        ("ABC1", PlateFormat.dateless),
        ("1ABC", PlateFormat.dateless),
        ("123D456", PlateFormat.diplomatic),
        ("123X456", PlateFormat.diplomatic),
        ("WOB1234567", PlateFormat.unknown),
    ],
)
def test_classify_follows_the_dvla_letter_rules(plate: str, fmt: PlateFormat) -> None:
    assert classify(plate) is fmt


def test_fuzzy_key_merges_every_look_alike_group() -> None:
    assert fuzzy_key("AB51CDE") == fuzzy_key("A851C0E") == fuzzy_key("ABS1CQE")
    for group in ("0ODQ", "1I", "2Z", "5S", "8B", "6G"):
        assert len({fuzzy_key(ch) for ch in group}) == 1, group
    assert fuzzy_key("A") != fuzzy_key("B")
    assert fuzzy_key("C") != fuzzy_key("G")


@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=10))
def test_fuzzy_key_is_idempotent_and_keeps_length(plate: str) -> None:
    key = fuzzy_key(plate)
    assert fuzzy_key(key) == key
    assert len(key) == len(plate)


@given(st.text(max_size=30))
def test_normalise_gives_only_upper_alphanumerics(raw: str) -> None:
    plate = normalise(raw)
    assert plate == normalise(plate)
    assert all(ch in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" for ch in plate)


def test_is_valid_bounds_length() -> None:
    assert is_valid("A1")
    assert not is_valid("")
    assert not is_valid("A" * 11)
    assert not is_valid("AB 51")


@pytest.mark.parametrize(
    ("plate", "shown"),
    [
        ("AB51CDE", "AB51 CDE"),
        ("A123BCD", "A123 BCD"),
        ("ABC123A", "ABC 123A"),
        ("123D456", "123 D 456"),
        ("AIZ1234", "AIZ 1234"),
        ("1ABC", "1 ABC"),
        ("WOB1234567", "WOB1234567"),
    ],
)
def test_display_spaces_plates_as_on_the_road(plate: str, shown: str) -> None:
    assert display(plate) == shown
