"""Sources through the one access policy: who registers, who sees, sharing, RED, the audit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.core.db import utcnow
from peel.core.enums import TLP, Role
from peel.core.errors import Conflict, InvalidInput
from peel.core.identity import principal_for_user
from peel.core.models import AuditEvent, RecordShare
from peel.core.policy import Forbidden, NotFound
from peel.core.principal import Principal
from peel.fusion.enums import LegalBasis
from peel.fusion.sources import (
    SourceCreate,
    access_source,
    list_sources,
    register_source,
    share_source,
    shared_with,
    update_mapping,
)
from tests.conftest import World, make_user

MAPPING = (
    Path(__file__).resolve().parent.parent / "fixtures" / "fusion" / "children.yaml"
).read_text()


@pytest.fixture
def council(world: World) -> dict[str, Principal]:
    """The council's analyst and supervisor (source managers) besides its officer."""
    analyst = make_user(world.db, "analyst@council.example", "test-council", [Role.analyst])
    supervisor = make_user(world.db, "lead@council.example", "test-council", [Role.supervisor])
    return {
        "analyst": principal_for_user(analyst),
        "supervisor": principal_for_user(supervisor),
        "officer": world.principal("social"),
    }


def new(code: str = "childrens-services", **changes: object) -> SourceCreate:
    values: dict[str, object] = {
        "code": code,
        "name": "Children's social care",
        "legal_basis_kind": LegalBasis.safeguarding,
        "legal_basis": "Children Act 2004 s.11; local information sharing agreement",
    }
    return SourceCreate.model_validate({**values, **changes})


def actions(db: Session, record_id: str) -> list[str]:
    query = select(AuditEvent.action).where(AuditEvent.record_id == record_id)
    return list(db.scalars(query.order_by(AuditEvent.id)))


def test_a_source_manager_registers_a_source_and_it_is_audited(
    db: Session, world: World, council: dict[str, Principal]
) -> None:
    source = register_source(
        db, council["analyst"], new(share_with=["test-force"], mapping=MAPPING)
    )
    assert source.owner_org_id == world.orgs["council"].id
    assert source.tlp == TLP.amber
    assert source.mapping == MAPPING
    assert [org.code for org in shared_with(db, source)] == ["test-force"]
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "fusion.source.created")).one()
    assert event.record_id == source.id
    assert event.changes is not None
    assert event.changes["shared_with"] == [None, ["test-force"]]
    assert event.changes["tlp"] == [None, "AMBER"]


def test_red_is_refused_with_a_reason(db: Session, council: dict[str, Principal]) -> None:
    with pytest.raises(InvalidInput) as caught:
        register_source(db, council["analyst"], new(tlp=TLP.red))
    assert "named people only" in caught.value.errors["tlp"]
    assert "AMBER+STRICT" in caught.value.errors["tlp"]


@pytest.mark.parametrize("code", ["Police", "has space", "-edge", "edge-", "a_b", ""])
def test_codes_are_lower_case_letters_digits_and_hyphens(code: str) -> None:
    with pytest.raises(ValidationError):
        new(code)


def test_registration_refusals_say_why(
    db: Session, world: World, council: dict[str, Principal]
) -> None:
    register_source(db, council["analyst"], new("kids"))
    with pytest.raises(Conflict, match="already exists"):
        register_source(db, council["supervisor"], new("kids"))
    with pytest.raises(Forbidden, match="analysts, supervisors and administrators"):
        register_source(db, council["officer"], new("other"))
    with pytest.raises(Forbidden, match="Data fusion is for"):
        register_source(db, world.principal("teacher"), new("school"))
    with pytest.raises(Forbidden, match="Only members of Test Force"):
        register_source(db, council["analyst"], new("x", agency="test-force"))
    with pytest.raises(InvalidInput) as caught:
        register_source(db, council["analyst"], new("y", share_with=["nowhere"]))
    assert "No organisation has the code 'nowhere'" in caught.value.errors["share_with"]
    with pytest.raises(InvalidInput) as caught:
        register_source(db, council["analyst"], new("z", mapping="entities: {a: {schema: Pet}}"))
    assert "mapping.entities.a.schema" in caught.value.errors


def test_another_organisation_cannot_see_a_source_not_shared_with_it(
    db: Session, world: World, council: dict[str, Principal]
) -> None:
    source = register_source(db, council["analyst"], new(tlp=TLP.amber_strict))
    police = world.principal("supervisor")
    assert source not in list_sources(db, police)
    for key in (source.id, source.code):
        with pytest.raises(NotFound):
            access_source(db, police, key)
    assert access_source(db, council["officer"], source.code) is source
    share_source(db, council["supervisor"], source, add=["test-force"])
    assert [s.code for s in list_sources(db, police)] == ["childrens-services"]
    assert access_source(db, police, source.code) is source
    with pytest.raises(Forbidden):  # seeing is not managing
        access_source(db, police, source.id, "manage")
    assert "fusion_source.read" in actions(db, source.id)


def test_sharing_needs_a_supervisor_and_is_audited(
    db: Session, council: dict[str, Principal]
) -> None:
    source = register_source(db, council["analyst"], new())
    with pytest.raises(Forbidden):
        share_source(db, council["analyst"], source, add=["test-force"])
    after = share_source(db, council["supervisor"], source, add=["test-force", "test-cps"])
    assert [o.code for o in after] == ["test-cps", "test-force"]
    after = share_source(db, council["supervisor"], source, remove=["test-cps"])
    assert [o.code for o in after] == ["test-force"]
    with pytest.raises(InvalidInput, match="not shared with test-cps"):
        share_source(db, council["supervisor"], source, remove=["test-cps"])
    with pytest.raises(InvalidInput, match="always visible to its own agency"):
        share_source(db, council["supervisor"], source, add=["test-council"])
    changes = db.scalars(
        select(AuditEvent.changes).where(AuditEvent.action == "fusion.source.shared")
        .order_by(AuditEvent.id)
    ).all()  # fmt: skip
    assert changes == [
        {"shared_with": [[], ["test-cps", "test-force"]]},
        {"shared_with": [["test-cps", "test-force"], ["test-force"]]},
    ]


def test_an_expired_share_hides_the_source_until_it_is_renewed(
    db: Session, world: World, council: dict[str, Principal]
) -> None:
    source = register_source(db, council["analyst"], new(share_with=["test-force"]))
    share = db.scalars(select(RecordShare).where(RecordShare.record_id == source.id)).one()
    share.expires_at = utcnow() - timedelta(days=1)
    db.flush()
    police = world.principal("officer")
    assert list_sources(db, police) == []
    share_source(db, council["supervisor"], source, add=["test-force"])
    assert list_sources(db, police) == [source]


def test_the_mapping_is_checked_and_changes_are_audited(
    db: Session, council: dict[str, Principal]
) -> None:
    source = register_source(db, council["analyst"], new())
    with pytest.raises(InvalidInput) as caught:
        update_mapping(db, council["analyst"], source, "entities: {c: {schema: Person}}")
    assert caught.value.errors == {
        "mapping.entities.c.key": "expected a list of the columns that identify the entity"
    }
    with pytest.raises(Forbidden):
        update_mapping(db, council["officer"], source, MAPPING)
    update_mapping(db, council["analyst"], source, MAPPING)
    assert source.mapping == MAPPING
    assert actions(db, source.id)[-1] == "fusion.source.mapping_changed"
