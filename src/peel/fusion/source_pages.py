"""Fusion source pages: register an agency's data set, share it, map it, import files.

The forms call :mod:`peel.fusion.sources` and :mod:`peel.fusion.ingest`, the same functions
the API and the command line use: the owning organisation's analysts, supervisors and
administrators register sources and import into them; sharing needs a supervisor or
administrator. A failed import changes nothing, is kept in the source's import history, and
its problems are listed by row and column.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from peel.core.deps import DB, AppSettings, CsrfForm, Person
from peel.core.enums import TLP
from peel.core.errors import InvalidInput
from peel.core.models import Organisation
from peel.core.policy import can_edit, can_relabel, labelled_of
from peel.core.principal import Principal
from peel.core.service import list_organisations
from peel.fusion import ingest, queries, sources
from peel.fusion.enums import LegalBasis
from peel.fusion.service import SOURCE_MANAGER_ROLES, require_fusion
from peel.web.templating import render

router = APIRouter(include_in_schema=False, prefix="/fusion/sources")

MB = 1024 * 1024
MAX_TEXT = 5000
MAX_MAPPING = 200_000
LEGAL_BASES = [(b.value, b.label) for b in LegalBasis]
SOURCE_TLPS = [
    (TLP.amber.value, "TLP:AMBER – your agency, organisations you share it with and their clients"),
    (TLP.amber_strict.value, "TLP:AMBER+STRICT – your agency and organisations you share it with"),
    (TLP.green.value, "TLP:GREEN – every organisation on Peel"),
]
DONE = {
    "registered": "Source registered. Give it a mapping and import a file below.",
    "imported": "File imported. It replaced the source’s records; run analysis to update "
    "the review queue.",
    "mapping": "Mapping saved. It is used for the next import.",
    "shared": "Sharing changed. Run analysis so that each audience’s results follow.",
}


def _text(form: FormData, name: str, limit: int = MAX_TEXT) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def form_errors(exc: InvalidInput, field: str = "mapping") -> dict[str, str]:
    """Errors keyed by form field: every problem of the mapping YAML goes under ``field``."""
    errors: dict[str, str] = {}
    for key, message in exc.errors.items():
        if key.startswith(f"{field}."):
            path = key[len(field) + 1 :]
            errors[field] = "; ".join(filter(None, [errors.get(field), f"{path}: {message}"]))
        else:
            errors[key] = message
    return errors


def _validation_errors(exc: ValidationError) -> dict[str, str]:
    return {".".join(str(p) for p in e["loc"]) or "form": e["msg"] for e in exc.errors()}


# --- the list and the register form ---------------------------------------------------------


def _other_orgs(db: Session, principal: Principal) -> list[Organisation]:
    return [o for o in list_organisations(db) if o.id != principal.organisation_id]


def _sources_page(
    request: Request,
    db: Session,
    principal: Principal,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    ctx = {
        "rows": queries.visible_sources(db, principal),
        "may_register": principal.has_any(*SOURCE_MANAGER_ROLES),
        "orgs": _other_orgs(db, principal),
        "legal_bases": LEGAL_BASES,
        "tlps": SOURCE_TLPS,
        "values": values,
        "errors": errors,
    }
    return render(request, "fusion/sources.html", ctx, status)


DEFAULTS = {"tlp": TLP.amber.value, "legal_basis_kind": LegalBasis.safeguarding.value}


@router.get("")
def sources_page(request: Request, db: DB, principal: Person) -> Response:
    require_fusion(principal)
    return _sources_page(request, db, principal, dict(DEFAULTS), {})


@router.post("")
def register(request: Request, form: CsrfForm, db: DB, principal: Person) -> Response:
    require_fusion(principal)
    names = ("code", "name", "description", "legal_basis_kind", "legal_basis", "tlp", "mapping")
    values: dict[str, Any] = {
        n: _text(form, n, MAX_MAPPING if n == "mapping" else MAX_TEXT) for n in names
    }
    values["share_with"] = [str(v) for v in form.getlist("share_with")]
    errors: dict[str, str] = {}
    try:
        fields = {k: values[k] or DEFAULTS.get(k, "") for k in names}
        data = sources.SourceCreate(**fields, share_with=values["share_with"])
        source = sources.register_source(db, principal, data)
    except ValidationError as exc:
        errors = _validation_errors(exc)
    except InvalidInput as exc:
        errors = form_errors(exc)
    else:
        return RedirectResponse(f"/fusion/sources/{source.id}?done=registered", status_code=303)
    db.rollback()
    return _sources_page(request, db, principal, values, errors, 400)


# --- one source -----------------------------------------------------------------------------


def _source_page(
    request: Request,
    db: Session,
    principal: Principal,
    source_id: str,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
    rejected: ingest.ImportRejected | None = None,
) -> Response:
    source = sources.access_source(db, principal, source_id)
    labelled = labelled_of(db, source)
    shared = sources.shared_with(db, source)
    manage = can_edit(principal, labelled) and principal.has_any(*SOURCE_MANAGER_ROLES)
    ctx = {
        "source": source,
        "agency": db.get(Organisation, source.owner_org_id),
        "legal_basis_label": queries.legal_basis_label(source.legal_basis_kind),
        "shared": shared,
        "imports": ingest.list_imports(db, principal, source, limit=20),
        "may_manage": manage,
        "may_share": manage and can_relabel(principal, labelled),
        "orgs": [o for o in list_organisations(db) if o.id != source.owner_org_id],
        "values": values or {"mapping": source.mapping, "share_with": [o.code for o in shared]},
        "errors": errors or {},
        "rejected": rejected,
        "describe_error": ingest.describe_error,
        "max_mb": request.app.state.settings.fusion_max_upload_mb,
        "notice": DONE.get(request.query_params.get("done", "")),
    }
    return render(request, "fusion/source.html", ctx, status)


@router.get("/{source_id}")
def source_page(request: Request, source_id: str, db: DB, principal: Person) -> Response:
    require_fusion(principal)
    return _source_page(request, db, principal, source_id)


def _upload(form: FormData, max_mb: int) -> tuple[bytes, str]:
    """The uploaded file's bytes and name; InvalidInput when none was chosen or it is too big."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidInput({"file": "Choose a CSV, Excel, JSON or Parquet file to import"})
    data = upload.file.read(max_mb * MB + 1)
    if not data:
        raise InvalidInput({"file": f"The file {upload.filename} is empty"})
    if len(data) > max_mb * MB:
        raise InvalidInput({"file": f"{upload.filename} is larger than {max_mb} MB"})
    return data, upload.filename


