"""What each capability offers on the home page, and who may use it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from peel.core.enums import Role
from peel.core.principal import Principal


@dataclass(frozen=True)
class Capability:
    key: str
    name: str
    description: str
    href: str
    allowed: Callable[[Principal], bool]
    in_nav: bool = True


def _signed_in(p: Principal) -> bool:
    return p.is_authenticated


def _auditor(p: Principal) -> bool:
    return p.is_platform_admin or Role.auditor in p.roles


def _admin(p: Principal) -> bool:
    return p.is_platform_admin or Role.admin in p.roles


def _police(p: Principal) -> bool:
    return p.is_authenticated and p.organisation_type == "police_force"


def _anpr(p: Principal) -> bool:
    return _police(p) and p.has_any(Role.officer, Role.analyst, Role.supervisor)


def _fusion(p: Principal) -> bool:
    return p.is_authenticated and p.has_any(Role.officer, Role.analyst, Role.supervisor, Role.admin)


CAPABILITIES: list[Capability] = [
    Capability(
        "reports",
        "Online reports",
        "Triage crimes and incidents the public reported online, and message them.",
        "/staff/reports",
        _police,
    ),
    Capability(
        "evidence",
        "Digital evidence",
        "Cases, files with a verifiable chain of custody, redaction, sharing with the CPS.",
        "/evidence",
        _signed_in,
    ),
    Capability(
        "anpr",
        "ANPR",
        "Live hotlist alerts, vehicle history, convoys, cloned plates, frequent visitors.",
        "/anpr",
        _anpr,
    ),
    Capability(
        "analytics",
        "Crime analytics",
        "Hotspot maps, trends, predictions tested against baselines, near repeats.",
        "/analytics",
        _police,
    ),
    Capability(
        "fusion",
        "Safeguarding data fusion",
        "Link agencies' records into people; review children flagged by risk indicators.",
        "/fusion",
        _fusion,
    ),
    Capability(
        "bulletins",
        "Bulletins",
        "Read and publish labelled notices shared between agencies.",
        "/bulletins",
        _signed_in,
    ),
    Capability(
        "jobs", "Jobs", "Follow long-running work such as imports and checks.", "/jobs", _signed_in
    ),
    Capability(
        "audit", "Audit log", "Search who did what, when, to which record.", "/audit", _auditor
    ),
    Capability(
        "admin",
        "Administration",
        "Manage organisations, people, roles and API clients.",
        "/admin",
        _admin,
    ),
]


def register(capability: Capability) -> None:
    """Capabilities add themselves here when their package is imported."""
    if all(c.key != capability.key for c in CAPABILITIES):
        CAPABILITIES.append(capability)


def available_to(principal: Principal) -> list[Capability]:
    return [c for c in CAPABILITIES if c.allowed(principal)]
