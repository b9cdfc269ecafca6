"""Entity types of fused data, declared in ``entities.yaml``, and how raw values are normalised.

In the followthemoney style, Person, Address, Event … and the relations between them are data,
not code: each type lists typed, multi-valued properties with labels and a caption rule; each
relation kind says which types it joins and which roles it allows. Record and relation ids are
namespaced per source, so two agencies' "ID 42" never collide.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "PROPERTY_TYPES",
    "EntityModel",
    "EntityType",
    "Property",
    "RelationKind",
    "caption_for",
    "entity_model",
    "load_entity_model",
    "normalise",
    "record_id",
    "relation_id",
    "slug",
]


# --- ids ----------------------------------------------------------------------------------


def record_id(source_id: str, schema: str, key: str) -> str:
    """The stable id of one source's record: the same source, type and key give the same id."""
    text = f"{source_id}\n{schema}\n{key}"
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:40]


def relation_id(source_id: str, kind: str, from_id: str, to_id: str, role: str = "") -> str:
    """The stable id of one source's relation between two of its records."""
    text = f"{source_id}\n{kind}\n{from_id}\n{to_id}\n{role}"
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:40]


# --- normalisers: raw text -> stored value, or ValueError saying what was expected ----------


def slug(raw: str) -> str:
    """Lower case words joined by hyphens: "A&E attendance" -> "ae-attendance"."""
    text = raw.strip().lower().replace("&", "").replace("'", "")
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def _name(raw: str, fmt: str | None = None) -> str:
    return " ".join(raw.split())


def _text(raw: str, fmt: str | None = None) -> str:
    return raw.strip()


def _tag(raw: str, fmt: str | None = None) -> str:
    value = slug(raw)
    if not value:
        raise ValueError(f"expected a word or phrase, got {raw!r}")
    return value


def _identifier(raw: str, fmt: str | None = None) -> str:
    return "".join(raw.split()).upper()


_ISO_DATETIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"
)


def _date(raw: str, fmt: str | None = None) -> str:
    text = raw.strip()
    if fmt:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            pass  # spreadsheets give real dates as ISO text, whatever the mapping says
    whole = _ISO_DATETIME.match(text)
    try:
        return date.fromisoformat(whole.group(1) if whole else text).isoformat()
    except ValueError:
        expected = (
            f"a date like {date(2011, 3, 2).strftime(fmt)!r} ({fmt})"
            if fmt
            else ("an ISO date YYYY-MM-DD")
        )
        raise ValueError(f"expected {expected}, got {raw!r}") from None


_SEXES = {
    "female": ("f", "female", "woman", "girl", "2"),
    "male": ("m", "male", "man", "boy", "1"),
    "other": ("x", "other", "non-binary", "nonbinary", "indeterminate"),
    "unknown": ("u", "unknown", "not-known", "not-stated", "not-specified", "0", "9"),
}
_SEX_OF = {alias: sex for sex, aliases in _SEXES.items() for alias in aliases}


def _sex(raw: str, fmt: str | None = None) -> str:
    value = _SEX_OF.get(slug(raw))
    if value is None:
        raise ValueError(f"expected female, male, other or unknown (or F/M/X/U), got {raw!r}")
    return value


_POSTCODE = re.compile(r"^(GIR0AA|[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2})$")


def _postcode(raw: str, fmt: str | None = None) -> str:
    compact = "".join(raw.split()).upper()
    if not _POSTCODE.match(compact):
        raise ValueError(f"expected a UK postcode like 'BH1 1AA', got {raw!r}")
    return f"{compact[:-3]} {compact[-3:]}"


def _phone(raw: str, fmt: str | None = None) -> str:
    text = re.sub(r"[\s().\-/]", "", raw.strip())
    if text.startswith("+"):
        text = "00" + text[1:]
    if text.startswith("0044"):
        text = "0" + text[4:].removeprefix("0")
    if not text.isdigit() or not 7 <= len(text) <= 16:
        raise ValueError(f"expected a telephone number of 7 to 16 digits, got {raw!r}")
    return text


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(raw: str, fmt: str | None = None) -> str:
    value = raw.strip().lower().removeprefix("mailto:")
    if not _EMAIL.match(value):
        raise ValueError(f"expected an email address like 'name@example.org', got {raw!r}")
    return value


def _registration(raw: str, fmt: str | None = None) -> str:
    value = re.sub(r"[\s\-]", "", raw).upper()
    if not value.isalnum() or not 2 <= len(value) <= 8:
        raise ValueError(f"expected a vehicle registration of 2 to 8 letters/digits, got {raw!r}")
    return value


