"""Operator commands: database, demo data, organisations, people, tokens, audit, blobs."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from peel.core import migrate, service
from peel.core.audit import AuditQuery, search_audit
from peel.core.blobstore import blob_store_from_settings
from peel.core.config import get_settings
from peel.core.db import DatabaseConfigError, build_engine, make_sessionmaker, transaction
from peel.core.enums import OrganisationType, Role
from peel.core.errors import InvalidInput
from peel.core.identity import principal_for_user
from peel.core.policy import Forbidden, NotFound
from peel.core.principal import Principal
from peel.core.schemas import ApiClientCreate, OrganisationCreate, UserCreate

console = Console()
err = Console(stderr=True)

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations.", no_args_is_help=True)
user_app = typer.Typer(help="People and their roles.", no_args_is_help=True)
token_app = typer.Typer(help="API clients and their bearer tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
blobs_app = typer.Typer(help="The content-addressed file store.", no_args_is_help=True)
uploads_app = typer.Typer(help="Resumable uploads in progress.", no_args_is_help=True)

F = TypeVar("F", bound=Callable[..., Any])


def operator() -> Principal:
    """Whoever has a shell on the server administers the platform; audited by login name."""
    return Principal(display_name=f"cli:{getpass.getuser()}", is_platform_admin=True)


def friendly_errors(fn: F) -> F:
    """Turn expected failures into one clear line and exit status 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InvalidInput as exc:
            for field, message in exc.errors.items():
                err.print(f"[red]error:[/red] {field}: {message}")
        except ValidationError as exc:
            for error in exc.errors():
                field = ".".join(str(p) for p in error["loc"]) or "input"
                err.print(f"[red]error:[/red] {field}: {error['msg']}")
        except (Forbidden, NotFound, DatabaseConfigError) as exc:
            err.print(f"[red]error:[/red] {exc}")
        except OperationalError as exc:
            err.print(f"[red]error:[/red] the database cannot be used: {exc.orig}")
        raise typer.Exit(2)

    return wrapper  # type: ignore[return-value]


