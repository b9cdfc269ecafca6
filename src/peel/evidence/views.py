"""/api/v1/evidence: cases, items, sharing, court bundles and the custody log's proofs."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from peel.core.deps import DB, AppSettings, Authenticated
from peel.core.enums import TLP
from peel.core.errors import InvalidInput
from peel.core.views import problem_responses, refuse_nul_characters
from peel.evidence import custody, intake, jobs, processing, retention, service, web
from peel.evidence.models import EvidenceCase, EvidenceItem

router = APIRouter(
    prefix="/api/v1/evidence",
    tags=["evidence"],
    dependencies=[Depends(refuse_nul_characters)],
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)


# --- schemas ------------------------------------------------------------------------------


class CaseCreate(BaseModel):
    title: str = Field(min_length=3, max_length=200)
    description: str = Field(default="", max_length=20000)
    tlp: TLP = TLP.amber
    officer_in_charge: str | None = Field(default=None, max_length=300)


class CaseSummary(BaseModel):
    id: str
    reference: str
    title: str
    status: str
    tlp: str
    owner: str
    officer_in_charge: str
    created_at: datetime


class ItemRead(BaseModel):
    id: str
    case_id: str | None
    name: str
    description: str
    sha256: str
    size: int
    content_type: str
    kind: str
    source: str
    source_ref: str
    tlp: str
    status: str
    categories: list[str]
    captured_at: datetime | None
    device_id: str | None
    captured_by: str | None
    capture: dict[str, Any]
    derived_from_id: str | None
    preview_status: str
    added_by: str
    added_at: datetime
    deleted_at: datetime | None


class CaseRead(CaseSummary):
    description: str
    items: list[ItemRead]


class ItemFromUpload(BaseModel):
    upload_id: str = Field(max_length=32)
    description: str = Field(default="", max_length=20000)
    categories: list[str] = Field(default_factory=list, max_length=10)


class ReportImport(BaseModel):
    report_reference: str = Field(min_length=3, max_length=20)


class ShareIn(BaseModel):
    organisation: str = Field(max_length=40)
    expires_at: datetime | None = None
    item_ids: list[str] = Field(
        default_factory=list, max_length=500, description="Share only these items of the case"
    )


class HoldIn(BaseModel):
    kind: Literal["legal", "complaint", "investigation"]
    reason: str = Field(min_length=3, max_length=2000)
    item_id: str | None = Field(default=None, description="Hold one item instead of the case")


class BoxIn(BaseModel):
    x: int = Field(ge=0)
    y: int = Field(ge=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    start: float | None = Field(default=None, ge=0)
    end: float | None = Field(default=None, gt=0)


class RedactionIn(BaseModel):
    boxes: list[BoxIn] = Field(min_length=1, max_length=200)
    mode: Literal["blur", "black"] = "blur"


class BwvIn(BaseModel):
    upload_id: str = Field(max_length=32)
    device_id: str = Field(min_length=1, max_length=80)
    officer: str = Field(min_length=1, max_length=200)
    started_at: datetime | None = None
    ended_at: datetime | None = None


class JobStarted(BaseModel):
    job_id: str
    status_url: str


class TreeHeadRead(BaseModel):
    tree_size: int
    root_hash: str
    timestamp_ms: int
    key_id: str
    signature: str


class InclusionProofRead(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    proof: list[str]


class ConsistencyProofRead(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]


def _summary(case: EvidenceCase) -> CaseSummary:
    return CaseSummary(
        id=case.id,
        reference=case.reference,
        title=case.title,
        status=case.status,
        tlp=str(TLP(case.tlp).value),
        owner=case.owner_org.name,
        officer_in_charge=case.officer_in_charge,
        created_at=case.created_at,
    )


def item_read(item: EvidenceItem) -> ItemRead:
    return ItemRead(
        id=item.id,
        case_id=item.case_id,
        name=item.name,
        description=item.description,
        sha256=item.sha256,
        size=item.size,
        content_type=item.content_type,
        kind=item.kind,
        source=item.source,
        source_ref=item.source_ref,
        tlp=str(TLP(item.tlp).value),
        status=item.status,
        categories=list(item.categories),
        captured_at=item.captured_at,
        device_id=item.device_id,
        captured_by=item.captured_by,
        capture=item.capture or {},
        derived_from_id=item.derived_from_id,
        preview_status=item.preview_status,
        added_by=item.added_by,
        added_at=item.added_at,
        deleted_at=item.deleted_at,
    )


def _case(db: DB, principal: Authenticated, case_id: str, action: str = "view") -> EvidenceCase:
    if case_id.upper().startswith("EV-"):
        case = service.case_by_reference(db, principal, case_id)
        if action != "view":
            case, _ = service.access_case(db, principal, case.id, action)
        return case
    return service.access_case(db, principal, case_id, action)[0]


def _job(job_id: str) -> JobStarted:
    return JobStarted(job_id=job_id, status_url=f"/api/v1/jobs/{job_id}")


# --- cases ----------------------------------------------------------------------------------


@router.get("/cases")
def list_cases(
    db: DB,
    principal: Authenticated,
    status: Annotated[Literal["open", "closed"] | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> list[CaseSummary]:
    """Cases the caller may see, newest first."""
    return [_summary(c) for c in service.visible_cases(db, principal, status=status, query=q)]


@router.post("/cases", status_code=201)
def create_case(data: CaseCreate, db: DB, principal: Authenticated) -> CaseSummary:
    case = service.open_case(
        db, principal, data.title, data.description, data.tlp, data.officer_in_charge
    )
    return _summary(case)


@router.get("/cases/{case_id}")
def get_case(case_id: str, db: DB, principal: Authenticated) -> CaseRead:
    """A case (by id or reference) with the items the caller may see."""
    case = _case(db, principal, case_id)
    items = service.items_of_case(db, principal, case)
    return CaseRead(
        **_summary(case).model_dump(),
        description=case.description,
        items=[item_read(i) for i in items],
    )


@router.post("/cases/{case_id}/items", status_code=201)
def add_item(
    request: Request, case_id: str, data: ItemFromUpload, db: DB, principal: Authenticated
) -> ItemRead:
    """Add a finished resumable upload (purpose ``evidence``) to a case."""
    case = _case(db, principal, case_id, "edit")
    item = intake.add_from_upload(
        db,
        principal,
        data.upload_id,
        case=case,
        description=data.description,
        categories=tuple(data.categories),
        field="upload_id",
        store=request.app.state.blobs,
        scanner=request.app.state.scanner,
    )
    result = item_read(item)
    db.commit()
    web.describe_new(request, principal, [item])
    return result


@router.post("/cases/{case_id}/report-attachments", status_code=201)
def import_report(
    request: Request, case_id: str, data: ReportImport, db: DB, principal: Authenticated
) -> list[ItemRead]:
    """Take the photos and videos sent with an online report into the case."""
    case = _case(db, principal, case_id, "edit")
    items = intake.import_report_attachments(db, principal, case, data.report_reference)
    result = [item_read(i) for i in items]
    db.commit()
    if items:
        jobs.submit_processing(
            request.app.state.jobs,
            request.app.state.blobs,
            principal,
            [i.id for i in items],
            f"Describe files from report {data.report_reference}",
        )
    return result


@router.post("/cases/{case_id}/shares", status_code=201)
def share_case(case_id: str, data: ShareIn, db: DB, principal: Authenticated) -> dict[str, Any]:
    """Share the case (or chosen items of it) with another organisation until an expiry."""
    case = _case(db, principal, case_id)
    if data.item_ids:
        wanted = set(data.item_ids)
        ids = [i.id for i in service.items_of_case(db, principal, case) if i.id in wanted]
        if len(ids) != len(wanted):
            raise InvalidInput({"item_ids": "Every item must belong to this case"})
        service.share(db, principal, data.organisation, item_ids=ids, expires_at=data.expires_at)
    else:
        service.share(db, principal, data.organisation, case_id=case.id, expires_at=data.expires_at)
    return {"shared_with": data.organisation, "items": len(data.item_ids) or "all"}


@router.delete("/cases/{case_id}/shares/{organisation}", status_code=204)
def unshare_case(case_id: str, organisation: str, db: DB, principal: Authenticated) -> Response:
    case = _case(db, principal, case_id)
    service.unshare(db, principal, organisation, case_id=case.id)
    return Response(status_code=204)


@router.post("/cases/{case_id}/holds", status_code=201)
def hold(case_id: str, data: HoldIn, db: DB, principal: Authenticated) -> dict[str, Any]:
    case = _case(db, principal, case_id)
    if data.item_id:
        item, _ = service.access_item(db, principal, data.item_id)
        if item.case_id != case.id:
            raise InvalidInput({"item_id": "The item is not in this case"})
        row = service.place_hold(db, principal, data.kind, data.reason, item_id=item.id)
    else:
        row = service.place_hold(db, principal, data.kind, data.reason, case_id=case.id)
    return {"hold_id": row.id, "kind": row.kind}


@router.post("/cases/{case_id}/exports", status_code=202)
def export_case(
    request: Request, case_id: str, db: DB, settings: AppSettings, principal: Authenticated
) -> JobStarted:
    """Start writing a court bundle; the job's result links to the zip."""
    case = _case(db, principal, case_id)
    reference, case_key = case.reference, case.id
    db.commit()
    return _job(
        jobs.submit_export(
            request.app.state.jobs,
            request.app.state.blobs,
            settings,
            principal,
            case_key,
            reference,
        )
    )


