"""The simulated county: families, young people and adults, and what happens to them.

:class:`County` builds one world in the invented towns of :mod:`peel.fusion.population`:
households of carers and children, pupils of Northgate Academy, adults known to the police,
and over the last two years the events each agency would record. On a minority of children
it plants the patterns risk indicators look for (see :meth:`County.build`) and notes them in
``truth``; every other child gets a few small, unrelated events. How each agency writes what
it knows is in :mod:`peel.fusion.agency_files`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np

from peel.fusion import population as pop


@dataclass(frozen=True)
class Place:
    """An address: line 1, town, postcode and kind (home, care-home …)."""

    line1: str
    town: str
    postcode: str
    kind: str = "home"

    @property
    def text(self) -> str:
        return f"{self.line1}, {self.town}"


@dataclass
class Someone:
    """One real person of the county, as they are (agencies record them imperfectly)."""

    id: str
    given: str
    family: str
    sex: str
    dob: date
    home: Place
    nhs: str
    role: str  # child | carer | adult
    previous: Place | None = None
    placement: Place | None = None  # a looked-after child's placement
    markers: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    carers: list[str] = field(default_factory=list)
    pupil: bool = False
    pnc: str = ""
    phones: list[str] = field(default_factory=list)
    vehicle: str = ""

    @property
    def name(self) -> str:
        return f"{self.given} {self.family}"

    def age(self, on: date) -> int:
        return on.year - self.dob.year - ((on.month, on.day) < (self.dob.month, self.dob.day))


@dataclass
class Happening:
    """Something an agency recorded: its kind, when, what, and who in which role."""

    agency: str
    kind: str
    at: datetime
    category: str
    description: str
    people: list[tuple[str, str]]
    markers: list[str] = field(default_factory=list)
    outcome: str = ""
    place: Place | None = None
    key: str = ""


#: What agencies record, by template name: agency | kind | category | description | markers |
#: outcome. Descriptions may name {fields} filled in when the event happens.
TEMPLATES_TEXT = """
attendance: school | attendance-concern | Attendance below 90% | Attendance 86% this term; letter sent home | | Letter sent
suspension: school | suspension | Persistent disruptive behaviour | One-day suspension after repeated disruption in lessons | | Suspended 1 day
absent: school | absent-episode | Absent from lessons | Left site at lunchtime; returned next morning | | Parents informed
worry: school | safeguarding-concern | Worry about home | Pupil told tutor there is shouting at home; logged for the DSL | | Logged
sprain: health | ae-attendance | sports injury | Twisted ankle playing football | | Discharged
fall: health | ae-attendance | fall | Fell from bike; grazes and a sprained wrist | | Discharged
bump: health | ae-attendance | head injury | Bumped head in the playground; observed | | Discharged
asthma: health | ae-attendance | asthma | Asthma attack; nebulised | | Discharged
asb: police | incident | Anti-social behaviour | Group of youths shouting in the park; words of advice given | | Words of advice
snatch: police | crime | Theft from the person | Phone snatched at the bus station | | No suspect identified
welfare: police | incident | Concern for welfare | Found upset at the station late at night; taken home | | Taken home
gp-referral: childrens-services | referral | Parental mental health | Referral from the GP; advice and signposting | | No further action
early-help: childrens-services | assessment | Neglect | Single assessment; early help offered | | Early help
missing: police | missing-episode | Missing from home | Reported missing by carer at {hour}; found next day {found} | | Found safe; return home interview offered
excluded: school | school-exclusion | Physical assault against a pupil | Permanent exclusion after a serious assault on another pupil | violence | Permanently excluded
arrested: police | arrest | {offence} | {offence}; arrested and interviewed | {markers} | Released under investigation
stabbed: health | ae-attendance | knife injury | {wound}; says he was attacked | knife violence | Admitted; police informed
wounding: police | crime | Wounding with intent (knife) | Victim attended A&E with a stab wound; not cooperating | knife violence | Under investigation
domestic: police | domestic-abuse-incident | Domestic abuse: assault | Neighbour called police to shouting; partner arrested | domestic-abuse violence | Arrested; bail conditions
pub-fight: police | crime | Assault occasioning ABH | Assault outside a pub | violence | Charged
da-referral: childrens-services | referral | Domestic abuse | Police notification of domestic abuse in the household | domestic-abuse | Assessment
cp-plan: childrens-services | child-protection-plan | Emotional abuse | Initial child protection conference: plan made (domestic abuse at home) | domestic-abuse | Plan ongoing
adult-crime: police | crime | {offence} | {offence}; suspect interviewed | {markers} | Charged
pair-crime: police | crime | {offence} | {offence}; both identified on CCTV | | Community resolution
group-supply: police | arrest | Possession with intent to supply Class A | Found at {trap} with wraps of crack cocaine and cash | drugs | Under investigation
group-blade: police | stop-search | Possession of a bladed article | Stopped in car {car}; lock knife and two phones found | knife weapon | Under investigation
group-robbery: police | crime | Robbery of personal property | Victim threatened and phone taken outside the takeaway | violence | Under investigation
group-cannabis: police | arrest | Possession of cannabis with intent to supply | Seen handing over packages near the takeaway | drugs | Under investigation
group-missing: police | missing-episode | Missing from home | Found in {town} at an address linked to drug supply, with older males | exploitation | Found; return home interview declined
cce-referral: childrens-services | referral | Criminal exploitation | Concerns about county lines involvement | exploitation drugs | Child in need plan
weapon-exclusion: school | school-exclusion | Offensive weapon | Permanent exclusion: knife found in bag | knife weapon | Permanently excluded
punched: health | ae-attendance | assault | Facial injuries after being punched; vague history | violence | Discharged; safeguarding referral
care-order: childrens-services | looked-after-episode | Care order | Placed in a children's home after neglect | | Placement ongoing
missing-care: police | missing-episode | Missing from care | Did not return to the children's home; found at the family home | | Found safe
"""  # noqa: E501
TEMPLATES: dict[str, tuple[str, ...]] = {
    name.strip(): tuple(part.strip() for part in rest.split("|"))
    for name, rest in (line.split(":", 1) for line in TEMPLATES_TEXT.strip().splitlines())
}
#: (template, role, weight) of the small things that happen to many children; none is a red
#: flag on its own.
SMALL_EVENTS = (
    ("attendance", "pupil", 3), ("suspension", "pupil", 2), ("absent", "pupil", 1),
    ("worry", "pupil", 1), ("sprain", "patient", 3), ("fall", "patient", 2),
    ("bump", "patient", 1), ("asthma", "patient", 1), ("asb", "subject", 2),
    ("snatch", "victim", 1), ("welfare", "subject", 1), ("gp-referral", "subject", 1.5),
    ("early-help", "subject", 1),
)  # fmt: skip
GROUP_OFFENCES = ("group-supply", "group-blade", "group-robbery", "group-cannabis")
CAR_MODELS = (("Ford", "Fiesta"), ("Vauxhall", "Corsa"), ("Volkswagen", "Golf"),
              ("BMW", "1 Series"), ("Audi", "A3"), ("Mercedes-Benz", "A-Class"))  # fmt: skip
COLOURS = ("Black", "Grey", "White", "Silver", "Blue")
PLATE_LETTERS = "ABCDEFGHJKLMNOPRSTUVWXY"
Roles = list[tuple[str, str]]


#: NHS numbers drawn at a time for the county's people.
NHS_BATCH = 20_000


class County:
    """Builds the people and what happens to them; the agencies' files are written later."""

    def __init__(self, rng: np.random.Generator, as_of: date) -> None:
        self.rng = rng
        self.as_of = as_of
        self.people: dict[str, Someone] = {}
        self.events: list[Happening] = []
        self.associates: list[tuple[str, str]] = []
        self.vehicles: dict[str, tuple[str, str, str]] = {}
        self.households: list[list[str]] = []
        self.places: set[str] = set()
        self.nhs = list(pop.make_nhs_numbers(rng, NHS_BATCH))
        self.nhs_issued: set[str] = set()
        self.phones_issued = 0
        self.truth: dict[str, Any] = {
            "at_risk": [], "group": {}, "co_offending_pairs": [], "violent_households": [],
            "twins": [], "namesakes": [],
        }  # fmt: skip

    # -- drawing at random

    def pick(self, options: Sequence[Any]) -> Any:
        return options[int(self.rng.integers(0, len(options)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def place(self, kind: str = "home") -> Place:
        """A new address nobody else in the county has."""
        while True:
            drawn = pop.draw_addresses(self.rng, 1)
            found = Place(str(drawn.line1[0]), str(drawn.town[0]), str(drawn.postcode[0]), kind)
            if found.line1 + found.postcode not in self.places:
                self.places.add(found.line1 + found.postcode)
                return found

    def when(self, back_from: int, back_to: int = 0) -> datetime:
        """A moment between ``back_from`` and ``back_to`` days before ``as_of``."""
        days = int(self.rng.integers(back_to, max(back_to + 1, back_from)))
        minute = int(self.rng.integers(7 * 60, 24 * 60))
        return datetime.combine(self.as_of - timedelta(days=days), time(minute // 60, minute % 60))

    def person(
        self, role: str, ages: tuple[int, int], home: Place, family: str = "", sex: str = ""
    ) -> Someone:
        """A new person aged within ``ages`` (inclusive) living at ``home``."""
        sex = sex or self.pick(("female", "male"))
        days = int(self.rng.integers(ages[0] * 365 + 30, (ages[1] + 1) * 365 - 30))
        given = str(pop.draw_given_names(self.rng, np.array([sex], dtype=object))[0])
        someone = Someone(
            id=f"P{len(self.people) + 1:05d}",
            given=given,
            family=family or str(pop.draw_family_names(self.rng, 1)[0]),
            sex=sex,
            dob=self.as_of - timedelta(days=days),
            home=home,
            nhs=self.next_nhs_number(),
            role=role,
        )
        self.people[someone.id] = someone
        return someone

    def next_nhs_number(self) -> str:
        """A valid NHS number nobody in the county has yet (a large county needs more)."""
        while not self.nhs:
            fresh = pop.make_nhs_numbers(self.rng, NHS_BATCH)
            self.nhs = [str(n) for n in fresh if str(n) not in self.nhs_issued]
        number = str(self.nhs.pop())
        self.nhs_issued.add(number)
        return number

    def happen(
        self, template: str, at: datetime, people: Roles, place: Place | None = None, **fill: str
    ) -> Happening:
        """Record an event from one of TEMPLATES, its {fields} filled from ``fill``."""
        agency, kind, category, text, markers, outcome = (
            part.format(**fill) for part in TEMPLATES[template]
        )
        event = Happening(agency, kind, at, category, text, people, markers.split(), outcome, place)
        self.events.append(event)
        return event

    def children(self) -> list[Someone]:
        return [p for p in self.people.values() if p.role == "child"]

    # -- families and background

    def families(self, children: int) -> None:
        """Households of one or two carers and one to three children, until there are enough."""
        while len(self.children()) < children:
            home = self.place()
            family = str(pop.draw_family_names(self.rng, 1)[0])
            members = [self.person("carer", (27, 52), home, family, "female")]
            if self.chance(0.6):
                surname = family if self.chance(0.8) else ""
                members.append(self.person("carer", (29, 56), home, surname, "male"))
            carers = [m.id for m in members]
            count = int(self.rng.choice([1, 2, 3], p=[0.45, 0.4, 0.15]))
            for _ in range(min(count, children - len(self.children()))):
                child = self.person("child", (9, 17), home, family if self.chance(0.9) else "")
                child.carers = carers
                members.append(child)
            self.maybe_twins(members, carers)
            if self.chance(0.1):
                moved_from = self.place()
                for member in members:
                    member.previous = moved_from
            self.households.append([m.id for m in members])
        for child in self.children():
            child.pupil = 11 <= child.age(self.as_of) <= 16 and self.chance(0.8)

    def maybe_twins(self, members: list[Someone], carers: list[str]) -> None:
        """Now and then the first child has a twin: same surname, birthday and home."""
        kids = [m for m in members if m.role == "child"]
        if not kids or not self.chance(0.05):
            return
        first = kids[0]
        twin = self.person("child", (9, 17), first.home, first.family)
        while twin.given == first.given:
            twin.given = str(pop.draw_given_names(self.rng, np.array([twin.sex]))[0])
        twin.dob, twin.carers = first.dob, carers
        members.append(twin)
        self.truth["twins"].append([first.id, twin.id])

    def namesakes(self, pool: list[Someone], pairs: int) -> None:
        """Unrelated children who share a full name (the common-name collision)."""
        for n in range(min(pairs, len(pool) // 2)):
            a, b = pool[2 * n], pool[2 * n + 1]
            b.given, b.family, b.sex = a.given, a.family, a.sex
            self.truth["namesakes"].append([a.id, b.id])

    def small_events(self, child: Someone, count: int, back: int = 700) -> list[Happening]:
        """``count`` small unrelated events for a child, from the agencies that would know."""
        options = [e for e in SMALL_EVENTS if child.pupil or e[1] != "pupil"]
        weights = np.array([e[2] for e in options], dtype=float)
        chosen = self.rng.choice(len(options), count, p=weights / weights.sum())
        made = []
        for index in chosen:
            template, role, _ = options[int(index)]
            made.append(self.happen(str(template), self.when(back), [(child.id, str(role))]))
        return made

    def background(self, spared: set[str]) -> None:
        """Most children have a few small events over two years; some have none."""
        for child in self.children():
            if child.id not in spared:
                self.small_events(child, int(min(self.rng.poisson(0.9), 3)))

    def adults_with_records(self, count: int) -> list[Someone]:
        """Adults living without children who come to police notice (some violent)."""
        adults = []
        for _ in range(count):
            sex = "male" if self.chance(0.8) else "female"
            adult = self.person("adult", (19, 60), self.place(), sex=sex)
            adult.markers += ["violence"] if self.chance(0.3) else []
            adult.markers += ["drugs"] if self.chance(0.2) else []
            offence, markers = self.pick(
                (("Burglary dwelling", ""), ("Assault occasioning ABH", "violence"),
                 ("Theft from a shop", ""), ("Drink driving", "alcohol"))
            )  # fmt: skip
            self.happen("adult-crime", self.when(700), [(adult.id, "suspect")],
                        offence=offence, markers=markers)  # fmt: skip
            adults.append(adult)
        return adults

    def co_offending_pairs(self, pool: list[Someone], pairs: int) -> None:
        """Two people (children, or a child and an adult) suspected of one crime together."""
        for n in range(pairs):
            a, b = pool[2 * n], pool[2 * n + 1]
            offence = self.pick(
                ("Theft from a shop", "Criminal damage to a bus shelter", "Theft of a pedal cycle")
            )
            people = [(a.id, "suspect"), (b.id, "suspect")]
            event = self.happen("pair-crime", self.when(600, 10), people, offence=offence)
            self.truth["co_offending_pairs"].append([a.id, b.id, event])

    # -- planted risk

    def at_risk(
        self, person: Someone, pattern: str, indicators: list[str], events: Sequence[Happening]
    ) -> None:
        """Note a planted child, the pattern and the shipped indicators it should fire."""
        self.truth["at_risk"].append(
            {"person": person.id, "name": person.name, "pattern": pattern,
             "indicators": indicators, "events": list(events)}
        )  # fmt: skip

    def plant_missing(self, child: Someone) -> None:
        """Three to five missing episodes, three of them within 90 days, in the last year."""
        start = int(self.rng.integers(100, 300))
        episodes = []
        for _ in range(int(self.rng.integers(3, 6))):
            at = self.when(start, start - 85)
            people = [(child.id, "missing-person")] + [(c, "reporter") for c in child.carers[:1]]
            found = self.pick(("at a friend's house", "in Saltmead town centre",
                               "at the bus station", "in a park after midnight"))  # fmt: skip
            episodes.append(self.happen("missing", at, people, hour=f"{at:%H:%M}", found=found))
        recent = (self.as_of - max(e.at for e in episodes).date()).days <= 183
        indicators = ["missing-3-in-90"] + (["missing-recent"] if recent else [])
        self.at_risk(child, "missing-episodes", indicators, episodes)

    def plant_exclusion(self, child: Someone) -> None:
        """A permanent exclusion and, within four months either way, an arrest."""
        child.pupil = True
        excluded = self.when(300, 60)
        exclusion = self.happen("excluded", excluded, [(child.id, "pupil")])
        arrested = excluded + timedelta(days=int(self.rng.integers(-120, 120)))
        arrested = min(arrested, datetime.combine(self.as_of, time(12)))
        offence, markers = self.pick(
            (("Assault occasioning ABH", "violence"), ("Criminal damage", ""),
             ("Theft of a motor vehicle", ""))
        )  # fmt: skip
        arrest = self.happen(
            "arrested", arrested, [(child.id, "arrested")], offence=offence, markers=markers
        )
        indicators = ["exclusion-police", "permanent-exclusion"]
        self.at_risk(child, "exclusion-and-police", indicators, [exclusion, arrest])

    def plant_knife(self, child: Someone) -> None:
        """An A&E attendance with a stab wound, and the police crime report of it."""
        at = self.when(250, 10)
        wound = self.pick(("Stab wound to the thigh", "Laceration to the forearm from a knife",
                           "Stab wound to the buttock"))  # fmt: skip
        attendance = self.happen("stabbed", at, [(child.id, "patient")], wound=wound)
        self.happen("wounding", at + timedelta(hours=2), [(child.id, "victim")])
        self.at_risk(child, "knife-injury", ["knife-ae"], [attendance])

    def plant_violent_household(self, household: list[str]) -> None:
        """A mother's partner with violence and domestic-abuse markers moves in; call-outs."""
        mother = self.people[household[0]]
        partner = self.person("adult", (24, 45), mother.home, sex="male")
        partner.markers += ["violence", "domestic-abuse"]
        children = [self.people[m] for m in household if self.people[m].role == "child"]
        couple = [(partner.id, "suspect"), (mother.id, "victim")]
        incidents = [
            self.happen("domestic", self.when(330, 5), couple, mother.home)
            for _ in range(int(self.rng.integers(1, 4)))
        ]
        self.happen("pub-fight", self.when(700, 400), [(partner.id, "arrested")])
        self.truth["violent_households"].append(
            {"adult": partner.id, "children": [c.id for c in children], "address": mother.home.text}
        )
        for child in children:
            referral = self.happen("da-referral", self.when(300, 30), [(child.id, "subject")])
            plan = self.happen("cp-plan", referral.at + timedelta(days=28), [(child.id, "subject")])
            child.flags.append("child-protection-plan")
            indicators = [
                "household-violence",
                "household-domestic-abuse",
                "domestic-abuse-at-home",
                "child-protection-plan",
            ]
            self.at_risk(child, "violent-adult-at-home", indicators, [referral, plan, *incidents])

    def plant_cumulative(self, child: Someone) -> None:
        """Many small events across all four agencies in the last year; none a red flag."""
        child.pupil = True
        events = self.small_events(child, int(self.rng.integers(7, 10)), back=330)
        for agency in ("school", "health", "police", "childrens-services"):
            if agency not in {e.agency for e in events}:
                template, role, _ = self.pick(
                    [e for e in SMALL_EVENTS if TEMPLATES[str(e[0])][0] == agency]
                )
                events.append(self.happen(template, self.when(330), [(child.id, role)]))
        self.at_risk(child, "many-small-events", ["many-agencies", "many-small-events"], events)

    def plant_looked_after(self, child: Someone) -> None:
        """Taken into care: a placement in a children's home, and perhaps a missing episode."""
        child.placement = self.place("care-home")
        child.flags.append("looked-after")
        self.happen("care-order", self.when(500, 60), [(child.id, "subject")])
        if self.chance(0.5):
            self.happen("missing-care", self.when(300, 10), [(child.id, "missing-person")])

    # -- the group

    def plant_group(self, kids: list[Someone], peripheral: list[Someone]) -> None:
        """Young people and two young adults who deal drugs together across towns: they are
        arrested and stopped together, share a 'line' phone and a car, go missing and are
        found in other towns, and police intelligence links them; a few children know one."""
        elders = [self.person("adult", (18, 21), self.place(), sex="male") for _ in range(2)]
        for elder in elders:
            elder.markers += ["drugs", "weapons", "gang-associated", "violence"]
        for kid in kids:
            kid.markers += ["exploitation-risk"] if self.chance(0.5) else []
        everyone = elders + kids
        line = self.phone()
        for person in everyone:
            person.phones.append(self.phone())
        for person in elders + kids[:3]:
            person.phones.append(line)
        car = self.vehicle()
        elders[0].vehicle = elders[1].vehicle = car
        ids = [p.id for p in everyone]
        for i in range(1, len(ids)):  # a connected web of intelligence links
            self.associates.append((ids[i], ids[int(self.rng.integers(0, i))]))
        for _ in range(len(ids)):
            a, b = self.rng.choice(len(ids), 2, replace=False)
            self.associates.append((ids[int(a)], ids[int(b)]))
        events = self.group_offences(elders, kids, car)
        for outsider in peripheral:
            self.associates.append((outsider.id, self.pick(ids)))
        self.truth["group"] = {
            "members": ids, "adults": [e.id for e in elders], "children": [k.id for k in kids],
            "peripheral": [p.id for p in peripheral], "shared_phone": line, "vehicle": car,
            "events": events,
        }  # fmt: skip
        for kid in kids:
            own = [e for e in events if any(p == kid.id for p, _ in e.people)]
            self.at_risk(kid, "group-member", ["group-member", "co-offending-with-adult"], own)
        for outsider in peripheral:
            self.at_risk(outsider, "group-associate", ["associate-of-group-member"], [])

    def group_offences(self, elders: list[Someone], kids: list[Someone], car: str) -> list[Any]:
        """The group's arrests and stops: an elder and two children each time, in turn."""
        hub = Place("Kebab House, 12 Station Road", "Northgate", "WX1 4TB", "business")
        trap = self.place("other")
        made = []
        for n in range(max(4, len(kids) // 2)):
            crew = [self.pick(elders)] + [kids[(n * 2 + i) % len(kids)] for i in range(2)]
            template = self.pick(GROUP_OFFENCES)
            role = "arrested" if TEMPLATES[template][1] == "arrest" else "suspect"
            people = [(p.id, role) for p in crew]
            where = trap if template == "group-supply" else hub
            made.append(self.happen(template, self.when(320, 5), people, where,
                                    trap=trap.text, car=car))  # fmt: skip
        return made + self.group_seen_by_agencies(kids, trap)

    def group_seen_by_agencies(self, kids: list[Someone], trap: Place) -> list[Happening]:
        """Missing episodes, referrals, an exclusion and an A&E visit among the children."""
        made = []
        for kid in kids[:3]:
            for _ in range(2):
                missing = [(kid.id, "missing-person")]
                made.append(
                    self.happen("group-missing", self.when(200, 5), missing, town=trap.town)
                )
            made.append(self.happen("cce-referral", self.when(150, 5), [(kid.id, "subject")]))
            kid.flags.append("child-in-need")
        kids[3].pupil = True
        made.append(self.happen("weapon-exclusion", self.when(200, 20), [(kids[3].id, "pupil")]))
        made.append(self.happen("punched", self.when(200, 5), [(kids[4].id, "patient")]))
        return made

    def phone(self) -> str:
        """A new mobile number from Ofcom's range kept for drama (07700 900000-900999)."""
        self.phones_issued += 1
        return f"07700 900{self.phones_issued:03d}"

    def vehicle(self) -> str:
        """A new car: registration, make, model and colour."""
        plate = "W" + self.pick(PLATE_LETTERS) + str(self.pick((19, 21, 69, 71))) + " "
        plate += "".join(self.pick(PLATE_LETTERS) for _ in range(3))
        make, model = self.pick(CAR_MODELS)
        self.vehicles[plate] = (make, model, self.pick(COLOURS))
        return plate

    # -- putting it together

    def build(self, children: int) -> None:
        """Families, planted risk on a minority of children, background events, pairs."""
        self.families(children)
        order = [self.children()[i] for i in self.rng.permutation(len(self.children()))]
        used: set[str] = set()

        def take(count: int, low: int, high: int) -> list[Someone]:
            chosen = [c for c in order if c.id not in used and low <= c.age(self.as_of) <= high]
            used.update(c.id for c in chosen[:count])
            return chosen[:count]

        def share(fraction: float, least: int) -> int:
            return max(least, round(children * fraction))

        self.plant_group(take(min(share(0.025, 8), 13), 14, 17), take(3, 13, 17))
        for child in take(share(0.03, 2), 11, 17):
            self.plant_missing(child)
        for child in take(share(0.03, 2), 12, 16):
            self.plant_exclusion(child)
        for child in take(share(0.015, 1), 13, 17):
            self.plant_knife(child)
        cumulative = take(share(0.04, 2), 11, 16)
        for child in cumulative:
            self.plant_cumulative(child)
        for child in take(share(0.015, 1), 9, 17):
            self.plant_looked_after(child)
        self.plant_households(share(0.012, 2), used)
        self.background({c.id for c in cumulative})
        self.namesakes([c for c in order if c.id not in used][-8:], 2)
        self.pairs(children, [c for c in order if c.id not in used])

    def plant_households(self, count: int, used: set[str]) -> None:
        """Violent adults in households where nothing else is planted and nobody moved."""
        calm = [h for h in self.households
                if not used & set(h) and self.people[h[0]].previous is None]  # fmt: skip
        for household in calm[:count]:
            self.plant_violent_household(household)
            used.update(household)

    def pairs(self, children: int, unplanted: list[Someone]) -> None:
        """Background co-offending pairs among unplanted children and adults with records."""
        pool = unplanted[: children // 10] + self.adults_with_records(max(6, children // 12))
        pool = [pool[i] for i in self.rng.permutation(len(pool))]
        self.co_offending_pairs(pool, min(max(3, round(children * 0.02)), len(pool) // 2))
