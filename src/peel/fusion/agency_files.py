"""How each agency of the simulated county writes down what it knows, in its own format.

Each agency gives people its own keys (police nominals, social care person ids, pupils' UPNs,
hospital numbers) and records them with its own slips: nicknames, typing errors, day and
month swapped, an old address after a move; the police now and then hold one person under a
second nominal. :class:`Registers` keeps each agency's version of each person and the truth
behind it; the ``*_file`` functions write the four files the importer takes with the
mappings in ``simulated_mappings/``.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq

from peel.fusion import population as pop
from peel.fusion.county import County, Happening, Place, Someone

SCHOOL = {"urn": "149876", "name": "Northgate Academy"}
#: Per agency: chance of a nickname, a typing slip in a name, day and month swapped, a
#: mistyped date of birth, and an old address for someone who has moved.
SLIPS = {
    "police": (0.12, 0.04, 0.03, 0.02, 0.6),
    "childrens-services": (0.04, 0.02, 0.02, 0.01, 0.2),
    "school": (0.0, 0.02, 0.01, 0.005, 0.3),
    "health": (0.05, 0.04, 0.03, 0.02, 0.5),
}
NHS_HELD = {"police": 0.0, "childrens-services": 0.7, "school": 0.0, "health": 0.96}
#: Chance that the police hold a person with several occurrences under a second nominal.
SECOND_NOMINAL = 0.05
KEY_FORMS = {
    "police": "N{:06d}",
    "childrens-services": "LCS{:06d}",
    "health": "RWX{:07d}",
}
EVENT_KEY_FORMS = {
    "police": "WX/{yy:02d}/{n:06d}",
    "childrens-services": "EP{n:07d}",
    "school": "EV{n:06d}",
    "health": "AE{yy:02d}{n:06d}",
}
UPN_CHECK = "ABCDEFGHJKLMNPQRTUVWXYZ"
PNC_CHECK = "ZABCDEFGHJKLMNPQRTUVWXY"


@dataclass
class Recorded:
    """One agency's record of a person: its key and the details as the agency wrote them."""

    agency: str
    key: str
    person: str
    given: str
    family: str
    dob: date | None
    sex: str
    nhs: str
    home: Place
    pnc: str = ""

    @property
    def ref(self) -> str:
        """``agency:key``, the record's name in ``truth.json`` and ``persons.parquet``."""
        return f"{self.agency}:{self.key}"


def upn(serial: int) -> str:
    """A unique pupil number: check letter, LA code, school number, year and serial (DfE)."""
    body = f"999{4001:04d}{serial // 1000 % 100:02d}{serial % 1000:03d}"
    total = sum(int(d) * w for d, w in zip(body, range(2, 14), strict=True))
    return UPN_CHECK[total % 23] + body


def pnc_id(year: int, serial: int) -> str:
    """A PNC id like ``2019/0123456A``: the check letter is (yy + serial) mod 23."""
    check = PNC_CHECK[int(f"{year % 100:02d}{serial:07d}") % 23]
    return f"{year}/{serial:07d}{check}"