# --- items ----------------------------------------------------------------------------------


@router.get("/items/{item_id}")
def get_item(item_id: str, db: DB, principal: Authenticated) -> ItemRead:
    item, _ = service.access_item(db, principal, item_id)
    return item_read(item)


FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file's bytes (or a watermarked copy)",
        "content": {"application/octet-stream": {}, "image/png": {}, "video/mp4": {}},
    },
    206: {"description": "Part of the file (Range)", "content": {"application/octet-stream": {}}},
    416: {"description": "The range cannot be satisfied"},
}


@router.get("/items/{item_id}/content", response_class=Response, responses=FILE_RESPONSES)
def item_content(
    request: Request,
    item_id: str,
    db: DB,
    principal: Authenticated,
    watermark: bool = False,
) -> Response:
    """The original bytes (ranges supported), or a copy watermarked with the caller's name.

    Every download is audited and written to the custody log.
    """
    item, _ = service.access_item(db, principal, item_id)
    if item.status != "present":
        raise InvalidInput({"item": f"{item.name} was deleted; only its record remains"})
    store = request.app.state.blobs
    what = "watermarked copy" if watermark else "original"
    if watermark:
        viewer = f"{principal.display_name} ({principal.organisation_name})"
        response = web.watermarked(store, item, viewer)  # made first: a failure logs nothing
        service.record_access(db, principal, item, "downloaded", what, audit_actor=principal)
        db.commit()
        return response
    if web.reads_from_start(request, item.size):
        service.record_access(db, principal, item, "downloaded", what, audit_actor=principal)
    db.commit()
    return web.stream_blob(request, store, item.sha256, item.name, item.content_type, download=True)


