"""Administration pages: organisations, people and their roles, API clients."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from peel.core import service
from peel.core.deps import DB, CsrfForm, Person
from peel.core.enums import OrganisationType, Role
from peel.core.errors import InvalidInput
from peel.core.models import Organisation
from peel.core.policy import Forbidden
from peel.core.principal import Principal
from peel.core.schemas import ApiClientCreate, OrganisationCreate, UserCreate
from peel.web.templating import render

router = APIRouter(include_in_schema=False, prefix="/admin")

ORG_TYPES = [(t.value, t.label) for t in OrganisationType]
ROLES = [(r.value, r.label) for r in Role]


def _require_any_admin(principal: Principal) -> None:
    if not (principal.is_platform_admin or Role.admin in principal.roles):
        raise Forbidden("Only administrators may use the administration pages")


def _errors_of(exc: ValidationError) -> dict[str, str]:
    return {".".join(str(p) for p in e["loc"]) or "form": e["msg"] for e in exc.errors()}


def _admin_context(db: DB, principal: Principal) -> dict[str, object]:
    orgs = service.list_organisations(db)
    own = [o for o in orgs if o.id == principal.organisation_id]
    return {
        "organisations": orgs,
        "user_orgs": orgs if principal.is_platform_admin else own,
        "users": service.list_users(db, principal, None),
        "clients": service.list_api_clients(db, principal),
        "org_types": ORG_TYPES,
        "roles": ROLES,
        "org_names": {o.id: o.name for o in orgs},
        "errors": {},
        "values": {},
    }


def _page(
    request: Request, db: DB, principal: Principal, status: int = 200, **extra: object
) -> Response:
    context = _admin_context(db, principal)
    context.update(extra)
    return render(request, "core/admin.html", context, status=status)


@router.get("")
def admin_home(request: Request, db: DB, principal: Person) -> Response:
    _require_any_admin(principal)
    return _page(request, db, principal)


def _form_values(form: FormData, *names: str) -> dict[str, str]:
    return {n: str(form.get(n, "")).strip() for n in names}


@router.post("/organisations")
def create_organisation(request: Request, form: CsrfForm, db: DB, principal: Person) -> Response:
    _require_any_admin(principal)
    values = _form_values(form, "code", "name", "type", "client_of")
    try:
        data = OrganisationCreate(
            code=values["code"].lower(),
            name=values["name"],
            type=values["type"],
            client_of=values["client_of"] or None,
        )
        org = service.create_organisation(db, principal, data)
    except ValidationError as exc:
        return _page(request, db, principal, 400, errors=_errors_of(exc), values=values)
    except InvalidInput as exc:
        return _page(request, db, principal, 400, errors=exc.errors, values=values)
    return _page(request, db, principal, notice=f"Organisation {org.name} created")


@router.post("/users")
def create_user(request: Request, form: CsrfForm, db: DB, principal: Person) -> Response:
    _require_any_admin(principal)
    values = _form_values(form, "email", "name", "organisation", "password")
    roles = [str(r) for r in form.getlist("roles")]
    try:
        data = UserCreate(
            email=values["email"],
            name=values["name"],
            organisation=values["organisation"],
            roles=roles,
            password=values["password"],
        )
        user = service.create_user(db, principal, data)
    except ValidationError as exc:
        values.pop("password")
        return _page(
            request, db, principal, 400, errors=_errors_of(exc), values=values, chosen_roles=roles
        )
    except InvalidInput as exc:
        values.pop("password")
        return _page(
            request, db, principal, 400, errors=exc.errors, values=values, chosen_roles=roles
        )
    return _page(request, db, principal, notice=f"User {user.email} created")


@router.get("/users/{user_id}")
def user_page(request: Request, user_id: str, db: DB, principal: Person) -> Response:
    _require_any_admin(principal)
    user = service.get_user(db, principal, user_id)
    org = db.get(Organisation, user.organisation_id)
    return render(
        request, "core/admin_user.html", {"user": user, "org": org, "roles": ROLES, "errors": {}}
    )


@router.post("/users/{user_id}")
def update_user(
    request: Request, user_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    _require_any_admin(principal)
    user = service.get_user(db, principal, user_id)
    org = db.get(Organisation, user.organisation_id)
    errors: dict[str, str] = {}
    try:
        roles = {Role(str(r)) for r in form.getlist("roles")}
    except ValueError:
        errors["roles"] = "Choose roles from the list"
        roles = set(user.roles)
    if not errors:
        service.set_roles(db, principal, user, roles)
        service.set_active(db, principal, user, form.get("is_active") == "yes")
        password = str(form.get("password", ""))
        if password:
            try:
                service.set_password(db, principal, user, password)
            except InvalidInput as exc:
                errors.update(exc.errors)
    context: dict[str, object] = {"user": user, "org": org, "roles": ROLES, "errors": errors}
    if errors:
        return render(request, "core/admin_user.html", context, status=400)
    context["notice"] = f"Saved changes to {user.email}"
    return render(request, "core/admin_user.html", context)


@router.post("/clients")
def create_client(request: Request, form: CsrfForm, db: DB, principal: Person) -> Response:
    _require_any_admin(principal)
    values = _form_values(form, "client_name", "expires_in_days", "client_organisation")
    roles = [str(r) for r in form.getlist("client_roles")]
    try:
        data = ApiClientCreate(
            name=values["client_name"],
            roles=roles,
            expires_in_days=values["expires_in_days"] or 90,
            organisation=values["client_organisation"] or None,
        )
        client, token = service.create_api_client(db, principal, data)
    except ValidationError as exc:
        errors = {
            "client_" + k if not k.startswith("expires") else k: v
            for k, v in _errors_of(exc).items()
        }
        return _page(request, db, principal, 400, errors=errors, values=values)
    except InvalidInput as exc:
        return _page(
            request,
            db,
            principal,
            400,
            errors={"client_" + k: v for k, v in exc.errors.items()},
            values=values,
        )
    return _page(
        request,
        db,
        principal,
        new_token=token,
        new_client=client,
        notice=f"API client {client.name} created",
    )


@router.post("/clients/{client_id}/revoke")
def revoke_client(
    request: Request, client_id: str, form: CsrfForm, db: DB, principal: Person
) -> Response:
    _require_any_admin(principal)
    service.revoke_api_client(db, principal, client_id)
    return RedirectResponse("/admin#clients", status_code=303)
