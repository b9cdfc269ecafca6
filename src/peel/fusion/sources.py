"""Sources: registering an agency's data set, who may see it, and its mapping.

A source is a protected record like any other: its owning agency, a TLP label and the
organisations it is shared with decide who sees it (and so every fact imported into it), all
through :mod:`peel.core.policy`. TLP:RED is refused: it names people, and bulk fusion is not
for named-recipient data. Only the owning organisation's analysts, supervisors and
administrators register, edit and import; sharing needs a supervisor or administrator. Every
change is audited in the caller's transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from peel.core.audit import changes_between, created, record_audit
from peel.core.db import utcnow
from peel.core.enums import TLP
from peel.core.errors import Conflict, InvalidInput
from peel.core.models import Organisation, RecordShare
from peel.core.policy import Forbidden, NotFound, access_record, visible_clause
from peel.core.principal import Principal
from peel.core.service import organisation_by_code
from peel.fusion.enums import LegalBasis
from peel.fusion.mapping import MappingError, SourceMapping, parse_mapping
from peel.fusion.models import FusionSource
from peel.fusion.service import SOURCE_MANAGER_ROLES, require_fusion

SOURCE = FusionSource.record_type
#: Labels a source may carry: RED names people, which bulk fusion cannot honour.
SOURCE_LABELS = (TLP.clear, TLP.green, TLP.amber, TLP.amber_strict)
CODE_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
_CODE = re.compile(CODE_PATTERN)
_RED = (
    "TLP:RED is for named people only and cannot be fused in bulk; "
    "choose AMBER+STRICT (the owning agency and organisations it is shared with) or AMBER"
)


class SourceCreate(BaseModel):
    """What registering a source needs."""

    code: str = Field(
        min_length=1,
        max_length=64,
        description="Short unique code: lower-case letters, digits and hyphens (police-bcu-1)",
    )
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    legal_basis_kind: LegalBasis
    legal_basis: str = Field(
        min_length=1, max_length=5000, description="The power or agreement that allows sharing"
    )
    tlp: TLP = TLP.amber
    share_with: list[str] = Field(default_factory=list, description="Organisation codes")
    mapping: str = Field(default="", description="Mapping YAML, checked when saved")
    agency: str | None = Field(
        default=None, description="Owning organisation's code (default: the registrant's own)"
    )

    @field_validator("code")
    @classmethod
    def _code_is_simple(cls, value: str) -> str:
        value = value.strip()
        if not _CODE.match(value):
            raise ValueError(
                "use lower-case letters, digits and hyphens, starting and ending with a letter "
                "or digit (e.g. police-incidents)"
            )
        return value

    @field_validator("name", "legal_basis")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be blank")
        return value


# --- checks -----------------------------------------------------------------------------------


def checked_mapping(text: str, field: str = "mapping") -> SourceMapping:
    """A valid mapping, or InvalidInput naming each wrong YAML path under ``field``."""
    if not text.strip():
        raise InvalidInput({field: "the source has no mapping yet: give its mapping YAML"})
    try:
        return parse_mapping(text)
    except MappingError as error:
        raise InvalidInput(
            {f"{field}.{path}": problem for path, problem in error.problems.items()},
            title="The mapping is not valid",
        ) from None


def _label(tlp: TLP | str) -> TLP:
    try:
        label = TLP(tlp)
    except ValueError:
        label = None
    if label == TLP.red:
        raise InvalidInput({"tlp": _RED})
    if label not in SOURCE_LABELS:
        raise InvalidInput({"tlp": f"expected one of {', '.join(t.value for t in SOURCE_LABELS)}"})
    return label


def require_source_manager(actor: Principal, owner_org_id: str) -> None:
    """Only the owning organisation's analysts, supervisors and administrators manage a source."""
    if actor.organisation_id != owner_org_id or not actor.has_any(*SOURCE_MANAGER_ROLES):
        raise Forbidden(
            "Only the owning organisation's analysts, supervisors and administrators may "
            "register, change or import into a source"
        )


def _share_orgs(session: Session, codes: Sequence[str], owner_org_id: str) -> list[Organisation]:
    orgs: dict[str, Organisation] = {}
    for code in codes:
        org = organisation_by_code(session, code, "share_with")
        if org.id == owner_org_id:
            raise InvalidInput({"share_with": "a source is always visible to its own agency"})
        orgs[org.id] = org
    return list(orgs.values())


def shared_with(session: Session, source: FusionSource) -> list[Organisation]:
    """The organisations a source is shared with now (expired shares count for nothing)."""
    now = utcnow()
    return list(
        session.scalars(
            select(Organisation)
            .join(RecordShare, RecordShare.organisation_id == Organisation.id)
            .where(
                RecordShare.record_type == SOURCE,
                RecordShare.record_id == source.id,
                or_(RecordShare.expires_at.is_(None), RecordShare.expires_at > now),
            )
            .order_by(Organisation.code)
        )
    )


def _values(source: FusionSource, shares: Sequence[Organisation]) -> dict[str, Any]:
    return {
        "code": source.code,
        "name": source.name,
        "legal_basis_kind": source.legal_basis_kind,
        "legal_basis": source.legal_basis,
        "tlp": source.tlp,
        "shared_with": sorted(org.code for org in shares),
    }


# --- service ----------------------------------------------------------------------------------


def _owner(session: Session, actor: Principal, agency: str | None) -> str:
    if actor.organisation_id is None:
        raise Forbidden("Sign in as a member of the agency that owns the source")
    if agency is not None:
        org = organisation_by_code(session, agency, "agency")
        if org.id != actor.organisation_id:
            raise Forbidden(f"Only members of {org.name} may register its sources")
    require_source_manager(actor, actor.organisation_id)
    return actor.organisation_id