@router.get("/items/{item_id}/custody")
def item_custody(item_id: str, db: DB, principal: Authenticated) -> list[dict[str, Any]]:
    """The item's custody events, each with its leaf index in the log and its exact entry."""
    item, _ = service.access_item(db, principal, item_id)
    return [
        {"index": e.seq, "kind": e.kind, "at": e.at, "actor": e.actor, "entry": e.entry}
        for e in custody.events_for(db, item_ids=[item.id])
    ]


@router.post("/items/{item_id}/redactions", status_code=202)
def redact_item(
    request: Request, item_id: str, data: RedactionIn, db: DB, principal: Authenticated
) -> JobStarted:
    """Make a redacted copy as a new item; the original never changes."""
    item, _ = service.access_item(db, principal, item_id, "edit")
    boxes = processing.parse_boxes([b.model_dump() for b in data.boxes])
    width, height = (item.capture or {}).get("width"), (item.capture or {}).get("height")
    if isinstance(width, int) and isinstance(height, int):
        for number, box in enumerate(boxes):
            if box.x >= width or box.y >= height:
                raise InvalidInput(
                    {f"boxes[{number}]": f"starts outside the {width} × {height} picture"}
                )
    name = item.name
    db.commit()
    return _job(
        jobs.submit_redaction(
            request.app.state.jobs,
            request.app.state.blobs,
            principal,
            item_id,
            boxes,
            data.mode,
            name,
        )
    )


