"""A few hundred realistic reports for the demo force, generated here (no real people)."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from peel.core.config import Settings
from peel.core.db import utcnow
from peel.core.geo import from_latlon
from peel.core.identity import principal_for_user
from peel.core.service import user_by_email
from peel.reporting import flows, service
from peel.reporting.enums import CATEGORY_BY_SLUG, THRIVE, Rating, Response
from peel.reporting.models import Report, ReportEvent
from peel.reporting.schemas import (
    AssignIn,
    CloseIn,
    CrimeIn,
    LocationIn,
    ReportCreate,
    TriageIn,
)

# Roughly the mix of police.uk street-level categories in a year of a county force's data.
WEIGHTS = {
    "violent-crime": 30,
    "anti-social-behaviour": 20,
    "other-theft": 8,
    "criminal-damage-arson": 9,
    "shoplifting": 7,
    "vehicle-crime": 6,
    "burglary": 5,
    "public-order": 6,
    "drugs": 2,
    "bicycle-theft": 2,
    "theft-from-the-person": 1,
    "robbery": 1,
    "possession-of-weapons": 1,
    "other-crime": 2,
    "road-traffic-collision": 3,
    "lost-found-property": 3,
    "lost-stolen-vehicle": 1,
}
WHAT = {
    "burglary": [
        "Came home to find the back door forced and the laptop and jewellery gone.",
        "Someone got into the shed overnight and took two bikes and power tools.",
    ],
    "violent-crime": [
        "A man punched me outside the pub after an argument about a taxi.",
        "My neighbour threatened me and pushed me against the fence.",
    ],
    "anti-social-behaviour": [
        "Group of teenagers shouting and throwing stones at windows most evenings this week.",
        "Loud music from the flat above until 4am again, fourth night running.",
    ],
    "vehicle-crime": [
        "Car window smashed and the satnav taken from the dashboard.",
        "Catalytic converter cut off my car on the driveway overnight.",
    ],
    "criminal-damage-arson": [
        "Graffiti sprayed across the garage door and the car keyed.",
        "Someone set fire to the wheelie bins behind the shops.",
    ],
}
GENERIC = [
    "It happened quickly and I did not see where they went. CCTV may have caught it.",
    "I have photos of the damage and can send the doorbell footage.",
]
NAMES = [
    "Alex Green",
    "Sam Turner",
    "Priya Shah",
    "Jordan Lee",
    "Chris Evans",
    "Amira Khan",
    "Tom Baker",
    "Nadia Novak",
    "Ellis Ward",
    "Ruth Osei",
]
CENTRE = (50.7220, -1.8800)  # a town centre on the south coast, for the fictional Wessex Police


def load_report_demo(
    session: Session, settings: Settings, count: int = 300, seed: int = 20261122
) -> int:
    """Create ``count`` demo reports unless they exist; returns how many were created."""
    have = (
        session.scalar(
            select(func.count()).select_from(Report).where(Report.submission_key.like("demo:%"))
        )
        or 0
    )
    if have:
        return 0
    staff = user_by_email(session, "supervisor@wessex.police.example")
    officer = user_by_email(session, "officer@wessex.police.example")
    if staff is None or officer is None:
        return 0
    actor = principal_for_user(staff)
    rng = random.Random(seed)  # noqa: S311 (demo data, not secrets)
    slugs, weights = zip(*WEIGHTS.items(), strict=True)
    settings = settings.model_copy(update={"reporting_default_force": "wessex-police"})
    for n in range(count):
        slug = rng.choices(slugs, weights)[0]
        report = _one(session, settings, rng, slug, n)
        _progress(session, actor, rng, report, officer.email)
    return count


def _description(rng: random.Random, slug: str) -> str:
    label = CATEGORY_BY_SLUG[slug].label.lower()
    opening = rng.choice(WHAT.get(slug, [f"I want to report {label} near my home."]))
    return f"{opening} {rng.choice(GENERIC)}"


def _one(session: Session, settings: Settings, rng: random.Random, slug: str, n: int) -> Report:
    lat = CENTRE[0] + rng.gauss(0, 0.02)
    lon = CENTRE[1] + rng.gauss(0, 0.035)
    anonymous = rng.random() < 0.3
    name = rng.choice(NAMES)
    when = utcnow() - timedelta(days=rng.uniform(0.2, 60))
    data = ReportCreate(
        category=slug,
        description=_description(rng, slug),
        occurred_at=when - timedelta(hours=rng.uniform(1, 30)),
        location=LocationIn(kind="latlon", lat=f"{lat:.6f}", lon=f"{lon:.6f}"),
        anonymous=anonymous,
        reporter_name=None if anonymous else name,
        reporter_email=None if anonymous else f"{name.split()[0].lower()}.{n}@example.com",
        suspect=rng.choice(["", "Male, about 20, grey hoodie, on a black e-bike."]),
    )
    location = from_latlon(lat, lon)
    report, _ = service.submit_report(
        session, settings, data, location, (None, None), [], f"demo:{n}"
    )
    report.created_at = when
    for event in session.scalars(select(ReportEvent).where(ReportEvent.report_id == report.id)):
        event.at = when
    return report


def _progress(
    session: Session, actor: object, rng: random.Random, report: Report, officer_email: str
) -> None:
    """Move some reports along the triage path so the queue looks like a working day."""
    from peel.core.principal import Principal

    assert isinstance(actor, Principal)
    roll = rng.random()
    if roll < 0.4:
        return
    flows.triage(
        session,
        actor,
        report.id,
        TriageIn(
            thrive={k: rng.choice(list(Rating)) for k in THRIVE},
            response=rng.choice(
                [Response.priority, Response.scheduled, Response.resolved_without_deployment]
            ),
        ),
    )
    if roll < 0.55:
        return
    flows.assign(session, actor, report.id, AssignIn(user_email=officer_email))
    category = CATEGORY_BY_SLUG[report.category]
    if roll < 0.8 and category.is_crime:
        flows.record_crime(
            session,
            actor,
            report.id,
            CrimeIn(counting_category=category.counting_group.split(" / ")[0]),
        )
        flows.message_reporter(
            session,
            actor,
            report.id,
            "Thank you for your report. I am the officer dealing with it and "
            "will be in touch after I have checked the CCTV.",
        )
    elif roll >= 0.9:
        flows.close(session, actor, report.id, CloseIn(outcome="Advice given; no further action"))
