"""``peel evidence``: cases, court bundles and their offline check, retention, the custody log."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.core.blobstore import blob_store_from_settings
from peel.core.cli import acting_person, friendly_errors, operator
from peel.core.cli import sessions as _sessions
from peel.core.config import get_settings
from peel.core.db import transaction
from peel.core.enums import Role
from peel.core.errors import InvalidInput
from peel.core.models import Organisation
from peel.core.policy import NotFound
from peel.core.principal import Principal
from peel.evidence import bundle, custody, export, intake, processing, retention, service
from peel.evidence.models import EvidenceCase, EvidenceItem

app = typer.Typer(
    help="Digital evidence: cases, court bundles, retention and the custody log.",
    no_args_is_help=True,
)
log_app = typer.Typer(help="The chain-of-custody log (RFC 9162).", no_args_is_help=True)
app.add_typer(log_app, name="log")
console = Console()
err = Console(stderr=True)

AsUser = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Act as this person (email); without it the operator acts for the owning force",
    ),
]


def _operator_for(session: Session, organisation_id: str) -> Principal:
    """The server's operator acting as an admin of one organisation (audited as cli:NAME)."""
    org = session.get(Organisation, organisation_id)
    assert org is not None
    base = operator()
    return Principal(
        organisation_id=org.id,
        organisation_name=org.name,
        organisation_type=org.type,
        client_of_id=org.client_of_id,
        roles=frozenset({Role.admin, Role.supervisor, Role.officer}),
        display_name=base.display_name,
    )


def _case_and_actor(session: Session, reference: str, as_user: str | None) -> tuple[str, Principal]:
    if as_user:
        actor = acting_person(session, as_user)
        return service.case_by_reference(session, actor, reference).id, actor
    row = session.scalar(
        select(EvidenceCase).where(EvidenceCase.reference == reference.strip().upper())
    )
    if row is None:
        raise NotFound("evidence_case", reference)
    return row.id, _operator_for(session, row.owner_org_id)


@app.command("cases")
@friendly_errors
def cases(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    as_user: AsUser = None,
    status: Annotated[str | None, typer.Option(help="open or closed")] = None,
) -> None:
    """List cases with their references (all of them for the operator)."""
    with transaction(_sessions()) as session:
        if as_user:
            rows = service.visible_cases(session, acting_person(session, as_user), status=status)
        else:
            stmt = select(EvidenceCase).order_by(EvidenceCase.created_at.desc())
            if status:
                stmt = stmt.where(EvidenceCase.status == status)
            rows = list(session.scalars(stmt))
        counts = {
            case.id: len(
                session.scalars(
                    select(EvidenceItem.id).where(
                        EvidenceItem.case_id == case.id, EvidenceItem.status == "present"
                    )
                ).all()
            )
            for case in rows
        }
        data = [
            {
                "reference": c.reference,
                "title": c.title,
                "status": c.status,
                "tlp": str(c.tlp),
                "owner": c.owner_org.name,
                "items": counts[c.id],
                "created_at": c.created_at.isoformat(),
            }
            for c in rows
        ]
    if as_json:
        print(json.dumps(data, indent=2))
        return
    if not data:
        console.print("No cases yet: open one at /evidence/cases/new or run `peel demo load`.")
        return
    table = Table("Reference", "Title", "Status", "TLP", "Items", "Owner")
    for row in data:
        table.add_row(
            row["reference"],
            row["title"],
            row["status"],
            row["tlp"],
            str(row["items"]),
            row["owner"],
        )
    console.print(table)


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=err,
    )


@app.command("export")
@friendly_errors
def export_bundle(
    case: Annotated[str, typer.Option("--case", help="Case reference, e.g. EV-2026-ABC234")],
    out: Annotated[Path, typer.Option("--out", help="The .zip file to write")],
    as_user: AsUser = None,
) -> None:
    """Write a court bundle: files, manifest, custody events, signed tree head and proofs."""
    settings = get_settings()
    sessions = _sessions()
    with transaction(sessions) as session:
        case_id, actor = _case_and_actor(session, case, as_user)
    with _bar() as bar:
        task = bar.add_task("Exporting", total=100)
        summary = export.export_case(
            sessions,
            blob_store_from_settings(settings),
            custody.signer_for(settings),
            actor,
            case_id,
            out,
            progress=lambda pct, _msg: bar.update(task, completed=pct),
        )
    console.print(
        f"Wrote {out}: {summary['items']} files, {summary['events']} custody events, "
        f"signed at tree size {summary['tree_size']}."
    )
    console.print(f"Check it with: peel evidence verify {out} --key custody-key.pem")


