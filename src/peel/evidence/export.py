"""Court bundles: the files, a manifest, their custody events and the proofs, in one zip.

The manifest is hashed into an ``exported`` custody event, the log's head is then signed,
and every event in the bundle carries an inclusion proof against that signed head. Anyone
with the bundle and the force's published key can check it offline with
``peel evidence verify`` (see :mod:`peel.evidence.bundle` for the layout).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session, sessionmaker

from peel import __version__
from peel.core.blobstore import BlobStore
from peel.core.db import transaction, utcnow
from peel.core.errors import InvalidInput
from peel.core.principal import Principal
from peel.evidence import bundle, custody, service
from peel.evidence.models import CustodyEvent, EvidenceItem
from peel.evidence.signing import LogSigner

Progress = Callable[[float, str], None]
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _arcname(item: EvidenceItem) -> str:
    safe = _UNSAFE.sub("_", item.name).strip("._") or "file"
    return f"files/{item.id[:12]}-{safe[:80]}"


def _item_entry(item: EvidenceItem, events: Sequence[CustodyEvent]) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "path": _arcname(item),
        "sha256": item.sha256,
        "size": item.size,
        "content_type": item.content_type,
        "kind": item.kind,
        "source": item.source,
        "source_ref": item.source_ref,
        "derived_from": item.derived_from_id,
        "derivation": item.derivation,
        "captured_at": item.captured_at.isoformat() if item.captured_at else None,
        "device_id": item.device_id,
        "captured_by": item.captured_by,
        "capture": item.capture,
        "added_by": item.added_by,
        "added_at": item.added_at.isoformat(),
        "tlp": str(item.tlp),
        "event_indexes": [int(e.seq) for e in events if e.item_id == item.id],
    }


def export_case(
    sessions: sessionmaker[Session],
    store: BlobStore,
    signer: LogSigner,
    actor: Principal,
    case_id: str,
    out: Path,
    *,
    item_ids: Sequence[str] = (),
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the case's court bundle to ``out``; returns a summary."""
    with transaction(sessions) as session:
        case, labelled = service.access_case(session, actor, case_id, "view")
        items = [i for i in service.items_of_case(session, actor, case) if i.status == "present"]
        if item_ids:
            wanted = set(item_ids)
            unknown = wanted - {i.id for i in items}
            if unknown:
                raise InvalidInput({"items": f"No present item {sorted(unknown)[0]} in the case"})
            items = [i for i in items if i.id in wanted]
        if not items:
            raise InvalidInput({"case": f"Case {case.reference} has no files to export"})
        events = custody.events_for(session, item_ids=[i.id for i in items], case_id=case.id)
        events = [e for e in events if e.item_id is None or e.item_id in {i.id for i in items}]
        manifest: dict[str, Any] = {
            "format": "peel-evidence-bundle/1",
            "generator": f"Peel {__version__}",
            "case": {
                "id": case.id,
                "reference": case.reference,
                "title": case.title,
                "status": case.status,
                "officer_in_charge": case.officer_in_charge,
                "owner": case.owner_org.name,
                "tlp": str(labelled.tlp.value),
            },
            "exported_at": utcnow().isoformat(),
            "exported_by": actor.audit_name,
            "items": [_item_entry(i, events) for i in items],
            "case_event_indexes": [int(e.seq) for e in events if e.item_id is None],
            "log": {"key_id": signer.key_id, "name": custody.LOG_NAME},
        }
        manifest_bytes = bundle.canonical_json(manifest)
        export_index = custody.append_event(
            session,
            "exported",
            actor,
            case_id=case.id,
            owner_org_id=case.owner_org_id,
            manifest_sha256=bundle.sha256_hex(manifest_bytes),
            items=[i.id for i in items],
        )
        tree_head = custody.publish_tree_head(session, signer)
        reference = case.reference
        files = [(_arcname(i), i.sha256) for i in items]
    # The export event and the signed head are committed before the bundle refers to them.
    with transaction(sessions) as session:
        export_row = session.get(CustodyEvent, export_index)
        assert export_row is not None
        proofs = {
            e: custody.inclusion_proof(session, e, tree_head.tree_size)
            for e in [*(int(ev.seq) for ev in events), export_index]
        }
        export_entry = export_row.entry.encode("utf-8")
    if progress:
        progress(10, "Writing the bundle")

    def opener(sha256: str) -> Callable[[], BinaryIO]:
        return lambda: store.open(sha256)

    bundle.write_bundle(
        out,
        manifest,
        [(name, opener(sha)) for name, sha in files],
        [(int(e.seq), e.entry.encode("utf-8")) for e in events],
        (export_index, export_entry),
        tree_head,
        proofs,
        signer.public_key_pem(),
        manifest_bytes=manifest_bytes,
    )
    if progress:
        progress(100, "Bundle written")
    return {
        "case": reference,
        "items": len(files),
        "events": len(events) + 1,
        "tree_size": tree_head.tree_size,
        "path": str(out),
    }
