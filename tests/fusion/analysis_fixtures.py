"""Facts for analysis tests: in memory (graph, indicators) and a small world in the database."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from peel.core.enums import OrganisationType, Role
from peel.core.models import Organisation
from peel.fusion.graph import (
    Context,
    EntityGraph,
    Facts,
    Record,
    Relation,
    association_network,
    detect_groups,
    resolve_entities,
)
from peel.fusion.models import FusionRecord, FusionSource
from peel.fusion.schema import caption_for
from tests.conftest import make_org, make_user
from tests.fusion.fixtures import add_event, add_person, add_record, add_relation, make_source

AS_OF = date(2026, 6, 30)


def _lists(properties: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in properties.items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        out[name] = [v.isoformat() if isinstance(v, date) else str(v) for v in values]
    return out


class World:
    """Builds records and relations; record ids are ``source/schema/key`` for readability."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.relations: list[Relation] = []
        self.agency_of: dict[str, str] = {}
        self.agency_names: dict[str, str] = {}

    def source(self, source: str, agency: str | None = None) -> None:
        self.agency_of[source] = agency or source
        self.agency_names[agency or source] = (agency or source).title()

    def record(self, source: str, schema: str, key: str, **properties: Any) -> str:
        if source not in self.agency_of:
            self.source(source)
        props = _lists(properties)
        on = date.fromisoformat(props["date"][0]) if schema == "Event" and "date" in props else None
        rid = f"{source}/{schema.lower()}/{key}"
        self.records[rid] = Record(rid, source, schema, caption_for(schema, props), props, on)
        return rid

    def person(self, source: str, key: str, given: str, family: str, **props: Any) -> str:
        return self.record(source, "Person", key, given_name=given, family_name=family, **props)

    def event(self, source: str, key: str, kind: str, on: date | str, **props: Any) -> str:
        return self.record(source, "Event", key, kind=kind, date=on, **props)

    def address(self, source: str, key: str, line1: str, postcode: str, **props: Any) -> str:
        return self.record(source, "Address", key, line1=line1, postcode=postcode, **props)

    def relate(self, kind: str, a: str, b: str, role: str = "", **props: Any) -> str:
        source = self.records[a].source_id
        rid = f"{source}/{kind}/{a}/{b}/{role}"
        self.relations.append(Relation(rid, source, kind, a, b, role, _lists(props)))
        return rid

    def involve(self, person: str, event: str, role: str = "subject") -> None:
        self.relate("involved_in", person, event, role)

    def facts(self) -> Facts:
        return Facts(
            dict(self.records), list(self.relations), dict(self.agency_of), self.agency_names
        )


def context_of(
    facts: Facts, as_of: date = AS_OF, clusters: Mapping[str, str] | None = None
) -> Context:
    """Graph, network, groups and indicator context, people linked by ``clusters``."""
    graph = EntityGraph(facts, resolve_entities(facts.records.values(), clusters or {}))
    network = association_network(graph)
    groups = detect_groups(network, {e: graph.caption(e) for e in network.nodes})
    return Context(graph, network, groups, as_of)


def entity(record_id: str) -> str:
    """The entity id of a record that is the smallest of its entity (alone, say)."""
    return "e" + record_id


# --- a small multi-agency world in the database ------------------------------------------------

ANALYSIS_DAY = date(2026, 6, 30)
FILLER_GIVEN = [
    "Ava",
    "Leo",
    "Mia",
    "Noah",
    "Isla",
    "Theo",
    "Ivy",
    "Oscar",
    "Rosa",
    "Finn",
    "Ella",
    "Jack",
    "Lily",
    "Max",
    "Zara",
    "Owen",
    "Ruby",
    "Sam",
    "Tess",
    "Will",
]
FILLER_FAMILY = [
    "Hughes",
    "Patel",
    "Evans",
    "Khan",
    "Walsh",
    "Price",
    "Lloyd",
    "Reid",
    "Shaw",
    "Moss",
]


@dataclass
class SmallWorld:
    """Four agencies' sources about one child at risk, her household, and a group of adults."""

    orgs: dict[str, Organisation]
    sources: dict[str, FusionSource]
    amy: dict[str, FusionRecord]
    rob: FusionRecord
    knife: FusionRecord
    gang: list[FusionRecord]
    ben: FusionRecord


