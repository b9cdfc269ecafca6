"""The fusion demo: four agencies' simulated records, shared as a safeguarding hub would, fused.

A county of 400 children is simulated (:mod:`peel.fusion.simulate`, dated up to today) and
each agency registers its source and imports its own file through the real importer:

* Wessex Police (nominals and occurrences), Wessex County Council children's services (case
  records) and Wessex NHS (A&E attendances) share with each other under their safeguarding
  duties, as partners in a Multi-Agency Safeguarding Hub do;
* Northgate Academy shares its pupil and behaviour records with the council and the police,
  but receives nobody else's records: its staff see only the school's facts, so the
  safeguards show (and the NHS, which the school does not share with, sees no school facts).

Then analysis runs once for every scope. Loading twice changes nothing; a demo whose
analysis never finished is analysed again.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from peel.core import service as core
from peel.core.config import Settings
from peel.core.db import transaction
from peel.core.demo import DemoUser
from peel.core.enums import TLP, Role
from peel.core.identity import principal_for_user
from peel.core.models import Organisation
from peel.core.principal import Principal
from peel.core.schemas import UserCreate
from peel.fusion import ingest, sources
from peel.fusion.enums import LegalBasis
from peel.fusion.models import FusionScope, FusionSource
from peel.fusion.service import principal_scope
from peel.fusion.simulate import FILES, mapping_text, simulate

SEED = 2031
CHILDREN = 400
LOADER = Principal(display_name="demo loader", is_platform_admin=True)
ANALYST = "analyst@wessex.police.example"


@dataclass(frozen=True)
class DemoSource:
    """One agency's demo source: who owns it, who imports it, and who may see it."""

    agency: str  # the simulated agency (a key of simulate.FILES)
    code: str
    name: str
    owner: str
    manager: str  # email of the owner's user who registers and imports it
    legal_basis_kind: LegalBasis
    legal_basis: str
    share_with: tuple[str, ...]
    description: str = ""


DEMO_SOURCES = (
    DemoSource(
        "police", "wessex-police-nominals", "Police nominals and occurrences (demo)",
        "wessex-police", ANALYST, LegalBasis.safeguarding,
        "Children Act 2004 s.11 and Crime and Disorder Act 1998 s.115; Data Protection Act "
        "2018 Sch. 8 para. 4 (safeguarding of children); Wessex MASH information sharing "
        "agreement", ("wessex-council", "wessex-nhs"),
        "Nominals linked to incidents, crimes, arrests, missing episodes and stop and search, "
        "with warning markers, associates, phones and vehicles.",
    ),
    DemoSource(
        "childrens-services", "wessex-council-case-records",
        "Children's social care case records (demo)", "wessex-council",
        "analyst@wessex-council.example", LegalBasis.safeguarding,
        "Children Act 1989 s.17 and s.47, Children Act 2004 s.11; Data Protection Act 2018 "
        "Sch. 8 para. 4; Wessex MASH information sharing agreement",
        ("wessex-police", "wessex-nhs"),
        "Referrals, assessments, plans and looked-after episodes, with parents and carers.",
    ),
    DemoSource(
        "school", "northgate-academy-pupils", "Pupils and behaviour (demo)",
        "northgate-academy", "data@northgate.example", LegalBasis.safeguarding,
        "Keeping children safe in education 2024; Education Act 2002 s.175; Data Protection "
        "Act 2018 Sch. 8 para. 4", ("wessex-council", "wessex-police"),
        "Pupils, suspensions, exclusions, attendance concerns and safeguarding concerns.",
    ),
    DemoSource(
        "health", "wessex-nhs-ed-attendances", "Emergency department attendances (demo)",
        "wessex-nhs", "analyst@wessex-nhs.example", LegalBasis.safeguarding,
        "Children Act 2004 s.11; Caldicott principle 7 (the duty to share); Data Protection "
        "Act 2018 Sch. 8 para. 4; Wessex MASH information sharing agreement",
        ("wessex-council", "wessex-police"),
        "A&E attendances with presenting complaint, category and safeguarding markers.",
    ),
)  # fmt: skip

#: The people who register and import each agency's data (the police analyst is a core user).
DEMO_DATA_MANAGERS = (
    DemoUser("analyst@wessex-council.example", "Robin Data Analyst", "wessex-council",
             (Role.analyst,), "demo-council-analyst-password"),
    DemoUser("analyst@wessex-nhs.example", "Sam Health Analyst", "wessex-nhs",
             (Role.analyst,), "demo-health-analyst-password"),
    DemoUser("data@northgate.example", "Jordan Data Manager", "northgate-academy",
             (Role.analyst,), "demo-school-data-password"),
)  # fmt: skip