@router.post("/{source_id}/imports")
def import_page(
    request: Request,
    source_id: str,
    form: CsrfForm,
    db: DB,
    settings: AppSettings,
    principal: Person,
) -> Response:
    """Import a file into the source (all or nothing), with the mapping in the form."""
    require_fusion(principal)
    values = {"mapping": _text(form, "mapping", MAX_MAPPING)}
    try:
        data, filename = _upload(form, settings.fusion_max_upload_mb)
    except InvalidInput as exc:
        return _source_page(request, db, principal, source_id, dict(exc.errors), values, 400)
    max_mb = settings.fusion_max_upload_mb
    return _import(request, db, principal, source_id, data, filename, values, max_mb)


def _import(
    request: Request,
    db: Session,
    principal: Principal,
    source_id: str,
    data: bytes,
    filename: str,
    values: dict[str, Any],
    max_mb: int,
) -> Response:
    source = sources.access_source(db, principal, source_id, "manage")
    mapping = values["mapping"] if values["mapping"] != source.mapping.strip() else None
    try:
        ingest.import_file(db, principal, source, data, filename, mapping, max_bytes=max_mb * MB)
    except InvalidInput as exc:
        db.rollback()
        return _source_page(request, db, principal, source_id, form_errors(exc), values, 400)
    except ingest.ImportRejected as rejected:
        db.rollback()
        ingest.record_rejected_import(
            request.app.state.sessions, principal, source.id, filename, data, rejected.errors,
            rows=rejected.rows, file_format=rejected.file_format or None,
        )  # fmt: skip
        errors = {"file": f"{filename} has problems, so nothing was imported: see the list below"}
        return _source_page(request, db, principal, source_id, errors, values, 400, rejected)
    return RedirectResponse(f"/fusion/sources/{source.id}?done=imported", status_code=303)


@router.post("/{source_id}/mapping")
def mapping_page(
    request: Request, source_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    require_fusion(principal)
    values = {"mapping": _text(form, "mapping", MAX_MAPPING)}
    source = sources.access_source(db, principal, source_id, "manage")
    try:
        sources.update_mapping(db, principal, source, values["mapping"])
    except InvalidInput as exc:
        db.rollback()
        return _source_page(request, db, principal, source_id, form_errors(exc), values, 400)
    return RedirectResponse(f"/fusion/sources/{source.id}?done=mapping", status_code=303)


@router.post("/{source_id}/shares")
def shares_page(
    request: Request, source_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    """Share the source with exactly the organisations ticked."""
    require_fusion(principal)
    source = sources.access_source(db, principal, source_id, "relabel")
    wanted = {str(v) for v in form.getlist("share_with")}
    current = {o.code for o in sources.shared_with(db, source)}
    try:
        sources.share_source(
            db, principal, source, sorted(wanted - current), sorted(current - wanted)
        )
    except InvalidInput as exc:
        db.rollback()
        values = {"share_with": sorted(wanted), "mapping": source.mapping}
        errors = {("share_with" if k == "remove" else k): v for k, v in exc.errors.items()}
        return _source_page(request, db, principal, source_id, errors, values, 400)
    return RedirectResponse(f"/fusion/sources/{source.id}?done=shared", status_code=303)
