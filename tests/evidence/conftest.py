"""Helpers for evidence tests: a case with a stored file, built through the service."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from peel.core.blobstore import BlobStore, LocalBlobStore
from peel.core.principal import Principal
from peel.evidence import service
from peel.evidence.models import EvidenceCase, EvidenceItem
from tests.conftest import World, png_bytes


@dataclass
class CaseWithFile:
    case: EvidenceCase
    item: EvidenceItem
    officer: Principal
    store: BlobStore


def add_png(
    db: Session,
    store: BlobStore,
    actor: Principal,
    case: EvidenceCase | None,
    size: int = 4,
    name: str = "photo.png",
    **extra: object,
) -> EvidenceItem:
    ref = store.put_stream([png_bytes(size, size)])
    return service.add_item(
        db,
        actor,
        service.NewItem(
            sha256=ref.sha256,
            size=ref.size,
            content_type="image/png",
            kind="image",
            name=name,
            source="upload",
            **extra,  # type: ignore[arg-type]
        ),
        case=case,
    )


@pytest.fixture
def store(tmp_path_factory: pytest.TempPathFactory) -> BlobStore:
    return LocalBlobStore(tmp_path_factory.mktemp("blobs"))


@pytest.fixture
def case_with_file(world: World, store: BlobStore) -> CaseWithFile:
    officer = world.principal("officer")
    case = service.open_case(world.db, officer, "Burglary at 4 Elm Road")
    item = add_png(world.db, store, officer, case)
    world.db.flush()
    return CaseWithFile(case, item, officer, store)