@dataclass(frozen=True)
class DemoSummary:
    """What the demo loaded and where its ground truth is kept."""

    sources: dict[str, int]  # source code -> records imported
    run_id: str | None
    truth_path: Path
    notes: list[str] = field(default_factory=list)


def truth_path(settings: Settings) -> Path:
    """Where the demo county's ground truth (``truth.json``) is kept."""
    return settings.fusion_dir / "demo" / "truth.json"


def _org(session: Session, code: str) -> Organisation | None:
    return session.scalar(select(Organisation).where(Organisation.code == code))


def _person(session: Session, email: str) -> Principal:
    user = core.user_by_email(session, email)
    if user is None:
        raise LookupError(f"the demo user {email} is missing; load the core demo first")
    return principal_for_user(user)


def add_data_managers(session: Session) -> list[str]:
    """Create the agencies' data managers who are missing; returns the emails created."""
    made = []
    for demo in DEMO_DATA_MANAGERS:
        if core.user_by_email(session, demo.email) is None and _org(session, demo.organisation):
            data = UserCreate(
                email=demo.email,
                name=demo.name,
                organisation=demo.organisation,
                roles=list(demo.roles),
                password=demo.password,
            )
            core.create_user(session, LOADER, data)
            made.append(demo.email)
    return made


def _loaded(session: Session) -> bool:
    """Whether every demo source exists and holds records."""
    codes = [s.code for s in DEMO_SOURCES]
    found = session.scalars(select(FusionSource).where(FusionSource.code.in_(codes))).all()
    return len(found) == len(codes) and all(s.record_count > 0 for s in found)


def _analysed(session: Session) -> bool:
    """Whether the police analyst's scope has been analysed."""
    key, _ = principal_scope(session, _person(session, ANALYST))
    return session.get(FusionScope, key) is not None


def load_fusion_demo(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    children: int = CHILDREN,
    as_of: date | None = None,
) -> DemoSummary | None:
    """Simulate, register, import and analyse the demo agencies; None when already loaded.

    Needs the core demo (organisations and users from :func:`peel.core.demo.load_demo`).
    Commits as it goes: the imports first, then analysis in its own steps.
    """
    with transaction(sessions) as session:
        missing = [s.owner for s in DEMO_SOURCES if _org(session, s.owner) is None]
        if missing:
            raise LookupError(f"the demo organisations {missing} are missing; load the demo first")
        add_data_managers(session)
        rerun = not _analysed(session) if _loaded(session) else None
    if rerun is False:
        return None
    counts: dict[str, int] = {}
    if rerun is None:
        counts = _import_all(sessions, settings, children, as_of)
    from peel.fusion.analyse import run_analysis

    with sessions() as session:
        analyst = _person(session, ANALYST)
    run_id = run_analysis(sessions, analyst, settings, as_of=as_of)
    notes = ["the demo was already imported; analysis ran again"] if rerun else []
    return DemoSummary(counts, run_id, truth_path(settings), notes)


def _import_all(
    sessions: sessionmaker[Session], settings: Settings, children: int, as_of: date | None
) -> dict[str, int]:
    """Simulate the county and import each agency's file as that agency; keep the truth."""
    counts = {}
    with tempfile.TemporaryDirectory(prefix="peel-fusion-demo-") as folder:
        result = simulate(Path(folder), children, SEED, as_of=as_of)
        with transaction(sessions) as session:
            for spec in DEMO_SOURCES:
                source = _source(session, spec)
                data = result.files[spec.agency].read_bytes()
                actor = _person(session, spec.manager)
                attempt = ingest.import_file(
                    session, actor, source, data, FILES[spec.agency], mapping_text(spec.agency)
                )
                counts[spec.code] = attempt.records
        target = truth_path(settings)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(result.truth_path.read_bytes())
    return counts


def _source(session: Session, spec: DemoSource) -> FusionSource:
    """The demo source, registered by its agency's data manager if it is not there yet."""
    found = session.scalar(select(FusionSource).where(FusionSource.code == spec.code))
    if found is not None:
        return found
    data = sources.SourceCreate(
        code=spec.code,
        name=spec.name,
        description=spec.description,
        legal_basis_kind=spec.legal_basis_kind,
        legal_basis=spec.legal_basis,
        tlp=TLP.amber_strict,
        share_with=list(spec.share_with),
        mapping=mapping_text(spec.agency),
    )
    return sources.register_source(session, _person(session, spec.manager), data)
