"""The sources API: register a source, share it, set its mapping, import files into it.

``POST /api/v1/fusion/sources/{source_id}/imports`` takes one file (multipart field ``file``,
optionally ``mapping`` with mapping YAML to use and keep). The file's type is judged from its
bytes and must agree with its name. A file with problems answers 422 with every problem
naming its row and column (at most 200), changes nothing, and is kept as a failed import.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from peel.core.audit import request_id_var
from peel.core.deps import DB, AppSettings, Authenticated
from peel.core.enums import TLP
from peel.core.http import PROBLEM_JSON
from peel.core.models import Organisation
from peel.core.views import problem_responses, refuse_nul_characters
from peel.fusion import ingest, sources
from peel.fusion.enums import LegalBasis
from peel.fusion.ingest import ImportRejected, describe_error
from peel.fusion.models import FusionImport, FusionSource
from peel.fusion.readers import MB
from peel.fusion.service import SOURCE_MANAGER_ROLES
from peel.fusion.sources import SourceCreate

PREFIX = "/api/v1/fusion/sources"
#: JSON routes: their bodies are checked for NUL characters, which PostgreSQL cannot store.
api = APIRouter(
    prefix=PREFIX,
    tags=["fusion"],
    dependencies=[Depends(refuse_nul_characters)],
    responses=problem_responses(400, 401, 403, 422),
)
#: The file upload: its multipart body is parsed once, by the route itself.
uploads = APIRouter(prefix=PREFIX, tags=["fusion"], responses=problem_responses(400, 401, 403, 422))
NOT_FOUND = problem_responses(404)
SourceId = Annotated[
    str, PathParam(min_length=1, max_length=64, description="The source's id or code")
]


class SourceRead(BaseModel):
    id: str
    code: str
    name: str
    description: str
    legal_basis_kind: LegalBasis
    legal_basis: str
    tlp: TLP
    owner_org_id: str
    owner: str = Field(description="The owning agency's name")
    shared_with: list[str] = Field(description="Codes of the organisations it is shared with")
    mapping: str
    record_count: int
    relation_count: int
    last_imported_at: datetime | None
    created_at: datetime
    can_manage: bool = Field(description="Whether the caller may change it and import into it")


class MappingIn(BaseModel):
    mapping: str = Field(min_length=1, max_length=200_000, description="Mapping YAML")


class SharesIn(BaseModel):
    add: list[str] = Field(default_factory=list, description="Organisation codes to share with")
    remove: list[str] = Field(default_factory=list, description="Organisation codes to stop")


class ImportProblem(BaseModel):
    row: int = Field(description="1 = the first data row; 0 = the file or its header")
    column: str
    sheet: str | None = None
    problem: str


class ImportRead(BaseModel):
    id: str
    source_id: str
    filename: str
    sha256: str
    file_format: str
    status: str = Field(description="done or failed")
    rows: int
    records: int
    relations: int
    errors: list[ImportProblem]
    created_at: datetime


def source_read(session: Session, source: FusionSource, can_manage: bool) -> SourceRead:
    owner = session.get(Organisation, source.owner_org_id)
    return SourceRead(
        id=source.id,
        code=source.code,
        name=source.name,
        description=source.description,
        legal_basis_kind=LegalBasis(source.legal_basis_kind),
        legal_basis=source.legal_basis,
        tlp=TLP(source.tlp),
        owner_org_id=source.owner_org_id,
        owner=owner.name if owner else "",
        shared_with=[org.code for org in sources.shared_with(session, source)],
        mapping=source.mapping,
        record_count=source.record_count,
        relation_count=source.relation_count,
        last_imported_at=source.last_imported_at,
        created_at=source.created_at,
        can_manage=can_manage,
    )


def _read(session: Session, source: FusionSource, principal: Any) -> SourceRead:
    manages = principal.organisation_id == source.owner_org_id and principal.has_any(
        *SOURCE_MANAGER_ROLES
    )
    return source_read(session, source, manages)


def import_read(attempt: FusionImport) -> ImportRead:
    return ImportRead(
        id=attempt.id,
        source_id=attempt.source_id,
        filename=attempt.filename,
        sha256=attempt.sha256,
        file_format=attempt.file_format,
        status=attempt.status,
        rows=attempt.rows,
        records=attempt.records,
        relations=attempt.relations,
        errors=[ImportProblem(**_problem_fields(e)) for e in attempt.errors or []],
        created_at=attempt.created_at,
    )


def _problem_fields(error: dict[str, Any]) -> dict[str, Any]:
    return {
        "row": int(error.get("row") or 0),
        "column": str(error.get("column") or ""),
        "sheet": error.get("sheet"),
        "problem": str(error.get("problem") or ""),
    }


@api.get("")
def list_fusion_sources(db: DB, principal: Authenticated) -> list[SourceRead]:
    """The sources the caller may see."""
    return [_read(db, s, principal) for s in sources.list_sources(db, principal)]


@api.post("", status_code=201, responses=problem_responses(409))
def register_fusion_source(db: DB, principal: Authenticated, body: SourceCreate) -> SourceRead:
    """Register a source owned by the caller's agency (analysts, supervisors, administrators)."""
    return _read(db, sources.register_source(db, principal, body), principal)


