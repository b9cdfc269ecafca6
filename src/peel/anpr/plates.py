"""Number plates: normalise what a camera read, classify UK formats, and key look-alikes.

Formats (DVLA's schemes; see docs/anpr.md for the letter rules and their sources):

* ``current``   since September 2001: memory tag (2 letters) + age identifier (2 digits) +
  3 letters, e.g. ``AB51CDE``. I, Q and Z never appear in the memory tag; I and Q never in
  the last three letters. The age identifier is the year (March–August, ``02``–``50``) or the
  year + 50 (September–February, ``51``–``99`` and ``00``); ``01`` was never issued.
* ``prefix``    1983–2001: year letter + 1–3 digits + 3 letters, e.g. ``A123BCD``.
* ``suffix``    1963–1983: 3 letters + 1–3 digits + year letter, e.g. ``ABC123A``.
  Year letters never use I, O, Q, U or Z.
* ``q_plate``   vehicles of unknown age or identity: ``Q`` + 1–3 digits + 3 letters.
* ``northern_ireland``  up to 3 letters whose last two contain I or Z, then 1–4 digits.
* ``dateless``  up to 3 letters and up to 4 digits, in either order.
* ``diplomatic`` 3 digits, ``D`` or ``X``, 3 digits, e.g. ``123D456``.
* ``unknown``   anything else (foreign plates, misreads).

The fuzzy key maps characters that cameras and people confuse (0/O/D/Q, 1/I, 2/Z, 5/S, 8/B,
6/G) to one representative, so two plates that differ only by look-alikes share a key.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from functools import lru_cache

MAX_PLATE_LENGTH = 10


class PlateFormat(StrEnum):
    current = "current"
    prefix = "prefix"
    suffix = "suffix"
    q_plate = "q_plate"
    northern_ireland = "northern_ireland"
    dateless = "dateless"
    diplomatic = "diplomatic"
    unknown = "unknown"

    @property
    def label(self) -> str:
        return {
            "current": "Current (2001 on)",
            "prefix": "Prefix (1983–2001)",
            "suffix": "Suffix (1963–1983)",
            "q_plate": "Q plate",
            "northern_ireland": "Northern Ireland",
            "dateless": "Dateless",
            "diplomatic": "Diplomatic",
            "unknown": "Foreign or unknown",
        }[self.value]


_NOT_ALNUM = re.compile(r"[^0-9A-Z]")
_YEAR_LETTER = "[A-HJ-NPR-TV-Y]"  # no I, O, Q, U, Z
_PATTERNS: tuple[tuple[PlateFormat, re.Pattern[str]], ...] = (
    (PlateFormat.diplomatic, re.compile(r"[0-9]{3}[DX][0-9]{3}")),
    (
        PlateFormat.current,
        re.compile(r"[A-HJ-PR-Y][A-HJ-PR-Y](0[02-9]|[1-9][0-9])[A-HJ-PR-Z]{3}"),
    ),
    (PlateFormat.q_plate, re.compile(r"Q[1-9][0-9]{0,2}[A-Z]{3}")),
    (PlateFormat.prefix, re.compile(_YEAR_LETTER + r"[1-9][0-9]{0,2}[A-Z]{3}")),
    (PlateFormat.suffix, re.compile(r"[A-Z]{3}[1-9][0-9]{0,2}" + _YEAR_LETTER)),
    (PlateFormat.northern_ireland, re.compile(r"[A-Z]?(?:[A-Z][IZ]|[IZ][A-Z])[1-9][0-9]{0,3}")),
    (PlateFormat.dateless, re.compile(r"[A-Z]{1,3}[1-9][0-9]{0,3}|[1-9][0-9]{0,3}[A-Z]{1,3}")),
)

#: Look-alike groups, each mapped to its first member.
LOOKALIKES: tuple[str, ...] = ("0ODQ", "1I", "2Z", "5S", "8B", "6G")
_FUZZY = str.maketrans({ch: group[0] for group in LOOKALIKES for ch in group[1:]})


def normalise(raw: str) -> str:
    """Upper-case and strip spaces, punctuation and look-alike Unicode forms.

    ``" ab51 cde "`` and ``"AB51-CDE"`` both give ``"AB51CDE"``. Returns ``""`` when nothing
    plate-like is left; callers decide whether that is an error.
    """
    folded = unicodedata.normalize("NFKC", raw).upper()
    return _NOT_ALNUM.sub("", folded)[: MAX_PLATE_LENGTH * 2]


@lru_cache(maxsize=65_536)
def classify(plate: str) -> PlateFormat:
    """The UK format a normalised plate follows, or ``unknown``."""
    for fmt, pattern in _PATTERNS:
        if pattern.fullmatch(plate):
            return fmt
    return PlateFormat.unknown


def fuzzy_key(plate: str) -> str:
    """The plate with each look-alike character replaced by its group's representative."""
    return plate.translate(_FUZZY)


def is_valid(plate: str) -> bool:
    """A normalised plate Peel will store: 1–10 letters and digits."""
    return 0 < len(plate) <= MAX_PLATE_LENGTH and not _NOT_ALNUM.search(plate)


def display(plate: str) -> str:
    """How a normalised plate is written on the road, e.g. ``AB51 CDE``, ``A123 BCD``."""
    fmt = classify(plate)
    if fmt == PlateFormat.current:
        return f"{plate[:4]} {plate[4:]}"
    if fmt in (PlateFormat.prefix, PlateFormat.q_plate):
        return f"{plate[:-3]} {plate[-3:]}"
    if fmt == PlateFormat.suffix:
        return f"{plate[:3]} {plate[3:]}"
    if fmt == PlateFormat.diplomatic:
        return f"{plate[:3]} {plate[3]} {plate[4:]}"
    if fmt in (PlateFormat.northern_ireland, PlateFormat.dateless):
        match = re.fullmatch(r"([A-Z]+)([0-9]+)|([0-9]+)([A-Z]+)", plate)
        if match:
            return " ".join(g for g in match.groups() if g)
    return plate