@app.command("verify")
def verify(
    path: Annotated[Path, typer.Argument(help="A court bundle (.zip)")],
    key: Annotated[
        Path | None,
        typer.Option("--key", help="The force's published public key (PEM) to check against"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check a court bundle offline; exit status 0 when every check passes, 1 when any fails."""
    if not path.is_file():
        err.print(f"[red]error:[/red] {path} is not a file")
        raise typer.Exit(2)
    key_pem = None
    if key is not None:
        try:
            key_pem = key.read_bytes()
        except OSError as exc:
            err.print(f"[red]error:[/red] --key: cannot read {key}: {exc.strerror}")
            raise typer.Exit(2) from None
    report = bundle.verify_bundle(path, key_pem)
    if as_json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "problems": report.problems,
                    "notes": report.notes,
                    "items_checked": report.items_checked,
                    "events_checked": report.events_checked,
                    "tree_size": report.tree_size,
                    "key_id": report.key_id,
                },
                indent=2,
            )
        )
    else:
        for note in report.notes:
            console.print(f"note: {note}")
        for problem in report.problems:
            console.print(f"[red]FAIL[/red] {problem}")
        if report.ok:
            console.print(
                f"[green]OK[/green] {report.items_checked} files and {report.events_checked} "
                f"custody events match, and all are in the log signed at tree size "
                f"{report.tree_size} by key {report.key_id}."
            )
    raise typer.Exit(0 if report.ok else 1)


@app.command("retention")
@friendly_errors
def run_retention(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would be deleted and why")
    ] = False,
    force: Annotated[str | None, typer.Option(help="Only this organisation (code)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Apply retention: delete due items no hold protects, keeping tombstones."""
    settings = get_settings()
    sessions = _sessions()
    org_id = None
    if force:
        with transaction(sessions) as session:
            org_id = session.scalar(select(Organisation.id).where(Organisation.code == force))
        if org_id is None:
            raise InvalidInput({"--force": f"No organisation with code {force!r}"})
    store = blob_store_from_settings(settings)
    if dry_run:
        decisions = retention.run(sessions, store, dry_run=True, organisation_id=org_id)
    else:
        with _bar() as bar:
            task = bar.add_task("Deleting", total=100)
            decisions = retention.run(
                sessions,
                store,
                dry_run=False,
                organisation_id=org_id,
                actor=operator(),
                progress=lambda pct, _m: bar.update(task, completed=pct),
            )
    due = [d for d in decisions if d.due]
    if as_json:
        print(json.dumps([d.to_json() for d in due], indent=2))
        return
    if not due:
        console.print(f"Nothing is due for deletion ({len(decisions)} items checked).")
        return
    table = Table("Item", "Case", "Due since", "Outcome", "Why")
    for d in due:
        outcome = (
            "held: " + "; ".join(d.held_by)
            if d.held_by
            else ("would delete" if dry_run else "deleted")
        )
        table.add_row(
            d.name,
            d.case_reference or "unfiled",
            f"{d.delete_after:%Y-%m-%d}" if d.delete_after else "",
            outcome,
            "; ".join(d.reasons),
        )
    console.print(table)


@app.command("dock")
@friendly_errors
def dock(
    folder: Annotated[Path, typer.Argument(help="The dock's output folder")],
    as_user: Annotated[str, typer.Option("--as", help="The person importing (email)")],
    keep: Annotated[bool, typer.Option(help="Leave imported clips in place")] = False,
) -> None:
    """Import body-worn video clips (each with a JSON sidecar) from a dock folder."""
    settings = get_settings()
    sessions = _sessions()
    with transaction(sessions) as session:
        actor = acting_person(session, as_user)
    store = blob_store_from_settings(settings)
    with _bar() as bar:
        task = bar.add_task("Importing clips", total=None)

        def step(number: int, total: int, name: str) -> None:
            bar.update(task, total=total, completed=number, description=name[:30])

        result = intake.import_dock(
            sessions, store, actor, folder, move_done=not keep, progress=step
        )
    if result.imported:
        processing.process_items(sessions, store, result.imported, actor)
    console.print(
        f"Imported {len(result.imported)} clips, skipped {len(result.skipped)} already held."
    )
    for problem in result.problems:
        err.print(f"[red]error:[/red] {problem}")
    if result.problems:
        raise typer.Exit(1)


@app.command("add")
@friendly_errors
def add_files(
    case: Annotated[str, typer.Option("--case", help="Case reference")],
    files: Annotated[list[Path], typer.Argument(help="Files to add")],
    as_user: Annotated[str, typer.Option("--as", help="The person adding them (email)")],
) -> None:
    """Add local files to a case (hashed while stored; metadata and previews made after)."""
    from peel.core.sniff import sniff

    settings = get_settings()
    sessions = _sessions()
    store = blob_store_from_settings(settings)
    added = []
    with _bar() as bar:
        task = bar.add_task("Adding", total=len(files))
        for path in files:
            if not path.is_file():
                raise InvalidInput({str(path): "is not a file"})
            with path.open("rb") as handle:
                sniffed = sniff(handle.read(64 * 1024))
            ref = store.put_file(path)
            with transaction(sessions) as session:
                actor = acting_person(session, as_user)
                case_row = service.case_by_reference(session, actor, case)
                item = service.add_item(
                    session,
                    actor,
                    service.NewItem(
                        sha256=ref.sha256,
                        size=ref.size,
                        content_type=sniffed.content_type or "application/octet-stream",
                        kind=sniffed.kind or "document",
                        name=path.name,
                        source="upload",
                        source_ref=f"cli:{path.name}",
                    ),
                    case=case_row,
                )
                added.append(item.id)
            bar.advance(task)
    processing.process_items(sessions, store, added, actor)
    console.print(f"Added {len(added)} files to {case}.")


# --- the log ------------------------------------------------------------------------------


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


@log_app.command("key")
@friendly_errors
def log_key(
    out: Annotated[Path | None, typer.Option(help="Write the PEM to this file")] = None,
) -> None:
    """Print (or write) the public key that signs tree heads, with its key id."""
    signer = custody.signer_for(get_settings())
    pem = signer.public_key_pem()
    if out:
        out.write_bytes(pem)
        console.print(f"Wrote {out} (key id {signer.key_id})")
    else:
        sys.stdout.write(pem.decode())
        err.print(f"key id {signer.key_id}")


@log_app.command("head")
@friendly_errors
def log_head(
    publish: Annotated[bool, typer.Option(help="Sign and publish the current head")] = False,
) -> None:
    """The log's size and root now; with --publish, a new signed tree head."""
    settings = get_settings()
    with transaction(_sessions()) as session:
        if publish:
            sth = custody.publish_tree_head(session, custody.signer_for(settings))
            _print({**sth.to_json()})
            return
        size, root = custody.head(session)
    _print({"tree_size": size, "root_hash": root.hex()})


@log_app.command("proof")
@friendly_errors
def log_proof(
    index: Annotated[int, typer.Argument(help="Leaf index of the event")],
    size: Annotated[int | None, typer.Option(help="Tree size (default: now)")] = None,
) -> None:
    """An inclusion proof for one event."""
    with transaction(_sessions()) as session:
        try:
            tree_size = size or custody.head(session)[0]
            proof = custody.inclusion_proof(session, index, tree_size)
            root = custody.root_at(session, tree_size)
        except ValueError as exc:
            raise InvalidInput({"index": str(exc)}) from None
    _print(
        {
            "index": index,
            "tree_size": tree_size,
            "root_hash": root.hex(),
            "proof": [p.hex() for p in proof],
        }
    )


@log_app.command("consistency")
@friendly_errors
def log_consistency(
    first: Annotated[int, typer.Argument(help="The older tree size")],
    second: Annotated[int | None, typer.Argument(help="The newer tree size (default: now)")] = None,
) -> None:
    """A consistency proof between two tree sizes."""
    with transaction(_sessions()) as session:
        try:
            new = second or custody.head(session)[0]
            proof = custody.consistency_proof(session, first, new)
            roots = custody.root_at(session, first), custody.root_at(session, new)
        except ValueError as exc:
            raise InvalidInput({"first": str(exc)}) from None
    _print(
        {
            "first": first,
            "second": new,
            "first_root": roots[0].hex(),
            "second_root": roots[1].hex(),
            "proof": [p.hex() for p in proof],
        }
    )