def add_population(db: Session, source: FusionSource, offset: int, count: int) -> None:
    """Other people, so that linkage has a population to learn from."""
    for n in range(offset, offset + count):
        given = FILLER_GIVEN[n % len(FILLER_GIVEN)]
        family = FILLER_FAMILY[(n // len(FILLER_GIVEN)) % len(FILLER_FAMILY)]
        person = add_person(
            db, source, f"f{n}", given, family, date(1990 + n % 25, 1 + n % 12, 1 + n % 27)
        )
        home = add_record(
            db,
            source,
            "Address",
            f"fa{n}",
            {"line1": f"{n} Park Road", "town": "Poole", "postcode": f"BH{10 + n % 9} {n % 9}AB"},
        )
        add_relation(db, source, "lives_at", person, home)


def _amy(db: Session, source: FusionSource, **props: Any) -> tuple[FusionRecord, FusionRecord]:
    amy = add_person(db, source, "amy", "Amy", "Smith", "2012-04-01", sex="female", **props)
    home = add_record(
        db,
        source,
        "Address",
        "home",
        {"line1": "12 High Street", "town": "Bournemouth", "postcode": "BH1 1AA"},
    )
    add_relation(db, source, "lives_at", amy, home)
    return amy, home


def small_world(db: Session, world: Any) -> SmallWorld:
    """Police (shared with the council), social care, a school and A&E (both shared with the
    council), with a health organisation whose analyst sees only its own A&E data."""
    health = make_org(db, "test-health", OrganisationType.health)
    make_user(db, "nurse@health.example", "test-health", [Role.analyst])
    orgs = {**world.orgs, "health": health}
    police = make_source(db, orgs["force"], "police", share_with=[orgs["council"]])
    social = make_source(db, orgs["council"], "social-care")
    school = make_source(db, orgs["school"], "school", share_with=[orgs["council"]])
    ae = make_source(db, health, "ae", share_with=[orgs["council"]])
    amy = {}
    amy["police"], home = _amy(db, police)
    for n, day in enumerate(("2026-03-01", "2026-04-01", "2026-05-01")):
        add_relation(
            db,
            police,
            "involved_in",
            amy["police"],
            add_event(db, police, f"m{n}", "missing-episode", day),
            "missing-person",
        )
    rob = add_person(db, police, "rob", "Rob", "Jones", "1980-01-01", markers=["violence"])
    add_relation(db, police, "lives_at", rob, home)
    gang = [
        add_person(db, police, f"g{n}", FILLER_GIVEN[n], "Crane", f"199{n}-02-0{n + 1}")
        for n in range(6)
    ]
    for n in range(4):
        robbery = add_event(
            db, police, f"robbery{n}", "crime", f"2026-0{n + 1}-15", category="robbery"
        )
        for member in (gang[n], gang[n + 1], gang[(n + 2) % 6]):
            add_relation(db, police, "involved_in", member, robbery, "suspect")
    ben = add_person(db, police, "ben", "Ben", "Brown", "2011-05-05")
    add_relation(db, police, "associate_of", ben, gang[0])
    add_population(db, police, 0, 25)
    amy["social"], _ = _amy(db, social, flags=["looked-after"])
    for n, day in enumerate(("2026-01-10", "2026-05-10")):
        add_relation(
            db,
            social,
            "involved_in",
            amy["social"],
            add_event(db, social, f"r{n}", "referral", day),
            "subject",
        )
    add_population(db, social, 10, 25)
    amy["school"], _ = _amy(db, school)
    add_relation(
        db,
        school,
        "involved_in",
        amy["school"],
        add_event(db, school, "x1", "school-exclusion", "2026-02-01"),
        "pupil",
    )
    amy["ae"], _ = _amy(db, ae)
    knife = add_event(db, ae, "v1", "ae-attendance", "2026-06-01", category="Stab wound to forearm")
    add_relation(db, ae, "involved_in", amy["ae"], knife, "patient")
    add_population(db, ae, 20, 10)
    db.flush()
    sources = {"police": police, "social": social, "school": school, "ae": ae}
    return SmallWorld(orgs, sources, amy, rob, knife, gang, ben)
