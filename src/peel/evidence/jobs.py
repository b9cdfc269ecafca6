"""Evidence work that takes a while, run as jobs whose progress shows at /jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from peel.core.blobstore import BlobStore
from peel.core.config import Settings
from peel.core.jobs import JobContext, JobRunner
from peel.core.principal import SYSTEM, Principal
from peel.evidence import custody, export, media, processing, retention


def exports_dir(settings: Settings) -> Path:
    folder = settings.data_dir / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def submit_processing(
    jobs: JobRunner, store: BlobStore, actor: Principal, item_ids: list[str], title: str
) -> str:
    """Read metadata and make thumbnails and browser previews for new items."""

    def run(context: JobContext) -> dict[str, Any]:
        return processing.process_items(
            context.sessions, store, item_ids, actor, progress=context.progress
        )

    return jobs.submit(actor, "evidence.describe", title, run, {"items": item_ids})


def submit_redaction(
    jobs: JobRunner,
    store: BlobStore,
    actor: Principal,
    item_id: str,
    boxes: list[media.Box],
    mode: str,
    name: str,
) -> str:
    def run(context: JobContext) -> dict[str, Any]:
        new_id = processing.redact(
            context.sessions, store, actor, item_id, boxes, mode, progress=context.progress
        )
        return {"item": new_id, "link": f"/evidence/items/{new_id}"}

    return jobs.submit(
        actor,
        "evidence.redact",
        f"Redact {name}",
        run,
        {"item": item_id, "mode": mode, "boxes": len(boxes)},
    )


def submit_export(
    jobs: JobRunner,
    store: BlobStore,
    settings: Settings,
    actor: Principal,
    case_id: str,
    reference: str,
    item_ids: list[str] | None = None,
) -> str:
    def run(context: JobContext) -> dict[str, Any]:
        out = exports_dir(settings) / f"{reference}-{context.job_id[:8]}.zip"
        summary = export.export_case(
            context.sessions,
            store,
            custody.signer_for(settings),
            actor,
            case_id,
            out,
            item_ids=item_ids or (),
            progress=context.progress,
        )
        return {**summary, "link": f"/evidence/exports/{context.job_id}"}

    return jobs.submit(
        actor,
        "evidence.export",
        f"Court bundle for {reference}",
        run,
        {"case": reference, "case_id": case_id},
    )


def submit_retention(
    jobs: JobRunner,
    store: BlobStore,
    settings: Settings,
    actor: Principal,
    organisation_id: str | None,
) -> str:
    def run(context: JobContext) -> dict[str, Any]:
        return run_retention(context.sessions, store, settings, actor, organisation_id, context)

    return jobs.submit(actor, "evidence.retention", "Evidence retention run", run, {})


def run_retention(
    sessions: sessionmaker[Session],
    store: BlobStore,
    settings: Settings,
    actor: Principal,
    organisation_id: str | None,
    context: JobContext | None = None,
) -> dict[str, Any]:
    decisions = retention.run(
        sessions,
        store,
        dry_run=False,
        organisation_id=organisation_id,
        actor=actor,
        progress=context.progress if context else None,
    )
    deleted = [d.item_id for d in decisions if d.will_delete]
    held = [d.item_id for d in decisions if d.due and d.held_by]
    from peel.core.db import transaction

    with transaction(sessions) as session:
        head = custody.publish_tree_head(session, custody.signer_for(settings))
    return {"deleted": len(deleted), "held_back": len(held), "tree_size": head.tree_size}


async def retention_schedule(jobs: JobRunner, store: BlobStore, settings: Settings) -> None:
    """Run retention for every force a minute after start, then every few hours (a job)."""
    import asyncio

    delay = 60.0
    while True:
        await asyncio.sleep(delay)
        delay = settings.evidence_retention_every_hours * 3600
        await asyncio.to_thread(submit_retention, jobs, store, settings, SYSTEM, None)
