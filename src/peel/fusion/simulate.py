"""A small county's multi-agency data, written as each agency would hold it, with planted truth.

``simulate`` builds one world of families, young people and adults in the invented towns of
:mod:`peel.fusion.population`, lets things happen to them over the last two years, and writes
what each agency would know, each in its own format and column names:

* ``police.csv``: nominals (PNC ids, warning markers) linked to occurrences (incidents,
  crimes, arrests, missing episodes, stop and search, domestic abuse) with roles, plus
  intelligence associates, phones and vehicles; surnames in capitals, dates ``dd/mm/yyyy``.
* ``childrens-services.xlsx``: children known to social care with their parents or carers,
  referrals, assessments, plans and looked-after episodes (a second sheet explains columns).
* ``school.json``: the pupils of Northgate Academy, their suspensions, exclusions,
  attendance concerns, absent episodes and safeguarding concerns.
* ``ae.parquet``: A&E attendances (knife injury, assault, self-harm, falls …) with NHS numbers.

Each agency records people with its own errors (typing slips, nicknames, swapped day and
month, old addresses, missing values; the police sometimes hold one person under two
nominals). ``mappings/<file>.yaml`` (``police.yaml`` … ``ae.yaml``) import each file;
``persons.parquet`` is the flat linkage table of every Person record with its true person
(``cluster``); ``truth.json`` names the person behind every record and what was planted:

* children at risk, each with the pattern and the shipped indicators it should fire: three
  or more missing episodes in 90 days; a permanent exclusion and police contact within six
  months; a knife injury at A&E; living with an adult with a violence marker (with domestic
  abuse call-outs at the address); many small events across agencies, no single red flag;
* a group of young people (and two young adults) who offend together, share phones and a car
  and are recorded as associates (a county-lines pattern), with a few children tied to it;
* background co-offending pairs, twins and namesakes, and many children with small
  unrelated events (the hard negatives of triage).

Dates count back from ``as_of`` (default today) so the demo stays current; the same seed and
``as_of`` give the same files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from peel.core.errors import InvalidInput
from peel.fusion import agency_files as files
from peel.fusion.county import County, Happening

AGENCIES = ("police", "childrens-services", "school", "health")
FILES = {
    "police": "police.csv",
    "childrens-services": "childrens-services.xlsx",
    "school": "school.json",
    "health": "ae.parquet",
}
MIN_CHILDREN = 40
MAX_CHILDREN = 20_000
Progress = Callable[[float, str], None]
WRITERS: dict[str, Callable[[Path, County, files.Registers], int]] = {
    "police": files.police_file,
    "childrens-services": files.children_file,
    "school": files.school_file,
    "health": files.ae_file,
}


@dataclass(frozen=True)
class SimulationResult:
    """What ``simulate`` wrote, and how much of it."""

    out_dir: Path
    files: dict[str, Path]
    mappings: dict[str, Path]
    truth_path: Path
    persons_path: Path
    as_of: date
    people: int
    children: int
    records: dict[str, int]
    events: dict[str, int]
    at_risk: int
    group_size: int


def mapping_text(agency: str) -> str:
    """The YAML mapping that imports an agency's simulated file."""
    name = Path(FILES[agency]).stem + ".yaml"
    return (resources.files("peel.fusion") / "simulated_mappings" / name).read_text("utf-8")


def simulate(
    out_dir: Path,
    children: int = 400,
    seed: int = 11,
    *,
    as_of: date | None = None,
    progress: Progress | None = None,
) -> SimulationResult:
    """Write the county's four agency files, their mappings, ``persons.parquet`` and
    ``truth.json`` into ``out_dir``; the same seed and ``as_of`` give the same files."""
    if not MIN_CHILDREN <= children <= MAX_CHILDREN:
        expected = f"between {MIN_CHILDREN} and {MAX_CHILDREN} expected, not {children}"
        raise InvalidInput({"children": expected})
    as_of = as_of or date.today()
    report = progress or (lambda _fraction, _what: None)
    rng = np.random.default_rng(seed)
    report(0.0, "building the county")
    county = County(rng, as_of)
    county.build(children)
    files.assign_pnc_ids(county, rng)
    files.assign_event_keys(county.events, rng)
    registers = files.Registers(county, rng)
    written, mappings = _write_agency_files(out_dir, county, registers, report)
    persons = out_dir / "persons.parquet"
    pq.write_table(files.persons_table(registers), persons)
    truth = out_dir / "truth.json"
    document = truth_document(county, registers, children, seed)
    truth.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    report(1.0, "wrote persons.parquet and truth.json")
    return SimulationResult(
        out_dir=out_dir,
        files=written,
        mappings=mappings,
        truth_path=truth,
        persons_path=persons,
        as_of=as_of,
        people=len(county.people),
        children=len(county.children()),
        records=dict(Counter(r.agency for r in registers.all())),
        events=dict(Counter(e.agency for e in county.events)),
        at_risk=len({entry["person"] for entry in county.truth["at_risk"]}),
        group_size=len(county.truth["group"]["members"]),
    )


def _write_agency_files(
    out_dir: Path, county: County, registers: files.Registers, report: Progress
) -> tuple[dict[str, Path], dict[str, Path]]:
    """Each agency's file and its mapping; returns both by agency."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "mappings").mkdir(exist_ok=True)
    written, mappings = {}, {}
    for step, (agency, write) in enumerate(WRITERS.items(), start=1):
        written[agency] = out_dir / FILES[agency]
        write(written[agency], county, registers)
        mappings[agency] = out_dir / "mappings" / (Path(FILES[agency]).stem + ".yaml")
        mappings[agency].write_text(mapping_text(agency), encoding="utf-8")
        report(step / (len(WRITERS) + 1), f"wrote {FILES[agency]}")
    return written, mappings


def _refs(value: Any) -> Any:
    """Events as ``agency:reference``, inside any lists and dicts of the truth."""
    if isinstance(value, Happening):
        return f"{value.agency}:{value.key}"
    if isinstance(value, dict):
        return {k: _refs(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_refs(v) for v in value]
    return value


def truth_document(
    county: County, registers: files.Registers, children: int, seed: int
) -> dict[str, Any]:
    """Who is behind every Person record, and everything that was planted."""
    people = {
        p.id: {
            "name": p.name, "date_of_birth": p.dob.isoformat(), "sex": p.sex, "role": p.role,
            "home": p.home.text, "markers": p.markers, "flags": p.flags,
        }
        for p in county.people.values()
    }  # fmt: skip
    planted = {k: v for k, v in county.truth.items() if k != "phones"}
    return {
        "parameters": {"children": children, "seed": seed, "as_of": county.as_of.isoformat()},
        "files": {
            agency: {"file": FILES[agency], "mapping": f"mappings/{Path(FILES[agency]).stem}.yaml"}
            for agency in AGENCIES
        },
        "people": people,
        "records": {r.ref: r.person for r in registers.all()},
        "second_nominals": sorted(registers.second),
        **_refs(planted),
    }