class Registers:
    """Every agency's records of people, made the first time the agency meets each person."""

    def __init__(self, county: County, rng: np.random.Generator) -> None:
        self.county = county
        self.rng = rng
        self.records: dict[tuple[str, str], Recorded] = {}
        self.second: dict[str, Recorded] = {}  # person id -> second police nominal
        self.serials = {agency: int(rng.integers(1000, 9000)) for agency in SLIPS}

    def all(self) -> list[Recorded]:
        return [*self.records.values(), *self.second.values()]

    def next_key(self, agency: str) -> str:
        self.serials[agency] += int(self.rng.integers(1, 40))
        if agency == "school":
            return upn(self.serials[agency])
        return KEY_FORMS[agency].format(self.serials[agency])

    def of(self, agency: str, person_id: str) -> Recorded:
        """The agency's record of a person (made, with the agency's slips, on first use)."""
        found = self.records.get((agency, person_id))
        if found is None:
            found = self.write_down(agency, self.county.people[person_id])
            self.records[(agency, person_id)] = found
        return found

    def police_nominal(self, person_id: str) -> Recorded:
        """The nominal an occurrence is recorded under: now and then a second one."""
        first = self.of("police", person_id)
        second = self.second.get(person_id)
        if second is None and self.rng.random() < SECOND_NOMINAL:
            second = self.write_down("police", self.county.people[person_id])
            second.pnc = ""
            self.second[person_id] = second
            return second
        return second if second is not None and self.rng.random() < 0.5 else first

    def write_down(self, agency: str, person: Someone) -> Recorded:
        nickname, typo, swap, slip, stale = SLIPS[agency]
        given, family = person.given, person.family
        if self.rng.random() < nickname:
            given = pop.corrupt_nickname(self.rng, [given])[0]
        if self.rng.random() < typo:
            given, family = (pop.corrupt_typo(self.rng, [given])[0], family) if self.rng.random(
            ) < 0.5 else (given, pop.corrupt_typo(self.rng, [family])[0])  # fmt: skip
        return Recorded(
            agency=agency,
            key=self.next_key(agency),
            person=person.id,
            given=given,
            family=family,
            dob=self.date_of_birth(person.dob, swap, slip),
            sex=person.sex,
            nhs=person.nhs if self.rng.random() < NHS_HELD[agency] else "",
            home=self.home_of(agency, person, stale),
            pnc=person.pnc if agency == "police" else "",
        )

    def date_of_birth(self, dob: date, swap: float, slip: float) -> date:
        value = np.array([dob], dtype="datetime64[D]")
        draw = self.rng.random()
        if draw < swap:
            value, _ = pop.transpose_day_month(value)
        elif draw < swap + slip:
            value = pop.mistype_dates(self.rng, value)
        return date.fromisoformat(str(value[0]))

    def home_of(self, agency: str, person: Someone, stale: float) -> Place:
        if agency == "childrens-services" and person.placement is not None:
            return person.placement
        home = person.home
        if person.previous is not None and self.rng.random() < stale:
            home = person.previous
        if agency == "health" and self.rng.random() < 0.2:  # the hospital system shortens
            home = replace(home, line1=pop.abbreviate_address([home.line1])[0])
        return home


def assign_pnc_ids(county: County, rng: np.random.Generator) -> None:
    """A PNC id for everyone the police have arrested or named as a suspect of a crime."""
    serial = int(rng.integers(100_000, 900_000))
    for event in sorted(county.events, key=lambda e: e.at):
        if event.agency != "police" or event.kind not in ("arrest", "crime", "stop-search"):
            continue
        for person_id, role in event.people:
            person = county.people[person_id]
            if role in ("arrested", "suspect") and not person.pnc:
                serial += int(rng.integers(1, 5000))
                person.pnc = pnc_id(event.at.year, serial)


def assign_event_keys(events: Iterable[Happening], rng: np.random.Generator) -> None:
    """Each agency's reference for each of its events, numbered in time order."""
    counters: dict[str, int] = defaultdict(lambda: int(rng.integers(1000, 5000)))
    for event in sorted(events, key=lambda e: (e.agency, e.at)):
        counters[event.agency] += int(rng.integers(1, 25))
        n = counters[event.agency]
        event.key = EVENT_KEY_FORMS[event.agency].format(yy=event.at.year % 100, n=n)


def _labels(values: Iterable[str]) -> str:
    """Tags as an agency writes them: ``domestic-abuse`` -> ``Domestic abuse``."""
    return ";".join(v.replace("-", " ").capitalize() for v in values)


# --- police.csv ---------------------------------------------------------------------------------

