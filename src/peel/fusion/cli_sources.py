"""``peel fusion sources …`` and ``peel fusion import``: register sources, share them, import files.

``peel fusion import`` checks every row before it changes anything: a file with problems
prints each problem with its row and column, is kept as a failed import, and exits with
status 2; a good file replaces the source's records and prints the counts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.core.cli import acting_person, friendly_errors, sessions
from peel.core.config import get_settings
from peel.core.db import transaction
from peel.core.enums import TLP
from peel.core.errors import InvalidInput
from peel.core.models import Organisation
from peel.fusion import ingest, sources
from peel.fusion.cli_shared import AsUser, console, err
from peel.fusion.enums import LegalBasis
from peel.fusion.ingest import ImportRejected, describe_error
from peel.fusion.models import FusionImport, FusionSource
from peel.fusion.readers import MB

# Repeated from ``peel.fusion.cli``, which imports this module while it is being built.

sources_app = typer.Typer(
    help="Sources: agencies' data sets and who may see them.", no_args_is_help=True
)
#: Problems printed before the rest are summarised.
SHOWN_PROBLEMS = 50


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``peel fusion``."""
    app.add_typer(sources_app, name="sources")
    app.command("import")(import_command)


def _read_text(path: Path, option: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput({option: f"cannot read {path} as UTF-8 text: {error}"}) from None


def _source_row(session: Session, source: FusionSource) -> dict[str, Any]:
    owner = session.get(Organisation, source.owner_org_id)
    return {
        "id": source.id,
        "code": source.code,
        "name": source.name,
        "agency": owner.code if owner else "",
        "tlp": TLP(source.tlp).value,
        "legal_basis_kind": source.legal_basis_kind,
        "legal_basis": source.legal_basis,
        "shared_with": [org.code for org in sources.shared_with(session, source)],
        "records": source.record_count,
        "relations": source.relation_count,
        "last_imported_at": source.last_imported_at.isoformat()
        if source.last_imported_at
        else None,
    }


@sources_app.command("add")
@friendly_errors
def add_source(
    code: Annotated[str, typer.Argument(help="Short code: lower-case letters, digits, hyphens")],
    name: Annotated[str, typer.Option(help="What the data set is, in the agency's words")],
    agency: Annotated[str, typer.Option(help="Owning agency (organisation code)")],
    legal_basis_kind: Annotated[
        LegalBasis,
        typer.Option("--legal-basis-kind", help="Why it may be shared", case_sensitive=False),
    ],
    legal_basis: Annotated[str, typer.Option("--legal-basis", help="The power or agreement")],
    as_user: AsUser,
    tlp: Annotated[
        TLP, typer.Option(help="Label: who may see it (RED is refused)", case_sensitive=False)
    ] = TLP.amber,
    share: Annotated[
        list[str] | None,
        typer.Option("--share", help="Organisation codes to share with (repeat, or a,b)"),
    ] = None,
    mapping: Annotated[Path | None, typer.Option(help="Mapping YAML file")] = None,
    description: Annotated[str, typer.Option(help="Longer description")] = "",
) -> None:
    """Register a source owned by an agency."""
    data = sources.SourceCreate(
        code=code,
        name=name,
        description=description,
        legal_basis_kind=legal_basis_kind,
        legal_basis=legal_basis,
        tlp=tlp,
        share_with=[code for item in share or [] for code in item.split(",") if code.strip()],
        mapping=_read_text(mapping, "--mapping") if mapping else "",
        agency=agency,
    )
    with transaction(sessions()) as session:
        actor = acting_person(session, as_user)
        source = sources.register_source(session, actor, data)
        shared = (
            ", ".join(org.code for org in sources.shared_with(session, source)) or "nobody else"
        )
        label = TLP(source.tlp).value
    console.print(f"Registered {code} ({name}), TLP:{label}, shared with {shared}.")


@sources_app.command("list")
@friendly_errors
def list_sources_command(
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="List what this person may see (default: every source)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List sources, with their labels, shares and counts."""
    with transaction(sessions()) as session:
        if as_user:
            found = sources.list_sources(session, acting_person(session, as_user))
        else:  # whoever has a shell on the server administers the platform
            found = list(session.scalars(select(FusionSource).order_by(FusionSource.name)))
        rows = [_source_row(session, s) for s in found]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table()
    table.add_column("Code", no_wrap=True)
    for heading in ("Name", "Agency", "TLP", "Shared with", "Records", "Relations", "Imported"):
        table.add_column(heading)
    for row in rows:
        shared = ", ".join(row["shared_with"]) or "-"
        imported = (row["last_imported_at"] or "never")[:16]
        table.add_row(
            row["code"], row["name"], row["agency"], row["tlp"], shared,
            f"{row['records']:,}", f"{row['relations']:,}", imported,
        )  # fmt: skip
    console.print(table)


@sources_app.command("share")
@friendly_errors
def share_command(
    code: Annotated[str, typer.Argument(help="The source's code")],
    organisations: Annotated[list[str], typer.Argument(help="Organisation codes")],
    as_user: AsUser,
    remove: Annotated[bool, typer.Option("--remove", help="Stop sharing with them")] = False,
) -> None:
    """Share a source with more organisations (or stop, with --remove)."""
    with transaction(sessions()) as session:
        actor = acting_person(session, as_user)
        source = sources.access_source(session, actor, code, "relabel")
        add, drop = ([], organisations) if remove else (organisations, [])
        after = sources.share_source(session, actor, source, add, drop)
    console.print(f"{code} is shared with {', '.join(o.code for o in after) or 'nobody else'}.")


@sources_app.command("mapping")
@friendly_errors
def mapping_command(
    code: Annotated[str, typer.Argument(help="The source's code")],
    mapping: Annotated[Path, typer.Argument(help="Mapping YAML file")],
    as_user: AsUser,
) -> None:
    """Replace a source's mapping (checked first: problems name their YAML path)."""
    text = _read_text(mapping, "MAPPING")
    with transaction(sessions()) as session:
        actor = acting_person(session, as_user)
        source = sources.access_source(session, actor, code, "manage")
        sources.update_mapping(session, actor, source, text)
    console.print(f"The mapping of {code} is saved; import a file to apply it.")


def _print_rejection(rejected: ImportRejected, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"status": "failed", "errors": rejected.errors}, indent=2))
        return
    err.print(f"[red]The file has {len(rejected.errors)} problem(s); nothing was imported.[/red]")
    for error in rejected.errors[:SHOWN_PROBLEMS]:
        err.print(f"  {describe_error(error)}")
    if len(rejected.errors) > SHOWN_PROBLEMS or rejected.truncated:
        err.print("  … (see --json for every problem listed)")