def nhs_number_is_valid(digits: str) -> bool:
    """The NHS number's modulus 11 check: weights 10..2 on the first nine digits."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _nhs_number(raw: str, fmt: str | None = None) -> str:
    digits = re.sub(r"[\s\-]", "", raw)
    if len(digits) != 10 or not digits.isdigit():
        raise ValueError(f"expected an NHS number of 10 digits, got {raw!r}")
    if not nhs_number_is_valid(digits):
        raise ValueError(f"expected an NHS number with a valid check digit, got {raw!r}")
    return digits


# HMRC: first letter not D F I Q U V; second not D F I O Q U V; some prefixes never issued.
_NI = re.compile(r"^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]?$")
_NI_NEVER = ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ")


def _ni_number(raw: str, fmt: str | None = None) -> str:
    value = "".join(raw.split()).upper()
    if not _NI.match(value) or value[:2] in _NI_NEVER:
        raise ValueError(f"expected a National Insurance number like 'AB123456C', got {raw!r}")
    return value


PROPERTY_TYPES: dict[str, Callable[[str, str | None], str]] = {
    "name": _name,
    "text": _text,
    "tag": _tag,
    "identifier": _identifier,
    "date": _date,
    "sex": _sex,
    "postcode": _postcode,
    "phone": _phone,
    "email": _email,
    "registration": _registration,
    "nhs_number": _nhs_number,
    "ni_number": _ni_number,
    "enum": _tag,  # checked against the property's values by ``Property.normalise``
}


def normalise(
    type_name: str, raw: str, fmt: str | None = None, values: Mapping[str, str] | None = None
) -> str:
    """One raw value as stored for a property type; ValueError says what was expected."""
    value = PROPERTY_TYPES[type_name](raw, fmt)
    if type_name == "enum" and values is not None and value not in values:
        raise ValueError(f"expected one of {', '.join(values)}, got {raw!r}")
    return value


# --- the declared model ---------------------------------------------------------------------


@dataclass(frozen=True)
class Property:
    """One typed, multi-valued property of an entity type or relation."""

    name: str
    label: str
    type: str
    values: Mapping[str, str] = field(default_factory=dict)

    def normalise(self, raw: str, fmt: str | None = None) -> str:
        return normalise(self.type, raw, fmt, self.values if self.type == "enum" else None)

    def label_of(self, value: str) -> str:
        """The label of an enum value, or the value itself."""
        return self.values.get(value, value)


@dataclass(frozen=True)
class EntityType:
    """Person, Address, Event …: its properties and how to caption one."""

    name: str
    label: str
    plural: str
    properties: Mapping[str, Property]
    caption: tuple[tuple[str, ...], ...]
    caption_separator: str = " "
    date_property: str | None = None


@dataclass(frozen=True)
class RelationKind:
    """A kind of relation: which types it joins, and the roles it allows (if any)."""

    name: str
    label: str
    from_types: tuple[str, ...]
    to_types: tuple[str, ...]
    symmetric: bool = False
    roles: Mapping[str, str] | None = None
    properties: Mapping[str, Property] = field(default_factory=dict)

    def normalise_role(self, raw: str) -> str:
        """A role from the relation's vocabulary; ValueError names the allowed roles."""
        if self.roles is None:
            raise ValueError(f"{self.name} takes no role")
        value = slug(raw)
        if value not in self.roles:
            raise ValueError(f"expected one of {', '.join(self.roles)}, got {raw!r}")
        return value


@dataclass(frozen=True)
class EntityModel:
    """All entity types and relation kinds."""

    entities: Mapping[str, EntityType]
    relations: Mapping[str, RelationKind]

    def entity(self, name: str) -> EntityType:
        if name not in self.entities:
            raise ValueError(f"expected an entity type ({', '.join(self.entities)}), got {name!r}")
        return self.entities[name]

    def relation(self, kind: str) -> RelationKind:
        if kind not in self.relations:
            known = ", ".join(self.relations)
            raise ValueError(f"expected a relation kind ({known}), got {kind!r}")
        return self.relations[kind]


def _require(condition: bool, where: str, problem: str) -> None:
    if not condition:
        raise ValueError(f"{where}: {problem}")


def _label_map(raw: Any, where: str) -> dict[str, str]:
    _require(isinstance(raw, dict) and bool(raw), where, "expected a mapping of value: label")
    out: dict[str, str] = {}
    for value, label in raw.items():
        _require(slug(str(value)) == str(value), f"{where}.{value}", "lower case with hyphens")
        out[str(value)] = str(label)
    return out


