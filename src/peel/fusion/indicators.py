"""Risk indicators as declarative rules (``indicators.yaml``), and how they fire.

An indicator is a rule over the facts of one scope: events in a time window, two events in
sequence, a household member or associate with a marker, membership of a detected group,
contact with several agencies, a flag. Each firing cites exactly the record ids that made it
fire (including the records that connect the person to the evidence) and a detail sentence
built only from those records. Scores add the weights of what fired; thresholds and weights
live in the YAML, and an indicator marked ``severity: red`` makes the rating red on its own.
Indicators inform; people decide.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from peel.fusion.graph import Context, EventLink, Record, group_ties
from peel.fusion.schema import entity_model

TieKind = Literal["associate", "co-offending", "shared-phone", "shared-vehicle"]
TIE_KINDS: tuple[TieKind, ...] = ("associate", "co-offending", "shared-phone", "shared-vehicle")
_CODE = r"^[a-z0-9]+(-[a-z0-9]+)*$"


class IndicatorFileError(ValueError):
    """The indicator file is not valid; each error names its path in the YAML."""

    def __init__(self, where: str, errors: list[str]) -> None:
        super().__init__(f"{where}: " + "; ".join(errors))
        self.errors = errors


# --- the rule language ------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgeRange(_Strict):
    """Whole years of age on the analysis date, both ends included."""

    min: int | None = Field(default=None, ge=0, le=120)
    max: int | None = Field(default=None, ge=0, le=120)

    def holds(self, age: int | None) -> bool:
        if age is None:
            return False
        return (self.min is None or age >= self.min) and (self.max is None or age <= self.max)


def _event_kinds() -> tuple[str, ...]:
    return tuple(entity_model().entity("Event").properties["kind"].values)


def _roles() -> tuple[str, ...]:
    return tuple(entity_model().relation("involved_in").roles or {})


class EventMatch(_Strict):
    """Which events count: kind, the person's role, and what the event is about.

    Every condition given must hold. ``markers`` and ``text`` together say what the event is
    about: it carries one of the markers, or its category, description or outcome mentions
    one of the words.
    """

    kinds: list[str] = []
    roles: list[str] = []
    markers: list[str] = []
    text: list[str] = []

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        unknown = [k for k in kinds if k not in _event_kinds()]
        if unknown:
            raise ValueError(f"unknown event kinds {unknown}; expected {', '.join(_event_kinds())}")
        return kinds

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: list[str]) -> list[str]:
        unknown = [r for r in roles if r not in _roles()]
        if unknown:
            raise ValueError(f"unknown roles {unknown}; expected {', '.join(_roles())}")
        return roles

    def matches(self, event: Record, role: str) -> bool:
        if self.kinds and event.first("kind") not in self.kinds:
            return False
        if self.roles and role not in self.roles:
            return False
        if not (self.markers or self.text):
            return True
        if set(event.values("markers")) & set(self.markers):
            return True
        return bool(self.text) and _mentions(event, tuple(self.text))


@lru_cache(maxsize=256)
def _words_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")", re.IGNORECASE)


def _mentions(event: Record, words: tuple[str, ...]) -> bool:
    text = " ".join(
        event.values("category") + event.values("description") + event.values("outcome")
    )
    return bool(text) and _words_pattern(words).search(text) is not None


class EventCount(_Strict):
    """At least ``min_count`` matching events, within ``lookback_days`` of the analysis date."""

    match: EventMatch = EventMatch()
    min_count: int = Field(default=1, ge=1)
    lookback_days: int | None = Field(default=None, ge=1)


class PersonMatch(_Strict):
    """What another person (or the subject) must have; every condition given must hold."""

    markers: list[str] = []
    flags: list[str] = []
    events: EventCount | None = None
    in_group: bool = False
    age: AgeRange | None = None

    @model_validator(mode="after")
    def _something(self) -> PersonMatch:
        if not (self.markers or self.flags or self.events or self.in_group or self.age):
            raise ValueError("give at least one of markers, flags, events, in_group or age")
        return self


class EventsRule(_Strict):
    """At least ``min_count`` matching events, all within ``within_days`` of each other."""

    kind: Literal["events"]
    match: EventMatch = EventMatch()
    min_count: int = Field(default=1, ge=1)
    within_days: int | None = Field(default=None, ge=0)
    lookback_days: int | None = Field(default=None, ge=1)


class SequenceRule(_Strict):
    """An event matching ``first`` and one matching ``then`` within ``within_days``."""

    kind: Literal["sequence"]
    first: EventMatch
    then: EventMatch
    within_days: int = Field(ge=0)
    #: True: ``then`` on or after ``first``; False: either order.
    ordered: bool = True
    lookback_days: int | None = Field(default=None, ge=1)


class HouseholdRule(_Strict):
    """Someone at the subject's current address, or a parent or carer, matching ``other``."""

    kind: Literal["household"]
    other: PersonMatch
    via: list[Literal["address", "carer"]] = ["address", "carer"]