POLICE_COLUMNS = [
    "NOMINAL_ID",
    "PNC_ID",
    "FORENAME",
    "SURNAME",
    "DOB",
    "GENDER",
    "WARNING_MARKERS",
    "HOME_ADDRESS",
    "HOME_TOWN",
    "HOME_POSTCODE",
    "OCCURRENCE_REF",
    "OCCURRENCE_TYPE",
    "OCCURRENCE_DATE",
    "OFFENCE",
    "OCCURRENCE_MARKERS",
    "SUMMARY",
    "OUTCOME",
    "ROLE",
    "LOCATION",
    "LOCATION_TOWN",
    "LOCATION_POSTCODE",
    "ASSOCIATE_NOMINAL_ID",
    "PHONE",
    "VRM",
    "VEHICLE_MAKE",
    "VEHICLE_MODEL",
    "VEHICLE_COLOUR",
]
POLICE_KINDS = {
    "incident": "Incident",
    "crime": "Crime",
    "arrest": "Arrest",
    "missing-episode": "Missing episode",
    "stop-search": "Stop search",
    "domestic-abuse-incident": "Domestic abuse incident",
}


def _nominal(record: Recorded, person: Someone) -> dict[str, str]:
    return {
        "NOMINAL_ID": record.key,
        "PNC_ID": record.pnc,
        "FORENAME": record.given,
        "SURNAME": record.family.upper(),
        "DOB": record.dob.strftime("%d/%m/%Y") if record.dob else "",
        "GENDER": record.sex[0].upper(),
        "WARNING_MARKERS": _labels(person.markers),
        "HOME_ADDRESS": record.home.line1.upper(),
        "HOME_TOWN": record.home.town.upper(),
        "HOME_POSTCODE": record.home.postcode,
    }


def _occurrence(event: Happening, role: str) -> dict[str, str]:
    place = event.place or Place("", "", "")
    return {
        "OCCURRENCE_REF": event.key,
        "OCCURRENCE_TYPE": POLICE_KINDS[event.kind],
        "OCCURRENCE_DATE": event.at.strftime("%d/%m/%Y %H:%M"),
        "OFFENCE": event.category,
        "OCCURRENCE_MARKERS": _labels(event.markers),
        "SUMMARY": event.description,
        "OUTCOME": event.outcome,
        "ROLE": role.replace("-", " ").capitalize(),
        "LOCATION": place.line1.upper(),
        "LOCATION_TOWN": place.town.upper(),
        "LOCATION_POSTCODE": place.postcode,
    }


def police_rows(county: County, registers: Registers) -> list[dict[str, str]]:
    """The nominal-occurrence extract: occurrences, then associates, phones and vehicles."""
    people = county.people
    rows = []
    for event in sorted((e for e in county.events if e.agency == "police"), key=lambda e: e.at):
        for person_id, role in event.people:
            record = registers.police_nominal(person_id)
            rows.append(_nominal(record, people[person_id]) | _occurrence(event, role))
    for a, b in county.associates:
        row = _nominal(registers.of("police", a), people[a])
        rows.append(row | {"ASSOCIATE_NOMINAL_ID": registers.of("police", b).key})
    rows += _phones_and_vehicles(county, registers)
    held = {row["NOMINAL_ID"] for row in rows}
    for (agency, person_id), record in list(registers.records.items()):
        if agency == "police" and record.key not in held:  # known only as someone's associate
            rows.append(_nominal(record, people[person_id]))
    return [{column: row.get(column, "") for column in POLICE_COLUMNS} for row in rows]


def _phones_and_vehicles(county: County, registers: Registers) -> list[dict[str, str]]:
    """A row for each phone and vehicle of each person the police hold."""
    rows = []
    for person in county.people.values():
        known = registers.records.get(("police", person.id))
        if known is None:
            continue
        for number in person.phones:
            rows.append(_nominal(known, person) | {"PHONE": number})
        if person.vehicle:
            make, model, colour = county.vehicles[person.vehicle]
            car = {"VRM": person.vehicle, "VEHICLE_MAKE": make, "VEHICLE_MODEL": model,
                   "VEHICLE_COLOUR": colour}  # fmt: skip
            rows.append(_nominal(known, person) | car)
    return rows


def police_file(path: Path, county: County, registers: Registers) -> int:
    rows = police_rows(county, registers)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, POLICE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return len(rows)


# --- childrens-services.xlsx --------------------------------------------------------------------