@contextmanager
def unit_of_work() -> Iterator[Session]:
    engine = build_engine(get_settings().resolved_database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()


@db_app.command("upgrade")
@friendly_errors
def db_upgrade() -> None:
    """Apply every migration not yet applied."""
    settings = get_settings()
    settings.ensure_data_dir()
    engine = build_engine(settings.resolved_database_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            current = migrate.current_revision(connection)
    finally:
        engine.dispose()
    console.print(f"Database is at revision [bold]{current}[/bold].")


@org_app.command("create")
@friendly_errors
def org_create(
    code: str,
    name: str,
    type: Annotated[OrganisationType, typer.Option(help="What kind of organisation")],
    client_of: Annotated[
        str | None, typer.Option(help="Code of the organisation it serves")
    ] = None,
) -> None:
    """Add an organisation."""
    with unit_of_work() as session:
        org = service.create_organisation(
            session,
            operator(),
            OrganisationCreate(code=code, name=name, type=type, client_of=client_of),
        )
        console.print(f"Created organisation {org.code} ({org.id}).")


@org_app.command("list")
@friendly_errors
def org_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List organisations."""
    with unit_of_work() as session:
        orgs = service.list_organisations(session)
        rows = [{"id": o.id, "code": o.code, "name": o.name, "type": o.type} for o in orgs]
    _print_rows(rows, as_json, "Organisations")


@user_app.command("create")
@friendly_errors
def user_create(
    email: str,
    name: Annotated[str, typer.Option(help="Full name")],
    org: Annotated[str, typer.Option(help="Organisation code")],
    role: Annotated[list[Role] | None, typer.Option(help="Repeat for several roles")] = None,
    platform_admin: bool = False,
    password: Annotated[str | None, typer.Option(help="Asked for when not given")] = None,
) -> None:
    """Add a person to an organisation."""
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with unit_of_work() as session:
        user = service.create_user(
            session,
            operator(),
            UserCreate(
                email=email,
                name=name,
                organisation=org,
                roles=role or [],
                password=password,
                is_platform_admin=platform_admin,
            ),
        )
        console.print(f"Created user {user.email} ({user.id}).")


def sessions() -> sessionmaker[Session]:
    """A session factory on the configured database, for commands that commit in steps."""
    settings = get_settings()
    settings.ensure_data_dir()
    return make_sessionmaker(build_engine(settings.resolved_database_url))


def acting_person(session: Session, email: str) -> Principal:
    """The active user with this email, as a principal; an unknown email names ``--as``."""
    user = service.user_by_email(session, email)
    if user is None or not user.is_active:
        raise InvalidInput({"--as": f"No active user {email!r}"})
    return principal_for_user(user)


def _user(session: Session, email: str) -> Any:
    user = service.user_by_email(session, email)
    if user is None:
        raise InvalidInput({"email": f"No user has the email {email}"})
    return user


@user_app.command("list")
@friendly_errors
def user_list(
    org: Annotated[str | None, typer.Option(help="Organisation code")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List people."""
    with unit_of_work() as session:
        org_id = service.organisation_by_code(session, org).id if org else None
        users = service.list_users(session, operator(), org_id)
        rows = [
            {
                "id": u.id,
                "email": u.email,
                "name": u.name,
                "organisation_id": u.organisation_id,
                "roles": ",".join(sorted(r.value for r in u.roles)),
                "active": u.is_active,
            }
            for u in users
        ]
    _print_rows(rows, as_json, "People")


@user_app.command("set-roles")
@friendly_errors
def user_set_roles(
    email: str, role: Annotated[list[Role] | None, typer.Option(help="Repeat for several")] = None
) -> None:
    """Replace a person's roles."""
    with unit_of_work() as session:
        service.set_roles(session, operator(), _user(session, email), set(role or []))
    console.print(f"Roles of {email} set.")


@user_app.command("set-password")
@friendly_errors
def user_set_password(email: str) -> None:
    """Set a new password (asked for twice, never echoed)."""
    password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    with unit_of_work() as session:
        service.set_password(session, operator(), _user(session, email), password)
    console.print(f"Password of {email} changed.")


@user_app.command("disable")
@friendly_errors
def user_disable(email: str) -> None:
    """Stop a person signing in (their records and audit trail stay)."""
    with unit_of_work() as session:
        service.set_active(session, operator(), _user(session, email), False)
    console.print(f"{email} can no longer sign in.")


@user_app.command("enable")
@friendly_errors
def user_enable(email: str) -> None:
    """Let a disabled person sign in again."""
    with unit_of_work() as session:
        service.set_active(session, operator(), _user(session, email), True)
    console.print(f"{email} can sign in again.")


@user_app.command("reset-totp")
@friendly_errors
def user_reset_totp(email: str) -> None:
    """Turn off a person's two-step sign-in (after they lose their phone)."""
    with unit_of_work() as session:
        service.set_totp(session, operator(), _user(session, email), None)
    console.print(f"Two-step sign-in is off for {email}.")


@token_app.command("create")
@friendly_errors
def token_create(
    name: str,
    org: Annotated[str, typer.Option(help="Organisation code")],
    role: Annotated[list[Role] | None, typer.Option(help="Repeat for several")] = None,
    days: Annotated[int, typer.Option(min=1, max=730, help="Days until it expires")] = 90,
) -> None:
    """Create an API client and print its bearer token once."""
    with unit_of_work() as session:
        client, token = service.create_api_client(
            session,
            operator(),
            ApiClientCreate(name=name, roles=role or [], expires_in_days=days, organisation=org),
        )
        console.print(
            f"API client {client.name} ({client.id}), expires {client.expires_at:%Y-%m-%d}."
        )
    console.print("Token (shown only now; store it safely):")
    print(token)


@token_app.command("list")
@friendly_errors
def token_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List API clients (never their tokens)."""
    with unit_of_work() as session:
        rows = [
            {
                "id": c.id,
                "name": c.name,
                "organisation_id": c.organisation_id,
                "prefix": c.token_prefix,
                "expires_at": c.expires_at.isoformat(),
                "revoked": c.revoked_at is not None,
            }
            for c in service.list_api_clients(session, operator())
        ]
    _print_rows(rows, as_json, "API clients")


@token_app.command("revoke")
@friendly_errors
def token_revoke(client: Annotated[str, typer.Argument(help="Client id or token prefix")]) -> None:
    """Revoke an API client's token at once."""
    with unit_of_work() as session:
        revoked = service.revoke_api_client(session, operator(), client)
        console.print(f"Revoked {revoked.name}.")


def _day(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return (
            datetime.fromisoformat(value).replace(tzinfo=UTC)
            if len(value) == 10
            else (datetime.fromisoformat(value))
        )
    except ValueError:
        raise InvalidInput({option: f"expected a date like 2026-11-01, got {value!r}"}) from None


@audit_app.command("search")
@friendly_errors
def audit_search(
    actor: Annotated[str | None, typer.Option(help="Name or email contains")] = None,
    action: Annotated[str | None, typer.Option(help="Action starts with, e.g. bulletin.")] = None,
    record_type: Annotated[str | None, typer.Option()] = None,
    record_id: Annotated[str | None, typer.Option()] = None,
    org: Annotated[str | None, typer.Option(help="Organisation code")] = None,
    since: Annotated[str | None, typer.Option(help="From this date (YYYY-MM-DD)")] = None,
    until: Annotated[str | None, typer.Option(help="Before this date (YYYY-MM-DD)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Search the audit log, newest first."""
    with unit_of_work() as session:
        org_id = service.organisation_by_code(session, org).id if org else None
        events, total = search_audit(
            session,
            AuditQuery(
                actor=actor,
                action=action,
                record_type=record_type,
                record_id=record_id,
                organisation_id=org_id,
                since=_day(since, "--since"),
                until=_day(until, "--until"),
                limit=limit,
            ),
        )
        rows: list[dict[str, Any]] = [
            {
                "id": e.id,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "record_type": e.record_type,
                "record_id": e.record_id,
                "changes": e.changes,
                "detail": e.detail,
            }
            for e in events
        ]
    if as_json:
        for row in rows:
            print(json.dumps(row, default=str))
        return
    table = Table(title=f"Audit events ({len(rows)} of {total})")
    for column in ("When", "Who", "What", "Record", "Old → new"):
        table.add_column(column, overflow="fold")
    for row in rows:
        changes = "; ".join(f"{k}: {v[0]} → {v[1]}" for k, v in (row["changes"] or {}).items())
        record = f"{row['record_type'] or ''} {row['record_id'] or ''}".strip()
        table.add_row(row["at"][:19], row["actor"], row["action"], record, changes)
    console.print(table)


@blobs_app.command("verify")
@friendly_errors
def blobs_verify() -> None:
    """Re-hash every stored file and report any whose bytes no longer match their name."""
    store = blob_store_from_settings(get_settings())
    refs = list(store.iter_all())
    bad = []
    with Progress(console=console) as progress:
        task = progress.add_task("Verifying stored files", total=len(refs) or 1)
        for ref in refs:
            if not store.verify(ref.sha256):
                bad.append(ref.sha256)
            progress.advance(task)
    console.print(f"{len(refs) - len(bad)} of {len(refs)} files verified.")
    for sha in bad:
        err.print(f"[red]corrupt:[/red] {sha}")
    if bad:
        raise typer.Exit(1)


@uploads_app.command("purge")
@friendly_errors
def uploads_purge() -> None:
    """Delete unfinished uploads past their expiry and their partial files (run daily)."""
    from peel.core.uploads import purge_expired_uploads

    with unit_of_work() as session:
        count = purge_expired_uploads(session, get_settings())
    console.print(f"Removed {count} expired unfinished upload{'s' if count != 1 else ''}.")


def _print_rows(rows: list[dict[str, Any]], as_json: bool, title: str) -> None:
    if as_json:
        print(json.dumps(rows, default=str, indent=2))
        return
    if not rows:
        console.print(f"No {title.lower()} yet.")
        return
    table = Table(title=title)
    for column in rows[0]:
        table.add_column(column.replace("_", " ").capitalize())
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)