@api.get("/{source_id}", responses=NOT_FOUND)
def get_fusion_source(db: DB, principal: Authenticated, source_id: SourceId) -> SourceRead:
    """One source, by id or code."""
    return _read(db, sources.access_source(db, principal, source_id), principal)


@api.put("/{source_id}/mapping", responses=NOT_FOUND)
def put_fusion_source_mapping(
    db: DB, principal: Authenticated, source_id: SourceId, body: MappingIn
) -> SourceRead:
    """Replace the source's mapping; every problem names its YAML path."""
    source = sources.access_source(db, principal, source_id, "manage")
    sources.update_mapping(db, principal, source, body.mapping)
    return _read(db, source, principal)


@api.post("/{source_id}/shares", responses=NOT_FOUND)
def share_fusion_source(
    db: DB, principal: Authenticated, source_id: SourceId, body: SharesIn
) -> SourceRead:
    """Share the source with more organisations, or stop sharing (supervisors, administrators)."""
    source = sources.access_source(db, principal, source_id, "relabel")
    sources.share_source(db, principal, source, body.add, body.remove)
    return _read(db, source, principal)


@api.get("/{source_id}/imports", responses=NOT_FOUND)
def list_fusion_imports(db: DB, principal: Authenticated, source_id: SourceId) -> list[ImportRead]:
    """The source's import attempts, newest first, with the problems of failed ones."""
    source = sources.access_source(db, principal, source_id)
    return [import_read(a) for a in ingest.list_imports(db, principal, source)]


def _rejected(request: Request, rejected: ImportRejected, attempt: FusionImport) -> JSONResponse:
    """422 with every problem as {field, message, row, column, sheet}; nothing was imported."""
    errors = []
    for error in rejected.errors:
        fields = _problem_fields(error)
        where = describe_error({**fields, "problem": ""}).removesuffix(": ") or "file"
        entry = {"field": where, "message": fields["problem"], "row": str(fields["row"])}
        entry["column"] = fields["column"]
        if fields["sheet"]:
            entry["sheet"] = str(fields["sheet"])
        errors.append(entry)
    more = " (only the first are listed)" if rejected.truncated else ""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": "The file has problems; nothing was imported",
        "status": 422,
        "detail": f"{len(errors)} problem(s){more}. First: {describe_error(rejected.errors[0])}",
        "instance": request.url.path,
        "errors": errors,
        "import_id": attempt.id,
    }
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=422, media_type=PROBLEM_JSON)


@uploads.post(
    "/{source_id}/imports",
    status_code=201,
    response_model=ImportRead,
    responses={**NOT_FOUND, **problem_responses(413)},
)
def import_into_fusion_source(
    request: Request,
    db: DB,
    settings: AppSettings,
    principal: Authenticated,
    source_id: SourceId,
    file: Annotated[UploadFile, File(description="CSV, Excel (.xlsx), JSON/NDJSON or Parquet")],
    mapping: Annotated[
        str | None, Form(max_length=200_000, description="Mapping YAML to use and keep")
    ] = None,
) -> Any:
    """Replace the source's records with the file's (all or nothing)."""
    source = sources.access_source(db, principal, source_id, "manage")
    limit = settings.fusion_max_upload_mb * MB
    data = file.file.read(limit + 1)
    filename = file.filename or "upload"
    if len(data) > limit:
        return _too_large(request, limit)
    try:
        attempt = ingest.import_file(
            db, principal, source, data, filename, mapping or None, max_bytes=limit
        )
    except ImportRejected as rejected:
        db.rollback()  # nothing of this import is kept; the failed attempt is, on its own
        kept = ingest.record_rejected_import(
            request.app.state.sessions, principal, source.id, filename, data, rejected.errors,
            rows=rejected.rows, file_format=rejected.file_format or None,
        )  # fmt: skip
        return _rejected(request, rejected, kept)
    return JSONResponse(import_read(attempt).model_dump(mode="json"), status_code=201)


def _too_large(request: Request, limit: int) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": "Request Entity Too Large",
        "status": 413,
        "detail": f"The file is larger than the limit of {limit // MB} MB (fusion_max_upload_mb)",
        "instance": request.url.path,
    }
    return JSONResponse(body, status_code=413, media_type=PROBLEM_JSON)


#: Everything above, for the application to include.
router = APIRouter()
router.include_router(api)
router.include_router(uploads)
