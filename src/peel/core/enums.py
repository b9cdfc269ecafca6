"""Fixed vocabularies of the core: organisation types, roles and TLP 2.0 labels."""

from __future__ import annotations

from enum import StrEnum


class OrganisationType(StrEnum):
    police_force = "police_force"
    prosecutor = "prosecutor"
    local_authority = "local_authority"
    health = "health"
    education = "education"
    charity = "charity"
    other = "other"

    @property
    def label(self) -> str:
        return {
            "police_force": "Police force",
            "prosecutor": "Prosecutor",
            "local_authority": "Local authority",
            "health": "Health",
            "education": "Education",
            "charity": "Charity",
            "other": "Other",
        }[self.value]


class Role(StrEnum):
    """What a person may do inside their own organisation."""

    admin = "admin"
    officer = "officer"
    analyst = "analyst"
    supervisor = "supervisor"
    auditor = "auditor"
    partner_viewer = "partner_viewer"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class TLP(StrEnum):
    """Traffic Light Protocol 2.0 labels, least to most restrictive."""

    clear = "CLEAR"
    green = "GREEN"
    amber = "AMBER"
    amber_strict = "AMBER+STRICT"
    red = "RED"

    @property
    def rank(self) -> int:
        return list(TLP).index(self)

    @property
    def is_sensitive(self) -> bool:
        """Reads of AMBER and above are audited."""
        return self.rank >= TLP.amber.rank

    @property
    def css_class(self) -> str:
        return "tlp-" + self.value.lower().replace("+", "-")


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