def _import(
    session: Session, actor: Any, source: FusionSource, file: Path, mapping_text: str | None
) -> FusionImport:
    data = file.read_bytes()
    limit = get_settings().fusion_max_upload_mb * MB
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("Checking rows", total=None)

        def progress(stage: str, done: int, total: int | None) -> None:
            label = "Checking rows" if stage == "checking" else "Storing records"
            bar.update(task, description=label, completed=done, total=total)

        return ingest.import_file(
            session,
            actor,
            source,
            data,
            file.name,
            mapping_text,
            max_bytes=limit,
            progress=progress,
        )


@friendly_errors
def import_command(
    source: Annotated[str, typer.Argument(help="The source's code (or id)")],
    file: Annotated[Path, typer.Argument(help="CSV, Excel (.xlsx), JSON/NDJSON or Parquet")],
    as_user: AsUser,
    mapping: Annotated[
        Path | None, typer.Option(help="Mapping YAML to use (and keep) instead of the stored one")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Replace a source's records with a file's: all rows or, on any problem, none."""
    if not file.is_file():
        raise InvalidInput({"FILE": f"{file} is not a file"})
    mapping_text = _read_text(mapping, "--mapping") if mapping else None
    factory = sessions()
    try:
        with transaction(factory) as session:
            actor = acting_person(session, as_user)
            found = sources.access_source(session, actor, source, "manage")
            source_id = found.id
            attempt = _import(session, actor, found, file, mapping_text)
            result = {"status": attempt.status, "rows": attempt.rows, "records": attempt.records,
                      "relations": attempt.relations, "import_id": attempt.id}  # fmt: skip
    except ImportRejected as rejected:
        ingest.record_rejected_import(
            factory, actor, source_id, file.name, file.read_bytes(), rejected.errors,
            rows=rejected.rows, file_format=rejected.file_format or None,
        )  # fmt: skip
        _print_rejection(rejected, as_json)
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(result, indent=2))
        return
    console.print(
        f"Imported {file.name} into {source}: {result['rows']:,} rows gave "
        f"{result['records']:,} records and {result['relations']:,} relations."
    )
