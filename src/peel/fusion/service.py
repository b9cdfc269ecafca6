"""Who may use fusion, which sources a person may see, and the scope that set defines.

Every fact belongs to one source; a person sees a fact exactly when the core policy lets them
see its source (owner organisation, TLP label, shares). Derived results (entities, groups,
indicators, the queue) are computed per scope — the set of visible sources — so they never
rest on a fact their viewer could not see.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from peel.core.enums import Role
from peel.core.policy import Forbidden, visible_clause
from peel.core.principal import Principal
from peel.fusion.models import FusionSource

#: Roles that may work with fused data (review queue, entity pages, imports of their own).
FUSION_ROLES = (Role.officer, Role.analyst, Role.supervisor, Role.admin)
#: Roles that may register sources and import into them.
SOURCE_MANAGER_ROLES = (Role.admin, Role.supervisor, Role.analyst)


def can_use_fusion(principal: Principal) -> bool:
    return principal.is_authenticated and principal.has_any(*FUSION_ROLES)


def require_fusion(principal: Principal) -> None:
    if not can_use_fusion(principal):
        raise Forbidden("Data fusion is for officers, analysts, supervisors and administrators")


def visible_source_ids(session: Session, principal: Principal) -> frozenset[str]:
    """Ids of the sources this person may see, through the one access policy."""
    if not principal.is_authenticated:
        return frozenset()
    clause = visible_clause(principal, FusionSource, FusionSource.record_type)
    return frozenset(session.scalars(select(FusionSource.id).where(clause)).all())


def scope_key(source_ids: Iterable[str]) -> str:
    """The key of the scope made of exactly these sources (order does not matter)."""
    joined = "\n".join(sorted(set(source_ids)))
    return hashlib.sha256(joined.encode()).hexdigest()


def principal_scope(session: Session, principal: Principal) -> tuple[str, frozenset[str]]:
    """This person's scope key and the sources in it."""
    ids = visible_source_ids(session, principal)
    return scope_key(ids), ids