@router.post("/bwv", status_code=201)
def body_worn_video(request: Request, data: BwvIn, db: DB, principal: Authenticated) -> ItemRead:
    """Import one body-worn video clip (unfiled, non-evidential until added to a case)."""
    item = intake.add_from_upload(
        db,
        principal,
        data.upload_id,
        case=None,
        categories=("bwv-non-evidential",),
        source="bwv",
        device_id=data.device_id,
        captured_by=data.officer,
        captured_at=data.started_at,
        captured_until=data.ended_at,
        field="upload_id",
        store=request.app.state.blobs,
        scanner=request.app.state.scanner,
    )
    result = item_read(item)
    db.commit()
    web.describe_new(request, principal, [item])
    return result


@router.get("/retention")
def retention_plan(db: DB, principal: Authenticated) -> list[dict[str, object]]:
    """What the next retention run would delete or keep for the caller's force, and why."""
    decisions = retention.plan(db, organisation_id=principal.organisation_id, visible_to=principal)
    return [d.to_json() for d in decisions]


# --- the custody log --------------------------------------------------------------------------


def _hex(value: bytes) -> str:
    return value.hex()


def _head_read(sth: Any) -> TreeHeadRead:
    return TreeHeadRead(
        tree_size=sth.tree_size,
        root_hash=_hex(sth.root_hash),
        timestamp_ms=sth.timestamp_ms,
        key_id=sth.key_id,
        signature=base64.b64encode(sth.signature).decode(),
    )


@router.get("/log/key", response_class=PlainTextResponse)
def log_key(settings: AppSettings) -> PlainTextResponse:
    """The Ed25519 public key that signs the custody log's tree heads (PEM). Publish it."""
    signer = custody.signer_for(settings)
    return PlainTextResponse(
        signer.public_key_pem().decode(), headers={"X-Peel-Key-Id": signer.key_id}
    )


@router.get("/log/heads")
def log_heads(db: DB, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[TreeHeadRead]:
    """Signed tree heads published so far, newest first (public, for witnesses to keep)."""
    return [_head_read(h) for h in custody.tree_heads(db, limit)]


@router.post("/log/heads", status_code=201)
def publish_head(db: DB, settings: AppSettings, principal: Authenticated) -> TreeHeadRead:
    """Sign and publish the log's current head."""
    return _head_read(custody.publish_tree_head(db, custody.signer_for(settings)))


@router.get("/log/proof/inclusion")
def inclusion(
    db: DB,
    principal: Authenticated,
    index: Annotated[int, Query(ge=0)],
    tree_size: Annotated[int | None, Query(ge=1)] = None,
) -> InclusionProofRead:
    """RFC 9162 inclusion proof of one event in the tree of ``tree_size`` (default: now)."""
    try:
        size = tree_size or custody.head(db)[0]
        proof = custody.inclusion_proof(db, index, size)
        nodes = custody.fetch_nodes(db, {(0, index)})
        root = custody.root_at(db, size)
    except ValueError as exc:
        raise InvalidInput({"index": str(exc)}) from None
    return InclusionProofRead(
        index=index,
        tree_size=size,
        leaf_hash=_hex(nodes[(0, index)]),
        root_hash=_hex(root),
        proof=[_hex(p) for p in proof],
    )


@router.get("/log/proof/consistency")
def consistency(
    db: DB,
    principal: Authenticated,
    first: Annotated[int, Query(ge=0)],
    second: Annotated[int | None, Query(ge=1)] = None,
) -> ConsistencyProofRead:
    """RFC 9162 consistency proof between two tree sizes (default second: now)."""
    try:
        size = second or custody.head(db)[0]
        proof = custody.consistency_proof(db, first, size)
        roots = custody.root_at(db, first), custody.root_at(db, size)
    except ValueError as exc:
        raise InvalidInput({"first": str(exc)}) from None
    return ConsistencyProofRead(
        first=first,
        second=size,
        first_root=_hex(roots[0]),
        second_root=_hex(roots[1]),
        proof=[_hex(p) for p in proof],
    )