def _properties(raw: Any, where: str) -> dict[str, Property]:
    _require(isinstance(raw, dict), where, "expected a mapping of property name: definition")
    props: dict[str, Property] = {}
    for name, spec in raw.items():
        here = f"{where}.{name}"
        _require(isinstance(spec, dict), here, "expected {label, type}")
        kind = spec.get("type")
        _require(kind in PROPERTY_TYPES, f"{here}.type", f"expected one of {list(PROPERTY_TYPES)}")
        values = _label_map(spec.get("values"), f"{here}.values") if kind == "enum" else {}
        label = str(spec.get("label") or name.replace("_", " ").capitalize())
        props[str(name)] = Property(str(name), label, str(kind), values)
    return props


def _entity_type(name: str, raw: Any) -> EntityType:
    where = f"entities.{name}"
    _require(isinstance(raw, dict), where, "expected a mapping")
    props = _properties(raw.get("properties"), f"{where}.properties")
    caption = tuple(tuple(str(p) for p in alt) for alt in raw.get("caption") or [])
    for alt in caption:
        for prop in alt:
            _require(prop in props, f"{where}.caption", f"unknown property {prop!r}")
    date_prop = raw.get("date_property")
    if date_prop is not None:
        _require(props.get(date_prop, None) is not None, f"{where}.date_property", "unknown")
        _require(props[date_prop].type == "date", f"{where}.date_property", "not a date")
    return EntityType(
        name=name,
        label=str(raw.get("label") or name),
        plural=str(raw.get("plural") or f"{name}s"),
        properties=props,
        caption=caption,
        caption_separator=str(raw.get("caption_separator", " ")),
        date_property=date_prop,
    )


def _relation_kind(name: str, raw: Any, entities: Mapping[str, EntityType]) -> RelationKind:
    where = f"relations.{name}"
    _require(isinstance(raw, dict), where, "expected a mapping")
    ends: dict[str, tuple[str, ...]] = {}
    for end in ("from", "to"):
        types = raw.get(end)
        _require(isinstance(types, list) and bool(types), f"{where}.{end}", "expected types")
        for t in types:
            _require(t in entities, f"{where}.{end}", f"unknown entity type {t!r}")
        ends[end] = tuple(types)
    roles = _label_map(raw["roles"], f"{where}.roles") if raw.get("roles") else None
    return RelationKind(
        name=name,
        label=str(raw.get("label") or name.replace("_", " ").capitalize()),
        from_types=ends["from"],
        to_types=ends["to"],
        symmetric=bool(raw.get("symmetric", False)),
        roles=roles,
        properties=_properties(raw.get("properties") or {}, f"{where}.properties"),
    )


def parse_entity_model(text: str) -> EntityModel:
    """Validate an entity-type YAML document; ValueError names the path that is wrong."""
    raw = yaml.safe_load(text)
    _require(isinstance(raw, dict), "entity types", "expected `entities` and `relations`")
    _require(isinstance(raw.get("entities"), dict), "entities", "expected a mapping of types")
    entities = {str(n): _entity_type(str(n), spec) for n, spec in raw["entities"].items()}
    _require(isinstance(raw.get("relations"), dict), "relations", "expected a mapping of kinds")
    relations = {
        str(n): _relation_kind(str(n), spec, entities) for n, spec in raw["relations"].items()
    }
    return EntityModel(entities, relations)


def load_entity_model(path: Path | None = None) -> EntityModel:
    """Load entity types from a YAML file (Peel's own ``entities.yaml`` by default)."""
    if path is None:
        text = resources.files("peel.fusion").joinpath("entities.yaml").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    return parse_entity_model(text)


@lru_cache(maxsize=1)
def entity_model() -> EntityModel:
    """Peel's entity types, loaded once."""
    return load_entity_model()


def caption_for(schema: str | EntityType, properties: Mapping[str, Sequence[Any]]) -> str:
    """A short human caption: the first caption rule whose properties all have a value."""
    etype = entity_model().entity(schema) if isinstance(schema, str) else schema

    def first(prop: str) -> str:
        values = [str(v) for v in properties.get(prop) or () if str(v).strip()]
        if not values:
            return ""
        spec = etype.properties.get(prop)
        return spec.label_of(values[0]) if spec else values[0]

    for alternative in etype.caption:
        parts = [first(prop) for prop in alternative]
        if all(parts):
            return etype.caption_separator.join(parts)[:300]
    return etype.label
