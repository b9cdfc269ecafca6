"""A small multi-agency picture for the fusion pages, with the derived rows written directly.

Three sources:

* police (owned by the force, AMBER, shared with the council): Amy Smith, Ben Jones and Carl
  Dean (an adult with a violence marker at Amy's address), three missing episodes for Amy,
  Amy and Ben as associates;
* children's services (owned by the council, AMBER, shared with the force): Amy again (a
  second record of her), and Benjamin Jones, a near miss for Ben;
* A&E (owned by a health trust, AMBER+STRICT, shared with the council only): Amy's
  attendance with a knife injury. The force may never see it.

So the council's scope holds all three sources and the force's only the first two. Each
scope gets entities, members, indicator hits, matches and a group as analysis would write
them, and the force's scope also gets one *mistaken* member row naming Amy's A&E record,
which the pages must never show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy.orm import Session

from peel.core.enums import TLP, OrganisationType
from peel.core.models import Organisation
from peel.fusion.models import (
    FusionEntity,
    FusionEntityMember,
    FusionGroup,
    FusionIndicatorHit,
    FusionMatch,
    FusionRecord,
    FusionRelation,
    FusionScope,
    FusionSource,
)
from peel.fusion.service import scope_key
from tests.conftest import make_org
from tests.fusion.fixtures import add_event, add_person, add_record, add_relation, make_source

TODAY = date.today()
RUN_ID = "webfixturerun"
NEAR_MISS_EVIDENCE = {
    "given_name": {"level": "Jaro-Winkler >= 0.88", "weight": 2.1},
    "family_name": {"level": "Exact match", "weight": 7.4},
    "date_of_birth": {"level": "All other comparisons", "weight": -4.2},
}
AMY_EVIDENCE = {
    "given_name": {"level": "Exact match", "weight": 6.2},
    "family_name": {"level": "Exact match", "weight": 7.9},
    "date_of_birth": {"level": "Exact match", "weight": 9.1},
    "postcode": {"level": "Exact match", "weight": 5.0},
}


@dataclass
class Picture:
    """What was planted, for the tests to aim at."""

    orgs: dict[str, Organisation]
    sources: dict[str, FusionSource]
    records: dict[str, FusionRecord]
    relations: list[FusionRelation] = field(default_factory=list)
    scopes: dict[str, str] = field(default_factory=dict)  # "force" / "council" -> scope key
    amy: dict[str, str] = field(default_factory=dict)  # scope name -> Amy's entity id
    entities: dict[tuple[str, str], str] = field(default_factory=dict)  # (scope, name) -> id
    group: str = "g-webfixture"


def entity_id(*records: FusionRecord) -> str:
    return "e" + min(r.id for r in records)


def _records(db: Session, src: dict[str, FusionSource]) -> dict[str, FusionRecord]:
    police, social, ae = src["police"], src["social"], src["ae"]
    born = TODAY.replace(year=TODAY.year - 14)
    r = {
        "amy_p": add_person(db, police, "P1", "Amy", "Smith", born, sex="female"),
        "ben_p": add_person(db, police, "P2", "Ben", "Jones", born.replace(month=1, day=5)),
        "carl_p": add_person(
            db, police, "P3", "Carl", "Dean", "1980-02-02", markers=["violence"]
        ),
        "amy_c": add_person(
            db, social, "C1", "Amy", "Smith", born, flags=["child-protection-plan"]
        ),
        "benjamin_c": add_person(db, social, "C2", "Benjamin", "Jones", "2001-07-07"),
        "amy_a": add_person(db, ae, "A1", "Amy", "Smith", born, nhs_number="9434765919"),
        "home": add_record(
            db, police, "Address", "H1", {"line1": "4 Canal Row", "postcode": "BH1 1AA"}
        ),
        "knife": add_event(
            db, ae, "AE1", "ae-attendance", TODAY - timedelta(days=20),
            category="knife injury", description="Laceration to the hand, says a fall",
            markers=["knife"],
        ),
    }  # fmt: skip
    for n, days in enumerate((80, 50, 10), start=1):
        r[f"missing{n}"] = add_event(
            db, police, f"M{n}", "missing-episode", TODAY - timedelta(days=days),
            description=f"Missing overnight ({n})",
        )  # fmt: skip
    return r


def _relations(db: Session, src: dict[str, FusionSource], r: dict[str, FusionRecord]) -> list:
    police, ae = src["police"], src["ae"]
    rels = [
        add_relation(db, police, "lives_at", r["amy_p"], r["home"]),
        add_relation(db, police, "lives_at", r["carl_p"], r["home"]),
        add_relation(db, police, "associate_of", r["amy_p"], r["ben_p"]),
        add_relation(db, ae, "involved_in", r["amy_a"], r["knife"], "patient"),
    ]
    for n in (1, 2, 3):
        rels.append(
            add_relation(db, police, "involved_in", r["amy_p"], r[f"missing{n}"], "missing-person")
        )
    return rels


def add_entity(
    db: Session, scope: str, members: list[FusionRecord], caption: str, **values: object
) -> str:
    """An entity of ``scope`` holding ``members`` (its id as analysis forms it)."""
    eid = entity_id(*members)
    schema = members[0].schema
    db.add(
        FusionEntity(
            scope=scope,
            id=eid,
            schema=schema,
            caption=caption,
            record_count=len(members),
            source_count=len({m.source_id for m in members}),
            **values,
        )
    )
    for m in members:
        db.add(
            FusionEntityMember(scope=scope, record_id=m.id, entity_id=eid, match_probability=0.98)
        )
    return eid


def _hit(db: Session, scope: str, eid: str, code: str, weight: float, evidence: list) -> None:
    db.add(
        FusionIndicatorHit(
            scope=scope,
            entity_id=eid,
            code=code,
            weight=weight,
            detail=f"{len(evidence)} records",
            evidence=[e.id for e in evidence],
            latest_on=max((e.occurred_on for e in evidence if e.occurred_on), default=None),
        )
    )


def _scope(db: Session, pic: Picture, name: str, sources: list[str]) -> str:
    key = scope_key(pic.sources[s].id for s in sources)
    db.add(FusionScope(key=key, source_ids=[pic.sources[s].id for s in sources], run_id=RUN_ID))
    pic.scopes[name] = key
    return key


def _derive(db: Session, pic: Picture, name: str) -> None:
    """Entities, hits and a group for one scope, as analysis would write them."""
    r = pic.records
    council = name == "council"
    key = _scope(db, pic, name, ["police", "social", "ae"] if council else ["police", "social"])
    amy = [r["amy_p"], r["amy_c"]] + ([r["amy_a"]] if council else [])
    born = r["amy_p"].properties["date_of_birth"][0]
    amy_id = add_entity(
        db, key, amy, "Amy Smith", date_of_birth=date.fromisoformat(born), is_child=True,
        score=12.0 if council else 6.0, rag="red" if council else "amber", group_id=pic.group,
    )  # fmt: skip
    pic.amy[name] = amy_id
    ben = add_entity(db, key, [r["ben_p"]], "Ben Jones", is_child=True, score=2, rag="green")
    carl = add_entity(db, key, [r["carl_p"]], "Carl Dean", score=0, rag="")
    benjamin = add_entity(db, key, [r["benjamin_c"]], "Benjamin Jones")
    for thing in ("home", "missing1", "missing2", "missing3"):
        pic.entities[(name, thing)] = add_entity(db, key, [r[thing]], r[thing].caption)
    if council:
        pic.entities[(name, "knife")] = add_entity(db, key, [r["knife"]], r["knife"].caption)
    else:
        # A mistaken derived row: the force's scope names Amy's A&E record. Never shown.
        db.add(FusionEntityMember(scope=key, record_id=r["amy_a"].id, entity_id=amy_id))
    pic.entities.update({(name, "ben"): ben, (name, "carl"): carl, (name, "benjamin"): benjamin})
    missing = [r["missing1"], r["missing2"], r["missing3"]]
    _hit(db, key, amy_id, "missing-3-in-90", 6, [r["amy_p"], *missing])
    _hit(db, key, ben, "group-member", 2, [r["ben_p"], r["amy_p"]])
    if council:
        _hit(db, key, amy_id, "knife-ae", 6, [r["amy_a"], r["knife"]])
    else:
        # Another mistaken row: a hit resting on the hidden A&E record. Never shown.
        _hit(db, key, amy_id, "knife-ae", 6, [r["amy_a"], r["knife"]])
    tie = sorted([r["amy_p"].id, r["ben_p"].id])
    home = sorted([r["amy_p"].id, r["carl_p"].id, r["home"].id])
    link = [amy_id, ben, "associate", tie]
    db.add(
        FusionGroup(
            scope=key, id=pic.group, label="Canal Row group", size=3,
            members=[amy_id, ben, carl],
            key_people=[{"entity_id": amy_id, "betweenness": 1.0, "degree": 1.0, "links": [link]}],
            edges=[[*sorted([amy_id, ben]), 1.0, tie], [*sorted([amy_id, carl]), 1.0, home]],
            density=0.67,
        )
    )  # fmt: skip


def _matches(db: Session, r: dict[str, FusionRecord]) -> None:
    def pair(a: FusionRecord, b: FusionRecord, p: float, evidence: dict) -> FusionMatch:
        first, second = sorted((a.id, b.id))
        return FusionMatch(
            record_a=first, record_b=second, match_probability=p, match_weight=12.0 * p,
            evidence=evidence, run_id=RUN_ID,
        )  # fmt: skip

    db.add(pair(r["amy_p"], r["amy_c"], 0.99, AMY_EVIDENCE))
    db.add(pair(r["amy_p"], r["amy_a"], 0.97, AMY_EVIDENCE))
    db.add(pair(r["ben_p"], r["benjamin_c"], 0.7, NEAR_MISS_EVIDENCE))


def plant(db: Session, orgs: dict[str, Organisation]) -> Picture:
    """Sources, records, relations and both scopes' derived rows.

    ``orgs`` needs "force" and "council" (as in ``tests.conftest.World``); a health trust
    is added.
    """
    health = make_org(db, "test-health", OrganisationType.health)
    orgs = {**orgs, "health": health}
    src = {
        "police": make_source(
            db, orgs["force"], "police-incidents", share_with=[orgs["council"]],
            name="Police incidents",
        ),
        "social": make_source(
            db, orgs["council"], "childrens-services", share_with=[orgs["force"]],
            name="Children's social care",
        ),
        "ae": make_source(
            db, health, "ae-attendances", tlp=TLP.amber_strict, share_with=[orgs["council"]],
            name="A&E attendances",
        ),
    }  # fmt: skip
    records = _records(db, src)
    pic = Picture(orgs, src, records)
    pic.relations = _relations(db, src, records)
    _matches(db, records)
    _derive(db, pic, "council")
    _derive(db, pic, "force")
    db.flush()
    return pic