CHILDREN_COLUMNS = (
    "Person ID", "Forename", "Surname", "Date of birth", "Gender", "NHS number",
    "Address line 1", "Town", "Postcode", "Accommodation", "Flags", "Episode ID",
    "Episode type", "Start date", "Category", "Concerns", "Summary", "Outcome", "Carer ID",
    "Carer forename", "Carer surname", "Carer date of birth", "Carer gender",
    "Carer relationship", "Carer address", "Carer town", "Carer postcode",
)  # fmt: skip
ABOUT_SHEET = (
    ("Wessex County Council children's services: case records extract (synthetic demo data)",),
    ("One row per child and episode, or per child and parent/carer.",),
    ("Flags and Concerns hold several values separated by ';'.",),
)


def _spaced_nhs(number: str) -> str:
    return f"{number[:3]} {number[3:6]} {number[6:]}" if number else ""


def children_rows(county: County, registers: Registers) -> list[list[Any]]:
    """One row per child and episode, then one per child and carer."""
    episodes: dict[str, list[Happening]] = defaultdict(list)
    for event in sorted(county.events, key=lambda e: e.at):
        if event.agency == "childrens-services":
            for person_id, _ in event.people:
                episodes[person_id].append(event)
    rows = []
    for child_id, events in episodes.items():
        child = county.people[child_id]
        record = registers.of("childrens-services", child_id)
        base = _cs_person(record, child)
        for event in events:
            rows.append(base + _cs_episode(event) + [""] * 9)
        for carer_id in child.carers:
            carer = registers.of("childrens-services", carer_id)
            relation = "Mother" if county.people[carer_id].sex == "female" else "Father"
            rows.append(base + [""] * 7 + _cs_carer(carer, relation))
    return rows


def _cs_person(record: Recorded, child: Someone) -> list[Any]:
    kind = "Care home" if record.home.kind == "care-home" else "Home"
    return [
        record.key, record.given, record.family, record.dob, record.sex.capitalize(),
        _spaced_nhs(record.nhs), record.home.line1, record.home.town, record.home.postcode,
        kind, _labels(child.flags),
    ]  # fmt: skip


def _cs_episode(event: Happening) -> list[Any]:
    return [
        event.key, event.kind.replace("-", " ").capitalize(), event.at.date(), event.category,
        _labels(event.markers), event.description, event.outcome,
    ]  # fmt: skip


def _cs_carer(carer: Recorded, relation: str) -> list[Any]:
    return [
        carer.key, carer.given, carer.family, carer.dob, carer.sex.capitalize(), relation,
        carer.home.line1, carer.home.town, carer.home.postcode,
    ]  # fmt: skip


def children_file(path: Path, county: County, registers: Registers) -> int:
    rows = children_rows(county, registers)
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Case records"
    sheet.append(list(CHILDREN_COLUMNS))
    for row in rows:
        sheet.append(row)
    for column in ("D", "N", "V"):
        for cell in sheet[column][1:]:
            cell.number_format = "dd/mm/yyyy"
    about = book.create_sheet("About")
    for line in ABOUT_SHEET:
        about.append(list(line))
    book.save(path)
    return len(rows)


# --- school.json --------------------------------------------------------------------------------

SCHOOL_FLAGS = (("free-school-meals", 0.22), ("send", 0.13), ("young-carer", 0.02))


def _pupil(record: Recorded, person: Someone, flags: list[str], as_of: date) -> dict[str, Any]:
    age = person.age(date(as_of.year, 8, 31))
    return {
        "upn": record.key,
        "legal_forename": record.given,
        "legal_surname": record.family,
        "dob": record.dob.isoformat() if record.dob else None,
        "gender": record.sex[0].upper(),
        "year_group": max(7, min(11, age - 4)),
        "flags": [f.replace("-", " ").capitalize() for f in flags],
        "home": {
            "address_line_1": record.home.line1,
            "town": record.home.town,
            "postcode": record.home.postcode,
        },
        "school_urn": SCHOOL["urn"],
        "school_name": SCHOOL["name"],
    }


def _school_event(event: Happening) -> dict[str, Any]:
    return {
        "id": event.key,
        "type": event.kind.replace("-", " ").capitalize(),
        "date": event.at.date().isoformat(),
        "reason": event.category,
        "details": event.description,
        "outcome": event.outcome,
        "markers": [m.capitalize() for m in event.markers],
    }


