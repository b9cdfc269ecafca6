"""Who is asking: a signed-in person, an API client, or an anonymous member of the public."""

from __future__ import annotations

from dataclasses import dataclass, field

from peel.core.enums import Role


@dataclass(frozen=True)
class Principal:
    user_id: str | None = None
    client_id: str | None = None
    organisation_id: str | None = None
    organisation_name: str = ""
    organisation_type: str | None = None
    client_of_id: str | None = None
    roles: frozenset[Role] = field(default_factory=frozenset)
    is_platform_admin: bool = False
    display_name: str = "anonymous"
    email: str | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.organisation_id is not None

    @property
    def is_person(self) -> bool:
        return self.user_id is not None

    @property
    def role_labels(self) -> list[str]:
        labels = [r.label for r in sorted(self.roles)]
        if self.is_platform_admin:
            labels.insert(0, "Platform administrator")
        return labels

    @property
    def audit_name(self) -> str:
        if self.user_id:
            return f"{self.display_name} <{self.email}>"
        if self.client_id:
            return f"api-client:{self.display_name}"
        return self.display_name

    def has_any(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))


ANONYMOUS = Principal()
SYSTEM = Principal(display_name="system")