class PlaceRule(_Strict):
    """At least ``min_count`` matching events at the subject's current address."""

    kind: Literal["place"]
    match: EventMatch = EventMatch()
    min_count: int = Field(default=1, ge=1)
    lookback_days: int | None = Field(default=None, ge=1)


class AssociateRule(_Strict):
    """An associate (by the ties in ``via``) matching ``other``.

    ``outside_groups``: only for people not in a detected group themselves (the group rules
    speak for members), e.g. "associates with a member of a group".
    """

    kind: Literal["associate"]
    other: PersonMatch
    via: list[TieKind] = list(TIE_KINDS)
    outside_groups: bool = False


class GroupRule(_Strict):
    """A member (or a key person) of a detected group of at least ``min_size`` people."""

    kind: Literal["group"]
    min_size: int = Field(default=5, ge=2)
    key_person: bool = False


class AgenciesRule(_Strict):
    """Matching events recorded by at least ``min_agencies`` agencies within ``within_days``."""

    kind: Literal["agencies"]
    min_agencies: int = Field(ge=2)
    within_days: int = Field(ge=0)
    match: EventMatch = EventMatch()
    lookback_days: int | None = Field(default=None, ge=1)


class FlagRule(_Strict):
    """A flag or marker on any of the subject's records."""

    kind: Literal["flag"]
    flags: list[str] = []
    markers: list[str] = []

    @model_validator(mode="after")
    def _something(self) -> FlagRule:
        if not (self.flags or self.markers):
            raise ValueError("give flags or markers")
        return self


class UsesRule(_Strict):
    """The subject uses at least ``min_count`` distinct phones, vehicles or email addresses."""

    kind: Literal["uses"]
    things: list[Literal["Phone", "Vehicle", "Email"]] = ["Phone"]
    min_count: int = Field(default=2, ge=1)


Rule = Annotated[
    EventsRule
    | SequenceRule
    | HouseholdRule
    | PlaceRule
    | AssociateRule
    | GroupRule
    | AgenciesRule
    | FlagRule
    | UsesRule,
    Field(discriminator="kind"),
]


class Indicator(_Strict):
    code: str = Field(pattern=_CODE, max_length=64)
    title: str = Field(min_length=3)
    description: str = Field(min_length=3)
    category: str = Field(min_length=2)
    weight: float = Field(ge=0, le=100)
    applies_to: Literal["child", "any"] = "child"
    #: The published practice it is drawn from, with a URL or citation; "(adapted)" where the
    #: threshold is Peel's own default.
    source: str = Field(min_length=10)
    severity: Literal["red"] | None = None
    age: AgeRange | None = None
    subject: PersonMatch | None = None
    rule: Rule


class RagThresholds(_Strict):
    red: float = Field(gt=0)
    amber: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> RagThresholds:
        if self.amber >= self.red:
            raise ValueError("amber must be below red")
        return self