def school_document(county: County, registers: Registers) -> dict[str, Any]:
    """The academy's export: every pupil, once per event (or once with no event)."""
    events: dict[str, list[Happening]] = defaultdict(list)
    for event in sorted(county.events, key=lambda e: e.at):
        if event.agency == "school":
            for person_id, _ in event.people:
                events[person_id].append(event)
    pupils = []
    for person in county.people.values():
        if not person.pupil:
            continue
        record = registers.of("school", person.id)
        flags = [f for f, p in SCHOOL_FLAGS if registers.rng.random() < p] + [
            f for f in person.flags if f == "young-carer"
        ]
        base = _pupil(record, person, flags, county.as_of)
        for event in events.get(person.id) or [None]:  # type: ignore[list-item]
            pupils.append(base | {"event": _school_event(event) if event else None})
    return {
        "school": SCHOOL,
        "exported_at": datetime.combine(county.as_of, datetime.min.time()).isoformat(),
        "pupils": pupils,
    }


def school_file(path: Path, county: County, registers: Registers) -> int:
    document = school_document(county, registers)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    return len(document["pupils"])


# --- ae.parquet ---------------------------------------------------------------------------------

AE_SCHEMA = pa.schema(
    [
        ("attendance_id", pa.string()),
        ("arrived_at", pa.timestamp("s")),
        ("mrn", pa.string()),
        ("nhs_no", pa.string()),
        ("forename", pa.string()),
        ("surname", pa.string()),
        ("date_of_birth", pa.date32()),
        ("sex_code", pa.string()),
        ("address_line_1", pa.string()),
        ("postcode", pa.string()),
        ("presenting_complaint", pa.string()),
        ("category", pa.string()),
        ("safeguarding_markers", pa.list_(pa.string())),
        ("discharge", pa.string()),
    ]
)


def ae_table(county: County, registers: Registers) -> pa.Table:
    """One row per attendance, with the patient as the hospital recorded them."""
    rows = []
    for event in sorted(county.events, key=lambda e: e.at):
        if event.agency != "health":
            continue
        for person_id, _ in event.people:
            record = registers.of("health", person_id)
            rows.append(
                {
                    "attendance_id": event.key,
                    "arrived_at": event.at,
                    "mrn": record.key,
                    "nhs_no": record.nhs or None,
                    "forename": record.given,
                    "surname": record.family,
                    "date_of_birth": record.dob,
                    "sex_code": "2" if record.sex == "female" else "1",
                    "address_line_1": record.home.line1,
                    "postcode": record.home.postcode,
                    "presenting_complaint": event.description,
                    "category": event.category,
                    "safeguarding_markers": list(event.markers),
                    "discharge": event.outcome,
                }
            )
    return pa.Table.from_pylist(rows, schema=AE_SCHEMA)


def ae_file(path: Path, county: County, registers: Registers) -> int:
    table = ae_table(county, registers)
    pq.write_table(table, path)
    return table.num_rows


# --- the flat linkage table ---------------------------------------------------------------------


def persons_table(registers: Registers) -> pa.Table:
    """Every Person record as linkage sees it, with its true person in ``cluster``."""
    columns: dict[str, list[str | None]] = defaultdict(list)
    for record in registers.all():
        town = "" if record.agency == "health" else record.home.town
        line1 = record.home.line1.upper() if record.agency == "police" else record.home.line1
        town = town.upper() if record.agency == "police" else town
        values = {
            "record_id": record.ref,
            "source": record.agency,
            "given_name": record.given,
            "family_name": record.family.upper() if record.agency == "police" else record.family,
            "date_of_birth": record.dob.isoformat() if record.dob else None,
            "sex": record.sex,
            "address": ", ".join(v for v in (line1, town) if v),
            "postcode": record.home.postcode,
            "nhs_number": record.nhs,
            "pnc_id": record.pnc,
            "cluster": record.person,
        }
        for name, value in values.items():
            columns[name].append(value or None)
    return pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