def register_source(session: Session, actor: Principal, data: SourceCreate) -> FusionSource:
    """Register a source owned by the actor's organisation, shared as asked; audited."""
    require_fusion(actor)
    owner_org_id = _owner(session, actor, data.agency)
    label = _label(data.tlp)
    if data.mapping.strip():
        checked_mapping(data.mapping)
    if session.scalar(select(FusionSource.id).where(FusionSource.code == data.code)):
        raise Conflict({"code": f"a source with the code {data.code!r} already exists"})
    orgs = _share_orgs(session, data.share_with, owner_org_id)
    source = FusionSource(
        code=data.code,
        name=data.name,
        description=data.description.strip(),
        legal_basis_kind=LegalBasis(data.legal_basis_kind).value,
        legal_basis=data.legal_basis,
        owner_org_id=owner_org_id,
        tlp=label,
        mapping=data.mapping,
        created_by_id=actor.user_id,
    )
    session.add(source)
    session.flush()
    _add_shares(session, actor, source, orgs)
    session.flush()
    values = {**_values(source, orgs), "mapping": "set" if data.mapping.strip() else None}
    record_audit(
        session, actor, "fusion.source.created", SOURCE, source.id, created(values),
        record_org_id=owner_org_id,
    )  # fmt: skip
    return source


def _by_id_or_code(session: Session, key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > 64:
        raise NotFound(SOURCE, str(key))
    if session.get(FusionSource, key) is not None:
        return key
    found = session.scalar(select(FusionSource.id).where(FusionSource.code == key.strip().lower()))
    if found is None:
        raise NotFound(SOURCE, key)
    return found


def access_source(
    session: Session, actor: Principal, source_id_or_code: str, action: str = "view"
) -> FusionSource:
    """The one door to a source, by id or code; missing and hidden look the same.

    ``action`` is view, manage (change the mapping, import: the owner's source managers) or
    relabel (share: the owner's supervisors and administrators).
    """
    require_fusion(actor)
    source_id = _by_id_or_code(session, source_id_or_code)
    policy_action = {"view": "view", "manage": "edit", "edit": "edit", "relabel": "relabel"}
    if action not in policy_action:
        raise ValueError(f"unknown action {action!r}")
    try:
        source, _ = access_record(session, actor, FusionSource, source_id, policy_action[action])
    except NotFound:
        raise NotFound(SOURCE, source_id_or_code) from None  # name only what the caller gave
    if action in ("manage", "edit"):
        require_source_manager(actor, source.owner_org_id)
    return source


def list_sources(session: Session, actor: Principal) -> list[FusionSource]:
    """The sources the actor may see, by name."""
    require_fusion(actor)
    query = select(FusionSource).where(visible_clause(actor, FusionSource, SOURCE))
    return list(session.scalars(query.order_by(FusionSource.name, FusionSource.code)))


def update_mapping(
    session: Session, actor: Principal, source: FusionSource, mapping_yaml: str
) -> None:
    """Replace a source's mapping after checking it; audited with the old and new text."""
    source = access_source(session, actor, source.id, "manage")
    checked_mapping(mapping_yaml)
    if mapping_yaml == source.mapping:
        return
    old = source.mapping
    source.mapping = mapping_yaml
    session.flush()
    record_audit(
        session,
        actor,
        "fusion.source.mapping_changed",
        SOURCE,
        source.id,
        changes_between({"mapping": old}, {"mapping": mapping_yaml}),
        record_org_id=source.owner_org_id,
    )


def _add_shares(
    session: Session, actor: Principal, source: FusionSource, orgs: Sequence[Organisation]
) -> None:
    """Share with each organisation; an expired share with one of them is renewed."""
    expired = {
        row.organisation_id: row
        for row in session.scalars(
            select(RecordShare).where(
                RecordShare.record_type == SOURCE, RecordShare.record_id == source.id
            )
        )
    }
    for org in orgs:
        if org.id in expired:
            expired[org.id].expires_at = None
            continue
        session.add(
            RecordShare(
                record_type=SOURCE,
                record_id=source.id,
                organisation_id=org.id,
                created_by_id=actor.user_id,
            )
        )


def share_source(
    session: Session,
    actor: Principal,
    source: FusionSource,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
) -> list[Organisation]:
    """Share a source with more organisations, or stop sharing; returns who it is shared with."""
    source = access_source(session, actor, source.id, "relabel")
    before = shared_with(session, source)
    adding = _share_orgs(session, add, source.owner_org_id)
    removing = [organisation_by_code(session, code, "remove") for code in remove]
    current = {org.id for org in before}
    for org in removing:
        if org.id not in current:
            raise InvalidInput({"remove": f"the source is not shared with {org.code}"})
    session.execute(
        delete(RecordShare).where(
            RecordShare.record_type == SOURCE,
            RecordShare.record_id == source.id,
            RecordShare.organisation_id.in_([org.id for org in removing]),
        )
    )
    _add_shares(session, actor, source, [org for org in adding if org.id not in current])
    session.flush()
    after = shared_with(session, source)
    changes = changes_between(
        {"shared_with": sorted(o.code for o in before)},
        {"shared_with": sorted(o.code for o in after)},
    )
    if changes:
        record_audit(
            session, actor, "fusion.source.shared", SOURCE, source.id, changes,
            record_org_id=source.owner_org_id,
        )  # fmt: skip
    return after
