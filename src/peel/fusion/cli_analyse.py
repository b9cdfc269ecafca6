"""``peel fusion analyse`` (link and analyse every scope) and ``peel fusion queue`` (review queue).

The queue shows what the person acting may see: their own scope, built only from the sources
their organisation may see. Reading it is audited. Indicators inform; people decide.
"""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import case, select
from sqlalchemy.orm import Session

from peel.core.audit import record_audit
from peel.core.cli import friendly_errors
from peel.core.config import get_settings
from peel.core.db import transaction
from peel.core.errors import InvalidInput
from peel.core.principal import Principal
from peel.fusion.analyse import indicator_rules, run_analysis
from peel.fusion.cli_shared import AsUser, console, err, person, sessions
from peel.fusion.indicators import IndicatorFileError
from peel.fusion.models import (
    FusionEntity,
    FusionIndicatorHit,
    FusionRun,
    FusionScope,
    FusionSource,
)
from peel.fusion.queries import hits_by_entity
from peel.fusion.scoped import viewer_of

RAG_ORDER = {"red": 0, "amber": 1, "green": 2}


class EngineName(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


class RagName(StrEnum):
    red = "red"
    amber = "amber"
    green = "green"


Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``peel fusion``."""
    app.command("analyse")(friendly_errors(analyse))
    app.command("queue")(friendly_errors(queue))


def _as_of(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput({"--as-of": f"expected a date YYYY-MM-DD, got {text!r}"}) from None


def analyse(
    as_user: AsUser,
    engine: Annotated[
        EngineName | None,
        typer.Option("--engine", help="Linkage engine: duckdb (this machine) or spark (local)"),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Analysis date YYYY-MM-DD (default today)")
    ] = None,
    as_json: Json = False,
) -> None:
    """Link person records across sources, then find entities, groups and risk for each scope."""
    settings = get_settings()
    if engine is not None:
        settings = settings.model_copy(update={"fusion_engine": engine.value})
    day = _as_of(as_of)
    factory = sessions()
    with transaction(factory) as session:
        actor = person(session, as_user)
    spark = _spark() if settings.fusion_engine == EngineName.spark else None
    try:
        run_id = _run_with_progress(factory, actor, settings, day, spark)
    except IndicatorFileError as exc:
        raise InvalidInput({"indicators": str(exc)}) from exc
    finally:
        if spark is not None:
            spark.stop()
    with transaction(factory) as session:
        run = session.get(FusionRun, run_id)
        assert run is not None
        codes = {s: c for s, c in session.execute(select(FusionSource.id, FusionSource.code))}
    if as_json:
        print(json.dumps({"run": run_id, "status": run.status, **run.stats}, indent=2))
        return
    _print_summary(run, codes)


def _spark() -> Any:
    try:
        from peel.anpr.spark import local_spark
    except ImportError as exc:  # pragma: no cover - pyspark is an optional extra
        raise InvalidInput({"--engine": "spark needs pyspark: pip install 'peel[spark]'"}) from exc
    return local_spark("peel-fusion-cli")


def _run_with_progress(
    factory: Any, actor: Principal, settings: Any, day: date | None, spark: Any
) -> str:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("Starting", total=100)

        def report(fraction: float, message: str) -> None:
            bar.update(task, completed=round(100 * fraction, 1), description=message)

        return run_analysis(factory, actor, settings, as_of=day, progress=report, spark=spark)


def _print_summary(run: FusionRun, codes: dict[str, str]) -> None:
    stats = run.stats
    table = Table(
        "Scope (sources)", "People", "Children", "Entities", "Groups", "Red", "Amber", "Green"
    )
    for scope in stats.get("by_scope", []):
        sources = _scope_sources(scope, codes)
        table.add_row(
            sources,
            f"{scope['persons']:,}",
            f"{scope['children']:,}",
            f"{scope['entities']:,}",
            f"{scope['groups']:,}",
            f"{scope['red']:,}",
            f"{scope['amber']:,}",
            f"{scope['green']:,}",
        )
    console.print(table)
    seconds = stats.get("seconds", {}).get("total", 0.0)
    console.print(
        f"Run {run.id}: {stats.get('records', 0):,} records, {stats.get('persons', 0):,} person "
        f"records, {stats.get('pairs', 0):,} scored pairs kept; {stats.get('scopes', 0)} scopes, "
        f"{stats.get('entities', 0):,} entities, {stats.get('groups', 0)} groups in "
        f"{seconds:.1f} s. Indicators inform; people decide."
    )


def _scope_sources(scope: dict[str, Any], codes: dict[str, str]) -> str:
    return ", ".join(sorted(codes.get(s, s) for s in scope.get("source_ids", [])))


# --- the review queue -------------------------------------------------------------------------


def queue(
    as_user: AsUser,
    rag: Annotated[RagName | None, typer.Option("--rag", help="Only this rating")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="Most shown")] = 50,
    as_json: Json = False,
) -> None:
    """Flagged people in your scope: children first, then red, amber, green, then by score."""
    with transaction(sessions()) as session:
        principal = person(session, as_user)
        rules = indicator_rules(get_settings())
        items, analysed = review_queue(session, principal, rag.value if rag else None, limit)
    titles = {i.code: i.title for i in rules.indicators}
    for item in items:
        for indicator in item["indicators"]:
            indicator["title"] = titles.get(indicator["code"], indicator["code"])
    if as_json:
        print(json.dumps({"analysed": analysed, "items": items}, indent=2, default=str))
        return
    if not analysed:
        console.print("No analysis covers your sources yet: run `peel fusion analyse`.")
        return
    table = Table("RAG", "Score", "Person", "Born", "Child", "Records", "Indicators")
    for item in items:
        table.add_row(
            item["rag"],
            f"{item['score']:g}",
            item["caption"],
            item["date_of_birth"] or "",
            "yes" if item["is_child"] else "",
            str(item["record_count"]),
            ", ".join(i["title"] for i in item["indicators"]),
        )
    console.print(table)
    console.print(f"{len(items)} shown. Indicators inform; people decide.")


def review_queue(
    session: Session, principal: Principal, rag: str | None, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """The person's queue from their own scope, audited as ``fusion.queue.read``."""
    viewer = viewer_of(session, principal)
    key = viewer.scope
    analysed = session.get(FusionScope, key) is not None
    rank = case(RAG_ORDER, value=FusionEntity.rag, else_=len(RAG_ORDER))
    stmt = select(FusionEntity).where(
        FusionEntity.scope == key, FusionEntity.schema == "Person", FusionEntity.rag != ""
    )
    if rag:
        stmt = stmt.where(FusionEntity.rag == rag)
    entities = list(
        session.scalars(
            stmt.order_by(
                FusionEntity.is_child.desc(), rank, FusionEntity.score.desc(), FusionEntity.id
            ).limit(limit)
        )
    )
    hits = hits_by_entity(session, viewer, [e.id for e in entities])
    record_audit(
        session,
        principal,
        "fusion.queue.read",
        "fusion_scope",
        key,
        detail=f"rag={rag or 'all'} shown={len(entities)}",
    )
    return [_item(e, hits[e.id]) for e in entities], analysed


def _item(entity: FusionEntity, hits: list[FusionIndicatorHit]) -> dict[str, Any]:
    return {
        "entity_id": entity.id,
        "caption": entity.caption,
        "date_of_birth": entity.date_of_birth.isoformat() if entity.date_of_birth else None,
        "is_child": entity.is_child,
        "rag": entity.rag,
        "score": entity.score,
        "record_count": entity.record_count,
        "source_count": entity.source_count,
        "group_id": entity.group_id,
        "indicators": [
            {"code": h.code, "title": h.code, "weight": h.weight, "detail": h.detail} for h in hits
        ],
    }