class IndicatorSet(_Strict):
    rag: RagThresholds
    indicators: list[Indicator] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_codes(self) -> IndicatorSet:
        seen: Counter[str] = Counter(i.code for i in self.indicators)
        twice = sorted(c for c, n in seen.items() if n > 1)
        if twice:
            raise ValueError(f"indicator codes must be unique; repeated: {', '.join(twice)}")
        return self

    def rate(self, hits: Sequence[Hit]) -> tuple[float, str]:
        """Score (sum of weights) and RAG: red at ``rag.red`` or any red-severity hit."""
        if not hits:
            return 0.0, ""
        score = round(sum(h.weight for h in hits), 3)
        if score >= self.rag.red or any(h.forces_red for h in hits):
            return score, "red"
        return score, "amber" if score >= self.rag.amber else "green"


# --- loading --------------------------------------------------------------------------------


def parse_indicators(text: str, where: str = "indicators.yaml") -> IndicatorSet:
    """Parse and check an indicator file; errors name the path (``indicators[3].rule…``)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise IndicatorFileError(where, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise IndicatorFileError(where, ["expected a mapping with 'rag' and 'indicators'"])
    try:
        return IndicatorSet.model_validate(raw)
    except ValidationError as exc:
        raise IndicatorFileError(where, [_error_line(raw, e) for e in exc.errors()]) from None


def _error_line(raw: dict[str, Any], error: Any) -> str:
    path: list[str] = []
    loc = list(error["loc"])
    for i, part in enumerate(loc):
        if i and loc[i - 1] == "rule" and part in RULE_KINDS:
            continue  # the union's tag repeats the rule kind
        path.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    text = "".join(path).lstrip(".")
    if len(loc) > 1 and loc[0] == "indicators" and isinstance(loc[1], int):
        items = raw.get("indicators") or []
        item = items[loc[1]] if loc[1] < len(items) else None
        if isinstance(item, dict) and item.get("code"):
            text += f" (indicator {item['code']})"
    return f"{text or 'file'}: {error['msg']}"


def load_indicators(path: Path | None = None) -> IndicatorSet:
    """The given file, or the starter set shipped with Peel."""
    if path is not None:
        return parse_indicators(path.read_text(encoding="utf-8"), str(path))
    return shipped_indicators()


@lru_cache(maxsize=1)
def shipped_indicators() -> IndicatorSet:
    text = resources.files("peel.fusion").joinpath("indicators.yaml").read_text(encoding="utf-8")
    return parse_indicators(text)


# --- firing ---------------------------------------------------------------------------------


@dataclass
class Hit:
    """One indicator that fired for one person, with exactly the records that made it fire."""

    code: str
    weight: float
    detail: str
    evidence: list[str]
    latest_on: date | None = None
    forces_red: bool = False


@dataclass
class Found:
    """What a rule found: its records, a sentence about them, and the latest date."""

    records: set[str]
    detail: str
    latest_on: date | None = None


def evaluate(indicators: IndicatorSet, context: Context, person: str) -> list[Hit]:
    """Every indicator that fires for one person entity."""
    hits = []
    child = context.is_child(person)
    for indicator in indicators.indicators:
        if indicator.applies_to == "child" and not child:
            continue
        if indicator.age and not indicator.age.holds(context.age(person)):
            continue
        gate = _person_matches(context, person, indicator.subject) if indicator.subject else None
        if indicator.subject and gate is None:
            continue
        found = RULES[indicator.rule.kind](context, person, indicator.rule)
        if found is None:
            continue
        evidence = set(found.records) | (gate.records if gate else set())
        detail = found.detail + (f" ({gate.detail})" if gate else "")
        hits.append(
            Hit(
                code=indicator.code,
                weight=indicator.weight,
                detail=detail,
                evidence=sorted(evidence),
                latest_on=found.latest_on,
                forces_red=indicator.severity == "red",
            )
        )
    return hits


# --- events in time ---------------------------------------------------------------------------


def _in_lookback(link: EventLink, lookback_days: int | None, as_of: date) -> bool:
    if lookback_days is None:
        return True
    return link.on is not None and link.on >= as_of - timedelta(days=lookback_days)


def _matching(
    context: Context, person: str, match: EventMatch, lookback_days: int | None
) -> list[EventLink]:
    return [
        e
        for e in context.events(person)
        if match.matches(e.event, e.role) and _in_lookback(e, lookback_days, context.as_of)
    ]


def densest_window(links: Sequence[EventLink], days: int) -> list[EventLink]:
    """The most dated events lying within ``days`` of each other (the latest such window)."""
    dated = _dated(links)
    best = (0, 0)
    start = 0
    for end, (on, _link) in enumerate(dated):
        while (on - dated[start][0]).days > days:
            start += 1
        if end - start + 1 >= best[1] - best[0]:
            best = (start, end + 1)
    return [link for _on, link in dated[best[0] : best[1]]]


def _describe(events: Iterable[Record], limit: int = 4) -> str:
    ordered = sorted(events, key=lambda r: (r.occurred_on or date.min, r.id))
    parts = [_event_phrase(r) for r in ordered[:limit]]
    if len(ordered) > limit:
        parts.append(f"and {len(ordered) - limit} more")
    return "; ".join(parts)


def _event_phrase(event: Record) -> str:
    kind = entity_model().entity("Event").properties["kind"].label_of(event.first("kind"))
    text = kind or "Event"
    if event.occurred_on:
        text += f" on {event.occurred_on.isoformat()}"
    category = event.first("category")
    return f"{text} ({category})" if category else text


def _latest(events: Iterable[Record]) -> date | None:
    return max((r.occurred_on for r in events if r.occurred_on), default=None)


def _found_events(links: Sequence[EventLink], lead: str) -> Found:
    records = {r for e in links for r in e.records}
    events = {e.event.id: e.event for e in links}.values()
    return Found(records, f"{lead}: {_describe(events)}", _latest(events))


def rule_events(context: Context, person: str, rule: EventsRule) -> Found | None:
    links = _matching(context, person, rule.match, rule.lookback_days)
    if rule.within_days is not None:
        links = densest_window(links, rule.within_days)
    distinct = {e.event.id for e in links}
    if len(distinct) < rule.min_count:
        return None
    window = f" within {rule.within_days} days" if rule.within_days is not None else ""
    return _found_events(links, f"{len(distinct)} event{_s(len(distinct))}{window}")


def _dated(links: Iterable[EventLink]) -> list[tuple[date, EventLink]]:
    return sorted(
        ((e.on, e) for e in links if e.on is not None), key=lambda t: (t[0], t[1].event.id)
    )


def rule_sequence(context: Context, person: str, rule: SequenceRule) -> Found | None:
    firsts = _dated(_matching(context, person, rule.first, rule.lookback_days))
    thens = _dated(_matching(context, person, rule.then, rule.lookback_days))
    best: tuple[tuple[date, date], EventLink, EventLink] | None = None
    for a_on, a in firsts:
        for b_on, b in thens:
            gap = (b_on - a_on).days
            if a.event.id == b.event.id or abs(gap) > rule.within_days:
                continue
            if rule.ordered and gap < 0:
                continue
            when = (max(a_on, b_on), min(a_on, b_on))
            if best is None or when > best[0]:
                best = (when, a, b)
    if best is None:
        return None
    _when, a, b = best
    one, two = sorted((a, b), key=lambda e: (e.on or date.min, e.event.id))
    joint = ", then " if rule.ordered else " and "
    lead = f"Within {rule.within_days} days: {_event_phrase(one.event)}{joint}"
    lead += _event_phrase(two.event)
    return Found({*a.records, *b.records}, lead, _latest([a.event, b.event]))


# --- people around the subject ------------------------------------------------------------------


def _person_matches(context: Context, person: str, match: PersonMatch) -> Found | None:
    """Whether a person has everything ``match`` asks for, and the records that show it."""
    found: list[Found] = []
    for check in (_age_check, _tags_check, _events_check, _group_check):
        part = check(context, person, match)
        if part is None:
            return None
        found += part
    records = {r for f in found for r in f.records}
    latest = max((f.latest_on for f in found if f.latest_on), default=None)
    return Found(records, "; ".join(f.detail for f in found), latest)


# Each check gives what it found ([] when not asked), or None when the person lacks it.


def _age_check(context: Context, person: str, match: PersonMatch) -> list[Found] | None:
    if match.age is None:
        return []
    age = context.age(person)
    if not match.age.holds(age):
        return None
    born = (context.date_of_birth(person) or date.min).isoformat()
    records = {r.id for r in context.graph.records_of(person) if born in r.values("date_of_birth")}
    return [Found(records, f"aged {age}")]


def _tags_check(context: Context, person: str, match: PersonMatch) -> list[Found] | None:
    out = []
    for prop, wanted in (("markers", match.markers), ("flags", match.flags)):
        if not wanted:
            continue
        carrying = [
            (r.id, v)
            for r in context.graph.records_of(person)
            for v in r.values(prop)
            if v in wanted
        ]
        if not carrying:
            return None
        values = ", ".join(sorted({v for _r, v in carrying}))
        out.append(Found({rid for rid, _v in carrying}, f"{prop[:-1]} {values}"))
    return out


def _events_check(context: Context, person: str, match: PersonMatch) -> list[Found] | None:
    if match.events is None:
        return []
    links = _matching(context, person, match.events.match, match.events.lookback_days)
    if len({e.event.id for e in links}) < match.events.min_count:
        return None
    return [_found_events(links, "involved in")]


def _group_check(context: Context, person: str, match: PersonMatch) -> list[Found] | None:
    if not match.in_group:
        return []
    group = context.group_of.get(person)
    if group is None:
        return None
    ties = set(group_ties(context.network, group, person))
    return [Found(ties, f"a member of a detected group of {len(group.members)}")]


def rule_household(context: Context, person: str, rule: HouseholdRule) -> Found | None:
    records: set[str] = set()
    said: list[str] = []
    latest: list[date] = []
    for other, connecting, where in _household(context, person, rule.via):
        found = _person_matches(context, other, rule.other)
        if found is None:
            continue
        records |= connecting | found.records
        said.append(f"{context.caption(other, connecting)} ({where}), {found.detail}")
        latest += [found.latest_on] if found.latest_on else []
    if not said:
        return None
    return Found(records, "Household: " + " | ".join(sorted(said)), max(latest, default=None))


def _household(
    context: Context, person: str, via: Sequence[str]
) -> list[tuple[str, set[str], str]]:
    """(other person, records connecting them to the subject, how) for each household tie."""
    out: dict[str, tuple[set[str], list[str]]] = {}
    if "address" in via:
        for home in context.current_homes(person):
            address = home.to_entity
            for theirs in context.graph.links_of(address, "lives_at", outgoing=False):
                other = theirs.from_entity
                if other == person or theirs not in context.current_homes(other):
                    continue
                held = out.setdefault(other, (set(), []))
                held[0].update([*home.records, *theirs.records])
                held[1].append(f"lives at {context.caption(address, home.records)}")
    if "carer" in via:
        for link in context.graph.links_of(person, "parent_of", outgoing=False):
            held = out.setdefault(link.from_entity, (set(), []))
            held[0].update(link.records)
            held[1].append("parent or carer")
    return [(other, recs, ", ".join(sorted(set(how)))) for other, (recs, how) in out.items()]


def rule_place(context: Context, person: str, rule: PlaceRule) -> Found | None:
    records: set[str] = set()
    events: dict[str, Record] = {}
    for home in context.current_homes(person):
        for link in context.graph.links_of(home.to_entity, "occurred_at", outgoing=False):
            event = context.graph.facts.records[link.from_record]
            if event.occurred_on and event.occurred_on > context.as_of:
                continue
            at = EventLink(event, "", link.to_record)
            if rule.match.matches(event, "") and _in_lookback(
                at, rule.lookback_days, context.as_of
            ):
                records.update([*home.records, *link.records])
                events[event.id] = event
    if len(events) < rule.min_count:
        return None
    lead = f"{len(events)} event{_s(len(events))} at home"
    return Found(records, f"{lead}: {_describe(events.values())}", _latest(events.values()))


def rule_associate(context: Context, person: str, rule: AssociateRule) -> Found | None:
    if person not in context.network or (rule.outside_groups and person in context.group_of):
        return None
    records: set[str] = set()
    said: list[str] = []
    latest: list[date] = []
    for other in sorted(context.network.neighbors(person)):
        ties = context.network.edges[person, other]["ties"]
        kinds = [k for k in rule.via if k in ties]
        if not kinds:
            continue
        found = _person_matches(context, other, rule.other)
        if found is None:
            continue
        tied = {r for k in kinds for r in ties[k]}
        records |= tied | found.records
        said.append(f"{context.caption(other, tied)} ({', '.join(kinds)}), {found.detail}")
        latest += [found.latest_on] if found.latest_on else []
    if not said:
        return None
    return Found(records, "Associates: " + " | ".join(said), max(latest, default=None))


def rule_group(context: Context, person: str, rule: GroupRule) -> Found | None:
    group = context.group_of.get(person)
    if group is None or len(group.members) < rule.min_size:
        return None
    key = {k["entity_id"]: k for k in group.key_people}
    if rule.key_person and person not in key:
        return None
    evidence = group_ties(context.network, group, person)
    ties = set(context.network.neighbors(person)) & set(group.members)
    names = sorted(context.caption(o, evidence) for o in ties)
    role = f"a key person (betweenness {key[person]['betweenness']})" if person in key else "one"
    detail = (
        f"{role} of a detected group of {len(group.members)} people; "
        f"tied to {', '.join(names[:5])}{' and others' if len(names) > 5 else ''}"
    )
    return Found(set(evidence), detail[0].upper() + detail[1:])


def rule_agencies(context: Context, person: str, rule: AgenciesRule) -> Found | None:
    dated = _dated(_matching(context, person, rule.match, rule.lookback_days))
    best: list[EventLink] = []
    best_count = 0
    start = 0
    for end, (on, _link) in enumerate(dated):
        while (on - dated[start][0]).days > rule.within_days:
            start += 1
        window = [link for _on, link in dated[start : end + 1]]
        count = len({context.agency(e.event.id) for e in window})
        if count >= best_count:
            best, best_count = window, count
    agencies = Counter(context.agency(e.event.id) for e in best)
    if len(agencies) < rule.min_agencies:
        return None
    names = context.graph.facts.agency_names
    who = ", ".join(f"{names.get(a, a)} ({n})" for a, n in sorted(agencies.items()))
    lead = f"{len(agencies)} agencies within {rule.within_days} days: {who}"
    return _found_events(best, lead)


def rule_flag(context: Context, person: str, rule: FlagRule) -> Found | None:
    records: set[str] = set()
    said: set[str] = set()
    for prop, wanted in (("flags", rule.flags), ("markers", rule.markers)):
        for record in context.graph.records_of(person):
            have = set(record.values(prop)) & set(wanted)
            if have:
                records.add(record.id)
                said.update(f"{prop[:-1]} {v}" for v in have)
    if not records:
        return None
    return Found(records, "Recorded: " + ", ".join(sorted(said)))


def rule_uses(context: Context, person: str, rule: UsesRule) -> Found | None:
    things: dict[str, set[str]] = defaultdict(set)
    for link in context.graph.links_of(person, "uses", outgoing=True):
        if context.graph.schema_of[link.to_entity] in rule.things:
            things[link.to_entity].update(link.records)
    if len(things) < rule.min_count:
        return None
    records = {r for recs in things.values() for r in recs}
    names = sorted(context.caption(t, records) for t in things)
    kinds = sorted({context.graph.schema_of[t] for t in things})
    what = " or ".join(entity_model().entity(k).plural.lower() for k in kinds)
    return Found(records, f"Uses {len(things)} {what}: {', '.join(names)}")


def _s(n: int) -> str:
    return "" if n == 1 else "s"


RULES: dict[str, Callable[[Context, str, Any], Found | None]] = {
    "events": rule_events,
    "sequence": rule_sequence,
    "household": rule_household,
    "place": rule_place,
    "associate": rule_associate,
    "group": rule_group,
    "agencies": rule_agencies,
    "flag": rule_flag,
    "uses": rule_uses,
}
RULE_KINDS = tuple(RULES)
